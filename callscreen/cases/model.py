"""The plain data of HR cases, as the store returns it and the pages and CLI show it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from callscreen.anomaly.evaluate import RiskLevel


class CaseStatus(enum.StrEnum):
    """Lifecycle: open → in_progress → resolved → closed (resolved may go back to in_progress)."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


# Allowed next statuses per status; CaseStateError rejects any other change.
ALLOWED_TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.OPEN: frozenset({CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED, CaseStatus.CLOSED}),
    CaseStatus.IN_PROGRESS: frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED}),
    CaseStatus.RESOLVED: frozenset({CaseStatus.IN_PROGRESS, CaseStatus.CLOSED}),
    CaseStatus.CLOSED: frozenset(),
}


class TargetSource(enum.StrEnum):
    """Source of a call's targeted employee, strongest evidence first."""

    FEEDBACK = "feedback"  # reception tagged "collector, asking for <employee>"
    TRANSFER = "transfer"  # reception transferred the call to the employee's extension
    ANSWER = "answer"  # the employee's extension answered (a direct line)
    DID = "did"  # the number dialled is the employee's DID or extension

    @property
    def strength(self) -> int:
        """Return a rank; a stronger source replaces a weaker one for the same call."""
        return {"feedback": 4, "transfer": 3, "answer": 2, "did": 1}[self.value]


class ReferralState(enum.StrEnum):
    """State of an EAP referral."""

    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"


class EventKind(enum.StrEnum):
    """Kinds of timeline entries."""

    OPENED = "opened"
    CALL = "call"
    ANOMALY = "anomaly"
    RISK_RAISED = "risk_raised"
    NOTE = "note"
    REFERRAL = "referral"
    LEAVE = "leave"
    STATUS = "status"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class CallTarget:
    """The employee one call was about, with the caller facts the window queries count."""

    call_id: str
    employee_id: str
    source: TargetSource
    started_at: datetime
    caller_key: str
    caller_block: str
    caller_region: str
    after_hours: bool
    suspected: bool
    reception_seconds: int = 0
    employee_seconds: int = 0


@dataclass(frozen=True, slots=True)
class Case:
    """One confidential case: one employee, one episode.

    After `anonymised_at`, `employee_id` is a pseudonym and the free texts are a marker.
    """

    id: int
    case_no: str
    employee_id: str
    status: CaseStatus
    risk: RiskLevel
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    signals: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    approach: str = ""
    kb_text: str = ""
    anonymised_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """One timeline entry of a case."""

    id: int
    case_id: int
    at: datetime
    kind: EventKind
    author: str
    call_id: str | None
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Referral:
    """An EAP resource offered to the employee and the employee's answer."""

    id: int
    case_id: int
    resource: str
    state: ReferralState
    created_at: datetime
    updated_at: datetime
    note: str = ""


@dataclass(frozen=True, slots=True)
class LeaveMark:
    """Days the attendance system should book under the leave category (local dates)."""

    id: int
    case_id: int
    employee_id: str
    start_date: date
    end_date: date
    category: str
    note: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class AttendanceRow:
    """One employee's month: suspected-collector calls and the minutes they cost."""

    employee_id: str
    name: str
    department: str
    calls: int
    reception_seconds: int
    employee_seconds: int
    leave_days: int
