"""Store faults: another process holds the database locked, and the disk is full.

The lock comes from a second process holding `BEGIN EXCLUSIVE`. The full disk is sqlite's
`PRAGMA max_page_count` on the daemon's write connection, capped at the pages in use, so
the next write fails with SQLITE_FULL exactly as on a full file system.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from callscreen.daemon import Daemon
from callscreen.errors import StoreError
from callscreen.pbx.fake import FakeCallResult
from callscreen.store.db import Database
from callscreen.store.retry import RETRY_MAX_DELAY_S, retry_write

from .conftest import daemon_config, place, query, running_daemon, wait_until

# The daemon's sqlite busy timeout (callscreen.store.db.DEFAULT_BUSY_TIMEOUT_MS) plus margin:
# holding the lock this long makes the waiting write fail instead of just waiting.
LONG_LOCK_S = 12.0
SHORT_LOCK_S = 1.0
UNLIMITED_PAGES = 1_073_741_823
HOLDER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
"""


@asynccontextmanager
async def exclusive_lock(path: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """Hold `BEGIN EXCLUSIVE` on `path` in a second process until the block ends."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, path,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), timeout=10)
        assert line.strip() == b"locked"
        yield holder
    finally:
        await release(holder)


async def release(holder: asyncio.subprocess.Process) -> None:
    """Let the holder roll back and exit (idempotent)."""
    if holder.returncode is None:
        assert holder.stdin is not None
        holder.stdin.write(b"\n")
        await holder.stdin.drain()
        await asyncio.wait_for(holder.communicate(), timeout=10)


def _row(path: str, call_id: str) -> tuple[Any, ...] | None:
    rows = query(path, "SELECT verdict, ended_at FROM calls WHERE call_id = ?", (call_id,))
    return rows[0] if rows else None


def _ended_rows(path: str, uniqueid: str) -> list[tuple[Any, ...]]:
    return query(path, "SELECT call_id FROM calls WHERE (uniqueid = ? OR linkedid = ?) "
                       "AND ended_at IS NOT NULL", (uniqueid, uniqueid))


def _kept(path: str, results: list[FakeCallResult]) -> int:
    return sum(bool(_ended_rows(path, result.uniqueid)) for result in results)


def _short(entry: dict[str, Any], tmp_path: Path) -> str:
    """Return the logged error without the test's temporary folder, for the report."""
    return str(entry["error"]).replace(f"{tmp_path}/", "")


def _store_errors(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["log_level"] == "error"
            and "store action failed" in str(entry.get("error", ""))]


async def test_short_lock_delays_writes_only(tmp_path: Path, reliability) -> None:
    reliability.describe(
        f"另一进程锁库 {SHORT_LOCK_S:.0f} s / database locked by another process for "
        f"{SHORT_LOCK_S:.0f} s (BEGIN EXCLUSIVE)",
        "the call gets its verdict at once; the writes wait for the lock and then land")
    config = daemon_config(tmp_path)

    async with running_daemon(config) as (_daemon, fake):
        async with exclusive_lock(config.store.path) as holder:
            result = await place(fake, "13912345678")
            await asyncio.sleep(SHORT_LOCK_S)
            locked_row = _row(config.store.path, result.variables["CALLSCREEN_CALL_ID"])
            await release(holder)
        call_id = result.variables["CALLSCREEN_CALL_ID"]
        await wait_until(lambda: (_row(config.store.path, call_id) or (0, None))[1] is not None,
                         "the call record after the lock cleared")

    reliability.observed = (f"AGISTATUS={result.agi_status}, verdict="
                            f"{result.variables['CALLSCREEN_VERDICT']}; row absent while "
                            f"locked: {locked_row is None}; record written after release")
    assert result.agi_status == "SUCCESS"
    assert result.variables["CALLSCREEN_VERDICT"] == "allow"
    assert locked_row is None


async def test_long_lock_logs_error_and_resumes(tmp_path: Path, reliability) -> None:
    reliability.describe(
        f"另一进程锁库 {LONG_LOCK_S:.0f} s，超过 busy_timeout / database locked for "
        f"{LONG_LOCK_S:.0f} s, longer than the busy timeout",
        "a StoreError naming the file is logged at ERROR; calls keep their verdicts; "
        "the call record lands once the lock clears")
    config = daemon_config(tmp_path)

    with capture_logs() as logs:
        async with running_daemon(config) as (_daemon, fake):
            async with exclusive_lock(config.store.path) as holder:
                first = await place(fake, "13912345678")
                await wait_until(lambda: bool(_store_errors(logs)), "the store error",
                                 timeout=LONG_LOCK_S + 5)
                await release(holder)
            second = await place(fake, "13800138000")
            for result in (first, second):
                await wait_until(lambda r=result: bool(_ended_rows(config.store.path,
                                                                   r.uniqueid)),
                                 "both call records")
            first_rows = _ended_rows(config.store.path, first.uniqueid)

    error = _store_errors(logs)[0]
    reliability.observed = (f"ERROR {error['event']}: {_short(error, tmp_path)}; "
                            f"verdicts {first.variables['CALLSCREEN_VERDICT']}/"
                            f"{second.variables['CALLSCREEN_VERDICT']}; both records written")
    assert first.variables["CALLSCREEN_VERDICT"] == "allow"
    assert second.variables["CALLSCREEN_VERDICT"] == "allow"
    assert "callscreen.sqlite3" in str(error["error"])
    assert len(first_rows) == 1


async def _set_max_pages(daemon: Daemon, pages: int | None) -> None:
    assert daemon.store is not None
    async with daemon.store.db.write("test_set_max_page_count") as connection:
        if pages is None:
            async with connection.execute("PRAGMA page_count") as cursor:
                row = await cursor.fetchone()
            pages = int(row[0])
        await connection.execute(f"PRAGMA max_page_count = {pages}")


async def test_disk_full_logs_error_and_resumes(tmp_path: Path, reliability) -> None:
    reliability.describe(
        "磁盘已满 (max_page_count) / disk full (sqlite max_page_count at the pages in use)",
        "SQLITE_FULL logged at ERROR naming the file; calls keep their verdicts; writes "
        "resume and no call record is lost once space returns")
    config = daemon_config(tmp_path)

    with capture_logs() as logs:
        async with running_daemon(config) as (daemon, fake):
            await _set_max_pages(daemon, None)
            full = [await place(fake, f"1391234{index:04d}") for index in range(20)]
            await wait_until(lambda: bool(_store_errors(logs)), "the store error")
            await _set_max_pages(daemon, UNLIMITED_PAGES)
            after = await place(fake, "13800138000")
            await wait_until(lambda: bool(_ended_rows(config.store.path, after.uniqueid)),
                             "the record written after space returned")
            # Writes that failed during the fault are retried with capped backoff.
            await wait_until(lambda: _kept(config.store.path, full) == len(full),
                             "the records of calls made during the fault",
                             timeout=RETRY_MAX_DELAY_S + 5)
            kept = _kept(config.store.path, full)

    error = _store_errors(logs)[0]
    reliability.observed = (f"ERROR {error['event']}: {_short(error, tmp_path)}; "
                            f"{kept}/{len(full)} records of calls during the fault kept; "
                            "writes resumed")
    assert all(result.agi_status == "SUCCESS" for result in full)
    assert "full" in str(error["error"])
    assert kept == len(full)



async def test_constraint_violation_is_not_retried(tmp_path: Path, reliability) -> None:
    reliability.describe("重复主键写入（非暂时性故障） / duplicate primary key (not a transient "
                         "fault)",
                         "StoreError raised at once, no retry: only locked, busy, full and "
                         "I/O errors are retried")
    attempts = 0
    db = await Database.open(tmp_path / "callscreen.sqlite3")

    async def insert_twice() -> None:
        nonlocal attempts
        attempts += 1
        async with db.write("test_duplicate") as connection:
            await connection.execute("INSERT INTO schema_probe VALUES (1)")
            await connection.execute("INSERT INTO schema_probe VALUES (1)")

    try:
        async with db.write("test_create") as connection:
            await connection.execute("CREATE TABLE schema_probe (id INTEGER PRIMARY KEY)")
        with pytest.raises(StoreError, match="UNIQUE"):
            await retry_write("test_duplicate", insert_twice, initial_s=0.01)
    finally:
        await db.close()

    reliability.observed = f"StoreError after {attempts} attempt"
    assert attempts == 1


@asynccontextmanager
async def tiny_tmpfs(folder: Path, size_kib: int) -> AsyncIterator[Path]:
    """Mount a tmpfs of `size_kib` KiB on `folder`; skip the test where mounting is not allowed."""
    await asyncio.to_thread(folder.mkdir)
    mount = await asyncio.create_subprocess_exec(
        "mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    if await mount.wait() != 0:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        yield folder
    finally:
        umount = await asyncio.create_subprocess_exec("umount", "-l", str(folder))
        await umount.wait()


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    # Unbuffered, so that closing the file has nothing left to write on a full disk.
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 512)
        except OSError:
            pass  # ENOSPC: the file system is full, which is the point
    return filler


async def test_full_file_system_resumes(tmp_path: Path, reliability) -> None:
    reliability.describe(
        "文件系统已满 (1 MiB tmpfs) / file system full (a 1 MiB tmpfs filled up)",
        "SQLITE_FULL or I/O error logged at ERROR; calls keep their verdicts; every record "
        "written once space is freed")

    async with tiny_tmpfs(tmp_path / "fs", 1024) as folder:
        config = daemon_config(folder)
        with capture_logs() as logs:
            async with running_daemon(config) as (_daemon, fake):
                filler = _fill(folder)
                full = [await place(fake, f"1391234{index:04d}") for index in range(10)]
                await wait_until(lambda: bool(_errors(logs)), "the store error")
                filler.unlink()
                await wait_until(lambda: _kept(config.store.path, full) == len(full),
                                 "the records of calls made while full",
                                 timeout=RETRY_MAX_DELAY_S + 5)
                kept = _kept(config.store.path, full)
        integrity = query(config.store.path, "PRAGMA integrity_check")[0][0]

    error = _errors(logs)[0]
    reliability.observed = (f"ERROR {error['event']}: {_short(error, tmp_path)}; "
                            f"{kept}/{len(full)} records kept; integrity_check={integrity}")
    assert all(result.agi_status == "SUCCESS" for result in full)
    assert kept == len(full)
    assert integrity == "ok"


def _errors(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["log_level"] == "error"]
