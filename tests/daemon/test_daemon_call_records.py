"""Call records written in batches: every record and HR case as when written one by one.

The daemon gets AMI events straight through `on_ami_event`, as its AMI client would hand
them over, and writes to a real store file. The writer connection's statement trace
counts the transactions.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from callscreen import call_records
from callscreen.call_records import RecordBatch
from callscreen.config import Config
from callscreen.config.model import AnomalyConfig
from callscreen.daemon import Daemon
from callscreen.pbx.ami_wire import AmiFramer
from callscreen.store.db import to_db_time

WAIT_LIMIT_S = 15.0
EMPLOYEE_DID = "02161230001"
OTHER_DID = "02161230002"
# Newchannel and Hangup of one inbound call, as Asterisk 22 sends them (trimmed headers).
CALL_EVENTS = (
    "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: IAX2/carrier-{index}\r\n"
    "ChannelState: 0\r\nChannelStateDesc: Down\r\nCallerIDNum: {caller}\r\n"
    "CallerIDName: <unknown>\r\nConnectedLineNum: <unknown>\r\n"
    "ConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\n"
    "Context: from-trunk\r\nExten: {did}\r\nPriority: 1\r\n"
    "Uniqueid: {uid}\r\nLinkedid: {uid}\r\n\r\n"
    "Event: Hangup\r\nPrivilege: call,all\r\nChannel: IAX2/carrier-{index}\r\n"
    "ChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: {caller}\r\n"
    "CallerIDName: <unknown>\r\nConnectedLineNum: <unknown>\r\n"
    "ConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\n"
    "Context: from-trunk\r\nExten: screen\r\nPriority: 5\r\n"
    "Uniqueid: {uid}\r\nLinkedid: {uid}\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n"
)
# Eleven calls to one employee and one to another, from distinct numbers, interleaved.
# With the thresholds below, one by one they open a case at the third call and raise its
# risk at the fifth and the eighth.
CALLS = [(f"1391234{index:04d}", OTHER_DID if index == 4 else EMPLOYEE_DID)
         for index in range(12)]
ANOMALY = AnomalyConfig(suspect_categories=["normal", "collector"], low={"short_calls": 3},
                        medium={"short_calls": 5}, high={"short_numbers": 8})


def daemon_config(tmp_path: Path, *, notify: bool = False) -> Config:
    config = Config()
    return replace(
        config,
        asterisk=replace(config.asterisk, agi_host="127.0.0.1", agi_port=0, ami_enabled=False),
        store=replace(config.store, path=str(tmp_path / "callscreen.sqlite3")),
        web=replace(config.web, enabled=False),
        notify=replace(config.notify, enabled=notify, channels=["print"],
                       poll_interval_s=600.0),
        anomaly=ANOMALY,
    )


async def started_daemon(config: Config, printed: io.StringIO | None = None) -> Daemon:
    daemon = Daemon(config)
    daemon.notification_stream = printed
    await daemon.start()
    assert daemon.store is not None
    async with daemon.store.db.write("test_seed_employees") as connection:
        await connection.executemany(
            "INSERT INTO employees (employee_id, name, department, extension, did, imported_at)"
            " VALUES (?, ?, ?, ?, ?, '2026-01-01T00:00:00.000000Z')",
            [("E1001", "张伟", "财务部", "8101", EMPLOYEE_DID),
             ("E1002", "李娜", "销售部", "8102", OTHER_DID)],
        )
    return daemon


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    started = await started_daemon(daemon_config(tmp_path))
    yield started
    await started.close()


async def trace_writes(daemon: Daemon) -> list[str]:
    """Return a list that collects every statement the write connection runs from now on."""
    assert daemon.store is not None
    statements: list[str] = []
    # The trace callback is a setting of the sqlite3 connection that aiosqlite wraps.
    await daemon.store.db._writer.set_trace_callback(statements.append)
    return statements


def end_calls(daemon: Daemon, calls: Sequence[tuple[str, str]], first: int = 0) -> None:
    """Feed the Newchannel and Hangup of each call, with no await in between."""
    framer = AmiFramer()
    framer.feed(b"Asterisk Call Manager/11.0.0\r\n")
    for index, (caller, did) in enumerate(calls, start=first):
        data = CALL_EVENTS.format(index=index, caller=caller, did=did, uid=f"rec-{index}")
        for message in framer.feed(data.encode()):
            daemon.on_ami_event(message)


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT_S
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def records_written(daemon: Daemon, expected: int) -> None:
    def done() -> bool:
        return (daemon.call_records.pending == 0
                and count(daemon, "SELECT count(*) FROM calls WHERE ended_at IS NOT NULL")
                >= expected)

    await wait_until(done, f"{expected} call records")


def rows(daemon: Daemon, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(daemon.config.store.path) as connection:
        return [tuple(row) for row in connection.execute(sql)]


def count(daemon: Daemon, sql: str) -> int:
    return int(rows(daemon, sql)[0][0])


def hr_state(daemon: Daemon) -> dict[str, list[tuple[Any, ...]]]:
    """Return the HR tables without their time stamps, which differ between two runs."""
    return {
        "targets": rows(daemon, "SELECT c.uniqueid, t.employee_id, t.source, t.suspected"
                                " FROM call_targets AS t JOIN calls AS c USING (call_id)"
                                " ORDER BY c.uniqueid"),
        "cases": rows(daemon, "SELECT id, case_no, employee_id, status, risk,"
                              " json_extract(signals_json, '$.level'),"
                              " json_extract(signals_json, '$.counts') FROM cases ORDER BY id"),
        "events": rows(daemon, "SELECT e.case_id, e.kind, e.author, c.uniqueid,"
                               " json_remove(e.body_json, '$.at')"
                               " FROM case_events AS e LEFT JOIN calls AS c USING (call_id)"
                               " ORDER BY e.id"),
        "audit": rows(daemon, "SELECT id, actor, action, case_id, detail FROM audit_log"
                              " ORDER BY id"),
        "outbox": rows(daemon, "SELECT dedupe_key, channel FROM outbox ORDER BY id"),
    }


def begins(statements: list[str]) -> int:
    return sum(statement.startswith("BEGIN") for statement in statements)


async def test_calls_ending_together_share_one_transaction(daemon: Daemon) -> None:
    statements = await trace_writes(daemon)

    end_calls(daemon, CALLS)
    await records_written(daemon, len(CALLS))

    assert begins(statements) == 1
    assert count(daemon, "SELECT count(*) FROM calls") == len(CALLS)
    assert count(daemon, "SELECT count(*) FROM call_targets") == len(CALLS)


async def test_batch_gives_same_hr_state_as_one_by_one(tmp_path: Path) -> None:
    (tmp_path / "single").mkdir()
    (tmp_path / "batch").mkdir()
    one_by_one = await started_daemon(daemon_config(tmp_path / "single", notify=True))
    batched = await started_daemon(daemon_config(tmp_path / "batch", notify=True))
    try:
        for index, call in enumerate(CALLS):
            end_calls(one_by_one, [call], first=index)
            await records_written(one_by_one, index + 1)
        end_calls(batched, CALLS)
        await records_written(batched, len(CALLS))
        expected, got = hr_state(one_by_one), hr_state(batched)
    finally:
        await one_by_one.close()
        await batched.close()

    assert got["targets"] == expected["targets"]
    assert got["cases"] == expected["cases"]
    assert got["events"] == expected["events"]
    assert got["audit"] == expected["audit"]
    assert got["outbox"] == expected["outbox"]
    assert [case[4] for case in got["cases"]] == ["high"]
    assert [event[1] for event in got["events"]].count("risk_raised") == 2


async def test_records_keep_the_order_calls_ended(daemon: Daemon) -> None:
    end_calls(daemon, CALLS)
    await records_written(daemon, len(CALLS))

    stored = rows(daemon, "SELECT uniqueid FROM calls ORDER BY rowid")
    assert [row[0] for row in stored] == [f"rec-{index}" for index in range(len(CALLS))]


async def test_failed_record_is_logged_and_others_kept(daemon: Daemon) -> None:
    assert daemon.store is not None
    rejected = CALLS[5][0]
    async with daemon.store.db.write("test_trigger") as connection:
        await connection.execute(
            "CREATE TRIGGER test_reject BEFORE INSERT ON calls"
            f" WHEN NEW.caller_raw = '{rejected}' BEGIN SELECT RAISE(ABORT, 'rejected'); END")

    with capture_logs() as logs:
        end_calls(daemon, CALLS)
        await records_written(daemon, len(CALLS) - 1)

    failures = [entry for entry in logs if entry["event"] == "call_record_failed"]
    stored = rows(daemon, "SELECT uniqueid FROM calls ORDER BY rowid")
    assert [row[0] for row in stored] == [f"rec-{index}" for index in range(len(CALLS))
                                          if index != 5]
    assert len(failures) == 1
    assert failures[0]["linkedid"] == "rec-5"
    assert failures[0]["log_level"] == "error"
    assert "rejected" in failures[0]["error"]
    assert count(daemon, "SELECT count(*) FROM call_targets") == len(CALLS) - 1


async def test_failed_hook_keeps_record_and_other_hooks(daemon: Daemon) -> None:
    seen: list[str] = []

    async def fail_on_third(_batch: RecordBatch, call_id: str) -> None:
        seen.append(call_id)
        if len(seen) == 3:
            raise RuntimeError("hook failed on purpose")

    daemon.call_recorded_hooks.append(fail_on_third)
    with capture_logs() as logs:
        end_calls(daemon, CALLS)
        await records_written(daemon, len(CALLS))

    failures = [entry for entry in logs if entry["event"] == "call_recorded_hook_failed"]
    assert len(seen) == len(CALLS)
    assert [entry["call_id"] for entry in failures] == [seen[2]]
    assert count(daemon, "SELECT count(*) FROM calls") == len(CALLS)
    assert count(daemon, "SELECT count(*) FROM call_targets") == len(CALLS)


async def test_console_shows_call_ended_after_batch(daemon: Daemon) -> None:
    ended: list[str] = []
    daemon.hub.update = lambda call_id, **fields: ended.append(call_id)  # type: ignore[method-assign]

    end_calls(daemon, CALLS[:3])
    await records_written(daemon, 3)

    stored = rows(daemon, "SELECT call_id FROM calls ORDER BY rowid")
    assert ended == [row[0] for row in stored]


async def test_close_writes_queued_records(tmp_path: Path) -> None:
    daemon = await started_daemon(daemon_config(tmp_path))

    end_calls(daemon, CALLS)
    await asyncio.sleep(0)
    await daemon.close()

    assert count(daemon, "SELECT count(*) FROM calls") == len(CALLS)
    assert count(daemon, "SELECT count(*) FROM call_targets") == len(CALLS)


async def test_flush_writes_records_still_in_their_window(daemon: Daemon, monkeypatch) -> None:
    monkeypatch.setattr(call_records, "RECORD_BATCH_WINDOW_S", 600.0)
    end_calls(daemon, CALLS)
    await wait_until(lambda: daemon.call_records.pending == len(CALLS), "queued records")

    await daemon.call_records.flush()

    assert daemon.call_records.pending == 0
    assert count(daemon, "SELECT count(*) FROM calls") == len(CALLS)


async def test_case_notification_is_sent_after_batch(tmp_path: Path) -> None:
    printed = io.StringIO()
    daemon = await started_daemon(daemon_config(tmp_path, notify=True), printed)
    try:
        # The notifier polls every 600 s here: only its wake-up makes it deliver now.
        end_calls(daemon, CALLS[:3])
        await records_written(daemon, 3)
        await wait_until(lambda: count(daemon, "SELECT count(*) FROM outbox"
                                               " WHERE state = 'sent'") == 1,
                         "the case notification")
    finally:
        await daemon.close()

    assert rows(daemon, "SELECT dedupe_key FROM outbox") == [
        (f"HR-{to_db_time(daemon.clock())[:4]}-0001:low:opened",)]
    assert "HR-" in printed.getvalue()
