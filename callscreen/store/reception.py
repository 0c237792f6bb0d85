"""Queries on the reception tables: console users, sessions, the employee directory, phones.

Every write goes through `Database.write`, one `BEGIN IMMEDIATE` transaction per call;
reads use the read connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from callscreen.errors import CallscreenError
from callscreen.store.db import Database, optional_db_time, optional_from_db_time, to_db_time

ROLES = ("reception", "hr", "admin")
PHONE_MODELS = ("yealink", "cisco")


class UserExistsError(CallscreenError, ValueError):
    """`users add` named a username that is already taken."""

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(f"用户已存在 / user already exists: {username}")


class LastAdminError(CallscreenError, ValueError):
    """A change would leave no enabled admin account, so nobody could manage accounts."""

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(f"最后一个启用的管理员 / last enabled admin: {username}")


@dataclass(frozen=True, slots=True)
class User:
    """A console account."""

    id: int
    username: str
    password_hash: str
    role: str
    disabled: bool
    failed_logins: int
    locked_until: datetime | None
    last_login_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in browser: the user it belongs to and its CSRF token."""

    user: User
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Employee:
    """One row of the employee directory."""

    employee_id: str
    name: str
    department: str = ""
    extension: str = ""
    did: str = ""
    pinyin: str = ""
    initials: str = ""


@dataclass(frozen=True, slots=True)
class Phone:
    """A desk phone allowed to fetch its XML screen."""

    extension: str
    model: str
    token_hash: str


# S608 is silenced below because the only text formatted into SQL is these constant column
# lists; every value is a bound parameter.
USER_COLUMNS = ("id, username, password_hash, role, disabled, failed_logins, locked_until,"
                " last_login_at")
EMPLOYEE_COLUMNS = "employee_id, name, department, extension, did, pinyin, initials"


def _user(row: sqlite3.Row) -> User:
    return User(
        id=int(row["id"]), username=row["username"], password_hash=row["password_hash"],
        role=row["role"], disabled=bool(row["disabled"]), failed_logins=int(row["failed_logins"]),
        locked_until=optional_from_db_time(row["locked_until"]),
        last_login_at=optional_from_db_time(row["last_login_at"]),
    )


def _employee(row: sqlite3.Row) -> Employee:
    return Employee(*(row[column] for column in EMPLOYEE_COLUMNS.split(", ")))


# --- users -----------------------------------------------------------------------------------

async def add_user(db: Database, *, username: str, password_hash: str, role: str,
                   now: datetime) -> int:
    """Insert a console account and return its id.

    Raises UserExistsError when the username is taken and ValueError for an unknown role.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")

    async with db.write("add_user") as connection:
        async with connection.execute("SELECT 1 FROM users WHERE username = ?",
                                      (username,)) as cursor:
            taken = await cursor.fetchone()
        if taken is not None:
            raise UserExistsError(username)
        cursor = await connection.execute(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
            (username, password_hash, role, to_db_time(now)),
        )
        user_id = int(cursor.lastrowid or 0)

    return user_id


async def get_user(db: Database, username: str) -> User | None:
    """Return the account named `username`, or None."""
    row = await db.fetch_one(f"SELECT {USER_COLUMNS} FROM users WHERE username = ?",  # noqa: S608
                             (username,), action="get_user")

    return None if row is None else _user(row)


async def list_users(db: Database) -> list[User]:
    """Return every account, ordered by username."""
    rows = await db.fetch_all(f"SELECT {USER_COLUMNS} FROM users ORDER BY username", (),  # noqa: S608
                              action="list_users")

    return [_user(row) for row in rows]


async def set_password_hash(db: Database, username: str, password_hash: str) -> bool:
    """Replace a password hash, clear the lockout and end the user's sessions.

    Returns False when no such user exists.
    """
    async with db.write("set_password") as connection:
        cursor = await connection.execute(
            "UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL"
            " WHERE username = ?",
            (password_hash, username),
        )
        changed = cursor.rowcount > 0
        await connection.execute(
            "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = ?)",
            (username,),
        )

    return changed


async def set_disabled(db: Database, username: str, disabled: bool) -> bool:
    """Disable or enable an account; disabling also ends its sessions.

    Returns False when no such user exists.
    """
    async with db.write("set_disabled") as connection:
        cursor = await connection.execute("UPDATE users SET disabled = ? WHERE username = ?",
                                          (int(disabled), username))
        changed = cursor.rowcount > 0
        if disabled:
            await connection.execute(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = ?)",
                (username,),
            )

    return changed


async def record_login_failure(db: Database, user_id: int, *, locked_until: datetime | None
                               ) -> None:
    """Count one failed login; set `locked_until` when the caller decided to lock the account."""
    async with db.write("record_login_failure") as connection:
        await connection.execute(
            "UPDATE users SET failed_logins = failed_logins + 1,"
            " locked_until = COALESCE(?, locked_until) WHERE id = ?",
            (optional_db_time(locked_until), user_id),
        )


async def record_login_success(db: Database, user_id: int, *, at: datetime) -> None:
    """Reset the failure count and any lockout after a correct password given at `at`."""
    async with db.write("record_login_success") as connection:
        await connection.execute(
            "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = ?"
            " WHERE id = ?", (to_db_time(at), user_id),
        )


async def clear_login_failures(db: Database, user_id: int) -> None:
    """Reset the failure count and the lockout, as when a lockout has run out."""
    async with db.write("clear_login_failures") as connection:
        await connection.execute(
            "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", (user_id,)
        )


# --- sessions --------------------------------------------------------------------------------

async def create_session(db: Database, *, token_hash: str, user_id: int, csrf_token: str,
                         now: datetime, expires_at: datetime) -> None:
    """Store a new session and drop the expired ones."""
    async with db.write("create_session") as connection:
        await connection.execute("DELETE FROM sessions WHERE expires_at <= ?",
                                 (to_db_time(now),))
        await connection.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (token_hash, user_id, csrf_token, to_db_time(now), to_db_time(expires_at)),
        )


async def get_session(db: Database, token_hash: str, now: datetime) -> Session | None:
    """Return the unexpired session of an enabled user, or None."""
    columns = ", ".join(f"users.{name}" for name in USER_COLUMNS.split(", "))
    row = await db.fetch_one(
        f"SELECT {columns}, sessions.csrf_token, sessions.expires_at FROM sessions"  # noqa: S608
        " JOIN users ON users.id = sessions.user_id"
        " WHERE sessions.token_hash = ? AND sessions.expires_at > ? AND users.disabled = 0",
        (token_hash, to_db_time(now)), action="get_session",
    )
    if row is None:
        return None

    expires_at = optional_from_db_time(row["expires_at"])
    assert expires_at is not None
    return Session(user=_user(row), csrf_token=row["csrf_token"], expires_at=expires_at)


async def delete_session(db: Database, token_hash: str) -> None:
    """End one session (logout)."""
    async with db.write("delete_session") as connection:
        await connection.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))


# --- employees -------------------------------------------------------------------------------

async def replace_employees(db: Database, employees: Sequence[Employee], now: datetime) -> int:
    """Replace the whole directory with `employees` in one transaction; return the count."""
    rows = [
        (e.employee_id, e.name, e.department, e.extension, e.did, e.pinyin, e.initials,
         to_db_time(now))
        for e in employees
    ]
    async with db.write("replace_employees") as connection:
        await connection.execute("DELETE FROM employees")
        await connection.executemany(
            f"INSERT INTO employees ({EMPLOYEE_COLUMNS}, imported_at)"  # noqa: S608
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    return len(rows)


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


async def find_employees(db: Database, query: str, *, limit: int = 20) -> list[Employee]:
    """Look employees up by name part, pinyin or its initials, employee id, extension or DID."""
    text = query.strip()
    if not text:
        return []

    lowered = text.lower().replace(" ", "")
    contains = "%" + _like_prefix(text)
    rows = await db.fetch_all(
        f"SELECT {EMPLOYEE_COLUMNS} FROM employees"  # noqa: S608
        " WHERE employee_id = ? OR extension = ? OR did = ?"
        " OR name LIKE ? ESCAPE '\\' OR initials LIKE ? ESCAPE '\\'"
        " OR pinyin LIKE ? ESCAPE '\\'"
        " ORDER BY name, employee_id LIMIT ?",
        (text, text, text, contains, _like_prefix(lowered), _like_prefix(lowered), limit),
        action="find_employees",
    )

    return [_employee(row) for row in rows]


async def employee_for_number(db: Database, dialled: str) -> Employee | None:
    """Return the employee whose extension or DID is `dialled`, or None.

    TODO: digits are compared as stored, so "88886601" does not find "02188886601"; match on
    normalised numbers once the directory stores them.
    """
    if not dialled:
        return None

    row = await db.fetch_one(
        f"SELECT {EMPLOYEE_COLUMNS} FROM employees WHERE extension = ? OR did = ?"  # noqa: S608
        " ORDER BY extension = ? DESC LIMIT 1",
        (dialled, dialled, dialled), action="employee_for_number",
    )

    return None if row is None else _employee(row)


async def get_employee(db: Database, employee_id: str) -> Employee | None:
    """Return one employee by employee id, or None."""
    row = await db.fetch_one(f"SELECT {EMPLOYEE_COLUMNS} FROM employees WHERE employee_id = ?",  # noqa: S608
                             (employee_id,), action="get_employee")

    return None if row is None else _employee(row)


async def list_employees(db: Database, *, limit: int = 5000) -> list[Employee]:
    """Return employees ordered by department and name, at most `limit` of them."""
    rows = await db.fetch_all(
        f"SELECT {EMPLOYEE_COLUMNS} FROM employees ORDER BY department, name LIMIT ?",  # noqa: S608
        (limit,), action="list_employees",
    )

    return [_employee(row) for row in rows]


# --- phones ----------------------------------------------------------------------------------

async def save_phone(db: Database, *, extension: str, model: str, token_hash: str,
                     now: datetime) -> None:
    """Register a desk phone, replacing the token of an extension registered before."""
    if model not in PHONE_MODELS:
        raise ValueError(f"unknown phone model {model!r}; allowed: {', '.join(PHONE_MODELS)}")

    async with db.write("save_phone") as connection:
        await connection.execute(
            "INSERT INTO phones (extension, model, token_hash, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (extension) DO UPDATE SET model = excluded.model,"
            " token_hash = excluded.token_hash, created_at = excluded.created_at",
            (extension, model, token_hash, to_db_time(now)),
        )


async def get_phone(db: Database, extension: str) -> Phone | None:
    """Return the registered phone of an extension, or None."""
    row = await db.fetch_one("SELECT extension, model, token_hash FROM phones WHERE extension = ?",
                             (extension,), action="get_phone")

    return None if row is None else Phone(row["extension"], row["model"], row["token_hash"])
