"""Console accounts: argon2id password hashes, login with lockout, and the demo accounts.

argon2 hashing takes tens of milliseconds of CPU on purpose, so it runs in a worker thread
to keep the event loop (and the ring-time FastAGI answers) responsive.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from callscreen.store import reception as store
from callscreen.store.db import Database

log = structlog.get_logger(__name__)

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
DEMO_ACCOUNTS = (("前台", "reception"), ("人事", "hr"), ("admin", "admin"))

_hasher = PasswordHasher()


@cache
def _unknown_user_hash() -> str:
    # Verified against when the username is unknown, so that the answer takes as long as
    # for a known user and does not reveal which usernames exist.
    return _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class LoginResult:
    """The outcome of a login attempt: the user, or why there is none ("failed", "locked").

    "locked" means the password was right but the account is locked. `account_locked` is
    True when the account is locked after this attempt, whatever the password. A login
    page must not show it to a visitor who has not given the right password, because it
    would reveal that the username exists.
    """

    user: store.User | None
    failure: str = ""
    account_locked: bool = False


def check_password_rules(password: str) -> None:
    """Raise ValueError when a new password is too short or absurdly long."""
    if len(password) < MIN_PASSWORD_CHARS or len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(
            f"password must have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )


async def hash_password(password: str) -> str:
    """Return the argon2id hash of `password`, computed in a worker thread."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    """Return whether `password` matches `password_hash`; a malformed hash never matches."""
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def create_user(db: Database, username: str, password: str, role: str) -> int:
    """Create an account after checking the password rules; return its id."""
    check_password_rules(password)
    password_hash = await hash_password(password)

    user_id = await store.add_user(db, username=username, password_hash=password_hash,
                                   role=role, now=datetime.now(UTC))

    log.info("user_added", user_id=user_id, role=role)
    return user_id


async def change_password(db: Database, username: str, password: str) -> bool:
    """Set a new password, which also unlocks the account; False for an unknown user."""
    check_password_rules(password)
    password_hash = await hash_password(password)

    return await store.set_password_hash(db, username, password_hash)


async def login(db: Database, username: str, password: str, now: datetime, *,
                remote: str = "") -> LoginResult:
    """Check a username and password, counting failures and locking after too many.

    argon2 runs for every attempt, locked and unknown accounts included, and a wrong
    password gets "failed" in every case, so neither the answer nor its timing tells
    whether a username exists or is locked. A locked account fails even with the right
    password until the lockout ends, and only then is the failure "locked". `remote` is
    the client's address, for the log.
    """
    user = await store.get_user(db, username)
    if user is None or user.disabled:
        await verify_password(_unknown_user_hash(), password)
        # The typed name is logged only when it names an account: an unknown one may be a
        # password typed into the wrong field.
        log.warning("login_failed", reason="unknown_or_disabled_user", remote=remote,
                    user_id=user.id if user else None, username=user.username if user else None)
        return LoginResult(None, "failed")

    password_ok = await verify_password(user.password_hash, password)

    if user.locked_until is not None and user.locked_until > now:
        if not password_ok:
            log.warning("login_failed", reason="wrong_password_while_locked", remote=remote,
                        user_id=user.id, username=user.username)
            return LoginResult(None, "failed", account_locked=True)
        log.warning("login_rejected_locked", remote=remote, user_id=user.id,
                    username=user.username)
        return LoginResult(None, "locked", account_locked=True)

    if not password_ok:
        return await _count_failure(db, user, now, remote)

    await store.record_login_success(db, user.id, at=now)
    log.info("login_succeeded", remote=remote, user_id=user.id, role=user.role)
    return LoginResult(user)


async def _count_failure(db: Database, user: store.User, now: datetime,
                         remote: str) -> LoginResult:
    # A lockout that has run out gives the user a fresh set of attempts.
    expired_lock = user.locked_until is not None and user.locked_until <= now
    failures = 1 if expired_lock else user.failed_logins + 1
    if expired_lock:
        await store.clear_login_failures(db, user.id)

    locked_until = now + LOCKOUT if failures >= MAX_FAILED_LOGINS else None
    await store.record_login_failure(db, user.id, locked_until=locked_until)

    log.warning("login_failed", reason="wrong_password", remote=remote, user_id=user.id,
                username=user.username, failures=failures)
    if locked_until is not None:
        log.warning("login_locked", remote=remote, user_id=user.id, username=user.username,
                    failures=failures)
    return LoginResult(None, "failed", account_locked=locked_until is not None)


async def ensure_demo_users(db: Database) -> list[tuple[str, str, str]]:
    """Create (or reset) the demo accounts with fresh random passwords.

    Returns (username, password, role) for each, so that the demo can print them.
    """
    accounts: list[tuple[str, str, str]] = []
    for username, role in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(9)
        if not await change_password(db, username, password):
            await create_user(db, username, password, role)
        accounts.append((username, password, role))

    return accounts
