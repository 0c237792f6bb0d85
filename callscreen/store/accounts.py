"""Audited changes to console accounts: each change and its audit row in one transaction.

`callscreen.admin.users` is the only caller, so the CLI and the admin pages write the same
rows. Audit rows name the account and, for a role, the new role; never a password or a
hash. Account rows carry no case, so their audit rows have no case_id.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite

from callscreen.store.audit import append_entry
from callscreen.store.db import Database, to_db_time
from callscreen.store.reception import ROLES, UserExistsError

END_SESSIONS_SQL = "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = ?)"


async def _audit(connection: aiosqlite.Connection, *, at: datetime, actor: str, action: str,
                 **detail: Any) -> None:
    await append_entry(connection, at=at, actor=actor, action=action, case_id=None,
                       detail=json.dumps(detail, ensure_ascii=False, sort_keys=True))


async def add_user(db: Database, *, username: str, password_hash: str, role: str, actor: str,
                   now: datetime) -> int:
    """Insert an account and its `user_add` audit row; return the account id.

    Raises UserExistsError when the username is taken and ValueError for an unknown role.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")

    async with db.write("user_add") as connection:
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
        await _audit(connection, at=now, actor=actor, action="user_add", username=username,
                     role=role)

    return user_id


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
    exists.
    """
    action = "user_disable" if disabled else "user_enable"
    async with db.write(action) as connection:
        cursor = await connection.execute("UPDATE users SET disabled = ? WHERE username = ?",
                                          (int(disabled), username))
        if cursor.rowcount == 0:
            return False
        if disabled:
            await connection.execute(END_SESSIONS_SQL, (username,))
        await _audit(connection, at=now, actor=actor, action=action, username=username)

    return True


async def unlock(db: Database, username: str, *, actor: str, now: datetime) -> bool:
    """Clear the failed-login count and lockout and audit `user_unlock`.

    Returns False when no such user exists.
    """
    async with db.write("user_unlock") as connection:
        cursor = await connection.execute(
            "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE username = ?",
            (username,),
        )
        if cursor.rowcount == 0:
            return False
        await _audit(connection, at=now, actor=actor, action="user_unlock", username=username)

    return True


async def set_role(db: Database, username: str, role: str, *, actor: str,
                   now: datetime) -> bool:
    """Change an account's role, end its sessions and audit `user_role` with the new role.

    Open sessions end so that no page keeps the old role's access. Returns False when no
    such user exists; raises ValueError for an unknown role.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")

    async with db.write("user_role") as connection:
        cursor = await connection.execute("UPDATE users SET role = ? WHERE username = ?",
                                          (role, username))
        if cursor.rowcount == 0:
            return False
        await connection.execute(END_SESSIONS_SQL, (username,))
        await _audit(connection, at=now, actor=actor, action="user_role", username=username,
                     role=role)

    return True
