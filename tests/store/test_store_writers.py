"""Concurrent writers on one file: BEGIN IMMEDIATE and busy_timeout instead of SQLITE_BUSY."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callscreen.errors import StoreError
from callscreen.pbx.model import CallerName, CallRecord
from callscreen.store import Store

WRITES_PER_WRITER = 60

CHILD_WRITER = """
import asyncio, sys
from datetime import UTC, datetime
from callscreen.store import Store

async def main() -> None:
    store = await Store.open(sys.argv[1])
    try:
        for index in range(int(sys.argv[2])):
            await store.add_list_entry("block", "exact", f"+86139{index:08d}", added_by="child",
                                       added_at=datetime.now(UTC))
    finally:
        await store.close()

asyncio.run(main())
"""


def count_rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def write_calls(store: Store, prefix: str, make_decision, now: datetime) -> None:
    # record_call reads before it writes: the case where a deferred transaction gets BUSY.
    for index in range(WRITES_PER_WRITER):
        started_at = now + timedelta(seconds=index)
        await store.record_decision(
            f"{prefix}-{index}", uniqueid=f"{prefix}.{index}", started_at=started_at,
            caller_raw="13912345678", caller_name=CallerName(""), did="02188886666",
            decision=make_decision(), source="agi", decision_ms=3.5,
        )
        await store.record_call(CallRecord(linkedid=f"{prefix}.{index}",
                                           uniqueid=f"{prefix}.{index}",
                                           channel="IAX2/carrier-1", started_at=started_at,
                                           ended_at=started_at + timedelta(seconds=5)))


async def test_two_stores_write_same_file_without_lock_errors(tmp_path: Path, make_decision,
                                                              now: datetime) -> None:
    path = tmp_path / "shared.db"
    first, second = await Store.open(path), await Store.open(path)

    try:
        await asyncio.gather(
            write_calls(first, "a", make_decision, now),
            write_calls(second, "b", make_decision, now),
            write_calls(first, "c", make_decision, now),
        )
    finally:
        await first.close()
        await second.close()

    assert count_rows(path, "calls") == 3 * WRITES_PER_WRITER


async def test_two_processes_write_same_file_without_lock_errors(tmp_path: Path) -> None:
    path = tmp_path / "processes.db"
    store = await Store.open(path)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD_WRITER, str(path), str(WRITES_PER_WRITER),
        stderr=asyncio.subprocess.PIPE, cwd=Path(__file__).parents[2],
    )

    try:
        for index in range(WRITES_PER_WRITER):
            await store.add_list_entry("allow", "exact", f"+86138{index:08d}", added_by="parent")
        _, child_errors = await asyncio.wait_for(child.communicate(), timeout=60)
    finally:
        await store.close()

    assert child.returncode == 0, child_errors.decode(errors="replace")
    assert count_rows(path, "list_entries") == 2 * WRITES_PER_WRITER


async def test_failed_write_block_rolls_back_and_releases_lock(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.db.write("test") as connection:
            await connection.execute(
                "INSERT INTO list_entries (list, match, pattern, added_by, added_at)"
                " VALUES ('block', 'exact', '+8613912345678', 'x', 'y')")
            raise RuntimeError("abort")

    entry_id = await store.add_list_entry("allow", "exact", "+8613800138000", added_by="admin")

    rows = await store.db.fetch_all("SELECT id FROM list_entries", (), action="test")
    assert [row[0] for row in rows] == [entry_id]


async def test_cancelled_write_rolls_back(store: Store) -> None:
    started = asyncio.Event()

    async def slow_write() -> None:
        async with store.db.write("test") as connection:
            await connection.execute(
                "INSERT INTO list_entries (list, match, pattern, added_by, added_at)"
                " VALUES ('block', 'exact', '+8613912345678', 'x', 'y')")
            started.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(slow_write())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    rows = await store.db.fetch_all("SELECT id FROM list_entries", (), action="test")
    assert rows == []
    assert await store.add_list_entry("allow", "exact", "+8613800138000", added_by="a") > 0


async def test_sqlite_error_in_write_becomes_store_error(store: Store) -> None:
    with pytest.raises(StoreError) as caught:
        async with store.db.write("insert_bad_list") as connection:
            await connection.execute(
                "INSERT INTO list_entries (list, match, pattern, added_by, added_at)"
                " VALUES ('grey', 'exact', '+8613912345678', 'x', ?)",
                (datetime.now(UTC).isoformat(),))

    assert "insert_bad_list" in str(caught.value)
    assert str(store.db.path) in str(caught.value)
