"""Console accounts: hashing, lockout and the demo accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callscreen.reception.accounts import (
    LOCKOUT,
    MAX_FAILED_LOGINS,
    change_password,
    create_user,
    ensure_demo_users,
    login,
)
from callscreen.store.reception import UserExistsError, get_user

PASSWORD = "correct horse battery"


async def test_password_is_stored_as_argon2id_hash(db):
    await create_user(db, "前台", PASSWORD, "reception")

    user = await get_user(db, "前台")

    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_short_password_is_rejected(db):
    with pytest.raises(ValueError, match="password"):
        await create_user(db, "前台", "short", "reception")


async def test_duplicate_username_is_rejected(db):
    await create_user(db, "前台", PASSWORD, "reception")

    with pytest.raises(UserExistsError):
        await create_user(db, "前台", PASSWORD, "admin")


async def test_lockout_ends_after_lockout_period(db):
    await create_user(db, "前台", PASSWORD, "reception")
    now = datetime.now(UTC)
    for _ in range(MAX_FAILED_LOGINS):
        await login(db, "前台", "wrong password", now)

    during = await login(db, "前台", PASSWORD, now + LOCKOUT - timedelta(seconds=1))
    after = await login(db, "前台", PASSWORD, now + LOCKOUT + timedelta(seconds=1))

    assert during.failure == "locked"
    assert after.user is not None


async def test_success_resets_failure_count(db):
    await create_user(db, "前台", PASSWORD, "reception")
    now = datetime.now(UTC)
    for _ in range(MAX_FAILED_LOGINS - 1):
        await login(db, "前台", "wrong password", now)
    await login(db, "前台", PASSWORD, now)

    result = await login(db, "前台", "wrong password", now)

    assert result.failure == "failed"


async def test_password_change_unlocks_account(db):
    await create_user(db, "前台", PASSWORD, "reception")
    now = datetime.now(UTC)
    for _ in range(MAX_FAILED_LOGINS):
        await login(db, "前台", "wrong password", now)

    await change_password(db, "前台", "another long password")
    result = await login(db, "前台", "another long password", now)

    assert result.user is not None


async def test_demo_users_can_log_in(db):
    accounts = await ensure_demo_users(db)

    results = [await login(db, name, password, datetime.now(UTC))
               for name, password, _ in accounts]

    assert ("前台", "reception") in [(name, role) for name, _, role in accounts]
    assert all(result.user is not None for result in results)


async def test_demo_users_get_new_passwords_on_rerun(db):
    first = await ensure_demo_users(db)

    second = await ensure_demo_users(db)
    stale = await login(db, first[0][0], first[0][1], datetime.now(UTC))

    assert [name for name, _, _ in first] == [name for name, _, _ in second]
    assert stale.user is None
