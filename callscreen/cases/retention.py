"""Anonymise closed HR cases once their retention period is over.

A case closed before the cutoff keeps what statistics need: case number, status, risk,
dates, anomaly counts, the kinds and number of timeline entries, referral resources and
states, leave dates, and the knowledge-base text that was redacted at closing. What
identifies people goes: the employee becomes "员工#<case id>", free texts become a marker,
and the case's calls lose their link to the employee (see `callscreen.store.hr_anonymise`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import structlog

from callscreen.store import Store
from callscreen.store import audit as audit_queries
from callscreen.store import hr_anonymise as queries
from callscreen.store.db import to_db_time

log = structlog.get_logger(__name__)

ANONYMISED_MARKER = "[已匿名化 / anonymised]"

# Timeline body keys that contain statuses, risk levels, counts, dates or resource names, never
# free text. Any other key is replaced by the marker, so a key added later is removed by
# default rather than kept by mistake.
KEPT_BODY_KEYS = frozenset({
    "risk", "level", "at", "counts", "crossings", "from", "to",
    "resource", "state", "referral_id", "start", "end",
})


def pseudonym(case_id: int) -> str:
    """Return the stand-in employee id of an anonymised case, unique per case."""
    return f"员工#{case_id}"


def scrub_body(body: dict[str, Any]) -> dict[str, Any]:
    """Return a timeline body with every value outside KEPT_BODY_KEYS replaced by the marker.

    Empty values stay empty, so the page does not show a marker where nothing was written.
    """
    return {
        key: value if key in KEPT_BODY_KEYS or value in ("", None) else ANONYMISED_MARKER
        for key, value in body.items()
    }


async def anonymise_closed_cases(store: Store, *, closed_before: datetime, actor: str,
                                 now: datetime | None = None) -> int:
    """Anonymise the cases closed before `closed_before`; return how many were changed.

    Runs in one transaction with one audit row per case. Cases anonymised earlier are
    skipped, so a second run changes nothing.
    """
    # TODO: audit rows written while a case was open keep their free text: the reason typed
    # to read a case or change its status, and knowledge-base search words. Each row's hash
    # covers that text, so rewriting it would break `audit verify`. Removing it needs a
    # chain that hashes a digest of the free text and stores the text in a separate table.
    moment = now or datetime.now(UTC)

    async with store.db.write("anonymise_cases") as connection:
        due = await queries.due_cases(connection, closed_before)
        for case_id, case_no, employee_id in due:
            detail = await _anonymise_case(connection, case_id, case_no, employee_id, moment)
            detail["closed_before"] = to_db_time(closed_before)
            await audit_queries.append_entry(connection, at=moment, actor=actor,
                                             action="case.anonymise", case_id=case_id,
                                             detail=json.dumps(detail, sort_keys=True))

    if due:
        log.info("hr_cases_anonymised", count=len(due), case_ids=[row[0] for row in due],
                 actor=actor)
    return len(due)


async def _anonymise_case(connection: aiosqlite.Connection, case_id: int, case_no: str,
                          employee_id: str, now: datetime) -> dict[str, Any]:
    stand_in = pseudonym(case_id)

    # The call ids are read before the timeline is scrubbed, because scrubbing unlinks them.
    calls = await queries.case_only_calls(connection, case_id)
    targets = await queries.unlink_calls(connection, calls, employee_id=employee_id,
                                         pseudonym=stand_in, marker=ANONYMISED_MARKER)
    events = await queries.scrub_events(connection, case_id, scrub_body)
    await queries.scrub_referrals_and_leave(connection, case_id, pseudonym=stand_in,
                                            marker=ANONYMISED_MARKER)
    notifications = await queries.clear_notification_names(connection, case_no)
    await queries.mark_case(connection, case_id, pseudonym=stand_in,
                            marker=ANONYMISED_MARKER, now=now)

    return {"events": events, "call_targets": targets, "notifications": notifications}
