"""Notification outbox queries: enqueue once per (dedupe key, channel), claim, settle."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from callscreen.store.db import Database, from_db_time, to_db_time


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One notification to deliver on one channel."""

    id: int
    dedupe_key: str
    channel: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


async def insert_item(connection: aiosqlite.Connection, *, dedupe_key: str, channel: str,
                      payload: dict[str, Any], now: datetime) -> bool:
    """Add a pending item; return False when this key was already queued for this channel."""
    cursor = await connection.execute(
        "INSERT INTO outbox (dedupe_key, channel, payload_json, state, created_at,"
        " next_attempt_at) VALUES (?, ?, ?, 'pending', ?, ?)"
        " ON CONFLICT (dedupe_key, channel) DO NOTHING",
        (dedupe_key, channel, json.dumps(payload, ensure_ascii=False), to_db_time(now),
         to_db_time(now)),
    )

    return cursor.rowcount == 1


async def claim_due(db: Database, *, now: datetime, limit: int) -> list[OutboxItem]:
    """Mark up to `limit` due pending items as sending and return them, oldest due first."""
    async with db.write("claim_outbox") as connection:
        async with connection.execute(
            "SELECT id, dedupe_key, channel, payload_json, attempts, created_at FROM outbox"
            " WHERE state = 'pending' AND next_attempt_at <= ?"
            " ORDER BY next_attempt_at LIMIT ?",
            (to_db_time(now), limit),
        ) as cursor:
            rows = list(await cursor.fetchall())
        await connection.executemany(
            "UPDATE outbox SET state = 'sending' WHERE id = ?", [(row[0],) for row in rows],
        )

    return [
        OutboxItem(id=row[0], dedupe_key=row[1], channel=row[2], payload=json.loads(row[3]),
                   attempts=row[4], created_at=from_db_time(row[5]))
        for row in rows
    ]


async def release_claimed(db: Database) -> int:
    """Set every 'sending' item back to 'pending'; run once at start-up.

    An item still 'sending' at start-up was in flight when the previous process stopped.
    Whether the peer got it is unknown, so it is sent again (at-least-once).
    """
    async with db.write("release_outbox") as connection:
        cursor = await connection.execute(
            "UPDATE outbox SET state = 'pending' WHERE state = 'sending'"
        )

    return cursor.rowcount


async def mark_sent(db: Database, item_id: int, *, now: datetime) -> None:
    """Record a successful delivery."""
    async with db.write("outbox_sent") as connection:
        await connection.execute(
            "UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1,"
            " last_error = '' WHERE id = ?",
            (to_db_time(now), item_id),
        )


async def mark_retry(db: Database, item_id: int, *, next_attempt_at: datetime | None,
                     error: str) -> None:
    """Record a failed attempt; with no `next_attempt_at` the item is given up as failed."""
    state = "failed" if next_attempt_at is None else "pending"
    due = to_db_time(next_attempt_at) if next_attempt_at is not None else None
    async with db.write("outbox_retry") as connection:
        await connection.execute(
            "UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ?,"
            " next_attempt_at = coalesce(?, next_attempt_at) WHERE id = ?",
            (state, error[:500], due, item_id),
        )


async def next_due_at(db: Database) -> datetime | None:
    """Return when the earliest pending item is due, or None when nothing is pending."""
    row = await db.fetch_one(
        "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'", (),
        action="outbox_next_due",
    )

    return from_db_time(row[0]) if row and row[0] else None


async def count_by_state(db: Database) -> dict[str, int]:
    """Count outbox items per state, for status pages and tests."""
    rows = await db.fetch_all("SELECT state, count(*) FROM outbox GROUP BY state", (),
                              action="outbox_counts")

    return {str(row[0]): int(row[1]) for row in rows}
