"""End to end: eight numbers of one block calling within a minute, no reception feedback."""

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
        asterisk=replace(config.asterisk, agi_port=0, ami_enabled=False),
        store=replace(config.store, path=str(tmp_path / "calls.sqlite3")),
        web=replace(config.web, enabled=False),
        notify=replace(config.notify, enabled=False),
    )
    daemon = Daemon(config)
    await daemon.start()
    assert daemon.agi is not None
    fake = FakeAsterisk(agi_port=daemon.agi.port, time_scale=0.01)
    await fake.start()
    yield daemon, fake
    await fake.close()
    await daemon.close()


async def test_rotating_block_numbers_get_flagged(pbx) -> None:
    daemon, fake = pbx
    count = daemon.config.rules.block_burst_count

    results = [await fake.place_call(FakeCall(f"1705123{n:04d}", talk_seconds=1.0))
               for n in range(8)]

    verdicts = [result.variables["CALLSCREEN_VERDICT"] for result in results]
    reasons = [result.variables["CALLSCREEN_REASONS"].split(",") for result in results]
    assert verdicts[: count - 1] == ["allow"] * (count - 1)
    assert verdicts[count - 1 :] == ["flag"] * (8 - count + 1)
    assert all("block_burst" not in found for found in reasons[: count - 1])
    assert all("block_burst" in found for found in reasons[count - 1 :])
    assert all(result.variables["CALLSCREEN_TAG"] == daemon.config.rules.tag
               for result in results[count - 1 :])


async def test_one_number_repeating_is_no_burst(pbx) -> None:
    _daemon, fake = pbx

    results = [await fake.place_call(FakeCall("17051230001", talk_seconds=1.0))
               for _ in range(6)]

    assert all("block_burst" not in result.variables["CALLSCREEN_REASONS"]
               for result in results)
