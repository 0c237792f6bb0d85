"""Admin pages: health and config reload under /admin; lists and users in their own modules.

Only the admin role reaches these routes; reception and hr get 403 and anonymous visitors
the login page. The health shown is the `/healthz` JSON that `callscreen status` prints,
and the reload button runs the same reload as SIGHUP.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from callscreen.admin.status import health_lines
from callscreen.i18n import t
from callscreen.web import admin_lists, admin_users
from callscreen.web.admin_pages import admin_actor, admin_only, page_locale, render_admin
from callscreen.web.auth import context

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()


def setup_admin_routes(app: web.Application) -> None:
    """Add the admin routes to `app`."""
    app.add_routes(routes)
    app.add_routes(admin_lists.routes)
    app.add_routes(admin_users.routes)


def _health_page(request: web.Request, *, status: int = 200, message: str = "",
                 error: str = "", problems: tuple[str, ...] = ()) -> web.Response:
    hooks = context(request).admin
    locale = page_locale(request)

    def translate(message_id: str, **params: object) -> str:
        return t(message_id, locale, **params)

    zone = ZoneInfo(context(request).config.numbers.time_zone)
    lines = health_lines(hooks.health(), translate, zone) if hooks is not None else []
    return render_admin(request, "admin_health.html", status=status, lines=lines,
                        available=hooks is not None, message=message, error=error,
                        problems=problems)


@routes.get("/admin")
@admin_only
async def health_page(request: web.Request) -> web.StreamResponse:
    """Show the daemon's health and the reload button."""
    return _health_page(request)


@routes.post("/admin/reload")
@admin_only
async def reload_config(request: web.Request) -> web.StreamResponse:
    """Reload the config file as SIGHUP does; an invalid file keeps the running rules."""
    ctx = context(request)
    locale = page_locale(request)
    path = ctx.config.source
    if ctx.admin is None or not path:
        return _health_page(request, status=409, error=t("admin.reload_no_file", locale))

    log.info("config_reload_requested", path=path, actor=admin_actor(request).label,
             via="web")
    result = await ctx.admin.reload(path)

    if result.ok:
        return _health_page(request, message=t("admin.reload_done", locale, path=path))
    return _health_page(request, status=422,
                        error=t("admin.reload_rejected", locale, path=path),
                        problems=result.problems)
