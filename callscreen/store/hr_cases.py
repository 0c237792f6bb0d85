"""Case rows, their timeline, EAP referrals and leave marks.

Writers take the connection of an open `Database.write` block, so a change and its audit
row commit together; readers take the `Database`.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import date, datetime
from typing import Any

import aiosqlite

from callscreen.anomaly.evaluate import RiskLevel
from callscreen.cases.model import (
    Case,
    CaseEvent,
    CaseStatus,
    EventKind,
    LeaveMark,
    Referral,
    ReferralState,
)
from callscreen.store.db import Database, from_db_time, optional_from_db_time, to_db_time


async def find_active_case(connection: aiosqlite.Connection, employee_id: str) -> Case | None:
    """Return the employee's case that is not closed, or None (at most one exists)."""
    async with connection.execute(
        "SELECT * FROM cases WHERE employee_id = ? AND status <> 'closed'", (employee_id,),
    ) as cursor:
        row = await cursor.fetchone()

    return None if row is None else _row_to_case(row)


async def insert_case(connection: aiosqlite.Connection, *, employee_id: str, risk: RiskLevel,
                      signals: dict[str, Any], now: datetime) -> Case:
    """Open a new case numbered HR-<year>-<id>; the caller checked none is active."""
    placeholder = f"pending-{uuid.uuid4().hex}"
    cursor = await connection.execute(
        "INSERT INTO cases (case_no, employee_id, status, risk, opened_at, updated_at,"
        " signals_json) VALUES (?, ?, 'open', ?, ?, ?, ?)",
        (placeholder, employee_id, str(risk), to_db_time(now), to_db_time(now),
         json.dumps(signals, ensure_ascii=False)),
    )
    case_id = int(cursor.lastrowid or 0)
    await connection.execute("UPDATE cases SET case_no = ? WHERE id = ?",
                             (f"HR-{now.year:04d}-{case_id:04d}", case_id))

    case = await case_on(connection, case_id)
    assert case is not None  # inserted in this transaction
    return case


async def update_case(connection: aiosqlite.Connection, case_id: int, *, now: datetime,
                      **columns: Any) -> None:
    """Set the named columns (status, risk, signals, summary, approach, kb_text, closed_at)."""
    allowed = {"status", "risk", "signals", "summary", "approach", "kb_text", "closed_at"}
    unknown = set(columns) - allowed
    if unknown:
        raise ValueError(f"cannot update case columns {sorted(unknown)}")

    values = {key: _column_value(key, value) for key, value in columns.items()}
    values["updated_at"] = to_db_time(now)
    names = {"signals": "signals_json"}
    # Column names come from the fixed `allowed` set above, never from input.
    assignments = ", ".join(f"{names.get(key, key)} = ?" for key in values)
    await connection.execute(
        f"UPDATE cases SET {assignments} WHERE id = ?",  # noqa: S608 -- fixed column names
        (*values.values(), case_id),
    )


def _column_value(key: str, value: Any) -> Any:
    if key == "signals":
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return to_db_time(value)

    return str(value)


async def add_event(connection: aiosqlite.Connection, case_id: int, *, at: datetime,
                    kind: EventKind, author: str, body: dict[str, Any],
                    call_id: str | None = None) -> bool:
    """Append a timeline entry; return False when this call is already on the timeline."""
    cursor = await connection.execute(
        "INSERT INTO case_events (case_id, at, kind, author, call_id, body_json)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (case_id, to_db_time(at), str(kind), author, call_id,
         json.dumps(body, ensure_ascii=False)),
    )

    return cursor.rowcount == 1


async def insert_referral(connection: aiosqlite.Connection, case_id: int, *, resource: str,
                          state: ReferralState, note: str, now: datetime) -> int:
    """Record an EAP resource offered (or already answered) and return its id."""
    cursor = await connection.execute(
        "INSERT INTO referrals (case_id, resource, state, created_at, updated_at, note)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (case_id, resource, str(state), to_db_time(now), to_db_time(now), note),
    )

    return int(cursor.lastrowid or 0)


async def update_referral(connection: aiosqlite.Connection, referral_id: int, case_id: int, *,
                          state: ReferralState, note: str, now: datetime) -> bool:
    """Change a referral's state; return False when it does not belong to the case."""
    cursor = await connection.execute(
        "UPDATE referrals SET state = ?, note = ?, updated_at = ? WHERE id = ? AND case_id = ?",
        (str(state), note, to_db_time(now), referral_id, case_id),
    )

    return cursor.rowcount == 1


async def insert_leave_mark(connection: aiosqlite.Connection, case: Case, *, start: date,
                            end: date, category: str, note: str, author: str,
                            now: datetime) -> int:
    """Record leave days for the attendance system and return the mark's id."""
    cursor = await connection.execute(
        "INSERT INTO leave_marks (case_id, employee_id, start_date, end_date, category, note,"
        " created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (case.id, case.employee_id, start.isoformat(), end.isoformat(), category, note,
         to_db_time(now), author),
    )

    return int(cursor.lastrowid or 0)


async def get_case(db: Database, case_ref: int | str) -> Case | None:
    """Return a case by id or by case number ("HR-2026-0001"), or None."""
    column = "id" if isinstance(case_ref, int) else "case_no"
    row = await db.fetch_one(f"SELECT * FROM cases WHERE {column} = ?",  # noqa: S608 -- id or case_no
                             (case_ref,), action="get_case")

    return None if row is None else _row_to_case(row)


async def list_cases(db: Database, *, statuses: tuple[CaseStatus, ...] = (),
                     limit: int = 200) -> list[Case]:
    """Return cases, newest update first, optionally only those in `statuses`."""
    wanted = [str(status) for status in statuses] or [str(status) for status in CaseStatus]
    marks = ", ".join("?" * len(wanted))
    rows = await db.fetch_all(
        f"SELECT * FROM cases WHERE status IN ({marks})"  # noqa: S608 -- placeholders only
        " ORDER BY updated_at DESC LIMIT ?",
        (*wanted, limit), action="list_cases",
    )

    return [_row_to_case(row) for row in rows]


async def search_knowledge(db: Database, words: str, *, limit: int = 50) -> list[Case]:
    """Return closed cases whose redacted text contains every word of `words`."""
    terms = [term for term in words.split() if term][:8]
    conditions = "".join(" AND kb_text LIKE ? ESCAPE '\\'" for _ in terms)
    rows = await db.fetch_all(
        f"SELECT * FROM cases WHERE status = 'closed'{conditions}"  # noqa: S608 -- placeholders only
        " ORDER BY closed_at DESC LIMIT ?",
        (*(f"%{_escape_like(term)}%" for term in terms), limit), action="search_knowledge",
    )

    return [_row_to_case(row) for row in rows]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def case_events(db: Database, case_id: int) -> list[CaseEvent]:
    """Return the case's timeline, oldest first."""
    rows = await db.fetch_all(
        "SELECT * FROM case_events WHERE case_id = ? ORDER BY at, id", (case_id,),
        action="case_events",
    )

    return [
        CaseEvent(id=row["id"], case_id=row["case_id"], at=from_db_time(row["at"]),
                  kind=EventKind(row["kind"]), author=row["author"], call_id=row["call_id"],
                  body=json.loads(row["body_json"]))
        for row in rows
    ]


async def case_referrals(db: Database, case_id: int) -> list[Referral]:
    """Return the case's EAP referrals, oldest first."""
    rows = await db.fetch_all("SELECT * FROM referrals WHERE case_id = ? ORDER BY id",
                              (case_id,), action="case_referrals")

    return [
        Referral(id=row["id"], case_id=row["case_id"], resource=row["resource"],
                 state=ReferralState(row["state"]), created_at=from_db_time(row["created_at"]),
                 updated_at=from_db_time(row["updated_at"]), note=row["note"])
        for row in rows
    ]


async def leave_marks(db: Database, *, case_id: int | None = None, first_day: date | None = None,
                      last_day: date | None = None) -> list[LeaveMark]:
    """Return leave marks of one case, or those overlapping [first_day, last_day]."""
    params: tuple[int | str, ...]
    if case_id is not None:
        sql, params = "SELECT * FROM leave_marks WHERE case_id = ? ORDER BY start_date", \
            (case_id,)
    else:
        sql = ("SELECT * FROM leave_marks WHERE start_date <= ? AND end_date >= ?"
               " ORDER BY employee_id, start_date")
        params = (str(last_day), str(first_day))
    rows = await db.fetch_all(sql, params, action="leave_marks")

    return [
        LeaveMark(id=row["id"], case_id=row["case_id"], employee_id=row["employee_id"],
                  start_date=date.fromisoformat(row["start_date"]),
                  end_date=date.fromisoformat(row["end_date"]), category=row["category"],
                  note=row["note"], created_at=from_db_time(row["created_at"]),
                  created_by=row["created_by"])
        for row in rows
    ]


async def case_on(connection: aiosqlite.Connection, case_id: int) -> Case | None:
    """Return a case read inside a write transaction (sees the transaction's own changes)."""
    async with connection.execute("SELECT * FROM cases WHERE id = ?", (case_id,)) as cursor:
        row = await cursor.fetchone()

    return None if row is None else _row_to_case(row)


def _row_to_case(row: sqlite3.Row) -> Case:
    return Case(
        id=row["id"], case_no=row["case_no"], employee_id=row["employee_id"],
        status=CaseStatus(row["status"]), risk=RiskLevel(row["risk"]),
        opened_at=from_db_time(row["opened_at"]), updated_at=from_db_time(row["updated_at"]),
        closed_at=optional_from_db_time(row["closed_at"]),
        signals=json.loads(row["signals_json"]), summary=row["summary"],
        approach=row["approach"], kb_text=row["kb_text"],
        anonymised_at=optional_from_db_time(row["anonymised_at"]),
    )
