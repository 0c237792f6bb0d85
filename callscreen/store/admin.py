"""Admin queries: audited list changes, the retention purge and read-only access for reports.

Every change here appends a row to the audit chain (`audit_log`) in the same transaction as
the change, so a change is never stored without its audit row. Admin rows have no case_id.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.request import pathname2url

import aiosqlite
import structlog

from callscreen.errors import StoreError
from callscreen.numbers.normalise import mask_number
from callscreen.store.audit import append_entry
from callscreen.store.db import Database, from_db_time, optional_from_db_time, to_db_time
from callscreen.store.lists import ListEntry, validate_entry

log = structlog.get_logger(__name__)

# Rows deleted per write transaction, so that ring-time writes wait at most one batch.
PURGE_BATCH_ROWS = 5000

INSERT_ENTRY_SQL = (
    "INSERT INTO list_entries (list, match, pattern, note, added_by, added_at, expires_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
SELECT_ENTRIES_SQL = (
    "SELECT id, list, match, pattern, note, added_by, added_at, expires_at, removed_at"
    " FROM list_entries"
    " WHERE (:all OR (removed_at IS NULL AND (expires_at IS NULL OR expires_at > :now)))"
    " AND (:list IS NULL OR list = :list)"
    " ORDER BY id"
)

COUNT_CALLS_SQL = "SELECT count(*) FROM calls WHERE started_at < ?"
COUNT_TAGS_SQL = "SELECT count(*) FROM tags WHERE created_at < ?"
COUNT_CLOSED_CASES_SQL = (
    "SELECT count(*) FROM cases"
    " WHERE status = 'closed' AND closed_at < ? AND anonymised_at IS NULL"
)
DELETE_CALLS_SQL = (
    "DELETE FROM calls WHERE call_id IN"
    " (SELECT call_id FROM calls WHERE started_at < ? ORDER BY started_at LIMIT ?)"
)
DELETE_TAGS_SQL = (
    "DELETE FROM tags WHERE id IN"
    " (SELECT id FROM tags WHERE created_at < ? ORDER BY created_at LIMIT ?)"
)


@dataclass(frozen=True, slots=True)
class NewListEntry:
    """A list entry to insert, already in normal form."""

    list_name: str
    match: str
    pattern: str
    note: str = ""
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PurgeCutoffs:
    """Rows older than these times go: calls by started_at, tags by created_at."""

    calls_before: datetime
    tags_before: datetime
    cases_closed_before: datetime


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    """How many rows a purge deleted, or would delete.

    `closed_cases` counts closed cases past the cutoff that are not anonymised yet.
    """

    calls: int = 0
    tags: int = 0
    closed_cases: int = 0


def open_read_only(path: str | Path) -> sqlite3.Connection:
    """Open the database file read-only (`mode=ro`), so nothing done here can change it.

    Raises StoreError when the file is missing or is not a database.
    """
    db_path = Path(path).resolve()
    if not db_path.is_file():
        raise StoreError(f"数据库文件不存在 / database file not found: {db_path}")

    uri = f"file:{pathname2url(str(db_path))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True)
        connection.execute("PRAGMA query_only = ON")
        connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"无法只读打开数据库 / cannot open {db_path} read-only: {exc}") from exc

    connection.row_factory = sqlite3.Row
    return connection


async def add_list_entries(db: Database, entries: Sequence[NewListEntry], *, added_by: str,
                           added_at: datetime, action: str, actor: str | None = None
                           ) -> list[int]:
    """Insert the entries and one audit row in one transaction; return the new ids.

    The audit row names `actor` (default `added_by`), who may differ from the name kept on
    the entries, e.g. "cli:root" for `--by it-admin`. Raises InvalidListEntryError before
    writing anything when any entry is not in normal form.
    """
    for entry in entries:
        validate_entry(entry.list_name, entry.match, entry.pattern)

    ids: list[int] = []
    async with db.write(action) as connection:
        for entry in entries:
            ids.append(await _insert_entry(connection, entry, added_by, added_at))
        detail = _entries_detail(ids, entries)
        await append_entry(connection, at=added_at, actor=actor or added_by, action=action,
                           case_id=None, detail=detail)

    log.info("list_entries_added", action=action, count=len(ids), added_by=added_by)
    return ids


async def _insert_entry(connection: aiosqlite.Connection, entry: NewListEntry, added_by: str,
                        added_at: datetime) -> int:
    expires = None if entry.expires_at is None else to_db_time(entry.expires_at)
    cursor = await connection.execute(INSERT_ENTRY_SQL, (
        entry.list_name, entry.match, entry.pattern, entry.note, added_by,
        to_db_time(added_at), expires,
    ))

    return int(cursor.lastrowid or 0)


def _entries_detail(ids: Sequence[int], entries: Sequence[NewListEntry]) -> str:
    # Audit rows are never deleted, so they carry masked patterns; the list row keeps the
    # full pattern for as long as the entry exists.
    items = [
        {"id": entry_id, "list": entry.list_name, "match": entry.match,
         "pattern": mask_number(entry.pattern) or entry.pattern}
        for entry_id, entry in zip(ids, entries, strict=True)
    ]
    return json.dumps({"entries": items}, ensure_ascii=False)


async def remove_list_entries(db: Database, entry_ids: Sequence[int], *, removed_by: str,
                              removed_at: datetime, reason: str = "",
                              actor: str | None = None) -> list[int]:
    """Mark the entries removed and audit it in one transaction; return the ids removed.

    The audit row names `actor` (default `removed_by`). Ids that are missing or already
    removed are left out of the result.
    """
    removed: list[int] = []
    async with db.write("list_remove") as connection:
        for entry_id in entry_ids:
            cursor = await connection.execute(
                "UPDATE list_entries SET removed_at = ?, removed_by = ?"
                " WHERE id = ? AND removed_at IS NULL",
                (to_db_time(removed_at), removed_by, entry_id),
            )
            if cursor.rowcount == 1:
                removed.append(entry_id)
        if removed:
            await append_entry(connection, at=removed_at, actor=actor or removed_by,
                               action="list_remove", case_id=None, reason=reason,
                               detail=json.dumps({"ids": removed}))

    log.info("list_entries_removed", count=len(removed), removed_by=removed_by)
    return removed


async def list_entries(db: Database, *, now: datetime, include_inactive: bool = False,
                       list_name: str | None = None) -> list[ListEntry]:
    """Return stored entries in id order: those in force at `now`, or every row."""
    params = {"all": include_inactive, "now": to_db_time(now), "list": list_name}
    rows = await db.fetch_all(SELECT_ENTRIES_SQL, params, action="list_entries")

    return [entry_from_row(row) for row in rows]


def entry_from_row(row: sqlite3.Row) -> ListEntry:
    """Build a ListEntry from a row of SELECT_ENTRIES_SQL."""
    return ListEntry(
        id=row["id"], list_name=row["list"], match=row["match"], pattern=row["pattern"],
        note=row["note"], added_by=row["added_by"], added_at=from_db_time(row["added_at"]),
        expires_at=optional_from_db_time(row["expires_at"]),
        removed_at=optional_from_db_time(row["removed_at"]),
    )


def load_all_entries(connection: sqlite3.Connection) -> list[ListEntry]:
    """Return every list row, removed and expired ones too, from a read-only connection."""
    params = {"all": True, "now": "", "list": None}
    rows = connection.execute(SELECT_ENTRIES_SQL, params)

    return [entry_from_row(row) for row in rows]


def count_purgeable(connection: sqlite3.Connection, cutoffs: PurgeCutoffs) -> PurgeCounts:
    """Count the rows a purge with `cutoffs` would touch, on a read-only connection."""
    calls = connection.execute(COUNT_CALLS_SQL, (to_db_time(cutoffs.calls_before),))
    tags = connection.execute(COUNT_TAGS_SQL, (to_db_time(cutoffs.tags_before),))
    cases = connection.execute(COUNT_CLOSED_CASES_SQL,
                               (to_db_time(cutoffs.cases_closed_before),))

    return PurgeCounts(calls=int(calls.fetchone()[0]), tags=int(tags.fetchone()[0]),
                       closed_cases=int(cases.fetchone()[0]))


async def audit_purge(db: Database, cutoffs: PurgeCutoffs, *, actor: str,
                      at: datetime) -> PurgeCounts:
    """Count what the purge will delete and append its audit row, in one transaction.

    The audit row comes first and names the cutoffs, so a purge stopped half-way is still on
    record, and running it again deletes exactly the rest.
    """
    async with db.write("audit_purge") as connection:
        counts = await _count_in_transaction(connection, cutoffs)
        detail = json.dumps({
            "calls_before": to_db_time(cutoffs.calls_before),
            "tags_before": to_db_time(cutoffs.tags_before),
            "cases_closed_before": to_db_time(cutoffs.cases_closed_before),
            "calls": counts.calls, "tags": counts.tags, "closed_cases": counts.closed_cases,
        })
        await append_entry(connection, at=at, actor=actor, action="retention_purge",
                           case_id=None, detail=detail)

    return counts


async def _count_in_transaction(connection: aiosqlite.Connection,
                                cutoffs: PurgeCutoffs) -> PurgeCounts:
    counts: list[int] = []
    for sql, cutoff in ((COUNT_CALLS_SQL, cutoffs.calls_before),
                        (COUNT_TAGS_SQL, cutoffs.tags_before),
                        (COUNT_CLOSED_CASES_SQL, cutoffs.cases_closed_before)):
        async with connection.execute(sql, (to_db_time(cutoff),)) as cursor:
            row = await cursor.fetchone()
        counts.append(int(row[0]) if row else 0)

    return PurgeCounts(calls=counts[0], tags=counts[1], closed_cases=counts[2])


async def delete_calls_before(db: Database, cutoff: datetime, *,
                              batch_rows: int = PURGE_BATCH_ROWS) -> int:
    """Delete calls that started before `cutoff`, a batch per transaction; return the count.

    Deleting a call also deletes its HR target row (ON DELETE CASCADE) and unlinks its tags.
    """
    return await _delete_in_batches(db, DELETE_CALLS_SQL, cutoff, batch_rows, "purge_calls")


async def delete_tags_before(db: Database, cutoff: datetime, *,
                             batch_rows: int = PURGE_BATCH_ROWS) -> int:
    """Delete tags created before `cutoff`, a batch per transaction; return the count."""
    return await _delete_in_batches(db, DELETE_TAGS_SQL, cutoff, batch_rows, "purge_tags")


async def _delete_in_batches(db: Database, sql: str, cutoff: datetime, batch_rows: int,
                             action: str) -> int:
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, not {batch_rows}")

    total = 0
    while True:
        async with db.write(action) as connection:
            cursor = await connection.execute(sql, (to_db_time(cutoff), batch_rows))
            deleted = cursor.rowcount
        total += deleted
        if deleted < batch_rows:
            return total


def require_tables(connection: sqlite3.Connection, names: Sequence[str], path: str) -> None:
    """Raise StoreError unless every table in `names` exists (the file may predate them)."""
    rows = connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
    present = {str(row[0]) for row in rows}
    missing = [name for name in names if name not in present]
    if missing:
        raise StoreError(
            f"数据库缺少表，请先运行一次 callscreen run 完成迁移 / database {path} lacks "
            f"tables {', '.join(missing)}; start the daemon once to migrate it"
        )


def require_columns(connection: sqlite3.Connection, table: str, names: Sequence[str],
                    path: str) -> None:
    """Raise StoreError unless `table` has every column in `names` (the file may predate them)."""
    rows = connection.execute("SELECT name FROM pragma_table_info(?)", (table,))
    present = {str(row[0]) for row in rows}
    missing = [name for name in names if name not in present]
    if missing:
        raise StoreError(
            f"数据库缺少列，请先运行一次 callscreen run 完成迁移 / database {path} lacks "
            f"columns {table}.{', '.join(missing)}; start the daemon once to migrate it"
        )
