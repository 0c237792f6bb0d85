"""Run the store's async query code synchronously, on aiosqlite's thread, in one hand-off.

Every awaited statement of an aiosqlite connection is a hand-off to its worker thread and
back: a queue put, a thread switch, a `call_soon_threadsafe` wake-up of the event loop.
Writing one call record with its HR hook took about ten of them, and the switches competed
with the AMI reader for the GIL. `Database.run_inline` instead runs a plain function on the
worker thread, inside one transaction. That function can still call the store's `async def`
queries with `run_inline`, over an `InlineDatabase` whose statements run on the spot, so
batched writes use the very same code as single ones.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

import aiosqlite

from callscreen.store.db import Database

T = TypeVar("T")


async def write_inline(db: Database, action: str,
                       function: Callable[[InlineDatabase], T]) -> T:
    """Run `function` on `db`'s writer thread in one transaction, and return its result.

    `function` gets an InlineDatabase for the store's query functions (through `run_inline`).
    It commits when `function` returns; errors are handled as in `Database.run_on_writer`.
    """
    return await db.run_on_writer(
        action, lambda connection: function(InlineDatabase(db.path, connection)))


class InlineSuspendedError(RuntimeError):
    """A coroutine run by `run_inline` awaited something that does not complete at once."""


def run_inline(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to its end without an event loop and return its result.

    It may await only queries on an `InlineDatabase`, which finish without suspending.
    Raises InlineSuspendedError when it suspends anyway (an `asyncio.sleep`, a lock, a
    future), because nothing would ever resume it here.
    """
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return cast(T, stop.value)

    coroutine.close()
    name = getattr(coroutine, "__qualname__", repr(coroutine))
    raise InlineSuspendedError(f"{name} awaited something other than an inline store query")


async def _ready(value: T) -> T:
    return value


class InlineCursor:
    """The subset of `aiosqlite.Cursor` that the store's queries use, over a sqlite3 cursor."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def lastrowid(self) -> int | None:
        """The rowid of the last inserted row."""
        return self._cursor.lastrowid

    @property
    def rowcount(self) -> int:
        """The number of rows the last statement changed."""
        return self._cursor.rowcount

    async def fetchone(self) -> sqlite3.Row | None:
        """Return the next row, or None."""
        return cast(sqlite3.Row | None, self._cursor.fetchone())

    async def fetchall(self) -> list[sqlite3.Row]:
        """Return the remaining rows."""
        return self._cursor.fetchall()

    async def close(self) -> None:
        """Close the cursor."""
        self._cursor.close()


class InlineStatement:
    """What `InlineConnection.execute` returns: awaitable, or usable with `async with`.

    The statement has already run when this object exists, as with aiosqlite, whose
    `execute` result is both too.
    """

    def __init__(self, cursor: InlineCursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Any:
        return _ready(self._cursor).__await__()

    async def __aenter__(self) -> InlineCursor:
        return self._cursor

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, traceback: TracebackType | None) -> None:
        await self._cursor.close()


class InlineConnection:
    """The subset of `aiosqlite.Connection` that the store's queries use, run on the spot.

    Only usable on the thread that owns `connection`: aiosqlite's worker thread.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""
        return self._connection.in_transaction

    def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()
                ) -> InlineStatement:
        """Run one statement now; await the result or enter it for the cursor."""
        return InlineStatement(InlineCursor(self._connection.execute(sql, parameters)))

    async def executemany(self, sql: str,
                          parameters: Sequence[Sequence[Any] | dict[str, Any]]) -> InlineCursor:
        """Run one statement for every parameter set."""
        return InlineCursor(self._connection.executemany(sql, parameters))


class InlineDatabase(Database):
    """A `Database` whose reads and writes run at once on the writer's own connection.

    It exists only inside `Database.run_inline`, which has already begun the transaction,
    so `write` blocks become savepoints: a block that raises is undone alone, and the
    statements before it stay in the transaction, as separate transactions would have.
    Reads see the transaction's own uncommitted rows, as reads after separate commits would.
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        # No super().__init__: there are no aiosqlite connections and no lock to hold.
        self.path = path
        self._connection = connection
        self._inline = InlineConnection(connection)

    @property
    def in_transaction(self) -> bool:
        """Whether the batch's transaction is still open (sqlite may have rolled it back)."""
        return self._connection.in_transaction

    async def close(self) -> None:
        """Refuse: the connection belongs to the `Database` that runs this one."""
        raise RuntimeError("an InlineDatabase is closed by the Database that created it")

    @asynccontextmanager
    async def write(self, action: str) -> AsyncIterator[aiosqlite.Connection]:
        """Run the block in a savepoint; sqlite3 errors come out as StoreError."""
        self._connection.execute("SAVEPOINT inline_write")
        try:
            # The store's writers use only what InlineConnection provides.
            yield cast(aiosqlite.Connection, self._inline)
        except sqlite3.Error as exc:
            self._undo_savepoint()
            raise self._error(action, exc) from exc
        except BaseException:
            self._undo_savepoint()
            raise
        self._connection.execute("RELEASE inline_write")

    async def fetch_all(self, sql: str, params: Sequence[Any] | dict[str, Any],
                        *, action: str) -> list[sqlite3.Row]:
        """Run one query on the writer's connection and return every row."""
        try:
            return self._connection.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(action, exc) from exc

    def _undo_savepoint(self) -> None:
        # Some errors (SQLITE_FULL, SQLITE_IOERR) roll the whole transaction back, and the
        # savepoint with it. The batch then fails as a whole, in `Database.run_inline`.
        if self._connection.in_transaction:
            self._connection.execute("ROLLBACK TO inline_write")
            self._connection.execute("RELEASE inline_write")
