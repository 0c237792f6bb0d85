"""Audited changes to console accounts: each change and its audit row in one transaction.

`callscreen.admin.users` is the only caller, so the CLI and the admin pages write the same
rows. Audit rows name the account and, for a role, the new role; never a password or a
hash. Account rows carry no case, so their audit rows have no case_id.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime
from typing import Any, Literal

import aiosqlite

from callscreen.store.audit import append_entry
from callscreen.store.db import Database, to_db_time
from callscreen.store.reception import ROLES, LastAdminError, UserExistsError

END_SESSIONS_SQL = "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = ?)"


async def _audit(connection: aiosqlite.Connection, *, at: datetime, actor: str, action: str,
                 **detail: Any) -> None:
    await append_entry(connection, at=at, actor=actor, action=action, case_id=None,
                       detail=json.dumps(detail, ensure_ascii=False, sort_keys=True))


async def add_user(db: Database, *, username: str, password_hash: str, role: str, actor: str,
                   now: datetime) -> int:
    """Insert an account and its `user_add` audit row; return the account id.

    Raises UserExistsError, naming the existing account, when a username equal to
    `username` after NFKC normalisation and case folding is taken ("rec" and "Rec" would
    look like one person in the audit log). Raises ValueError for an unknown role.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")

    async with db.write("user_add") as connection:
        # SQLite's lower() folds ASCII only, so the comparison runs here. The table has
        # one row per console account, a few dozen at most.
        async with connection.execute("SELECT username FROM users") as cursor:
            existing = [row[0] for row in await cursor.fetchall()]
        folded = fold_username(username)
        for taken in existing:
            if fold_username(taken) == folded:
                raise UserExistsError(taken)
        cursor = await connection.execute(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
            (username, password_hash, role, to_db_time(now)),
        )
        user_id = int(cursor.lastrowid or 0)
        await _audit(connection, at=now, actor=actor, action="user_add", username=username,
                     role=role)

    return user_id


def fold_username(username: str) -> str:
    """Return the form two usernames are compared in: NFKC-normalised and case-folded."""
    return unicodedata.normalize("NFKC", username).casefold()


async def _check_keeps_an_admin(connection: aiosqlite.Connection, username: str) -> None:
    """Raise LastAdminError when `username` is the only enabled admin account.

    Runs inside the write transaction of the change, so two admins demoting each other at
    once cannot both pass.
    """
    async with connection.execute(
        "SELECT username FROM users WHERE role = 'admin' AND disabled = 0"
    ) as cursor:
        admins = [row[0] for row in await cursor.fetchall()]

    if admins == [username]:
        raise LastAdminError(username)


async def set_password_hash(db: Database, username: str, password_hash: str, *, actor: str,
                            now: datetime) -> bool:
    """Replace the hash, clear the lockout, end the sessions and audit `user_passwd`.

    Returns False, and writes nothing, when no such user exists.
    """
    async with db.write("user_passwd") as connection:
        cursor = await connection.execute(
            "UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL"
            " WHERE username = ?",
            (password_hash, username),
        )
        if cursor.rowcount == 0:
            return False
        await connection.execute(END_SESSIONS_SQL, (username,))
        await _audit(connection, at=now, actor=actor, action="user_passwd", username=username)

    return True


async def set_disabled(db: Database, username: str, disabled: bool, *, actor: str,
                       now: datetime) -> bool:
    """Disable (ending the sessions) or enable an account and audit it.

    The audit action is `user_disable` or `user_enable`. Returns False when no such user
    exists; raises LastAdminError, writing nothing, when disabling the last enabled admin.
    """
    action = "user_disable" if disabled else "user_enable"
    async with db.write(action) as connection:
        if disabled:
            await _check_keeps_an_admin(connection, username)
        cursor = await connection.execute("UPDATE users SET disabled = ? WHERE username = ?",
                                          (int(disabled), username))
        if cursor.rowcount == 0:
            return False
        if disabled:
            await connection.execute(END_SESSIONS_SQL, (username,))
        await _audit(connection, at=now, actor=actor, action=action, username=username)

    return True


async def unlock(db: Database, username: str, *, actor: str,
                 now: datetime) -> Literal["unlocked", "not_locked", "not_found"]:
    """Clear the failed-login count and lockout and audit `user_unlock`.

    Returns "not_found" when no such user exists and "not_locked", writing nothing, when
    the account has no lockout running at `now`.
    """
    async with db.write("user_unlock") as connection:
        async with connection.execute("SELECT locked_until FROM users WHERE username = ?",
                                      (username,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return "not_found"
        if row[0] is None or row[0] <= to_db_time(now):
            return "not_locked"

        await connection.execute(
            "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE username = ?",
            (username,),
        )
        await _audit(connection, at=now, actor=actor, action="user_unlock", username=username)

    return "unlocked"


async def set_role(db: Database, username: str, role: str, *, actor: str,
                   now: datetime) -> bool:
    """Change an account's role, end its sessions and audit `user_role` with the new role.

    Open sessions end so that no page keeps the old role's access. Returns False when no
    such user exists; raises ValueError for an unknown role and LastAdminError, writing
    nothing, when demoting the last enabled admin.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")

    async with db.write("user_role") as connection:
        if role != "admin":
            await _check_keeps_an_admin(connection, username)
        cursor = await connection.execute("UPDATE users SET role = ? WHERE username = ?",
                                          (role, username))
        if cursor.rowcount == 0:
            return False
        await connection.execute(END_SESSIONS_SQL, (username,))
        await _audit(connection, at=now, actor=actor, action="user_role", username=username,
                     role=role)

    return True
