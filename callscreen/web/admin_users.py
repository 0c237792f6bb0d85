"""Admin page /admin/users: list accounts, add one, reset a password, disable, enable, unlock
and change a role.

Every change goes through `callscreen.admin.users`, the same code as `callscreen users`,
which applies the CLI's password rules and writes the audit row with the change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from callscreen.admin import users
from callscreen.admin.users import AdminActor, UserChangeError
from callscreen.i18n import t
from callscreen.reception.accounts import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS
from callscreen.store.db import Database
from callscreen.store.reception import ROLES
from callscreen.web.admin_pages import (
    FormError,
    admin_actor,
    admin_only,
    form_choice,
    form_text,
    page_locale,
    render_admin,
)
from callscreen.web.auth import context, read_form

log = structlog.get_logger(__name__)

# Longer than any valid username, so that the service names the bad one in its error.
MAX_USERNAME_FIELD_CHARS = 200

routes = web.RouteTableDef()

Change = Callable[[Database, AdminActor, str, dict[str, str]], Awaitable[str]]


async def _page(request: web.Request, *, status: int = 200, message: str = "",
                error: str = "") -> web.Response:
    ctx = context(request)
    accounts = await users.list_accounts(ctx.store)

    return render_admin(request, "admin_users.html", status=status, accounts=accounts,
                        roles=ROLES, zone=ZoneInfo(ctx.config.numbers.time_zone),
                        min_password=MIN_PASSWORD_CHARS, max_password=MAX_PASSWORD_CHARS,
                        message=message, error=error)


def _password(form: Any) -> str:
    # Passwords are taken as typed: leading and trailing spaces are part of them.
    value = form.get("password", "")
    return value if isinstance(value, str) else ""


@routes.get("/admin/users")
@admin_only
async def users_page(request: web.Request) -> web.StreamResponse:
    """List the accounts with their role and state, and the forms to change them."""
    return await _page(request)


@routes.post("/admin/users/add")
@admin_only
async def add_user(request: web.Request) -> web.StreamResponse:
    """Create an account with a role and a password that follows the CLI's rules."""
    ctx = context(request)
    locale = page_locale(request)
    form = await read_form(request)
    try:
        username = form_text(form, "username", limit=MAX_USERNAME_FIELD_CHARS, required=True)
        role = form_choice(form, "role", ROLES)
        await users.add_user(ctx.store, admin_actor(request), username, _password(form), role)
    except (FormError, UserChangeError) as exc:
        log.warning("admin_user_change_rejected", action="add", reason=exc.message_id)
        return await _page(request, status=400, error=t(exc.message_id, locale, **exc.params))

    return await _page(request, message=t("auth.user_added", locale, username=username,
                                          role=t(f"admin.role.{role}", locale)))


async def _reset_password(db: Database, actor: AdminActor, username: str,
                          fields: dict[str, str]) -> str:
    await users.reset_password(db, actor, username, fields["password"])
    return "auth.password_changed"


async def _disable(db: Database, actor: AdminActor, username: str,
                   _fields: dict[str, str]) -> str:
    await users.disable_user(db, actor, username)
    return "auth.user_disabled"


async def _enable(db: Database, actor: AdminActor, username: str,
                  _fields: dict[str, str]) -> str:
    await users.enable_user(db, actor, username)
    return "auth.user_enabled"


async def _unlock(db: Database, actor: AdminActor, username: str,
                  _fields: dict[str, str]) -> str:
    unlocked = await users.unlock_user(db, actor, username)
    return "auth.user_unlocked" if unlocked else "auth.user_not_locked"


async def _change_role(db: Database, actor: AdminActor, username: str,
                       fields: dict[str, str]) -> str:
    await users.change_role(db, actor, username, fields["role"])
    return "auth.user_role_changed"


CHANGES: dict[str, Change] = {
    "passwd": _reset_password,
    "disable": _disable,
    "enable": _enable,
    "unlock": _unlock,
    "role": _change_role,
}


@routes.post("/admin/users/{action}")
@admin_only
async def change_user(request: web.Request) -> web.StreamResponse:
    """Apply one change (passwd, disable, enable, unlock, role) to the account named."""
    change = CHANGES.get(request.match_info["action"])
    if change is None:
        raise web.HTTPNotFound()

    ctx = context(request)
    locale = page_locale(request)
    form = await read_form(request)
    try:
        username = form_text(form, "username", limit=MAX_USERNAME_FIELD_CHARS, required=True)
        role = form_text(form, "role", limit=40)
        fields = {"password": _password(form), "role": role}
        message_id = await change(ctx.store, admin_actor(request), username, fields)
    except (FormError, UserChangeError) as exc:
        log.warning("admin_user_change_rejected", action=request.match_info["action"],
                    reason=exc.message_id)
        status = 404 if exc.message_id == "auth.user_not_found" else 400
        return await _page(request, status=status,
                           error=t(exc.message_id, locale, **exc.params))

    role_text = t(f"admin.role.{role}", locale) if role in ROLES else role
    return await _page(request, message=t(message_id, locale, username=username,
                                          role=role_text))
