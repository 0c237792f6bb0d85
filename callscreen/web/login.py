"""Login and logout pages."""

from __future__ import annotations

import secrets

import structlog
from aiohttp import web

from callscreen.i18n import t
from callscreen.reception.accounts import login
from callscreen.web.auth import (
    CONSOLE_PATH,
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    context,
    cookie_options,
    end_session,
    read_form,
    safe_redirect,
    start_session,
)
from callscreen.web.console import RECEPTION_ROLES, default_locale
from callscreen.web.render import render_html

log = structlog.get_logger(__name__)

MAX_USERNAME_CHARS = 64
MAX_PASSWORD_CHARS = 1024
LOGIN_CSRF_SECONDS = 3600

routes = web.RouteTableDef()


def _safe_next(target: str, role: str) -> str:
    """Return a local path to go to after login; never another site."""
    return safe_redirect(target, CONSOLE_PATH if role in RECEPTION_ROLES else "/")


def _login_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    locale = default_locale(request)
    csrf_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not csrf_token or len(csrf_token) > 100:
        csrf_token = secrets.token_urlsafe(32)

    response = render_html(request, "login.html", locale, status=status, error=error,
                           csrf_field=CSRF_FIELD, csrf_token=csrf_token,
                           next=request.query.get("next", ""))
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
    form = await read_form(request)
    username = form.get("username", "")
    password = form.get("password", "")
    if not isinstance(username, str) or not isinstance(password, str) \
            or len(username) > MAX_USERNAME_CHARS or len(password) > MAX_PASSWORD_CHARS:
        return _login_page(request, error=t("auth.failed", default_locale(request)), status=400)

    result = await login(ctx.store, username.strip(), password, ctx.clock())
    if result.user is None:
        message_id = "auth.locked" if result.failure == "locked" else "auth.failed"
        return _login_page(request, error=t(message_id, default_locale(request)), status=401)

    target = form.get("next", "")
    response = web.HTTPSeeOther(_safe_next(target if isinstance(target, str) else "",
                                           result.user.role))
    await start_session(request, response, result.user)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    """End the session and go back to the login page."""
    response = web.HTTPSeeOther("/login")
    await end_session(request, response)
    raise response
