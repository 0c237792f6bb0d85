"""Queries that strip personal data from one closed case and the rows linked to it.

Every writer takes the connection of an open `Database.write` block, so that a whole
anonymisation run, its audit rows included, commits or rolls back as one transaction.
What to keep and what to replace is decided in `callscreen.cases.retention`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiosqlite

from callscreen.store.db import to_db_time

DUE_CASES_SQL = (
    "SELECT id, case_no, employee_id FROM cases"
    " WHERE status = 'closed' AND closed_at < ? AND anonymised_at IS NULL"
    " ORDER BY closed_at, id"
)

# Calls of this case that no other case still links to. A call shared with a case that is
# kept (for example the employee's newer case) keeps its target row for that case.
CASE_ONLY_CALLS_SQL = (
    "SELECT DISTINCT call_id FROM case_events AS mine"
    " WHERE mine.case_id = :case AND mine.call_id IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM case_events AS other"
    "   WHERE other.call_id = mine.call_id AND other.case_id <> :case)"
    " ORDER BY call_id"
)


async def due_cases(connection: aiosqlite.Connection,
                    closed_before: datetime) -> list[tuple[int, str, str]]:
    """Return (id, case_no, employee_id) of closed cases not yet anonymised, oldest first."""
    async with connection.execute(DUE_CASES_SQL, (to_db_time(closed_before),)) as cursor:
        rows = await cursor.fetchall()

    return [(int(row[0]), str(row[1]), str(row[2])) for row in rows]


async def case_only_calls(connection: aiosqlite.Connection, case_id: int) -> list[str]:
    """Return the ids of calls on this case's timeline and on no other case's."""
    async with connection.execute(CASE_ONLY_CALLS_SQL, {"case": case_id}) as cursor:
        rows = await cursor.fetchall()

    return [str(row[0]) for row in rows]


async def mark_case(connection: aiosqlite.Connection, case_id: int, *, pseudonym: str,
                    marker: str, now: datetime) -> None:
    """Replace the employee and the closing texts of the case and set anonymised_at.

    kb_text stays: it was redacted when the case was closed and is what the knowledge base
    keeps. Status, risk, dates and the anomaly counts in signals_json stay for statistics.
    """
    await connection.execute(
        "UPDATE cases SET employee_id = :pseudonym,"
        " summary = CASE WHEN summary = '' THEN '' ELSE :marker END,"
        " approach = CASE WHEN approach = '' THEN '' ELSE :marker END,"
        " anonymised_at = :now WHERE id = :case",
        {"pseudonym": pseudonym, "marker": marker, "now": to_db_time(now), "case": case_id},
    )


async def scrub_events(connection: aiosqlite.Connection, case_id: int,
                       scrub: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """Apply `scrub` to every timeline body of the case and unlink its calls.

    Returns the number of timeline entries. Call entries stay, without their call id, so
    the case still counts its calls.
    """
    async with connection.execute(
        "SELECT id, body_json FROM case_events WHERE case_id = ?", (case_id,),
    ) as cursor:
        rows = list(await cursor.fetchall())

    for row in rows:
        body = scrub(_body_object(row[1]))
        await connection.execute(
            "UPDATE case_events SET body_json = ?, call_id = NULL WHERE id = ?",
            (json.dumps(body, ensure_ascii=False), row[0]),
        )

    return len(rows)


def _body_object(text: str) -> dict[str, Any]:
    # callscreen only writes JSON objects here. Anything else was edited by hand, cannot be
    # scrubbed key by key, and is dropped so that no personal data in it survives.
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return {}

    return body if isinstance(body, dict) else {}


async def scrub_referrals_and_leave(connection: aiosqlite.Connection, case_id: int, *,
                                    pseudonym: str, marker: str) -> None:
    """Replace referral and leave notes with `marker` and the leave employee with `pseudonym`.

    Leave dates and category stay, so past attendance months keep their leave days.
    """
    await connection.execute(
        "UPDATE referrals SET note = ? WHERE case_id = ? AND note <> ''", (marker, case_id),
    )
    await connection.execute(
        "UPDATE leave_marks SET employee_id = ?,"
        " note = CASE WHEN note = '' THEN '' ELSE ? END WHERE case_id = ?",
        (pseudonym, marker, case_id),
    )


async def unlink_calls(connection: aiosqlite.Connection, call_ids: list[str], *,
                       employee_id: str, pseudonym: str, marker: str) -> int:
    """Move the calls' HR targets and reception tags from the employee to the pseudonym.

    The target rows lose the caller number but keep block, region, times and seconds, so
    monthly totals stay. Tags lose their free-text note. Returns the target rows changed.
    """
    changed = 0
    for call_id in call_ids:
        cursor = await connection.execute(
            "UPDATE call_targets SET employee_id = ?, caller_key = ''"
            " WHERE call_id = ? AND employee_id = ?",
            (pseudonym, call_id, employee_id),
        )
        changed += cursor.rowcount
        await connection.execute(
            "UPDATE tags SET employee_id = ?, note = CASE WHEN note = '' THEN '' ELSE ? END"
            " WHERE call_id = ? AND employee_id = ?",
            (pseudonym, marker, call_id, employee_id),
        )

    return changed


async def clear_notification_names(connection: aiosqlite.Connection, case_no: str) -> int:
    """Blank the employee name in the case's outbox payloads; return the rows changed.

    Outbox rows are keyed "<case_no>:<risk>:<event>" and are never deleted.
    """
    prefix = f"{case_no}:"
    cursor = await connection.execute(
        "UPDATE outbox SET payload_json = json_set(payload_json, '$.employee_name', '')"
        " WHERE substr(dedupe_key, 1, length(?1)) = ?1"
        " AND coalesce(json_extract(payload_json, '$.employee_name'), '') <> ''",
        (prefix,),
    )

    return cursor.rowcount
