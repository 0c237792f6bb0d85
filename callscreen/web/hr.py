"""HR pages: case list, step-up unlock, case detail and changes, attendance CSV, audit export.

Only the hr role reaches these routes; any other logged-in role is refused and the attempt
audited. Opening a case asks for a reason and the password again; the unlock holds for
`[hr] step_up_minutes` for that case in that browser session, and every page view inside
it is audited with the reason.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from callscreen.audit.export import export_jsonl
from callscreen.cases import actions, attendance
from callscreen.cases.actions import Actor
from callscreen.cases.errors import CaseNotFoundError, CaseStateError
from callscreen.cases.model import CaseStatus, ReferralState
from callscreen.i18n import both
from callscreen.reception.accounts import MAX_PASSWORD_CHARS, login
from callscreen.store import Store
from callscreen.web.auth import Handler, context, current_session, read_form, require_role
from callscreen.web.client_address import request_client_address
from callscreen.web.render import locale_of, render_html

log = structlog.get_logger(__name__)

HR_ROLE = "hr"
MAX_FIELD_CHARS = 2000
# Ids are sqlite INTEGERs, which are signed 64-bit.
MAX_ID = 2**63 - 1
ASCII_DIGITS = frozenset("0123456789")


@dataclass(frozen=True, slots=True)
class Unlock:
    """A step-up grant: one case, one session, the stated reason, valid until `expires_at`."""

    reason: str
    expires_at: datetime


# (session CSRF token, case id) -> grant. The CSRF token is unique per browser session.
# NOTE: grants live in this process only; a daemon restart asks for the password again.
UNLOCKS = web.AppKey("callscreen_hr_unlocks", dict)


def setup_hr_routes(app: web.Application) -> None:
    """Add the HR routes and their step-up grant table to `app`."""
    app[UNLOCKS] = {}
    app.add_routes(routes)


routes = web.RouteTableDef()


def _store(request: web.Request) -> Store:
    return Store(context(request).store)


def _actor(request: web.Request) -> Actor:
    session = current_session(request)
    assert session is not None
    return Actor(username=session.user.username, via="web")


def hr_only(handler: Handler) -> Handler:
    """Let only hr sessions through; audit every refusal of a logged-in user first."""
    guarded = require_role(HR_ROLE)(handler)

    @wraps(handler)
    async def audited(request: web.Request) -> web.StreamResponse:
        session = current_session(request)
        if session is not None and session.user.role != HR_ROLE:
            await actions.audit(_store(request), _actor(request), "access.denied",
                                detail=f"{request.method} {request.path} "
                                       f"role={session.user.role}")
        return await guarded(request)

    return audited


def _locale(request: web.Request) -> str:
    return locale_of(request, context(request).config.reception.locale)


def _page(request: web.Request, template: str, *, status: int = 200,
          **values: Any) -> web.Response:
    session = current_session(request)
    assert session is not None
    return render_html(request, template, _locale(request), status=status,
                       csrf_token=session.csrf_token, username=session.user.username,
                       **values)


def parse_id(text: str) -> int | None:
    """Return `text` as a row id, or None unless it is ASCII digits from 1 to 2**63 - 1.

    str.isdigit() alone would accept "²" and other Unicode digits that int() rejects.
    """
    if not text or len(text) > len(str(MAX_ID)) or not set(text) <= ASCII_DIGITS:
        return None

    number = int(text)
    return number if 0 < number <= MAX_ID else None


def _case_id(request: web.Request) -> int:
    case_id = parse_id(request.match_info["case_id"])
    if case_id is None:
        raise web.HTTPNotFound()

    return case_id


def _field(form: Any, name: str, *, required: bool = True) -> str:
    value = form.get(name, "")
    text = value.strip() if isinstance(value, str) else ""
    if (required and not text) or len(text) > MAX_FIELD_CHARS:
        raise web.HTTPBadRequest(text=both("hr.bad_field", name=name, limit=MAX_FIELD_CHARS))

    return text


def _status(form: Any) -> CaseStatus:
    text = _field(form, "status")
    try:
        return CaseStatus(text)
    except ValueError as exc:
        choices = ", ".join(str(status) for status in CaseStatus)
        raise web.HTTPBadRequest(text=both("hr.bad_status", value=repr(text),
                                           choices=choices)) from exc


def _referral_state(form: Any) -> ReferralState:
    text = _field(form, "state")
    try:
        return ReferralState(text)
    except ValueError as exc:
        choices = ", ".join(str(state) for state in ReferralState)
        raise web.HTTPBadRequest(text=both("hr.bad_referral_state", value=repr(text),
                                           choices=choices)) from exc


def _referral_id(form: Any) -> int | None:
    """Return the referral id field, or None when it is empty (a new offer)."""
    text = _field(form, "referral_id", required=False)
    if not text:
        return None

    referral_id = parse_id(text)
    if referral_id is None:
        raise web.HTTPBadRequest(text=both("hr.bad_referral_id", value=repr(text)))
    return referral_id


def _date(form: Any, name: str) -> date:
    text = _field(form, name)
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=both("hr.bad_date", field=name, value=repr(text))
                                 ) from exc


def _grant(request: web.Request, case_id: int) -> Unlock | None:
    session = current_session(request)
    assert session is not None
    grants: dict[tuple[str, int], Unlock] = request.app[UNLOCKS]
    key = (session.csrf_token, case_id)
    grant = grants.get(key)
    if grant is not None and grant.expires_at <= context(request).clock():
        del grants[key]
        return None

    return grant


@routes.get("/hr")
@hr_only
async def case_list(request: web.Request) -> web.StreamResponse:
    """List the cases, newest update first."""
    cases = await actions.list_cases(_store(request), _actor(request))

    return _page(request, "hr_list.html", cases=cases)


@routes.get("/hr/cases/{case_id}")
@hr_only
async def case_detail(request: web.Request) -> web.StreamResponse:
    """Show the case when unlocked, else the reason and password form."""
    case_id = _case_id(request)
    grant = _grant(request, case_id)
    if grant is None:
        return _page(request, "hr_unlock.html", case_id=case_id, error="")

    try:
        detail = await actions.read_case(_store(request), _actor(request), case_id,
                                         reason=grant.reason)
    except CaseNotFoundError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    config = context(request).config

    return _page(request, "hr_case.html", detail=detail, grant=grant,
                 zone=ZoneInfo(config.numbers.time_zone), resources=config.hr.eap_resources,
                 statuses=[str(status) for status in CaseStatus if status != CaseStatus.CLOSED])


@routes.post("/hr/cases/{case_id}/unlock")
@hr_only
async def unlock(request: web.Request) -> web.StreamResponse:
    """Check the password again and grant access to one case for a few minutes."""
    case_id = _case_id(request)
    form = await read_form(request)
    reason = _field(form, "reason")
    password = form.get("password", "")
    session = current_session(request)
    assert session is not None
    ctx = context(request)

    # The password check goes through `login`, so a failed step-up counts towards the same
    # lockout as a failed login, and a locked account cannot unlock cases either.
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_CHARS:
        password = ""
    result = await login(ctx.store, session.user.username, password, ctx.clock(),
                         remote=request_client_address(request))
    if result.user is None:
        await actions.audit(_store(request), _actor(request), "case.step_up_failed",
                            case_id=case_id, reason=reason, detail=result.failure)
        log.warning("hr_step_up_failed", user=session.user.username, case_id=case_id,
                    failure=result.failure)
        # The user is logged in already, so telling them the account is locked reveals nothing.
        error = "auth.locked" if result.account_locked else "hr.step_up_failed"
        return _page(request, "hr_unlock.html", status=403, case_id=case_id, error=error)

    expires = ctx.clock() + timedelta(minutes=ctx.config.hr.step_up_minutes)
    request.app[UNLOCKS][(session.csrf_token, case_id)] = Unlock(reason=reason,
                                                                 expires_at=expires)
    await actions.audit(_store(request), _actor(request), "case.step_up", case_id=case_id,
                        reason=reason)
    raise web.HTTPSeeOther(f"/hr/cases/{case_id}")


async def _change(request: web.Request, apply: Any) -> web.StreamResponse:
    case_id = _case_id(request)
    if _grant(request, case_id) is None:
        raise web.HTTPSeeOther(f"/hr/cases/{case_id}")

    form = await read_form(request)
    try:
        await apply(_store(request), _actor(request), case_id, form)
    except CaseNotFoundError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    except CaseStateError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    except ValueError as exc:
        # The form helpers above turn known bad values into catalogue texts. Any other
        # ValueError text is Python's own, so it is logged and a generic text is shown.
        log.warning("hr_change_rejected", path=request.path, case_id=case_id, error=str(exc))
        raise web.HTTPBadRequest(text=both("hr.bad_input")) from exc

    raise web.HTTPSeeOther(f"/hr/cases/{case_id}")


@routes.post("/hr/cases/{case_id}/note")
@hr_only
async def post_note(request: web.Request) -> web.StreamResponse:
    """Add a note to the timeline."""
    async def apply(store: Store, actor: Actor, case_id: int, form: Any) -> None:
        await actions.add_note(store, actor, case_id, _field(form, "text"))

    return await _change(request, apply)


@routes.post("/hr/cases/{case_id}/status")
@hr_only
async def post_status(request: web.Request) -> web.StreamResponse:
    """Move the case to in_progress or resolved."""
    async def apply(store: Store, actor: Actor, case_id: int, form: Any) -> None:
        await actions.change_status(store, actor, case_id, _status(form),
                                    reason=_field(form, "reason", required=False))

    return await _change(request, apply)


@routes.post("/hr/cases/{case_id}/referrals")
@hr_only
async def post_referral(request: web.Request) -> web.StreamResponse:
    """Offer an EAP resource, or record the answer to an earlier offer."""
    config = context(request).config

    async def apply(store: Store, actor: Actor, case_id: int, form: Any) -> None:
        state = _referral_state(form)
        referral_id = _referral_id(form)
        note = _field(form, "note", required=False)
        if referral_id is not None:
            await actions.update_referral(store, actor, case_id, referral_id, state,
                                          note=note)
        else:
            await actions.offer_referral(store, config, actor, case_id,
                                         _field(form, "resource"), state=state, note=note)

    return await _change(request, apply)


@routes.post("/hr/cases/{case_id}/leave")
@hr_only
async def post_leave(request: web.Request) -> web.StreamResponse:
    """Mark leave days for the attendance system."""
    config = context(request).config

    async def apply(store: Store, actor: Actor, case_id: int, form: Any) -> None:
        await actions.add_leave(store, config, actor, case_id,
                                start=_date(form, "start"), end=_date(form, "end"),
                                note=_field(form, "note", required=False))

    return await _change(request, apply)


@routes.post("/hr/cases/{case_id}/close")
@hr_only
async def post_close(request: web.Request) -> web.StreamResponse:
    """Close the case with its summary and handling approach."""
    async def apply(store: Store, actor: Actor, case_id: int, form: Any) -> None:
        await actions.close_case(store, actor, case_id, summary=_field(form, "summary"),
                                 approach=_field(form, "approach"))

    return await _change(request, apply)


@routes.get("/hr/knowledge")
@hr_only
async def knowledge(request: web.Request) -> web.StreamResponse:
    """Search closed cases; only redacted text is shown."""
    words = request.query.get("q", "")[:200]
    found = await actions.search_knowledge(_store(request), _actor(request), words) \
        if words else []

    return _page(request, "hr_knowledge.html", words=words, found=found)


@routes.get("/hr/attendance.csv")
@hr_only
async def attendance_csv(request: web.Request) -> web.StreamResponse:
    """Download the monthly attendance CSV (UTF-8 with BOM, Chinese headers)."""
    config = context(request).config
    # Stripped here because the month also goes into the Content-Disposition header,
    # where a newline would make aiohttp fail the response.
    month = request.query.get("month", "").strip()
    try:
        rows = await attendance.attendance_rows(_store(request), month,
                                                config.numbers.time_zone)
    except CaseStateError as exc:
        log.warning("hr_attendance_rejected", month=month, error=str(exc))
        raise web.HTTPBadRequest(text=str(exc)) from exc
    await actions.audit(_store(request), _actor(request), "report.attendance", detail=month)

    body = attendance.attendance_csv(rows, month, config.hr.leave_category)
    return web.Response(
        body=body.encode("utf-8"), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="attendance-{month}.csv"',
                 "Cache-Control": "no-store"},
    )


@routes.get("/hr/audit.jsonl")
@hr_only
async def audit_export(request: web.Request) -> web.StreamResponse:
    """Download the audit chain as JSON Lines; the download itself is audited first."""
    store = _store(request)
    await actions.audit(store, _actor(request), "audit.export", detail="web")
    buffer = io.StringIO()
    report = await export_jsonl(store, buffer)
    log.info("hr_audit_exported", rows=report.rows, intact=report.ok)

    return web.Response(
        text=buffer.getvalue(), content_type="application/x-ndjson", charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.jsonl"',
                 "Cache-Control": "no-store", "X-Audit-Head": report.head_hash},
    )
