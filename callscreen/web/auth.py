"""Sessions, CSRF checks and role checks for the web pages.

A session is a random token in an HttpOnly, SameSite=Strict cookie (Secure when
`[web] secure_cookies`); the store keeps only its sha256. Every POST carries a CSRF token:
the session's token once logged in, and before login a random value that must match the
login form's cookie (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web
from multidict import MultiDictProxy
from yarl import URL

from callscreen.i18n import both
from callscreen.store import reception as store
from callscreen.web.context import WebContext

log = structlog.get_logger(__name__)

CONTEXT = web.AppKey("callscreen_context", WebContext)
SESSION = web.RequestKey("callscreen_session", store.Session)
# The reason a request was rejected, for the rejection log (callscreen.web.rejections).
REJECTION_REASON = web.RequestKey("callscreen_rejection_reason", str)

SESSION_COOKIE = "callscreen_session"
LOGIN_CSRF_COOKIE = "callscreen_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
MAX_COOKIE_CHARS = 200
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_REDIRECT_CHARS = 2000
CONSOLE_PATH = "/console"
LOGIN_PATH = "/login"
# Where each role lands after login and on "/". Admins share reception's console, which
# links to the admin pages, so an admin who covers reception sees calls at once.
HOME_PATHS = {"reception": CONSOLE_PATH, "admin": CONSOLE_PATH, "hr": "/hr"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def context(request: web.Request) -> WebContext:
    """Return the WebContext of the app serving `request`."""
    return request.app[CONTEXT]


def token_hash(token: str) -> str:
    """Return the sha256 hex digest stored in place of a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def current_session(request: web.Request) -> store.Session | None:
    """Return the session loaded by `session_middleware`, or None when not logged in."""
    return request.get(SESSION)


def cookie_options(ctx: WebContext) -> dict[str, Any]:
    """Return the attributes every cookie of ours is set with."""
    return {"httponly": True, "samesite": "Strict", "secure": ctx.config.web.secure_cookies,
            "path": "/"}


async def start_session(request: web.Request, response: web.StreamResponse,
                        user: store.User) -> None:
    """Create a session for `user` and set its cookie on `response`."""
    ctx = context(request)
    token = secrets.token_urlsafe(32)
    now = ctx.clock()
    lifetime = timedelta(hours=ctx.config.web.session_hours)

    await store.create_session(ctx.store, token_hash=token_hash(token), user_id=user.id,
                               csrf_token=secrets.token_urlsafe(32), now=now,
                               expires_at=now + lifetime)

    response.set_cookie(SESSION_COOKIE, token, max_age=int(lifetime.total_seconds()),
                        **cookie_options(ctx))


async def end_session(request: web.Request, response: web.StreamResponse) -> None:
    """Delete the request's session from the store and clear its cookie."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if token and len(token) <= MAX_COOKIE_CHARS:
        await store.delete_session(context(request).store, token_hash(token))

    response.del_cookie(SESSION_COOKIE, path="/")


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Load the session named by the cookie, then reject unsafe requests without a CSRF token."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if token and len(token) <= MAX_COOKIE_CHARS:
        ctx = context(request)
        session = await store.get_session(ctx.store, token_hash(token), ctx.clock())
        if session is not None:
            request[SESSION] = session
    if SESSION_COOKIE in request.cookies and SESSION not in request:
        # Forged, expired, or from a store that was wiped: served as logged out, but logged.
        request[REJECTION_REASON] = "session_cookie_invalid"

    # A request that matches no route or no method of its route changes nothing, so its
    # 404 or 405 wins over a CSRF 403. Every routed unsafe request is still checked.
    if request.method not in SAFE_METHODS and request.match_info.http_exception is None:
        await check_csrf(request)

    return await handler(request)


async def check_csrf(request: web.Request) -> None:
    """Raise HTTPForbidden unless the request carries the expected CSRF token.

    The token comes from the form field `csrf_token` or the `X-CSRF-Token` header.
    """
    session = current_session(request)
    expected = session.csrf_token if session else request.cookies.get(LOGIN_CSRF_COOKIE, "")

    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.content_type in ("application/x-www-form-urlencoded",
                                             "multipart/form-data"):
        form = await read_form(request)
        field = form.get(CSRF_FIELD, "")
        sent = field if isinstance(field, str) else ""

    # Tokens are ASCII (token_urlsafe). A non-ASCII value is simply wrong, and is rejected
    # before compare_digest, which raises TypeError on non-ASCII str.
    matches = bool(expected) and expected.isascii() and sent.isascii() \
        and hmac.compare_digest(expected, sent)
    if not matches:
        request[REJECTION_REASON] = "csrf_mismatch" if sent else "csrf_missing"
        log.warning("csrf_rejected", path=request.path, logged_in=session is not None)
        raise web.HTTPForbidden(text=both("auth.csrf_rejected"))


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes | Any]:
    """Return the request's form fields; raise HTTPBadRequest when the body cannot be parsed.

    aiohttp raises ValueError (UnicodeDecodeError included) for a urlencoded body that is
    not UTF-8, and for multipart bodies without a boundary or with a part without a name.
    A body over `[web] max_body_bytes` gets 413 with a text naming the limit.
    """
    try:
        return await request.post()
    except web.HTTPRequestEntityTooLarge as exc:
        limit = context(request).config.web.max_body_bytes
        log.warning("form_too_large", path=request.path, limit=limit)
        raise web.HTTPRequestEntityTooLarge(
            max_size=limit, actual_size=request.content_length or limit + 1,
            text=both("web.too_large", limit=limit)) from exc
    except ValueError as exc:
        request[REJECTION_REASON] = "bad_form"
        log.warning("form_rejected", path=request.path, content_type=request.content_type,
                    error=type(exc).__name__)
        raise web.HTTPBadRequest(text=both("web.bad_form")) from exc


def safe_redirect(target: str, fallback: str = CONSOLE_PATH) -> str:
    """Return `target` when it is a path on this site, else `fallback`.

    A browser treats "//host" and "/\\host" as another site, and yarl (so aiohttp's
    Location header) drops tabs and newlines, which turns "/<TAB>/host" into "//host". So
    the target must start with one "/", contain no whitespace or control character, and
    still be a host-less relative URL after yarl has normalised it.
    """
    if not _is_local_path(target) or len(target) > MAX_REDIRECT_CHARS:
        return fallback
    if any(char.isspace() or unicodedata.category(char).startswith("C") for char in target):
        return fallback

    try:
        normalised = str(URL(target))
        parsed = URL(normalised)
    except ValueError:
        return fallback
    if parsed.scheme or parsed.host is not None or not _is_local_path(normalised):
        return fallback

    return target


def home_path(role: str) -> str:
    """Return the page a user with `role` starts on; the login page for an unknown role."""
    return HOME_PATHS.get(role, LOGIN_PATH)


def _is_local_path(target: str) -> bool:
    return target.startswith("/") and not target.startswith(("//", "/\\")) \
        and "\\" not in target


def require_role(*roles: str) -> Callable[[Handler], Handler]:
    """Decorate a handler so that only logged-in users with one of `roles` reach it.

    Anonymous GET requests are redirected to the login page; other anonymous requests get
    401. A logged-in user with another role gets 403.
    """
    allowed = frozenset(roles)

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            session = current_session(request)
            if session is None:
                if request.method == "GET":
                    target = urlencode({"next": str(request.rel_url)})
                    raise web.HTTPSeeOther(f"/login?{target}")
                request[REJECTION_REASON] = "login_required"
                raise web.HTTPUnauthorized(text=both("auth.login_required"))
            if session.user.role not in allowed:
                request[REJECTION_REASON] = "role_not_allowed"
                log.warning("role_rejected", path=request.path, user_id=session.user.id,
                            role=session.user.role)
                raise web.HTTPForbidden(text=both("auth.role_rejected"))
            return await handler(request)

        return guarded

    return decorate
