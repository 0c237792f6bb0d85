"""The call log: the ring-time decision row, the AMI end of the call, and queries on both."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import structlog

from callscreen.classifier.model import Category, Decision, Reason, Verdict
from callscreen.numbers.model import NumberFacts, NumberKind
from callscreen.pbx.model import CallerName, CallRecord
from callscreen.store.db import (
    Database,
    from_db_time,
    optional_db_time,
    optional_from_db_time,
    to_db_time,
)

log = structlog.get_logger(__name__)

DECISION_SOURCES = frozenset({"agi", "ami"})

# Ring-time query: a range scan on calls_caller_key_started, bounded by the window.
CALLS_IN_WINDOW_SQL = (
    "SELECT count(*) FROM calls"
    " WHERE caller_key = ? AND started_at >= ? AND started_at < ?"
)

BLOCK_CALLERS_IN_WINDOW_SQL = (
    "SELECT count(DISTINCT caller_key) FROM calls"
    " WHERE caller_block = ? AND started_at >= ? AND started_at < ? AND caller_key <> ?"
)

INSERT_DECISION_SQL = """
INSERT INTO calls (
    call_id, uniqueid, started_at, decided_at, caller_raw, caller_name, caller_name_raw,
    caller_name_encoding, caller_key, caller_block, caller_kind, caller_region, caller_carrier,
    did, verdict, category, score, reasons_json, facts_json, decision_source, decision_ms
) VALUES (
    :call_id, :uniqueid, :started_at, :decided_at, :caller_raw, :caller_name, :caller_name_raw,
    :caller_name_encoding, :caller_key, :caller_block, :caller_kind, :caller_region,
    :caller_carrier, :did, :verdict, :category, :score, :reasons_json, :facts_json,
    :decision_source, :decision_ms
)
ON CONFLICT (call_id) DO UPDATE SET
    decided_at = excluded.decided_at, verdict = excluded.verdict,
    category = excluded.category, score = excluded.score,
    reasons_json = excluded.reasons_json, facts_json = excluded.facts_json,
    decision_source = excluded.decision_source, decision_ms = excluded.decision_ms
"""

UPDATE_FROM_RECORD_SQL = """
UPDATE calls SET
    linkedid = :linkedid,
    answered_at = :answered_at,
    ended_at = :ended_at,
    answered_by = :answered_by,
    transferred_to = :transferred_to,
    talk_seconds = :talk_seconds,
    hangup_cause = :hangup_cause,
    hangup_cause_text = :hangup_cause_text,
    agi_status = :agi_status,
    bridged_json = :bridged_json,
    caller_raw = CASE WHEN caller_raw = '' THEN :caller_raw ELSE caller_raw END,
    did = CASE WHEN did = '' THEN :did ELSE did END
WHERE call_id = :call_id
"""

UPDATE_NAME_IF_EMPTY_SQL = """
UPDATE calls SET
    caller_name = :caller_name, caller_name_raw = :caller_name_raw,
    caller_name_encoding = :caller_name_encoding
WHERE call_id = :call_id AND caller_name = '' AND caller_name_raw = x''
"""

UPDATE_FALLBACK_DECISION_SQL = """
UPDATE calls SET
    caller_key = :caller_key, caller_block = :caller_block, caller_kind = :caller_kind,
    caller_region = :caller_region, caller_carrier = :caller_carrier,
    verdict = :verdict, category = :category, score = :score,
    reasons_json = :reasons_json, facts_json = :facts_json,
    decision_source = :decision_source, decided_at = :decided_at
WHERE call_id = :call_id AND verdict IS NULL
"""


@dataclass(frozen=True, slots=True)
class StoredCall:
    """One row of the call log, with times as aware UTC datetimes."""

    call_id: str
    uniqueid: str
    linkedid: str | None
    started_at: datetime
    decided_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    caller_raw: str
    caller_name: CallerName
    caller_key: str
    caller_block: str
    caller_kind: str
    caller_region: str
    caller_carrier: str
    did: str
    verdict: Verdict | None
    category: Category | None
    score: int | None
    reasons: tuple[Reason, ...]
    facts: NumberFacts | None
    decision_source: str | None
    decision_ms: float | None
    answered_by: str
    transferred_to: str
    talk_seconds: int
    hangup_cause: int | None
    hangup_cause_text: str
    agi_status: str
    bridged_seconds_by_party: dict[str, int]


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """The ring-time row of one call, as `insert_decisions` writes it."""

    call_id: str
    uniqueid: str
    started_at: datetime
    caller_raw: str
    caller_name: CallerName
    did: str
    decision: Decision
    source: str
    decision_ms: float
    decided_at: datetime | None = None


async def insert_decision(db: Database, call_id: str, *, uniqueid: str, started_at: datetime,
                          caller_raw: str, caller_name: CallerName, did: str,
                          decision: Decision, source: str, decision_ms: float,
                          decided_at: datetime | None = None) -> None:
    """Insert the ring-time row of a call. A second call with the same id updates the decision.

    Raises ValueError for an unknown `source` or a naive datetime.
    """
    await insert_decisions(db, [DecisionRow(call_id, uniqueid, started_at, caller_raw,
                                            caller_name, did, decision, source, decision_ms,
                                            decided_at)])


async def insert_decisions(db: Database, rows: Sequence[DecisionRow]) -> None:
    """Insert several ring-time rows in one transaction (the daemon batches them under load).

    Raises ValueError for an unknown `source` or a naive datetime, before writing anything.
    """
    params = [_decision_row_params(row) for row in rows]

    # TODO: merge by uniqueid here. When the AMI record of a very short call is written
    # before this row, it creates an "ami-<linkedid>" row and the call gets two rows.
    async with db.write("record_decision") as connection:
        await connection.executemany(INSERT_DECISION_SQL, params)

    log.debug("call_decisions_stored", rows=len(rows))


def _decision_row_params(row: DecisionRow) -> dict[str, Any]:
    if row.source not in DECISION_SOURCES:
        raise ValueError(f"decision source must be 'agi' or 'ami', not {row.source!r}")

    return {
        "call_id": row.call_id,
        "uniqueid": row.uniqueid,
        "started_at": to_db_time(row.started_at),
        "did": row.did,
        "caller_raw": row.caller_raw,
        "decision_ms": row.decision_ms,
        **_name_params(row.caller_name),
        **_decision_params(row.decision, row.source, row.decided_at or datetime.now(UTC)),
    }


def ami_call_id(record: CallRecord) -> str:
    """Return the call_id of a call that only AMI saw (observe-only mode, no AGI decision)."""
    return f"ami-{record.linkedid or record.uniqueid}"


async def save_call_record(db: Database, record: CallRecord, *, uniqueids: Iterable[str] = (),
                           fallback_decision: Decision | None = None) -> str:
    """Write the AMI view of a finished call into its row, creating the row if AGI never did.

    The row is found by any of the call's Uniqueids (a Local channel's ;2 half runs the
    AGI while the record may carry ;1's Uniqueid) or by its Linkedid. Returns the call_id.
    Calling this twice with the same record leaves one row with the same values.
    """
    ids = sorted({record.uniqueid, *uniqueids} - {""})

    async with db.write("record_call") as connection:
        call_id = await _find_call_id(connection, ids, record.linkedid)
        if call_id is None:
            call_id = await _insert_from_record(connection, record, fallback_decision)
        else:
            await _update_from_record(connection, call_id, record, fallback_decision)

    log.debug("call_record_stored", call_id=call_id, uniqueid=record.uniqueid,
              linkedid=record.linkedid)
    return call_id


# The Uniqueids arrive as one JSON array, so the statement text stays fixed. The planner
# still searches calls_uniqueid once per array element.
FIND_CALL_SQL = (
    "SELECT call_id FROM calls"
    " WHERE uniqueid IN (SELECT value FROM json_each(?)) OR linkedid = ?"
    " ORDER BY started_at LIMIT 2"
)


async def _find_call_id(connection: aiosqlite.Connection, uniqueids: list[str],
                        linkedid: str) -> str | None:
    async with connection.execute(FIND_CALL_SQL, (json.dumps(uniqueids), linkedid)) as cursor:
        rows = list(await cursor.fetchall())

    if len(rows) > 1:
        log.warning("call_record_matches_several_rows", linkedid=linkedid,
                    call_ids=[row[0] for row in rows])

    return str(rows[0][0]) if rows else None


async def _insert_from_record(connection: aiosqlite.Connection, record: CallRecord,
                              fallback: Decision | None) -> str:
    # A call AGI never saw: observe-only mode, or the AGI failed before it wrote.
    call_id = ami_call_id(record)
    params = {
        "call_id": call_id,
        "uniqueid": record.uniqueid,
        "started_at": to_db_time(record.started_at),
        "did": record.did,
        "caller_raw": record.caller_raw,
        "decision_ms": None,
        **_name_params(record.caller_name),
        **_decision_params(fallback, "ami", record.started_at),
    }
    await connection.execute(INSERT_DECISION_SQL, params)
    await _update_from_record(connection, call_id, record, None)

    return call_id


async def _update_from_record(connection: aiosqlite.Connection, call_id: str,
                              record: CallRecord, fallback: Decision | None) -> None:
    await connection.execute(UPDATE_FROM_RECORD_SQL, _record_params(call_id, record))
    await connection.execute(UPDATE_NAME_IF_EMPTY_SQL,
                             {"call_id": call_id, **_name_params(record.caller_name)})
    if fallback is not None:
        params = {"call_id": call_id, **_decision_params(fallback, "ami", record.started_at)}
        await connection.execute(UPDATE_FALLBACK_DECISION_SQL, params)


def _record_params(call_id: str, record: CallRecord) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "linkedid": record.linkedid or None,
        "answered_at": optional_db_time(record.answered_at),
        "ended_at": optional_db_time(record.ended_at),
        "answered_by": record.answered_by,
        "transferred_to": record.transferred_to,
        "talk_seconds": record.talk_seconds,
        "hangup_cause": record.hangup_cause,
        "hangup_cause_text": record.hangup_cause_text,
        "agi_status": record.agi_status,
        "bridged_json": json.dumps(record.bridged_seconds_by_party, sort_keys=True),
        "caller_raw": record.caller_raw,
        "did": record.did,
    }


def _name_params(name: CallerName) -> dict[str, Any]:
    return {
        "caller_name": name.text,
        "caller_name_raw": name.raw,
        "caller_name_encoding": name.encoding,
    }


def _decision_params(decision: Decision | None, source: str,
                     decided_at: datetime) -> dict[str, Any]:
    if decision is None:
        return {
            **_facts_params(None), "verdict": None, "category": None, "score": None,
            "reasons_json": "[]", "decision_source": None, "decided_at": None,
        }

    return {
        **_facts_params(decision.facts),
        "verdict": str(decision.verdict),
        "category": str(decision.category),
        "score": decision.score,
        "reasons_json": reasons_to_json(decision.reasons),
        "decision_source": source,
        "decided_at": to_db_time(decided_at),
    }


def _facts_params(facts: NumberFacts | None) -> dict[str, Any]:
    if facts is None:
        return {
            "caller_key": "", "caller_block": "", "caller_kind": "", "caller_region": "",
            "caller_carrier": "", "facts_json": None,
        }

    return {
        "caller_key": facts.key,
        "caller_block": facts.block,
        "caller_kind": str(facts.kind),
        "caller_region": facts.region,
        "caller_carrier": facts.carrier,
        "facts_json": json.dumps(_flat_fields(facts), ensure_ascii=False),
    }


def reasons_to_json(reasons: Iterable[Reason]) -> str:
    """Serialise reasons as a JSON list of {rule, score, text_zh, text_en}."""
    return json.dumps([_flat_fields(reason) for reason in reasons], ensure_ascii=False)


_FACT_FIELDS = tuple(field.name for field in dataclasses.fields(NumberFacts))
_REASON_FIELDS = tuple(field.name for field in dataclasses.fields(Reason))


def _flat_fields(record: NumberFacts | Reason) -> dict[str, Any]:
    # dataclasses.asdict deep-copies every value, a third of a ring-time row's cost. These
    # records hold only str, int, None and StrEnum values, so a shallow copy is the same.
    return {name: getattr(record, name) for name in _field_names(record)}


def _field_names(record: NumberFacts | Reason) -> tuple[str, ...]:
    return _FACT_FIELDS if isinstance(record, NumberFacts) else _REASON_FIELDS


async def count_calls_in_window(db: Database, caller_key: str, since: datetime,
                                until: datetime) -> int:
    """Count calls from `caller_key` that started at or after `since` and before `until`."""
    row = await db.fetch_one(CALLS_IN_WINDOW_SQL,
                             (caller_key, to_db_time(since), to_db_time(until)),
                             action="count_calls_in_window")

    return int(row[0]) if row else 0


async def count_block_callers_in_window(db: Database, caller_block: str, caller_key: str,
                                       since: datetime, until: datetime) -> int:
    """Count the other numbers of `caller_block` that called in [since, until)."""
    row = await db.fetch_one(BLOCK_CALLERS_IN_WINDOW_SQL,
                             (caller_block, to_db_time(since), to_db_time(until), caller_key),
                             action="count_block_callers_in_window")

    return int(row[0]) if row else 0


async def get_call(db: Database, call_id: str) -> StoredCall | None:
    """Return the call with this id, or None."""
    row = await db.fetch_one("SELECT * FROM calls WHERE call_id = ?", (call_id,),
                             action="get_call")

    return None if row is None else row_to_call(row)


async def recent_calls(db: Database, limit: int, since: datetime | None = None,
                       ) -> list[StoredCall]:
    """Return up to `limit` calls, newest first, optionally only those started since `since`."""
    if limit <= 0:
        return []

    lower = to_db_time(since) if since is not None else ""
    rows = await db.fetch_all(
        "SELECT * FROM calls WHERE started_at >= ? ORDER BY started_at DESC LIMIT ?",
        (lower, limit), action="recent_calls",
    )

    return [row_to_call(row) for row in rows]


async def count_calls_by_verdict(db: Database, since: datetime) -> dict[str, int]:
    """Count calls started since `since` per verdict. Calls with no verdict count under ""."""
    rows = await db.fetch_all(
        "SELECT coalesce(verdict, ''), count(*) FROM calls WHERE started_at >= ?"
        " GROUP BY 1",
        (to_db_time(since),), action="count_calls_by_verdict",
    )

    return {str(row[0]): int(row[1]) for row in rows}


def row_to_call(row: sqlite3.Row) -> StoredCall:
    """Build a StoredCall from a `SELECT *` row of calls."""
    return StoredCall(
        call_id=row["call_id"],
        uniqueid=row["uniqueid"],
        linkedid=row["linkedid"],
        started_at=from_db_time(row["started_at"]),
        decided_at=optional_from_db_time(row["decided_at"]),
        answered_at=optional_from_db_time(row["answered_at"]),
        ended_at=optional_from_db_time(row["ended_at"]),
        caller_raw=row["caller_raw"],
        caller_name=CallerName(row["caller_name"], bytes(row["caller_name_raw"]),
                               row["caller_name_encoding"]),
        caller_key=row["caller_key"],
        caller_block=row["caller_block"],
        caller_kind=row["caller_kind"],
        caller_region=row["caller_region"],
        caller_carrier=row["caller_carrier"],
        did=row["did"],
        verdict=Verdict(row["verdict"]) if row["verdict"] else None,
        category=_category(row["category"]),
        score=row["score"],
        reasons=_reasons(row["call_id"], row["reasons_json"]),
        facts=_facts(row["call_id"], row["facts_json"]),
        decision_source=row["decision_source"],
        decision_ms=row["decision_ms"],
        answered_by=row["answered_by"],
        transferred_to=row["transferred_to"],
        talk_seconds=row["talk_seconds"],
        hangup_cause=row["hangup_cause"],
        hangup_cause_text=row["hangup_cause_text"],
        agi_status=row["agi_status"],
        bridged_seconds_by_party=json.loads(row["bridged_json"]),
    )


def _category(value: str | None) -> Category | None:
    # A category written by a newer classifier must not make old rows unreadable.
    if not value:
        return None
    try:
        return Category(value)
    except ValueError:
        log.warning("stored_category_unknown", category=value)
        return None


def _reasons(call_id: str, text: str) -> tuple[Reason, ...]:
    try:
        return tuple(Reason(**item) for item in json.loads(text))
    except (ValueError, TypeError):
        log.warning("stored_reasons_invalid", call_id=call_id)
        return ()


def _facts(call_id: str, text: str | None) -> NumberFacts | None:
    if text is None:
        return None
    try:
        fields = json.loads(text)
        return NumberFacts(**{**fields, "kind": NumberKind(fields["kind"])})
    except (ValueError, TypeError, KeyError):
        log.warning("stored_facts_invalid", call_id=call_id)
        return None
