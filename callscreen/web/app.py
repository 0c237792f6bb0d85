"""The aiohttp application: routes, middlewares, security headers and static files.

The daemon runs it in its own event loop with aiohttp's AppRunner and TCPSite on
`[web] host` and `port`.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from callscreen.web import console, events, login, phone_xml
from callscreen.web.admin import setup_admin_routes
from callscreen.web.auth import CONTEXT, session_middleware
from callscreen.web.context import WebContext
from callscreen.web.error_pages import error_page_middleware
from callscreen.web.hr import setup_hr_routes
from callscreen.web.login_throttle import LOGIN_THROTTLE, LoginThrottle
from callscreen.web.rejections import rejection_middleware, setup_rejection_log
from callscreen.web.render import TEMPLATES, page_environment

STATIC_DIR = Path(__file__).resolve().parent / "static"

# No inline script or style anywhere: the console's JavaScript and CSS are static files.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    # on_response_prepare also reaches streamed responses (SSE), which a middleware that
    # edits the returned response would miss because their headers are already sent.
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def create_app(ctx: WebContext) -> web.Application:
    """Build the web application: console, desk-phone screens, HR and admin pages."""
    # The rejection log is outermost, so it also logs what session_middleware rejects.
    app = web.Application(
        middlewares=[rejection_middleware, error_page_middleware, session_middleware],
        client_max_size=ctx.config.web.max_body_bytes)
    app[CONTEXT] = ctx
    setup_rejection_log(app)
    app[TEMPLATES] = page_environment()
    app[events.STREAMS] = set()
    app[LOGIN_THROTTLE] = LoginThrottle()

    app.add_routes(console.routes)
    app.add_routes(login.routes)
    app.add_routes(events.routes)
    app.add_routes(phone_xml.routes)
    setup_hr_routes(app)
    setup_admin_routes(app)
    app.router.add_static("/static", STATIC_DIR, append_version=True)

    app.on_response_prepare.append(_add_security_headers)
    app.on_shutdown.append(events.close_streams)
    return app
