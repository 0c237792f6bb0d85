"""The reception console: the page, feedback buttons and the language switch."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from callscreen.hub import CallUpdate
from callscreen.i18n import LOCALES, t
from callscreen.reception.feedback import FeedbackError, clean_caller_org, record_feedback
from callscreen.reception.scripts import situation_for
from callscreen.store import reception as store
from callscreen.web.auth import (
    CONSOLE_PATH,
    LOGIN_PATH,
    context,
    cookie_options,
    current_session,
    home_path,
    read_form,
    require_role,
    safe_redirect,
)
from callscreen.web.render import LANGUAGE_COOKIE, locale_of, render_html

log = structlog.get_logger(__name__)

RECEPTION_ROLES = ("reception", "admin")
MAX_SHOWN_NAME_CHARS = 80
MAX_FIELD_CHARS = 600
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600

routes = web.RouteTableDef()


def call_view(request: web.Request, call: CallUpdate, locale: str) -> dict[str, Any]:
    """Return what a call card shows; never the caller's full number (caller_key)."""
    ctx = context(request)
    zone = ZoneInfo(ctx.config.numbers.time_zone)
    name = call.caller_name
    if len(name) > MAX_SHOWN_NAME_CHARS:
        name = name[:MAX_SHOWN_NAME_CHARS] + "…"

    return {
        "call_id": call.call_id,
        "state": call.state,
        "state_text": t(f"console.state.{call.state}", locale),
        "started": call.started_at.astimezone(zone).strftime("%H:%M:%S"),
        "caller_masked": call.caller_masked,
        "caller_name": name,
        "region": call.region or t(f"kind.{call.kind}", locale),
        "verdict": call.verdict,
        "verdict_text": t(f"verdict.{call.verdict}", locale),
        "category_text": t(f"category.{call.category}", locale),
        "score": call.score,
        "reasons": [r.text_zh if locale == "zh-CN" else r.text_en for r in call.reasons],
        "script": ctx.scripts.render(situation_for(call.category), locale,
                                     caller_org=call.caller_org),
        "caller_org": call.caller_org,
        "can_tag": bool(call.caller_key),
        "answered_by": call.answered_by,
        "transferred_to": call.transferred_to,
    }


def default_locale(request: web.Request) -> str:
    """Return the visitor's language: the cookie, else the configured reception locale."""
    return locale_of(request, context(request).config.reception.locale)


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    """Send a logged-in user to their role's home page and everyone else to the login page."""
    session = current_session(request)
    if session is not None:
        raise web.HTTPSeeOther(home_path(session.user.role))
    raise web.HTTPSeeOther(LOGIN_PATH)


@routes.get("/console")
@require_role(*RECEPTION_ROLES)
async def console_page(request: web.Request) -> web.StreamResponse:
    """Render the console with the calls known now; live updates follow over SSE."""
    ctx = context(request)
    session = current_session(request)
    assert session is not None
    locale = default_locale(request)

    calls = [call_view(request, call, locale) for call in ctx.hub.active()]
    # TODO: a directory of more than a few thousand people needs a search endpoint in place
    # of one <datalist> with everyone; list_employees stops at its limit.
    employees = await store.list_employees(ctx.store)

    return render_html(request, "console.html", locale, calls=calls, employees=employees,
                       csrf_token=session.csrf_token, username=session.user.username,
                       role=session.user.role)


@routes.post("/console/calls/{call_id}/feedback")
@require_role(*RECEPTION_ROLES)
async def post_feedback(request: web.Request) -> web.StreamResponse:
    """Store one button press (collector, not a collector, employment check) as a tag."""
    ctx = context(request)
    session = current_session(request)
    assert session is not None
    locale = default_locale(request)
    form = await read_form(request)
    action, employee, note, caller_org = (
        _form_text(form, name) for name in ("action", "employee", "note", "caller_org"))

    call = ctx.hub.get(request.match_info["call_id"])
    if call is None:
        return _feedback_answer(request, 404, t("console.call_not_found", locale))
    try:
        employee_id = await _resolve_employee(request, employee)
        await record_feedback(ctx.store, call, action=action, employee_id=employee_id,
                              note=note, author=session.user.username, caller_org=caller_org)
    except FeedbackError as exc:
        log.warning("feedback_rejected", call_id=call.call_id, reason=str(exc))
        message = t(exc.message_id, locale, error=exc.detail)
        return _feedback_answer(request, 400, message)

    caller_org = clean_caller_org(caller_org)
    if caller_org and caller_org != call.caller_org:
        ctx.hub.update(call.call_id, caller_org=caller_org)
    if ctx.on_feedback is not None:
        await ctx.on_feedback(call.call_id, employee_id or None)

    return _feedback_answer(request, 200, t("console.feedback_saved", locale))


def _form_text(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value.strip()[:MAX_FIELD_CHARS] if isinstance(value, str) else ""


async def _resolve_employee(request: web.Request, text: str) -> str:
    """Return the employee id picked or typed; a typed name must match exactly one person."""
    if not text:
        return ""

    db = context(request).store
    if await store.get_employee(db, text) is not None:
        return text
    matches = await store.find_employees(db, text, limit=2)
    if len(matches) == 1:
        return matches[0].employee_id

    raise FeedbackError("console.feedback_unknown_employee", text)


def _feedback_answer(request: web.Request, status: int, message: str) -> web.StreamResponse:
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response({"ok": status == 200, "message": message}, status=status)
    if status == 200:
        raise web.HTTPSeeOther("/console")

    return web.Response(status=status, text=message, content_type="text/plain")


@routes.get("/lang/{locale}")
async def switch_language(request: web.Request) -> web.StreamResponse:
    """Remember the chosen language in a cookie and go back to a local page."""
    locale = request.match_info["locale"]
    if locale not in LOCALES:
        raise web.HTTPNotFound()
    target = safe_redirect(request.query.get("next", CONSOLE_PATH))

    response = web.HTTPSeeOther(target)
    options = cookie_options(context(request))
    response.set_cookie(LANGUAGE_COOKIE, locale, max_age=LANGUAGE_COOKIE_SECONDS, **options)
    raise response

