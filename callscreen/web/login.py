"""Login and logout pages."""

from __future__ import annotations

import math
import secrets
from urllib.parse import quote

import structlog
from aiohttp import web

from callscreen.i18n import t
from callscreen.reception.accounts import login
from callscreen.web.auth import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    LOGIN_PATH,
    REJECTION_REASON,
    context,
    cookie_options,
    end_session,
    home_path,
    read_form,
    safe_redirect,
    start_session,
)
from callscreen.web.client_address import request_client_address
from callscreen.web.console import default_locale
from callscreen.web.login_throttle import LOGIN_THROTTLE
from callscreen.web.render import render_html

log = structlog.get_logger(__name__)

MAX_USERNAME_CHARS = 64
MAX_PASSWORD_CHARS = 1024
LOGIN_CSRF_SECONDS = 3600

routes = web.RouteTableDef()


def _safe_next(target: str, role: str) -> str:
    """Return a local path to go to after login; never another site.

    A safe `next` wins, so a user sent to the login page returns where they were. Without
    one each role goes to its home page.
    """
    return safe_redirect(target, home_path(role))


def _language_link(locale: str, next_path: str) -> str:
    """Return the language switch link, which comes back to this login page with `next`."""
    other = "en" if locale == "zh-CN" else "zh-CN"
    back = LOGIN_PATH
    if next_path and safe_redirect(next_path, "") == next_path:
        back += "?next=" + quote(next_path, safe="/")

    return f"/lang/{other}?next=" + quote(back, safe="/")


def _login_page(request: web.Request, *, error: str = "", status: int = 200,
                next_path: str | None = None) -> web.Response:
    locale = default_locale(request)
    csrf_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not csrf_token or len(csrf_token) > 100:
        csrf_token = secrets.token_urlsafe(32)
    if next_path is None:
        next_path = request.query.get("next", "")

    response = render_html(request, "login.html", locale, status=status, error=error,
                           csrf_field=CSRF_FIELD, csrf_token=csrf_token, next=next_path,
                           language_link=_language_link(locale, next_path))
    response.set_cookie(LOGIN_CSRF_COOKIE, csrf_token, max_age=LOGIN_CSRF_SECONDS,
                        **cookie_options(context(request)))
    return response


@routes.get("/login")
async def login_page(request: web.Request) -> web.StreamResponse:
    """Show the login form."""
    return _login_page(request)


@routes.post("/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the credentials; start a session or show the form again with the reason."""
    ctx = context(request)
    locale = default_locale(request)
    form = await read_form(request)
    username = form.get("username", "")
    password = form.get("password", "")
    target = form.get("next", "")
    target = target if isinstance(target, str) else ""

    # Checked before the password, so a client over the limit costs no argon2 run.
    remote = request_client_address(request)
    throttle = request.app[LOGIN_THROTTLE]
    retry_after = throttle.retry_after(remote)
    if retry_after:
        request[REJECTION_REASON] = "login_throttled"
        error = t("auth.throttled", locale, minutes=math.ceil(retry_after / 60))
        response = _login_page(request, error=error, status=429, next_path=target)
        response.headers["Retry-After"] = str(retry_after)
        return response

    if not isinstance(username, str) or not isinstance(password, str) \
            or len(username) > MAX_USERNAME_CHARS or len(password) > MAX_PASSWORD_CHARS:
        throttle.record_failure(remote)
        return _login_page(request, error=t("auth.failed", locale), status=400, next_path=target)

    result = await login(ctx.store, username.strip(), password, ctx.clock(), remote=remote)
    if result.user is None:
        # Only a visitor who gives the right password learns that the account is locked.
        if result.failure != "locked":
            throttle.record_failure(remote)
        message_id = "auth.locked" if result.failure == "locked" else "auth.failed"
        return _login_page(request, error=t(message_id, locale), status=401, next_path=target)

    response = web.HTTPSeeOther(_safe_next(target, result.user.role))
    await start_session(request, response, result.user)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    """End the session and go back to the login page."""
    response = web.HTTPSeeOther(LOGIN_PATH)
    await end_session(request, response)
    raise response
