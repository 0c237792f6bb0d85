"""Daemon hooks: link each finished call to its employee, evaluate windows, open or raise a case.

The daemon calls `on_call_recorded` after a call record is complete and `on_feedback`
after reception tags a call. Both are quick indexed queries plus one write transaction;
notifications are only queued, never sent inline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite
import structlog

from callscreen.anomaly.evaluate import Assessment, assess
from callscreen.cases.model import Case, CaseStatus, EventKind, TargetSource
from callscreen.cases.targets import build_target, find_employee
from callscreen.config.model import Config
from callscreen.notify.model import Notification
from callscreen.notify.outbox import Notifier
from callscreen.store import Store
from callscreen.store import audit as audit_queries
from callscreen.store import hr as queries
from callscreen.store import hr_cases as case_queries
from callscreen.store.calls import StoredCall

log = structlog.get_logger(__name__)

SYSTEM_ACTOR = "system"


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class HrContext:
    """What the HR hooks need: config, store, the notifier (None: no notifications), a clock."""

    config: Config
    store: Store
    notifier: Notifier | None = None
    clock: Callable[[], datetime] = field(default=_utc_now)
    # Called once an evaluation's write has staged notifications. A batch of call records
    # commits after its hooks return, so it collects the wake-up for after its commit.
    wake_notifier: Callable[[Notifier], None] = field(default=Notifier.wake)


async def on_call_recorded(ctx: HrContext, call_id: str) -> None:
    """Link a finished call to its targeted employee and evaluate that employee's windows."""
    if not ctx.config.anomaly.enabled:
        return

    call = await ctx.store.get_call(call_id)
    if call is None:
        log.warning("hr_call_not_found", call_id=call_id)
        return
    found = await find_employee(ctx.store, ctx.config, call, None)
    if found is None:
        log.debug("hr_call_target_unknown", call_id=call_id)
        return

    await _link_and_evaluate(ctx, call, *found)


async def on_feedback(ctx: HrContext, call_id: str | None, employee_id: str | None) -> None:
    """Re-link a call after reception feedback, or re-evaluate one employee.

    With a call id, reception's tag may name the employee and makes the call suspected;
    with only an employee id, that employee's windows are evaluated again.
    """
    if not ctx.config.anomaly.enabled:
        return

    if call_id is None:
        if employee_id:
            await evaluate_employee(ctx, employee_id, call_id=None)
        return

    call = await ctx.store.get_call(call_id)
    if call is None:
        log.warning("hr_call_not_found", call_id=call_id)
        return
    found = await find_employee(ctx.store, ctx.config, call, employee_id)
    if found is not None:
        await _link_and_evaluate(ctx, call, *found)


async def _link_and_evaluate(ctx: HrContext, call: StoredCall, employee_id: str,
                             source: TargetSource) -> None:
    existing = await queries.get_target(ctx.store.db, call.call_id)
    if existing is not None and existing.source.strength > source.strength:
        # A weaker clue arriving later (the AMI record after reception's tag) keeps the
        # employee reception named.
        employee_id, source = existing.employee_id, existing.source

    target = await build_target(ctx.store, ctx.config, call, employee_id, source)
    async with ctx.store.db.write("link_call_target") as connection:
        await queries.save_target(connection, target, now=ctx.clock())

    log.info("hr_call_linked", call_id=call.call_id, employee_id=employee_id,
             source=str(source), suspected=target.suspected)
    if target.suspected:
        await evaluate_employee(ctx, employee_id, call_id=call.call_id)


async def evaluate_employee(ctx: HrContext, employee_id: str, *,
                            call_id: str | None) -> Case | None:
    """Count the employee's windows and open, update or leave their case; return the case."""
    now = ctx.clock()
    assessment = assess(await window_signals(ctx, employee_id, now), ctx.config.anomaly)

    async with ctx.store.db.write("evaluate_employee") as connection:
        case, notes = await _apply_assessment(ctx, connection, employee_id, assessment,
                                              call_id, now)

    if notes and ctx.notifier is not None:
        ctx.wake_notifier(ctx.notifier)
    return case


async def window_signals(ctx: HrContext, employee_id: str, now: datetime) -> dict[str, int]:
    """Return the anomaly signals ("short_calls", "long_numbers", ...) ending at `now`."""
    anomaly = ctx.config.anomaly
    # Calls are stored when they end, so the newest may have started a moment "ahead" of a
    # clock read earlier; the upper bound leaves a minute for that.
    until = now + timedelta(minutes=1)
    signals: dict[str, int] = {}
    for window, hours in (("short", anomaly.short_window_hours),
                          ("long", anomaly.long_window_hours)):
        counts = await queries.window_counts(ctx.store.db, employee_id,
                                             now - timedelta(hours=hours), until)
        signals.update({f"{window}_{name}": value for name, value in counts.items()})

    return signals


async def _apply_assessment(ctx: HrContext, connection: aiosqlite.Connection, employee_id: str,
                            assessment: Assessment, call_id: str | None,
                            now: datetime) -> tuple[Case | None, int]:
    case = await case_queries.find_active_case(connection, employee_id)
    if case is None and assessment.level is None:
        return None, 0

    if case is None:
        assert assessment.level is not None
        return await _open_case(ctx, connection, employee_id, assessment, now)

    if call_id is not None:
        await _link_call(connection, case, call_id, now)
    if assessment.level is None or assessment.level.rank <= case.risk.rank:
        await case_queries.update_case(connection, case.id, now=now,
                                       signals=snapshot(assessment, now))
        return case, 0

    return await _raise_risk(ctx, connection, case, assessment, now)


async def _open_case(ctx: HrContext, connection: aiosqlite.Connection, employee_id: str,
                     assessment: Assessment, now: datetime) -> tuple[Case, int]:
    assert assessment.level is not None
    signals = snapshot(assessment, now)
    case = await case_queries.insert_case(connection, employee_id=employee_id,
                                          risk=assessment.level, signals=signals, now=now)
    await case_queries.add_event(connection, case.id, at=now, kind=EventKind.OPENED,
                                 author=SYSTEM_ACTOR, body={"risk": str(case.risk)})
    await case_queries.add_event(connection, case.id, at=now, kind=EventKind.ANOMALY,
                                 author=SYSTEM_ACTOR, body=signals)

    since = now - timedelta(hours=ctx.config.anomaly.long_window_hours)
    for linked in await queries.suspected_call_ids(connection, employee_id, since,
                                                   now + timedelta(minutes=1)):
        await _link_call(connection, case, linked, now)
    await audit_queries.append_entry(connection, at=now, actor=SYSTEM_ACTOR,
                                     action="case.open", case_id=case.id,
                                     detail=_crossing_text(assessment))

    log.info("hr_case_opened", case_id=case.id, case_no=case.case_no,
             employee_id=employee_id, risk=str(case.risk))
    notes = await _stage_notification(ctx, connection, case, assessment, "opened")
    return case, notes


async def _raise_risk(ctx: HrContext, connection: aiosqlite.Connection, case: Case,
                      assessment: Assessment, now: datetime) -> tuple[Case, int]:
    assert assessment.level is not None
    signals = snapshot(assessment, now)
    columns: dict[str, Any] = {"risk": assessment.level, "signals": signals}
    if case.status is CaseStatus.RESOLVED:
        columns["status"] = CaseStatus.IN_PROGRESS
    await case_queries.update_case(connection, case.id, now=now, **columns)

    body = {"from": str(case.risk), "to": str(assessment.level), **signals}
    await case_queries.add_event(connection, case.id, at=now, kind=EventKind.RISK_RAISED,
                                 author=SYSTEM_ACTOR, body=body)
    await audit_queries.append_entry(connection, at=now, actor=SYSTEM_ACTOR,
                                     action="case.risk_raised", case_id=case.id,
                                     detail=_crossing_text(assessment))

    log.info("hr_case_risk_raised", case_id=case.id, case_no=case.case_no,
             risk_from=str(case.risk), risk_to=str(assessment.level))
    raised = await case_queries.case_on(connection, case.id)
    assert raised is not None
    notes = await _stage_notification(ctx, connection, raised, assessment, "risk_raised")
    return raised, notes


async def _link_call(connection: aiosqlite.Connection, case: Case, call_id: str,
                     now: datetime) -> None:
    await case_queries.add_event(connection, case.id, at=now, kind=EventKind.CALL,
                                 author=SYSTEM_ACTOR, body={}, call_id=call_id)


async def _stage_notification(ctx: HrContext, connection: aiosqlite.Connection, case: Case,
                              assessment: Assessment, event: str) -> int:
    if ctx.notifier is None:
        return 0

    name = ""
    if ctx.config.notify.email_include_name:
        name = await queries.employee_name(ctx.store.db, case.employee_id)
    note = Notification(
        event=event, case_no=case.case_no, risk=str(case.risk),
        counts=dict(assessment.counts),
        short_window_hours=ctx.config.anomaly.short_window_hours,
        long_window_hours=ctx.config.anomaly.long_window_hours,
        link=case_link(ctx.config, case), employee_name=name,
    )

    # One notification per case, level and event: a repeat evaluation queues nothing new.
    dedupe_key = f"{case.case_no}:{case.risk}:{event}"
    return await ctx.notifier.stage(connection, note, dedupe_key=dedupe_key)


def case_link(config: Config, case: Case) -> str:
    """Return the HR page of a case, or "" when `[web] public_url` is not set."""
    base = config.web.public_url.rstrip("/")
    return f"{base}/hr/cases/{case.id}" if base else ""


def snapshot(assessment: Assessment, now: datetime) -> dict[str, Any]:
    """Return the JSON form of an assessment, as stored on the case and its timeline."""
    return {
        "level": str(assessment.level) if assessment.level else None,
        "at": now.isoformat(),
        "counts": dict(assessment.counts),
        "crossings": [
            {"signal": crossing.signal, "value": crossing.value,
             "threshold": crossing.threshold, "level": str(crossing.level)}
            for crossing in assessment.crossings
        ],
    }


def _crossing_text(assessment: Assessment) -> str:
    return ", ".join(f"{crossing.signal}={crossing.value}>={crossing.threshold}"
                     for crossing in assessment.crossings)
