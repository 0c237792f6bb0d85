"""What HR does with cases, each read and change written to the audit chain with it.

Every function takes the acting user; `authorize` checks the account is an enabled hr user
and audits a refusal before raising. The web pages and the CLI both go through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import structlog

from callscreen.cases.errors import AccessDeniedError, CaseNotFoundError, CaseStateError
from callscreen.cases.model import (
    ALLOWED_TRANSITIONS,
    Case,
    CaseEvent,
    CaseStatus,
    EventKind,
    LeaveMark,
    Referral,
    ReferralState,
)
from callscreen.cases.redact import redact
from callscreen.config.model import Config
from callscreen.i18n import both
from callscreen.store import Store
from callscreen.store import audit as audit_queries
from callscreen.store import hr as queries
from callscreen.store import hr_cases as case_queries

log = structlog.get_logger(__name__)

HR_ROLE = "hr"


@dataclass(frozen=True, slots=True)
class Actor:
    """The person acting: a username and where they act from ("web" or "cli")."""

    username: str
    via: str

    @property
    def label(self) -> str:
        """Return the audit form, e.g. "li.hr@web"."""
        return f"{self.username}@{self.via}"


@dataclass(frozen=True, slots=True)
class CaseDetail:
    """Everything the detail page shows about one case."""

    case: Case
    employee_name: str
    events: list[CaseEvent]
    referrals: list[Referral]
    leave: list[LeaveMark]


def _now() -> datetime:
    return datetime.now(UTC)


async def audit(store: Store, actor: Actor, action: str, *, case_id: int | None = None,
                reason: str = "", detail: str = "") -> None:
    """Append one audit row in its own transaction."""
    async with store.db.write("audit") as connection:
        await audit_queries.append_entry(connection, at=_now(), actor=actor.label,
                                         action=action, case_id=case_id, reason=reason,
                                         detail=detail)


async def authorize(store: Store, actor: Actor, action: str, *,
                    role: str | None = None) -> None:
    """Raise AccessDeniedError, after auditing the refusal, unless the actor is an hr user.

    `role` is the role already known from a web session; without it the users table is read.
    """
    actual = role if role is not None else await queries.user_role(store.db, actor.username)
    if actual == HR_ROLE:
        return

    await audit(store, actor, "access.denied", detail=f"{action} role={actual or 'none'}")
    log.warning("hr_access_denied", user=actor.username, via=actor.via, action=action)
    raise AccessDeniedError(both("case.not_hr", user=actor.username), user=actor.username)


async def list_cases(store: Store, actor: Actor, *,
                     statuses: tuple[CaseStatus, ...] = ()) -> list[Case]:
    """Return cases for the list page and audit that the list was read."""
    cases = await case_queries.list_cases(store.db, statuses=statuses)

    await audit(store, actor, "case.list", detail=",".join(map(str, statuses)))
    return cases


async def find_case(store: Store, case_ref: int | str) -> Case:
    """Return a case by id or number; raise CaseNotFoundError."""
    case = await case_queries.get_case(store.db, case_ref)
    if case is None:
        raise CaseNotFoundError(both("case.not_found", case=case_ref), case=str(case_ref))

    return case


async def read_case(store: Store, actor: Actor, case_ref: int | str, *,
                    reason: str) -> CaseDetail:
    """Return a case with its timeline; the stated reason goes to the audit chain first."""
    if not reason.strip():
        raise CaseStateError(both("case.reason_required"))

    case = await find_case(store, case_ref)
    await audit(store, actor, "case.read", case_id=case.id, reason=reason.strip())

    # An anonymised case's employee id is a pseudonym; no directory lookup may map it back.
    name = "" if case.anonymised_at else await queries.employee_name(store.db,
                                                                     case.employee_id)
    return CaseDetail(
        case=case,
        employee_name=name,
        events=await case_queries.case_events(store.db, case.id),
        referrals=await case_queries.case_referrals(store.db, case.id),
        leave=await case_queries.leave_marks(store.db, case_id=case.id),
    )


async def add_note(store: Store, actor: Actor, case_id: int, text: str) -> None:
    """Add an HR note to the timeline."""
    case = await _open_case(store, case_id)
    now = _now()

    async with store.db.write("case_note") as connection:
        await case_queries.add_event(connection, case.id, at=now, kind=EventKind.NOTE,
                                     author=actor.label, body={"text": text})
        await case_queries.update_case(connection, case.id, now=now)
        await audit_queries.append_entry(connection, at=now, actor=actor.label,
                                         action="case.note", case_id=case.id)


async def change_status(store: Store, actor: Actor, case_id: int, status: CaseStatus, *,
                        reason: str = "") -> None:
    """Move a case along its lifecycle (closing goes through `close_case`)."""
    case = await _open_case(store, case_id)
    _check_transition(case, status)
    if status is CaseStatus.CLOSED:
        raise CaseStateError(both("case.summary_required"))
    now = _now()

    async with store.db.write("case_status") as connection:
        await case_queries.update_case(connection, case.id, now=now, status=status)
        await case_queries.add_event(connection, case.id, at=now, kind=EventKind.STATUS,
                                     author=actor.label,
                                     body={"from": str(case.status), "to": str(status),
                                           "reason": reason})
        await audit_queries.append_entry(connection, at=now, actor=actor.label,
                                         action="case.status", case_id=case.id, reason=reason,
                                         detail=f"{case.status}->{status}")


def _check_transition(case: Case, status: CaseStatus) -> None:
    if status not in ALLOWED_TRANSITIONS[case.status]:
        raise CaseStateError(both("case.bad_transition", case=case.case_no,
                                  current=str(case.status), wanted=str(status)))


async def offer_referral(store: Store, config: Config, actor: Actor, case_id: int,
                         resource: str, *, state: ReferralState = ReferralState.OFFERED,
                         note: str = "") -> int:
    """Record an EAP resource offered to the employee; return the referral id."""
    if resource not in config.hr.eap_resources:
        raise CaseStateError(both("case.unknown_resource", resource=resource,
                                  allowed=", ".join(config.hr.eap_resources)))
    case = await _open_case(store, case_id)
    now = _now()

    async with store.db.write("case_referral") as connection:
        referral_id = await case_queries.insert_referral(connection, case.id, resource=resource,
                                                         state=state, note=note, now=now)
        await case_queries.add_event(connection, case.id, at=now, kind=EventKind.REFERRAL,
                                     author=actor.label,
                                     body={"resource": resource, "state": str(state)})
        await audit_queries.append_entry(connection, at=now, actor=actor.label,
                                         action="case.referral", case_id=case.id,
                                         detail=f"{resource}={state}")

    return referral_id


async def update_referral(store: Store, actor: Actor, case_id: int, referral_id: int,
                          state: ReferralState, *, note: str = "") -> None:
    """Record the employee's answer to a referral (accepted or declined)."""
    case = await _open_case(store, case_id)
    now = _now()

    async with store.db.write("case_referral_update") as connection:
        if not await case_queries.update_referral(connection, referral_id, case.id,
                                                  state=state, note=note, now=now):
            raise CaseNotFoundError(both("case.not_found", case=f"{case.case_no}#{referral_id}"),
                                    case=case.case_no)
        await case_queries.add_event(connection, case.id, at=now, kind=EventKind.REFERRAL,
                                     author=actor.label,
                                     body={"referral_id": referral_id, "state": str(state)})
        await audit_queries.append_entry(connection, at=now, actor=actor.label,
                                         action="case.referral", case_id=case.id,
                                         detail=f"#{referral_id}={state}")


async def add_leave(store: Store, config: Config, actor: Actor, case_id: int, *, start: date,
                    end: date, note: str = "") -> int:
    """Mark days for the attendance system under the configured leave category."""
    if end < start:
        raise CaseStateError(both("case.bad_dates", start=start, end=end))
    case = await _open_case(store, case_id)
    now = _now()

    async with store.db.write("case_leave") as connection:
        mark_id = await case_queries.insert_leave_mark(
            connection, case, start=start, end=end, category=config.hr.leave_category,
            note=note, author=actor.label, now=now,
        )
        await case_queries.add_event(connection, case.id, at=now, kind=EventKind.LEAVE,
                                     author=actor.label,
                                     body={"start": str(start), "end": str(end)})
        await audit_queries.append_entry(connection, at=now, actor=actor.label,
                                         action="case.leave", case_id=case.id,
                                         detail=f"{start}..{end}")

    return mark_id


async def close_case(store: Store, actor: Actor, case_id: int, *, summary: str,
                     approach: str) -> Case:
    """Close a case with its summary and handling approach, and file a redacted copy."""
    if not summary.strip() or not approach.strip():
        raise CaseStateError(both("case.summary_required"))
    case = await _open_case(store, case_id)
    _check_transition(case, CaseStatus.CLOSED)
    name = await queries.employee_name(store.db, case.employee_id)
    pinyin = await queries.employee_pinyin(store.db, case.employee_id)
    kb_text = redact(f"{summary.strip()}\n{approach.strip()}", names=[name, case.employee_id],
                     pinyin=[pinyin])
    now = _now()

    async with store.db.write("case_close") as connection:
        await case_queries.update_case(connection, case.id, now=now, status=CaseStatus.CLOSED,
                                       summary=summary.strip(), approach=approach.strip(),
                                       kb_text=kb_text, closed_at=now)
        await case_queries.add_event(connection, case.id, at=now, kind=EventKind.CLOSED,
                                     author=actor.label, body={})
        await audit_queries.append_entry(connection, at=now, actor=actor.label,
                                         action="case.close", case_id=case.id)

    log.info("hr_case_closed", case_id=case.id, case_no=case.case_no)
    return await find_case(store, case.id)


async def search_knowledge(store: Store, actor: Actor, words: str) -> list[tuple[str, str]]:
    """Return (case number, redacted text) of closed cases matching every word."""
    cases = await case_queries.search_knowledge(store.db, words)

    await audit(store, actor, "knowledge.search", detail=words[:200])
    return [(case.case_no, case.kb_text) for case in cases]


async def _open_case(store: Store, case_id: int) -> Case:
    case = await find_case(store, case_id)
    if case.status is CaseStatus.CLOSED:
        raise CaseStateError(both("case.bad_transition", case=case.case_no,
                                  current=str(case.status), wanted="*"))

    return case
