"""Audit log queries: append one row inside a write transaction, read rows in id order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiosqlite

from callscreen.audit.chain import GENESIS_HASH, AuditEntry, entry_hash
from callscreen.store.db import Database, to_db_time

PAGE_ROWS = 1000

INSERT_SQL = (
    "INSERT INTO audit_log (id, at, actor, action, case_id, reason, detail, prev_hash, hash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


async def append_entry(connection: aiosqlite.Connection, *, at: datetime, actor: str,
                       action: str, case_id: int | None, reason: str = "",
                       detail: str = "") -> AuditEntry:
    """Append one row chained to the newest one; call inside `Database.write`.

    The write transaction (BEGIN IMMEDIATE) makes reading the head and inserting atomic, so
    two writers never chain to the same previous row.
    """
    async with connection.execute(
        "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1"
    ) as cursor:
        head = await cursor.fetchone()
    previous_id, previous_hash = (int(head[0]), str(head[1])) if head else (0, GENESIS_HASH)

    fields: dict[str, Any] = {
        "id": previous_id + 1, "at": to_db_time(at), "actor": actor, "action": action,
        "case_id": case_id, "reason": reason, "detail": detail, "prev_hash": previous_hash,
    }
    entry = AuditEntry(**fields, hash=entry_hash(**fields))
    await connection.execute(INSERT_SQL, (
        entry.id, entry.at, entry.actor, entry.action, entry.case_id, entry.reason,
        entry.detail, entry.prev_hash, entry.hash,
    ))

    return entry


async def iter_entries(db: Database) -> AsyncIterator[AuditEntry]:
    """Yield every audit row in id order, reading a page at a time."""
    after = 0
    while True:
        rows = await db.fetch_all(
            "SELECT id, at, actor, action, case_id, reason, detail, prev_hash, hash"
            " FROM audit_log WHERE id > ? ORDER BY id LIMIT ?",
            (after, PAGE_ROWS), action="read_audit_log",
        )
        for row in rows:
            yield AuditEntry(*tuple(row))
        if len(rows) < PAGE_ROWS:
            return
        after = int(rows[-1][0])


async def entries_for_case(db: Database, case_id: int) -> list[AuditEntry]:
    """Return the audit rows about one case, oldest first."""
    rows = await db.fetch_all(
        "SELECT id, at, actor, action, case_id, reason, detail, prev_hash, hash"
        " FROM audit_log WHERE case_id = ? ORDER BY id",
        (case_id,), action="read_case_audit",
    )

    return [AuditEntry(*tuple(row)) for row in rows]
