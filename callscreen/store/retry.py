"""Retrying a call-log write while the database is locked by another process or the disk is full.

A call record exists only in memory until its write commits, so giving up on the first
SQLITE_BUSY or SQLITE_FULL loses it. These faults usually clear (a backup tool releases its
lock, an admin frees space), so the write is tried again with capped backoff for a bounded
time. Each attempt is its own transaction, which makes a retry safe.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from callscreen.errors import StoreError

log = structlog.get_logger(__name__)

T = TypeVar("T")

RETRY_INITIAL_S = 0.5
RETRY_MAX_DELAY_S = 30.0
# About ten minutes of retries. A fault that lasts longer needs a person, and the daemon
# keeps each pending record in memory meanwhile.
RETRY_WINDOW_S = 600.0


def is_transient(exc: StoreError) -> bool:
    """Return True for faults that may clear by themselves: locked, busy, full, I/O."""
    # Constraint violations and schema errors are IntegrityError or DatabaseError, not
    # OperationalError, and would fail the same way on every attempt.
    return isinstance(exc.__cause__, sqlite3.OperationalError)


async def retry_write(action: str, write: Callable[[], Awaitable[T]], *,
                      initial_s: float = RETRY_INITIAL_S, max_delay_s: float = RETRY_MAX_DELAY_S,
                      window_s: float = RETRY_WINDOW_S) -> T:
    """Run `write()` until it succeeds, retrying transient StoreErrors with capped backoff.

    Raises the last StoreError when it is not transient or when `window_s` has passed.
    """
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + window_s
    delay = initial_s
    attempt = 1
    while True:
        try:
            return await write()
        except StoreError as exc:
            if not is_transient(exc) or loop.time() + delay > give_up_at:
                raise
            # ERROR, not WARNING: a full disk or a lock held for this long needs a person,
            # even though the write may still succeed later.
            log.error("store_write_failed_will_retry", action=action, attempt=attempt,
                      retry_in_s=delay, error=str(exc))

        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay_s)
        attempt += 1
