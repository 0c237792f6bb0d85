"""Writing the AMI records of finished calls in batches, with the hooks that follow each record.

A call record used to cost about ten hand-offs to aiosqlite's worker thread: BEGIN, the row
lookup, the INSERT or UPDATEs, COMMIT, then the HR hook's queries and writes. Under an AMI
stream those thread switches competed with the reader for the GIL. Records now wait up to
RECORD_BATCH_WINDOW_S for others, and each batch, hooks included, is one transaction run on
the writer thread in one hand-off (`callscreen.store.inline`). A record that fails, or a
hook that fails, is logged and the others are kept: each record and each of a hook's write
blocks has its own savepoint, as each had its own transaction before.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from callscreen.classifier import Decision
from callscreen.errors import StoreError
from callscreen.pbx.model import CallRecord
from callscreen.store import Store
from callscreen.store.calls import save_call_record
from callscreen.store.inline import InlineDatabase, run_inline, write_inline
from callscreen.store.retry import is_transient, retry_write
from callscreen.tasks import TaskSet

log = structlog.get_logger(__name__)

# Call records written in one transaction at most.
MAX_RECORDS_PER_WRITE = 200
# How long a finished call waits for others to share its transaction. The console shows the
# call as ended only after the write, so this delay is what a person can notice.
RECORD_BATCH_WINDOW_S = 0.05


@dataclass(frozen=True, slots=True)
class FinishedCall:
    """A finished call waiting for its record to be written."""

    record: CallRecord
    uniqueids: frozenset[str]
    fallback_decision: Decision | None


@dataclass(slots=True)
class RecordBatch:
    """The context of a call-recorded hook: the batch's store, and callbacks for after commit.

    The store runs every query at once inside the batch's transaction, on the writer thread.
    A hook may await only this store, and must not touch the event loop. Work for the loop
    (waking a task, say) goes into `after_commit`, which the loop calls after the commit.
    """

    store: Store
    after_commit: list[Callable[[], None]] = field(default_factory=list)


# Called with the batch and the call_id after each record was written, inside the batch.
RecordedHook = Callable[[RecordBatch, str], Coroutine[Any, Any, None]]
# Called on the event loop for each record once its batch has committed.
RecordedCallback = Callable[[FinishedCall, str], None]


@dataclass(slots=True)
class _Written:
    stored: list[tuple[FinishedCall, str]]
    after_commit: list[Callable[[], None]]


class CallRecordWriter:
    """Queues finished calls and writes them, with their hooks, a batch at a time."""

    def __init__(self, tasks: TaskSet, hooks: Sequence[RecordedHook],
                 on_recorded: RecordedCallback) -> None:
        self.store: Store | None = None  # set by the daemon once the store is open
        self._tasks = tasks
        self._hooks = hooks
        self._on_recorded = on_recorded
        self._queued: list[FinishedCall] = []
        self._writing = 0
        self._writer: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """The number of records queued or being written."""
        return len(self._queued) + self._writing

    def queue(self, call: FinishedCall) -> None:
        """Queue a finished call; it is written within about RECORD_BATCH_WINDOW_S."""
        self._queued.append(call)
        if self._writer is None or self._writer.done():
            self._writer = self._tasks.start(self._write_queued(), name="store_call_records")

    async def flush(self) -> None:
        """Write every queued record now, trying each batch once (on shutdown)."""
        if self._writer is not None and not self._writer.done():
            # A writer started after the daemon drained its tasks is still waiting out its
            # window, so the records it would have taken are still queued.
            self._writer.cancel()
            await asyncio.wait([self._writer])
        while self._queued:
            await self._write(self._take_batch(), retry=False)

    async def _write_queued(self) -> None:
        while self._queued:
            if len(self._queued) < MAX_RECORDS_PER_WRITE:
                await asyncio.sleep(RECORD_BATCH_WINDOW_S)
            await self._write(self._take_batch(), retry=True)

    def _take_batch(self) -> list[FinishedCall]:
        batch = self._queued[:MAX_RECORDS_PER_WRITE]
        del self._queued[:MAX_RECORDS_PER_WRITE]
        return batch

    async def _write(self, batch: list[FinishedCall], *, retry: bool) -> None:
        assert self.store is not None
        db = self.store.db

        def attempt() -> Awaitable[_Written]:
            return write_inline(db, "record_calls", functools.partial(self._write_batch, batch))

        self._writing += len(batch)
        try:
            written = await (retry_write("record_calls", attempt) if retry else attempt())
        except StoreError as exc:
            log.error("call_records_failed", error=str(exc), calls=len(batch),
                      linkedids=[call.record.linkedid for call in batch])
            return
        finally:
            self._writing -= len(batch)

        for callback in written.after_commit:
            callback()
        for call, call_id in written.stored:
            self._on_recorded(call, call_id)

    def _write_batch(self, batch: list[FinishedCall], db: InlineDatabase) -> _Written:
        """Write each record and run its hooks (on the writer thread, in one transaction)."""
        scope = RecordBatch(Store(db))
        stored: list[tuple[FinishedCall, str]] = []
        for call in batch:
            call_id = self._write_one(db, scope, call)
            if call_id is not None:
                stored.append((call, call_id))

        log.debug("call_records_stored", calls=len(stored), failed=len(batch) - len(stored))
        return _Written(stored, scope.after_commit)

    def _write_one(self, db: InlineDatabase, scope: RecordBatch, call: FinishedCall) -> str | None:
        record = call.record
        try:
            call_id = run_inline(save_call_record(db, record, uniqueids=call.uniqueids,
                                                  fallback_decision=call.fallback_decision))
        # Whatever one record raises must not cost the rest of the batch their records.
        except Exception as exc:
            _reraise_for_batch(exc, db)
            log.error("call_record_failed", linkedid=record.linkedid, uniqueid=record.uniqueid,
                      error=repr(exc), exc_info=exc)
            return None

        for hook in self._hooks:
            try:
                run_inline(hook(scope, call_id))
            # The record stays, as it did when hooks ran after its own commit.
            except Exception as exc:
                _reraise_for_batch(exc, db)
                log.error("call_recorded_hook_failed", call_id=call_id,
                          linkedid=record.linkedid, error=repr(exc), exc_info=exc)
        return call_id


def _reraise_for_batch(exc: Exception, db: InlineDatabase) -> None:
    """Re-raise the errors that fail the whole batch.

    A fault that may clear (locked, full disk) is retried for every record together. A
    transaction that sqlite rolled back has lost the records before this one too.
    """
    transient = isinstance(exc, sqlite3.OperationalError) or (
        isinstance(exc, StoreError) and is_transient(exc))
    if transient or not db.in_transaction:
        raise exc
