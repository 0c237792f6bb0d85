"""The store's async queries run inline on the writer thread: one transaction, same rows."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from callscreen.errors import StoreError
from callscreen.pbx.model import CallerName, CallRecord
from callscreen.store import Store
from callscreen.store.calls import get_call, save_call_record
from callscreen.store.inline import (
    InlineDatabase,
    InlineSuspendedError,
    run_inline,
    write_inline,
)


def make_records(now: datetime, count: int) -> list[CallRecord]:
    return [
        CallRecord(linkedid=f"l{index}", uniqueid=f"u{index}", channel="IAX2/carrier-1",
                   started_at=now + timedelta(seconds=index), caller_raw=f"1391234{index:04d}",
                   caller_name=CallerName("张伟".encode("gbk") if index % 2 else ""),
                   did="02188886666", answered_at=now + timedelta(seconds=index + 3),
                   ended_at=now + timedelta(seconds=index + 60), answered_by="8000",
                   talk_seconds=57, hangup_cause=16, hangup_cause_text="Normal Clearing",
                   bridged_seconds_by_party={"8000": 57})
        for index in range(count)
    ]


def all_rows(path: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        return [tuple(row) for row in connection.execute(f"SELECT * FROM {table} ORDER BY rowid")]


def save_all(db: InlineDatabase, records: list[CallRecord], decision) -> list[str]:
    return [run_inline(save_call_record(db, record, fallback_decision=decision))
            for record in records]


async def test_inline_records_match_one_by_one(tmp_path: Path, make_decision,
                                               now: datetime) -> None:
    records, decision = make_records(now, 5), make_decision()
    single, batched = await Store.open(tmp_path / "single.db"), await Store.open(tmp_path / "b.db")
    try:
        # The second pass updates the rows, as a repeated record does.
        for _ in range(2):
            for record in records:
                await single.record_call(record, fallback_decision=decision)
            await write_inline(batched.db, "test_records",
                               lambda db: save_all(db, records, decision))
    finally:
        await single.close()
        await batched.close()

    assert all_rows(tmp_path / "b.db", "calls") == all_rows(tmp_path / "single.db", "calls")


async def test_inline_batch_is_one_transaction(store: Store, make_decision,
                                               now: datetime) -> None:
    statements: list[str] = []
    await store.db._writer.set_trace_callback(statements.append)

    await write_inline(store.db, "test_records",
                       lambda db: save_all(db, make_records(now, 10), make_decision()))

    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT"))] == [
        "BEGIN IMMEDIATE", "COMMIT"]
    assert len(await store.recent_calls(20)) == 10


async def test_inline_reads_see_own_writes(store: Store, now: datetime) -> None:
    record = make_records(now, 1)[0]

    def save_and_read(db: InlineDatabase) -> str | None:
        call_id = run_inline(save_call_record(db, record))
        stored = run_inline(get_call(db, call_id))
        return None if stored is None else stored.caller_raw

    assert await write_inline(store.db, "test_read", save_and_read) == record.caller_raw


async def test_failed_write_block_is_undone_alone(store: Store, now: datetime) -> None:
    first, second = make_records(now, 2)

    async def fail_inside_write(db: InlineDatabase) -> None:
        async with db.write("test_failing") as connection:
            await connection.execute("UPDATE calls SET did = 'changed'")
            await connection.execute("INSERT INTO calls (call_id) VALUES (NULL, NULL)")

    def save_fail_save(db: InlineDatabase) -> None:
        run_inline(save_call_record(db, first))
        with pytest.raises(StoreError, match="test_failing"):
            run_inline(fail_inside_write(db))
        run_inline(save_call_record(db, second))

    await write_inline(store.db, "test_savepoints", save_fail_save)

    stored = await store.recent_calls(10)
    assert sorted(call.uniqueid for call in stored) == ["u0", "u1"]
    assert {call.did for call in stored} == {"02188886666"}


async def test_raising_function_rolls_back_all(store: Store, now: datetime) -> None:
    def save_then_raise(db: InlineDatabase) -> None:
        run_inline(save_call_record(db, make_records(now, 1)[0]))
        raise KeyError("after the write")

    with pytest.raises(KeyError):
        await write_inline(store.db, "test_rollback", save_then_raise)

    assert await store.recent_calls(10) == []
    assert not store.db._writer.in_transaction


async def test_suspending_coroutine_is_rejected() -> None:
    coroutine = asyncio.sleep(0.01)

    with pytest.raises(InlineSuspendedError, match="sleep"):
        run_inline(coroutine)

    assert coroutine.cr_frame is None  # closed, so no "never awaited" warning either


async def test_inline_database_refuses_close(store: Store) -> None:
    async def close(db: InlineDatabase) -> None:
        await db.close()

    with pytest.raises(RuntimeError, match="closed by the Database"):
        await write_inline(store.db, "test_close", lambda db: run_inline(close(db)))

    assert await store.recent_calls(1) == []
