"""AMI faults: the connection drops mid-call, and Asterisk restarts with new uniqueids."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from callscreen.daemon import Daemon
from callscreen.pbx.fake import FakeAsterisk, FakeCall, FakeCallResult

from .conftest import (
    daemon_config,
    logged_in,
    place,
    query,
    rows_for_uniqueid,
    running_daemon,
    wait_until,
)

CALLER = "13912345678"


# The fake PBX dials reception within milliseconds of the AGI session ending, so half a
# second after the call rings it has been answered.
ANSWERED_AFTER_S = 0.5
# Reception's phone rings this long in the outage test. The first reconnect waits at least
# 1 s (AmiClient's reconnect_min_s), so the answer falls inside the outage.
RING_DURING_OUTAGE_S = 0.5


async def _drop_and_finish(daemon: Daemon, fake: FakeAsterisk, call: FakeCall, *,
                           drop_after_s: float) -> tuple[FakeCallResult, list[tuple[Any, ...]]]:
    """Drop AMI `drop_after_s` after the call rings; return the call and its stored rows."""
    assert daemon.ami is not None
    store = daemon.config.store.path
    placed = asyncio.create_task(fake.place_call(call))
    await wait_until(lambda: len(daemon.hub.active()) == 1, "the call to ring")
    await asyncio.sleep(drop_after_s)
    fake.drop_ami_connections()
    await wait_until(lambda: daemon.ami.health.reconnects >= 1, "the reconnect")
    await wait_until(lambda: logged_in(daemon), "the second login")
    result = await placed
    await wait_until(lambda: bool(rows_for_uniqueid(store, result.uniqueid)[0][2]),
                     "the call record's end time")
    await asyncio.sleep(0.3)  # a late duplicate write would land in this pause

    return result, rows_for_uniqueid(store, result.uniqueid)


async def test_ami_drop_mid_call_writes_one_record(tmp_path: Path, reliability) -> None:
    reliability.describe(
        "通话中 AMI 连接断开 / AMI connection dropped during the conversation",
        "reconnect with backoff, log in again, reconcile; one call record with its end "
        "and who answered")
    config = daemon_config(tmp_path)

    async with running_daemon(config) as (daemon, fake):
        result, rows = await _drop_and_finish(daemon, fake, FakeCall(CALLER, talk_seconds=3.0),
                                              drop_after_s=ANSWERED_AFTER_S)

    reliability.observed = (f"{len(rows)} row, answered_by={rows[0][3]!r}, "
                            "reconnected and logged in again")
    assert result.agi_status == "SUCCESS"
    assert len(rows) == 1
    assert rows[0][3] == "100"


async def test_answer_during_ami_outage_is_kept(tmp_path: Path, reliability) -> None:
    reliability.describe(
        "AMI 断开期间来电被接听 / call answered while AMI is disconnected",
        "one call record with its end and who answered (from CoreShowChannels on reconnect)")
    config = daemon_config(tmp_path)

    async with running_daemon(config, ring_delay_s=RING_DURING_OUTAGE_S) as (daemon, fake):
        result, rows = await _drop_and_finish(daemon, fake, FakeCall(CALLER, talk_seconds=3.0),
                                              drop_after_s=0.0)

    answered_at = query(config.store.path, "SELECT answered_at FROM calls WHERE call_id = ?",
                        (rows[0][0],))[0][0]
    reliability.observed = (f"{len(rows)} row, answered_by={rows[0][3]!r}, "
                            f"answered_at {'set' if answered_at else 'missing'}")
    assert result.agi_status == "SUCCESS"
    assert len(rows) == 1
    assert rows[0][3] == "100"
    assert answered_at


async def test_asterisk_restart_ends_lost_call_once(tmp_path: Path, reliability) -> None:
    reliability.describe(
        "Asterisk 在通话中重启，新的 uniqueid / Asterisk restarts mid-call with new uniqueids",
        "the lost call is ended by reconciliation and written once; new calls are logged")
    config = daemon_config(tmp_path)

    async with running_daemon(config) as (daemon, fake):
        assert daemon.ami is not None
        ami_port = fake.ami_port
        lost = asyncio.create_task(fake.place_call(FakeCall(CALLER, talk_seconds=30.0)))
        await wait_until(lambda: len(daemon.hub.active()) == 1, "the call to ring")
        lost_uniqueid = await _uniqueid_of(config.store.path, daemon.hub.active()[0].call_id)
        await fake.close()
        await asyncio.gather(lost, return_exceptions=True)

        restarted = FakeAsterisk(agi_port=daemon.agi.port if daemon.agi else 0,
                                 ami_port=ami_port, system_name="callscreen-pbx-restarted",
                                 ami_secret=config.asterisk.ami_secret)
        await restarted.start()
        try:
            await wait_until(lambda: logged_in(daemon), "login to the restarted PBX")
            await wait_until(lambda: len(rows_for_uniqueid(config.store.path,
                                                           lost_uniqueid)) == 1
                             and bool(rows_for_uniqueid(config.store.path,
                                                        lost_uniqueid)[0][2]),
                             "the lost call's record")
            fresh = await place(restarted, CALLER)
            await wait_until(lambda: bool(rows_for_uniqueid(config.store.path,
                                                            fresh.uniqueid)), "the new record")
            await wait_until(lambda: bool(rows_for_uniqueid(config.store.path,
                                                            fresh.uniqueid)[0][2]),
                             "the new record's end time")
        finally:
            await restarted.close()
        lost_rows = rows_for_uniqueid(config.store.path, lost_uniqueid)
        fresh_rows = rows_for_uniqueid(config.store.path, fresh.uniqueid)

    reliability.observed = (f"lost call: {len(lost_rows)} row with an end time; "
                            f"new call: {len(fresh_rows)} row")
    assert fresh.uniqueid != lost_uniqueid
    assert len(lost_rows) == 1
    assert len(fresh_rows) == 1
    assert fresh_rows[0][0] != lost_rows[0][0]


async def _uniqueid_of(path: str, call_id: str) -> str:
    """Wait for the ring-time row of `call_id` and return the Uniqueid it stored."""
    await wait_until(lambda: bool(query(path, "SELECT 1 FROM calls WHERE call_id = ?",
                                        (call_id,))), "the ring-time row")
    return str(query(path, "SELECT uniqueid FROM calls WHERE call_id = ?", (call_id,))[0][0])
