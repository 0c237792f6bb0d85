"""End to end with the built-in fake PBX: a placed call gets variables, a record and a push."""

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from callscreen.config import Config
from callscreen.daemon import Daemon
from callscreen.pbx.fake import FakeAsterisk, FakeCall


@pytest.fixture
async def pbx(tmp_path: Path):
    config = Config()
    config = replace(
        config,
        asterisk=replace(config.asterisk, agi_port=0, ami_enabled=False, ami_secret="s3cret"),
        store=replace(config.store, path=str(tmp_path / "calls.sqlite3")),
        web=replace(config.web, enabled=False),
        notify=replace(config.notify, enabled=False),
        rules=replace(config.rules, block=["prefix:+86165"]),
    )
    daemon = Daemon(config)
    await daemon.start()
    assert daemon.agi is not None
    fake = FakeAsterisk(agi_port=daemon.agi.port, ami_secret="s3cret")
    await fake.start()
    daemon.start_ami("127.0.0.1", fake.ami_port)
    await logged_in(daemon)
    yield daemon, fake
    await fake.close()
    await daemon.close()


async def logged_in(daemon: Daemon, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while daemon.ami is None or not daemon.ami.health.logged_in:
        assert loop.time() < deadline, "the daemon did not log in to the fake AMI"
        await asyncio.sleep(0.05)


def row_for(daemon: Daemon, call_id: str) -> sqlite3.Row | None:
    with sqlite3.connect(daemon.config.store.path) as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute("SELECT * FROM calls WHERE call_id = ?", (call_id,)).fetchone()


async def ended_row(daemon: Daemon, call_id: str, timeout: float = 10.0) -> sqlite3.Row:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        row = row_for(daemon, call_id)
        if row is not None and row["ended_at"]:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"no finished record for {call_id}")


async def test_placed_call_is_screened_and_recorded(pbx) -> None:
    daemon, fake = pbx

    result = await fake.place_call(FakeCall("013912345678", did="02188886601"))

    call_id = result.variables["CALLSCREEN_CALL_ID"]
    row = await ended_row(daemon, call_id)
    assert result.agi_status == "SUCCESS"
    assert result.rang
    assert result.variables["CALLSCREEN_VERDICT"] == "allow"
    assert row["caller_key"] == "+8613912345678"
    assert row["did"] == "02188886601"
    assert row["answered_by"] == "100"
    assert row["hangup_cause"] == 16


async def test_block_list_entry_rejects_call(pbx) -> None:
    daemon, fake = pbx

    result = await fake.place_call(FakeCall("16512345678"))

    row = await ended_row(daemon, result.variables["CALLSCREEN_CALL_ID"])
    assert result.variables["CALLSCREEN_VERDICT"] == "block"
    assert result.rejected
    assert row["hangup_cause"] == 21
    assert "block_list" in row["reasons_json"]


@pytest.mark.parametrize("name", [
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "{{7*7}}", "A & B",
    "张" * 300,
])
async def test_hostile_caller_name_is_stored_verbatim(pbx, name: str) -> None:
    daemon, fake = pbx

    result = await fake.place_call(FakeCall("13800138000", name=name))

    row = await ended_row(daemon, result.variables["CALLSCREEN_CALL_ID"])
    update = daemon.hub.get(result.variables["CALLSCREEN_CALL_ID"])
    assert row["caller_name"] == name
    assert update is not None and update.caller_name == name
    assert result.variables["CALLSCREEN_VERDICT"] == "allow"


async def test_gbk_caller_name_is_decoded_with_raw_bytes(pbx) -> None:
    daemon, fake = pbx

    result = await fake.place_call(FakeCall("13800138000", name="张伟".encode("gbk")))

    row = await ended_row(daemon, result.variables["CALLSCREEN_CALL_ID"])
    assert row["caller_name"] == "张伟"
    assert row["caller_name_raw"] == "张伟".encode("gbk")


async def test_screening_works_without_agi_listener(tmp_path: Path) -> None:
    fake = FakeAsterisk(agi_port=1)  # nothing listens on port 1: the dialplan fails open
    await fake.start()
    try:
        result = await fake.place_call(FakeCall("13800138000"))
    finally:
        await fake.close()

    assert result.agi_status == "FAILURE"
    assert result.rang
    assert result.variables == {}


async def test_observe_mode_classifies_from_ami_and_records(tmp_path: Path) -> None:
    config = Config()
    config = replace(
        config,
        asterisk=replace(config.asterisk, mode="observe", ami_enabled=False,
                         ami_secret="s3cret"),
        store=replace(config.store, path=str(tmp_path / "calls.sqlite3")),
        web=replace(config.web, enabled=False),
        notify=replace(config.notify, enabled=False),
    )
    daemon = Daemon(config)
    await daemon.start()
    fake = FakeAsterisk(agi_port=1, ami_secret="s3cret")  # the dialplan has no working AGI
    await fake.start()
    try:
        daemon.start_ami("127.0.0.1", fake.ami_port)
        await logged_in(daemon)

        result = await fake.place_call(FakeCall("anonymous", name="Anonymous"))
        row = await ended_row(daemon, f"ami-{result.linkedid}")
    finally:
        await fake.close()
        await daemon.close()

    assert daemon.agi is None
    assert result.agi_status == "FAILURE"
    assert row["decision_source"] == "ami"
    assert row["verdict"] == "flag"
    assert row["category"] == "anonymous"
    assert daemon.hub.get(row["call_id"]) is not None
