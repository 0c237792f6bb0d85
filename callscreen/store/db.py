"""Opening the sqlite file, its pragmas, the migrations runner and the single-writer rule.

One `Database` owns two aiosqlite connections to the same WAL file: a write connection used
under an asyncio.Lock, every transaction started with `BEGIN IMMEDIATE`, and a read-only
connection for queries. A deferred transaction that later upgrades to a write lock gets
SQLITE_BUSY at once, whatever the busy timeout, so writers take the lock up front and wait
for it inside sqlite's busy handler instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import structlog

from callscreen.errors import StoreError

log = structlog.get_logger(__name__)

DEFAULT_BUSY_TIMEOUT_MS = 10_000
MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
DB_TIME_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")

T = TypeVar("T")


def to_db_time(moment: datetime) -> str:
    """Format an aware datetime as fixed-width UTC text, so that text order is time order.

    Raises ValueError for a naive datetime, because its time zone would be a guess.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime has no time zone: {moment!r}")

    utc = moment.astimezone(UTC)

    # strftime("%Y") does not pad years below 1000 on glibc, so every field is padded here.
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}Z"
    )


def from_db_time(text: str) -> datetime:
    """Parse text written by `to_db_time` into an aware UTC datetime.

    Raises ValueError for any other form, including a valid ISO-8601 text of another width.
    """
    if not DB_TIME_FORMAT.match(text):
        raise ValueError(f"not a stored UTC time (YYYY-MM-DDTHH:MM:SS.ffffffZ): {text!r}")

    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def optional_db_time(moment: datetime | None) -> str | None:
    """Return `to_db_time(moment)`, or None for None."""
    return None if moment is None else to_db_time(moment)


def optional_from_db_time(text: str | None) -> datetime | None:
    """Return `from_db_time(text)`, or None for NULL."""
    return None if text is None else from_db_time(text)


@dataclass(frozen=True, slots=True)
class Migration:
    """One NNN_name.sql file from the migrations folder."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Read the packaged migration files in version order.

    Raises StoreError when a file name does not follow NNN_name.sql or the numbers are not
    1, 2, 3 ... without gaps or duplicates.
    """
    folder = resources.files("callscreen.store").joinpath("migrations")
    found = [
        _parse_migration_name(entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    found.sort(key=lambda migration: migration.version)

    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        names = ", ".join(migration.name for migration in found)
        raise StoreError(
            f"迁移文件编号必须从 001 起连续 / migration files must be numbered 001, 002, ... "
            f"without gaps or duplicates: {names}"
        )

    return found


def _parse_migration_name(name: str, sql: str) -> Migration:
    match = MIGRATION_NAME.match(name)
    if match is None:
        raise StoreError(
            f"迁移文件名无效 / invalid migration file name: {name} (expected NNN_name.sql)"
        )

    return Migration(version=int(match.group(1)), name=name, sql=sql)


def split_statements(script: str, *, name: str) -> list[str]:
    """Split a migration script into single statements, keeping trigger bodies whole.

    sqlite3's `executescript` commits any open transaction first, so a migration cannot run
    through it inside our own transaction, so the statements run one by one instead.
    """
    *pieces, tail = script.split(";")
    statements: list[str] = []
    pending = ""
    for piece in pieces:
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""

    leftover = "\n".join(
        line for line in (pending + tail).splitlines()
        if line.strip() and not line.strip().startswith("--")
    )
    if leftover:
        raise StoreError(
            f"迁移文件末尾的语句缺少分号 / statement without a closing semicolon in {name}: "
            f"{leftover[:80]!r}"
        )

    return [statement for statement in statements if _has_code(statement)]


def _has_code(statement: str) -> bool:
    lines = statement.removesuffix(";").splitlines()
    return any(line.strip() and not line.strip().startswith("--") for line in lines)


class Database:
    """The write and read connections to one sqlite file, and the writer lock.

    Create it with `await Database.open(path)` and call `close()` when done.
    """

    def __init__(self, path: Path, writer: aiosqlite.Connection,
                 reader: aiosqlite.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path, *,
                   busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> Database:
        """Open (creating if needed) the database file, set pragmas and apply migrations.

        Raises StoreError when the folder is missing, the file is not a database, WAL cannot
        be enabled, or the file was migrated by a newer callscreen.
        """
        db_path = Path(path)
        if not db_path.parent.is_dir():
            raise StoreError(f"数据库目录不存在 / database folder not found: {db_path.parent}")

        writer = await _connect(db_path, busy_timeout_ms, read_only=False)
        opened = False
        try:
            await migrate(writer, db_path, load_migrations())
            reader = await _connect(db_path, busy_timeout_ms, read_only=True)
            opened = True
        finally:
            if not opened:
                await writer.close()

        log.info("store_opened", path=str(db_path))
        return cls(db_path, writer, reader)

    async def close(self) -> None:
        """Close both connections; waits for a running write transaction to finish."""
        async with self._write_lock:
            await self._writer.close()
        await self._reader.close()

        log.info("store_closed", path=str(self.path))

    @asynccontextmanager
    async def write(self, action: str) -> AsyncIterator[aiosqlite.Connection]:
        """Run the block in one `BEGIN IMMEDIATE` transaction on the write connection.

        Commits when the block ends, rolls back when it raises or is cancelled. sqlite3
        errors come out as StoreError naming the file and `action`.
        """
        async with self._write_lock:
            await self._run_control("BEGIN IMMEDIATE", action)
            committed = False
            try:
                yield self._writer
                await self._run_control("COMMIT", action)
                committed = True
            except sqlite3.Error as exc:
                raise self._error(action, exc) from exc
            finally:
                if not committed and self._writer.in_transaction:
                    await self._rollback()

    async def run_on_writer(self, action: str,
                            function: Callable[[sqlite3.Connection], T]) -> T:
        """Run `function` on the write connection's thread, in one `BEGIN IMMEDIATE`
        transaction, and return its result. The whole transaction is one hand-off.

        Commits when `function` returns and rolls back when it raises. sqlite3 errors come
        out as StoreError naming the file and `action`. Cancelling the caller does not stop
        a transaction that the thread has started: it still commits or rolls back there.
        """
        # The thread runs in a copy of the caller's context, so that log lines written
        # there carry the ids bound to it.
        context = contextvars.copy_context()
        async with self._write_lock:
            try:
                # aiosqlite has no public call to run a function on its thread. `_execute`
                # is what its own methods use (aiosqlite 0.20 to 0.22).
                result: T = await self._writer._execute(  # type: ignore[no-untyped-call]
                    context.run, _run_transaction, self._writer._conn, function)
            except sqlite3.Error as exc:
                raise self._error(action, exc) from exc

        return result

    async def fetch_all(self, sql: str, params: Sequence[Any] | dict[str, Any],
                        *, action: str) -> list[sqlite3.Row]:
        """Run one query on the read connection and return every row."""
        try:
            async with self._reader.execute(sql, params) as cursor:
                return list(await cursor.fetchall())
        except sqlite3.Error as exc:
            raise self._error(action, exc) from exc

    async def fetch_one(self, sql: str, params: Sequence[Any] | dict[str, Any],
                        *, action: str) -> sqlite3.Row | None:
        """Run one query on the read connection and return its first row, or None."""
        rows = await self.fetch_all(sql, params, action=action)

        return rows[0] if rows else None

    async def _rollback(self) -> None:
        try:
            await self._writer.execute("ROLLBACK")
        except sqlite3.OperationalError:
            # A COMMIT cancelled while aiosqlite's thread ran it still finishes there, and
            # then no transaction is left to roll back.
            if self._writer.in_transaction:
                raise

    async def _run_control(self, statement: str, action: str) -> None:
        try:
            await self._writer.execute(statement)
        except sqlite3.Error as exc:
            raise self._error(f"{action}: {statement}", exc) from exc

    def _error(self, action: str, exc: sqlite3.Error) -> StoreError:
        return StoreError(f"数据库操作失败 / store action failed: {action} on {self.path}: {exc}")


def _run_transaction(connection: sqlite3.Connection,
                     function: Callable[[sqlite3.Connection], T]) -> T:
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = function(connection)
        if not connection.in_transaction:
            # SQLITE_FULL and SQLITE_IOERR may roll back the whole transaction. A function
            # that caught such an error would otherwise have run its later statements
            # outside any transaction.
            raise sqlite3.OperationalError("the transaction was rolled back by sqlite")
        connection.execute("COMMIT")
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")

    return result


async def _connect(path: Path, busy_timeout_ms: int, *, read_only: bool) -> aiosqlite.Connection:
    """Open one connection in autocommit mode, so that this module issues every BEGIN."""
    try:
        connection = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"无法打开数据库 / cannot open database {path}: {exc}") from exc

    try:
        await _set_pragmas(connection, path, busy_timeout_ms, read_only=read_only)
    except sqlite3.Error as exc:
        await connection.close()
        raise StoreError(f"无法打开数据库 / cannot open database {path}: {exc}") from exc
    except StoreError:
        await connection.close()
        raise

    connection.row_factory = sqlite3.Row
    return connection


async def _set_pragmas(connection: aiosqlite.Connection, path: Path, busy_timeout_ms: int,
                       *, read_only: bool) -> None:
    # busy_timeout first: the journal_mode switch itself may have to wait for another process.
    await connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    await connection.execute("PRAGMA foreign_keys = ON")
    # NORMAL is durable across application crashes in WAL mode. Only a power cut may
    # lose the last transactions, which is acceptable for a call log.
    await connection.execute("PRAGMA synchronous = NORMAL")
    if read_only:
        await connection.execute("PRAGMA query_only = ON")
        return

    async with connection.execute("PRAGMA journal_mode = WAL") as cursor:
        row = await cursor.fetchone()
    mode = str(row[0]).lower() if row else ""
    if mode != "wal":
        raise StoreError(
            f"无法启用 WAL 日志模式 / cannot enable WAL journal mode on {path}: got {mode!r}"
        )


async def migrate(connection: aiosqlite.Connection, path: Path,
                  migrations: Iterable[Migration]) -> int:
    """Apply every migration newer than the file's `user_version`, one transaction each.

    Returns the schema version afterwards. Raises StoreError naming the file and both
    versions when the database is newer than the newest migration this code knows.
    """
    known = list(migrations)
    newest = known[-1].version if known else 0
    current = await _user_version(connection)
    if current > newest:
        raise StoreError(
            f"数据库版本高于程序版本，请升级 callscreen / database {path} has schema version "
            f"{current}, newer than this callscreen supports ({newest}); upgrade callscreen"
        )

    for migration in known:
        if migration.version > current:
            current = await _apply(connection, path, migration)

    return current


async def _apply(connection: aiosqlite.Connection, path: Path, migration: Migration) -> int:
    # NOTE: a file must not contain BEGIN/COMMIT, and PRAGMA foreign_keys inside it has no
    # effect, because sqlite ignores that pragma within a transaction.
    statements = split_statements(migration.sql, name=migration.name)
    try:
        await connection.execute("BEGIN IMMEDIATE")
        # Another process may have applied this file while this one waited for the lock.
        version = await _user_version(connection)
        if version >= migration.version:
            await connection.execute("COMMIT")
            return version

        for statement in statements:
            await connection.execute(statement)
        await connection.execute(f"PRAGMA user_version = {migration.version}")
        await connection.execute("COMMIT")
    except sqlite3.Error as exc:
        raise StoreError(
            f"数据库迁移失败 / migration {migration.name} failed on {path}: {exc}"
        ) from exc
    finally:
        # Also reached on cancellation: never leave the write lock held.
        if connection.in_transaction:
            await connection.execute("ROLLBACK")

    log.info("store_migrated", path=str(path), migration=migration.name,
             version=migration.version)
    return migration.version


async def _user_version(connection: aiosqlite.Connection) -> int:
    async with connection.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()

    return int(row[0]) if row else 0
