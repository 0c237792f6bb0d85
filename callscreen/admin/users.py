"""Console account management shared by `callscreen users` and the admin pages.

Every change checks its input here (password rules, roles, usernames, no admin disabling
or demoting themselves, never without an enabled admin) and is stored together with its audit row by
`callscreen.store.accounts`. The CLI and the web call only these functions, so neither
can change an account without an audit row.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from callscreen.admin.options import default_actor
from callscreen.errors import CallscreenError
from callscreen.i18n import both
from callscreen.reception.accounts import (
    MIN_PASSWORD_CHARS,
    check_password_rules,
    hash_password,
)
from callscreen.store import accounts as audited
from callscreen.store import reception as store
from callscreen.store.db import Database

log = structlog.get_logger(__name__)

# The login form accepts usernames up to this length.
MAX_USERNAME_CHARS = 64
# Audit rows name CLI actors "cli:<login name>" and HR web actors "<username>@web", so a
# username with ":" or "@" could pose as one of them. Slashes, quotes, "<", ">", commas
# and semicolons are rejected too, because usernames appear in URLs, CSV and log lines.
USERNAME_FORBIDDEN_CHARS = ':@/\\"\'<>,;'


class UserChangeError(CallscreenError, ValueError):
    """An account change was rejected; `message_id` and `params` name the catalogue text."""

    def __init__(self, message_id: str, **params: object) -> None:
        self.message_id = message_id
        self.params = params
        super().__init__(both(message_id, **params))


@dataclass(frozen=True, slots=True)
class AdminActor:
    """The person making a change: `label` goes into the audit log, `username` is the account.

    `username` is None for the CLI, which acts as an operating-system user.
    """

    label: str
    username: str | None = None

    @classmethod
    def web(cls, username: str) -> AdminActor:
        """Return the actor for an admin logged in to the console."""
        return cls(label=username, username=username)

    @classmethod
    def cli(cls) -> AdminActor:
        """Return the actor for the person running a command: "cli:<login name>"."""
        return cls(label=f"cli:{default_actor()}")


@dataclass(frozen=True, slots=True)
class Account:
    """One account as the admin pages and `users list` show it; no password hash."""

    username: str
    role: str
    disabled: bool
    locked: bool
    failed_logins: int
    locked_until: datetime | None
    last_login_at: datetime | None = None

    @property
    def state(self) -> str:
        """Return "disabled", "locked" or "active"."""
        if self.disabled:
            return "disabled"
        return "locked" if self.locked else "active"


async def list_accounts(db: Database, now: datetime | None = None) -> list[Account]:
    """Return every account ordered by username, with its lockout state at `now`."""
    moment = now or datetime.now(UTC)
    users = await store.list_users(db)

    return [
        Account(username=user.username, role=user.role, disabled=user.disabled,
                locked=user.locked_until is not None and user.locked_until > moment,
                failed_logins=user.failed_logins, locked_until=user.locked_until,
                last_login_at=user.last_login_at)
        for user in users
    ]


def check_username(username: str) -> str:
    """Return the username stripped; raise UserChangeError when it cannot be used.

    Only new accounts are checked, so accounts created before a rule existed keep working.
    """
    name = username.strip()
    printable = all(not unicodedata.category(char).startswith(("C", "Z")) or char == " "
                    for char in name)
    if not name or len(name) > MAX_USERNAME_CHARS or not printable:
        raise UserChangeError("admin.user_bad_username", username=username[:80],
                              limit=MAX_USERNAME_CHARS)

    forbidden = sorted({char for char in name if char in USERNAME_FORBIDDEN_CHARS})
    if forbidden:
        raise UserChangeError("admin.user_username_chars", username=name,
                              chars=" ".join(forbidden))

    return name


def check_role(role: str) -> str:
    """Return `role` when it is one of the account roles; raise UserChangeError otherwise."""
    if role not in store.ROLES:
        raise UserChangeError("admin.user_bad_role", role=role[:40],
                              choices=", ".join(store.ROLES))

    return role


def check_password(password: str) -> None:
    """Apply the password rules of `callscreen.reception.accounts`; raise UserChangeError."""
    try:
        check_password_rules(password)
    except ValueError:
        raise UserChangeError("auth.password_empty", length=MIN_PASSWORD_CHARS) from None


async def add_user(db: Database, actor: AdminActor, username: str, password: str,
                   role: str) -> int:
    """Create an account after checking name, role and password; return its id."""
    name = check_username(username)
    check_role(role)
    check_password(password)
    password_hash = await hash_password(password)

    try:
        user_id = await audited.add_user(db, username=name, password_hash=password_hash,
                                         role=role, actor=actor.label, now=datetime.now(UTC))
    except store.UserExistsError as exc:
        if exc.username != name:
            raise UserChangeError("admin.user_exists_case", username=name,
                                  existing=exc.username) from None
        raise UserChangeError("admin.user_exists", username=name) from None

    log.info("user_added", user_id=user_id, role=role, actor=actor.label)
    return user_id


async def reset_password(db: Database, actor: AdminActor, username: str,
                         password: str) -> None:
    """Set a new password; this also unlocks the account and ends its sessions."""
    check_password(password)
    password_hash = await hash_password(password)

    changed = await audited.set_password_hash(db, username, password_hash, actor=actor.label,
                                              now=datetime.now(UTC))
    _require_found(changed, username)
    log.info("user_password_reset", actor=actor.label)


async def disable_user(db: Database, actor: AdminActor, username: str) -> None:
    """Disable an account and end its sessions; an admin cannot disable their own account."""
    if actor.username is not None and actor.username == username:
        raise UserChangeError("admin.user_self_disable")

    try:
        changed = await audited.set_disabled(db, username, True, actor=actor.label,
                                             now=datetime.now(UTC))
    except store.LastAdminError:
        raise UserChangeError("admin.user_last_admin", username=username) from None
    _require_found(changed, username)
    log.info("user_disabled", actor=actor.label)


async def enable_user(db: Database, actor: AdminActor, username: str) -> None:
    """Enable a disabled account."""
    changed = await audited.set_disabled(db, username, False, actor=actor.label,
                                         now=datetime.now(UTC))
    _require_found(changed, username)
    log.info("user_enabled", actor=actor.label)


async def unlock_user(db: Database, actor: AdminActor, username: str) -> bool:
    """End a lockout after too many failed logins, keeping the password.

    Returns False, and audits nothing, when the account is not locked.
    """
    outcome = await audited.unlock(db, username, actor=actor.label, now=datetime.now(UTC))
    _require_found(outcome != "not_found", username)
    if outcome == "not_locked":
        return False

    log.info("user_unlocked", actor=actor.label)
    return True


async def change_role(db: Database, actor: AdminActor, username: str, role: str) -> None:
    """Give an account another role; an admin cannot change their own role."""
    check_role(role)
    if actor.username is not None and actor.username == username:
        raise UserChangeError("admin.user_self_role")

    try:
        changed = await audited.set_role(db, username, role, actor=actor.label,
                                         now=datetime.now(UTC))
    except store.LastAdminError:
        raise UserChangeError("admin.user_last_admin", username=username) from None
    _require_found(changed, username)
    log.info("user_role_changed", role=role, actor=actor.label)


def _require_found(changed: bool, username: str) -> None:
    if not changed:
        raise UserChangeError("auth.user_not_found", username=username[:80])
