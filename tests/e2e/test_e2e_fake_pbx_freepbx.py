"""End to end with the fake PBX wired the FreePBX way: the trunk context is
callscreen-from-trunk and the daemon runs with the default inbound_contexts."""

import asyncio
import socket
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from callscreen.config import Config
from callscreen.daemon import Daemon
from callscreen.pbx.fake import FakeAsterisk, FakeCall

DID = "02188886601"


async def logged_in(daemon: Daemon, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while daemon.ami is None or not daemon.ami.health.logged_in:
        assert loop.time() < deadline, "the daemon did not log in to the fake AMI"
        await asyncio.sleep(0.05)


async def ended_row(daemon: Daemon, call_id: str, timeout: float = 10.0) -> sqlite3.Row:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        with sqlite3.connect(daemon.config.store.path) as connection:
            connection.row_factory = sqlite3.Row
            row = connection.execute("SELECT * FROM calls WHERE call_id = ?",
                                     (call_id,)).fetchone()
        if row is not None and row["ended_at"]:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"no finished record for {call_id}")


def closed_port() -> int:
    """Return a loopback port nothing listens on, so the fake's AGI connect is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def start(tmp_path: Path, mode: str) -> tuple[Daemon, FakeAsterisk]:
    config = Config()
    config = replace(
        config,
        asterisk=replace(config.asterisk, mode=mode, agi_port=0, ami_enabled=False,
                         ami_secret="s3cret"),
        store=replace(config.store, path=str(tmp_path / "calls.sqlite3")),
        web=replace(config.web, enabled=False),
        notify=replace(config.notify, enabled=False),
        rules=replace(config.rules, block=["prefix:+86165"]),
    )
    daemon = Daemon(config)
    await daemon.start()
    agi_port = daemon.agi.port if daemon.agi is not None else closed_port()
    fake = FakeAsterisk(agi_port=agi_port, ami_secret="s3cret", dialplan="callscreen-freepbx",
                        time_scale=0.5)
    await fake.start()
    daemon.start_ami("127.0.0.1", fake.ami_port)
    await logged_in(daemon)
    return daemon, fake


@pytest.fixture
async def screen_pbx(tmp_path: Path):
    daemon, fake = await start(tmp_path, "screen")
    yield daemon, fake
    await fake.close()
    await daemon.close()


@pytest.fixture
async def observe_pbx(tmp_path: Path):
    daemon, fake = await start(tmp_path, "observe")
    yield daemon, fake
    await fake.close()
    await daemon.close()


async def test_freepbx_screen_mode_joins_ami_record(screen_pbx) -> None:
    daemon, fake = screen_pbx

    result = await fake.place_call(FakeCall("013912345678", did=DID, talk_seconds=4.0))

    call_id = result.variables["CALLSCREEN_CALL_ID"]
    row = await ended_row(daemon, call_id)
    assert result.agi_status == "SUCCESS"
    assert result.rang
    assert row["caller_key"] == "+8613912345678"
    assert row["did"] == DID
    assert row["answered_by"] == "100"
    assert row["hangup_cause"] == 16
    assert row["linkedid"] == result.linkedid
    assert row["talk_seconds"] >= 1


async def test_freepbx_screen_mode_without_did(screen_pbx) -> None:
    daemon, fake = screen_pbx

    result = await fake.place_call(FakeCall("013912345678", did=""))

    row = await ended_row(daemon, result.variables["CALLSCREEN_CALL_ID"])
    assert row["answered_by"] == "100"
    assert row["did"] in ("", None)


async def test_freepbx_block_hangs_up_with_cause_21(screen_pbx) -> None:
    daemon, fake = screen_pbx

    result = await fake.place_call(FakeCall("16512345678", did=DID))

    row = await ended_row(daemon, result.variables["CALLSCREEN_CALL_ID"])
    assert result.variables["CALLSCREEN_VERDICT"] == "block"
    assert result.rejected
    assert not result.rang
    assert row["hangup_cause"] == 21


async def test_freepbx_observe_mode_records_call(observe_pbx) -> None:
    daemon, fake = observe_pbx

    result = await fake.place_call(FakeCall("013912345678", did=DID))

    row = await ended_row(daemon, f"ami-{result.linkedid}")
    assert result.agi_status == "FAILURE"
    assert result.rang
    assert row["caller_key"] == "+8613912345678"
    assert row["did"] == DID
    assert row["answered_by"] == "100"
    assert row["hangup_cause"] == 16


@pytest.mark.parametrize("did", ["+862188886666", "5", "reception", "*99"])
async def test_freepbx_unusual_did_still_rings(screen_pbx, did: str) -> None:
    daemon, fake = screen_pbx

    result = await fake.place_call(FakeCall("013912345678", did=did))

    row = await ended_row(daemon, result.variables["CALLSCREEN_CALL_ID"])
    assert result.agi_status == "SUCCESS"
    assert result.rang
    assert row["answered_by"] == "100"
    assert row["did"] == did
