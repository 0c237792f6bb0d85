"""HR queries on calls: the employee each call targeted, window counts and monthly totals.

Window counts are range scans on call_targets_window (employee_id, suspected, started_at),
so their cost follows the number of calls in the window, not the length of the history.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

import aiosqlite

from callscreen.cases.model import AttendanceRow, CallTarget, TargetSource
from callscreen.store.db import Database, from_db_time, to_db_time

WINDOW_COUNTS_SQL = (
    "SELECT count(*), count(DISTINCT nullif(caller_key, '')),"
    " count(DISTINCT nullif(caller_block, '')), count(DISTINCT nullif(caller_region, '')),"
    " coalesce(sum(after_hours), 0)"
    " FROM call_targets"
    " WHERE employee_id = ? AND suspected = 1 AND started_at >= ? AND started_at < ?"
)

WINDOW_REPEAT_SQL = (
    "SELECT coalesce(max(calls), 0) FROM ("
    " SELECT count(*) AS calls FROM call_targets"
    " WHERE employee_id = ? AND suspected = 1 AND started_at >= ? AND started_at < ?"
    " AND caller_key <> '' GROUP BY caller_key)"
)

MONTH_TOTALS_SQL = (
    "SELECT t.employee_id, coalesce(e.name, ''), coalesce(e.department, ''), count(*),"
    " sum(t.reception_seconds), sum(t.employee_seconds)"
    " FROM call_targets AS t LEFT JOIN employees AS e ON e.employee_id = t.employee_id"
    " WHERE t.suspected = 1 AND t.started_at >= ? AND t.started_at < ?"
    " GROUP BY t.employee_id ORDER BY t.employee_id"
)

UPSERT_TARGET_SQL = """
INSERT INTO call_targets (
    call_id, employee_id, source, started_at, caller_key, caller_block, caller_region,
    after_hours, suspected, reception_seconds, employee_seconds, linked_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (call_id) DO UPDATE SET
    employee_id = excluded.employee_id, source = excluded.source,
    after_hours = excluded.after_hours, suspected = excluded.suspected,
    reception_seconds = excluded.reception_seconds,
    employee_seconds = excluded.employee_seconds, linked_at = excluded.linked_at
"""


async def save_target(connection: aiosqlite.Connection, target: CallTarget, *,
                      now: datetime) -> None:
    """Insert or replace the target of one call; call inside `Database.write`."""
    await connection.execute(UPSERT_TARGET_SQL, (
        target.call_id, target.employee_id, str(target.source), to_db_time(target.started_at),
        target.caller_key, target.caller_block, target.caller_region, int(target.after_hours),
        int(target.suspected), target.reception_seconds, target.employee_seconds,
        to_db_time(now),
    ))


async def get_target(db: Database, call_id: str) -> CallTarget | None:
    """Return the stored target of a call, or None."""
    row = await db.fetch_one("SELECT * FROM call_targets WHERE call_id = ?", (call_id,),
                             action="get_call_target")

    return None if row is None else _row_to_target(row)


def _row_to_target(row: sqlite3.Row) -> CallTarget:
    return CallTarget(
        call_id=row["call_id"], employee_id=row["employee_id"],
        source=TargetSource(row["source"]), started_at=from_db_time(row["started_at"]),
        caller_key=row["caller_key"], caller_block=row["caller_block"],
        caller_region=row["caller_region"], after_hours=bool(row["after_hours"]),
        suspected=bool(row["suspected"]), reception_seconds=row["reception_seconds"],
        employee_seconds=row["employee_seconds"],
    )


async def window_counts(db: Database, employee_id: str, since: datetime,
                        until: datetime) -> dict[str, int]:
    """Count the employee's suspected calls started in [since, until).

    Keys: calls, numbers, blocks, regions, after_hours, repeat (most calls from one number).
    """
    params = (employee_id, to_db_time(since), to_db_time(until))
    row = await db.fetch_one(WINDOW_COUNTS_SQL, params, action="anomaly_window")
    repeat = await db.fetch_one(WINDOW_REPEAT_SQL, params, action="anomaly_window_repeat")
    calls, numbers, blocks, regions, after_hours = tuple(row) if row else (0, 0, 0, 0, 0)

    return {
        "calls": int(calls), "numbers": int(numbers), "blocks": int(blocks),
        "regions": int(regions), "after_hours": int(after_hours),
        "repeat": int(repeat[0]) if repeat else 0,
    }


async def month_totals(db: Database, since: datetime, until: datetime) -> list[AttendanceRow]:
    """Sum suspected calls and bridged seconds per employee for calls started in the range.

    leave_days is left 0 here; the attendance report adds the leave marks.
    """
    rows = await db.fetch_all(MONTH_TOTALS_SQL, (to_db_time(since), to_db_time(until)),
                              action="attendance_totals")

    return [
        AttendanceRow(employee_id=row[0], name=row[1], department=row[2], calls=int(row[3]),
                      reception_seconds=int(row[4] or 0), employee_seconds=int(row[5] or 0),
                      leave_days=0)
        for row in rows
    ]


async def employee_by_number(db: Database, number: str) -> tuple[str, str] | None:
    """Find the employee whose DID or extension is `number`; return (employee_id, how).

    `how` is "did" or "extension". A number shared by several employees matches none,
    because guessing would put calls on the wrong person's case.
    """
    if not number:
        return None

    rows = await db.fetch_all(
        "SELECT employee_id, 'did' FROM employees WHERE did = ?"
        " UNION SELECT employee_id, 'extension' FROM employees WHERE extension = ?",
        (number, number), action="employee_by_number",
    )
    if len({row[0] for row in rows}) != 1:
        return None

    return str(rows[0][0]), str(rows[0][1])


async def employee_by_extension(db: Database, extension: str) -> str | None:
    """Return the one employee with this extension, or None (also when several share it)."""
    if not extension:
        return None

    rows = await db.fetch_all("SELECT employee_id FROM employees WHERE extension = ?",
                              (extension,), action="employee_by_extension")

    return str(rows[0][0]) if len(rows) == 1 else None


async def employee_extension(db: Database, employee_id: str) -> str:
    """Return the employee's extension, or "" when unknown."""
    row = await db.fetch_one("SELECT extension FROM employees WHERE employee_id = ?",
                             (employee_id,), action="employee_extension")

    return str(row[0]) if row else ""


async def employee_name(db: Database, employee_id: str) -> str:
    """Return the employee's name from the directory, or "" when not listed."""
    row = await db.fetch_one("SELECT name FROM employees WHERE employee_id = ?",
                             (employee_id,), action="employee_name")

    return str(row[0]) if row else ""


async def employee_pinyin(db: Database, employee_id: str) -> str:
    """Return the pinyin the directory stores for the employee, or "" when not listed."""
    row = await db.fetch_one("SELECT pinyin FROM employees WHERE employee_id = ?",
                             (employee_id,), action="employee_pinyin")

    return str(row[0] or "") if row else ""


async def feedback_employee(db: Database, call_id: str) -> str | None:
    """Return the employee of the newest "collector" tag reception put on this call."""
    row = await db.fetch_one(
        "SELECT employee_id FROM tags WHERE call_id = ? AND employee_id IS NOT NULL"
        " AND employee_id <> '' AND tag IN ('collector', 'abusive')"
        " ORDER BY created_at DESC LIMIT 1",
        (call_id,), action="feedback_employee",
    )

    return str(row[0]) if row else None


async def call_tagged_collector(db: Database, call_id: str) -> bool:
    """Return whether reception tagged this call as a collector or abusive caller."""
    row = await db.fetch_one(
        "SELECT 1 FROM tags WHERE call_id = ? AND tag IN ('collector', 'abusive') LIMIT 1",
        (call_id,), action="call_tagged_collector",
    )

    return row is not None


async def suspected_call_ids(connection: aiosqlite.Connection, employee_id: str,
                             since: datetime, until: datetime) -> list[str]:
    """Return the employee's suspected calls in [since, until), oldest first (in a write)."""
    async with connection.execute(
        "SELECT call_id FROM call_targets"
        " WHERE employee_id = ? AND suspected = 1 AND started_at >= ? AND started_at < ?"
        " ORDER BY started_at",
        (employee_id, to_db_time(since), to_db_time(until)),
    ) as cursor:
        rows = await cursor.fetchall()

    return [str(row[0]) for row in rows]


async def user_role(db: Database, username: str) -> str | None:
    """Return the role of an enabled user account, or None when missing or disabled."""
    row = await db.fetch_one("SELECT role FROM users WHERE username = ? AND disabled = 0",
                             (username,), action="user_role")

    return str(row[0]) if row else None
