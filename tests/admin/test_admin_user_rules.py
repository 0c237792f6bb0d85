"""Account rules shared by `callscreen users` and /admin/users: names, last admin, unlock."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiohttp

from .conftest import AdminSite, audit_rows, login, page_csrf, run_cli

NEW_PASSWORD = "a different passphrase"


def usernames(store_path: Path) -> list[str]:
    with sqlite3.connect(store_path) as connection:
        rows = connection.execute("SELECT username FROM users ORDER BY username").fetchall()
    return [row[0] for row in rows]


def account_state(store_path: Path, username: str) -> tuple[str, int]:
    with sqlite3.connect(store_path) as connection:
        row = connection.execute("SELECT role, disabled FROM users WHERE username = ?",
                                 (username,)).fetchone()
    return tuple(row)


async def admin_client(site: AdminSite) -> tuple[aiohttp.ClientSession, str]:
    client = site.client()
    await login(client, "管理员")
    return client, await page_csrf(client, "/admin/users")


async def test_cli_rejects_actor_like_usernames(admin_site: AdminSite) -> None:
    before = usernames(admin_site.store_path)

    results = {
        name: await asyncio.to_thread(
            run_cli, "users", "add", name, "--role", "admin", "--password-stdin",
            "--config", admin_site.config_path, stdin=NEW_PASSWORD + "\n")
        for name in ("cli:root", "hr1@web", "a/b", "x<y>")
    }

    for name, result in results.items():
        assert result.code == 1, (name, result.stdout)
        assert "不能包含这些字符" in result.stderr, (name, result.stderr)
        assert "must not contain" in result.stderr, (name, result.stderr)
    assert usernames(admin_site.store_path) == before
    assert audit_rows(admin_site.store_path) == []


async def test_web_rejects_actor_like_usernames(admin_site: AdminSite) -> None:
    client, token = await admin_client(admin_site)

    async with client:
        response = await client.post("/admin/users/add", data={
            "csrf_token": token, "username": "cli:root", "role": "admin",
            "password": NEW_PASSWORD})
        html = await response.text()

    assert response.status == 400
    assert "不能包含这些字符" in html
    assert "cli:root" not in usernames(admin_site.store_path)
    assert audit_rows(admin_site.store_path) == []


async def test_existing_odd_username_still_logs_in(admin_site: AdminSite) -> None:
    # An account created before the character rule keeps working.
    with sqlite3.connect(admin_site.store_path) as connection:
        connection.execute("UPDATE users SET username = 'old@name' WHERE username = 'hr1'")

    async with admin_site.client() as client:
        status = await login(client, "old@name")

    assert status == 200


async def test_usernames_differing_in_case_rejected(admin_site: AdminSite) -> None:
    cli = await asyncio.to_thread(
        run_cli, "users", "add", "HR1", "--role", "hr", "--password-stdin",
        "--config", admin_site.config_path, stdin=NEW_PASSWORD + "\n")
    client, token = await admin_client(admin_site)
    async with client:
        web = await client.post("/admin/users/add", data={
            "csrf_token": token, "username": "Admin2", "role": "reception",
            "password": NEW_PASSWORD})
        html = await web.text()

    assert cli.code == 1
    assert "hr1" in cli.stderr
    assert "仅大小写不同" in cli.stderr
    assert web.status == 400
    assert "admin2" in html
    assert "HR1" not in usernames(admin_site.store_path)
    assert "Admin2" not in usernames(admin_site.store_path)
    assert audit_rows(admin_site.store_path) == []


async def test_cli_keeps_last_enabled_admin(admin_site: AdminSite) -> None:
    config = admin_site.config_path

    def cli(*args: str):
        return run_cli("users", *args, "--config", config)

    disabled_other = await asyncio.to_thread(cli, "disable", "admin2")
    demote = await asyncio.to_thread(cli, "role", "管理员", "hr")
    disable = await asyncio.to_thread(cli, "disable", "管理员")
    re_enabled = await asyncio.to_thread(cli, "enable", "admin2")
    demote_now = await asyncio.to_thread(cli, "role", "管理员", "hr")

    assert disabled_other.code == 0, disabled_other.stderr
    assert demote.code == 1
    assert "最后一个启用的管理员" in demote.stderr
    assert "last enabled admin" in demote.stderr
    assert disable.code == 1
    assert "最后一个启用的管理员" in disable.stderr
    assert re_enabled.code == 0, re_enabled.stderr
    assert demote_now.code == 0, demote_now.stderr
    assert account_state(admin_site.store_path, "管理员") == ("hr", 0)
    assert [row[1] for row in audit_rows(admin_site.store_path)] == [
        "user_disable", "user_enable", "user_role"]


async def test_unlock_of_unlocked_account(admin_site: AdminSite) -> None:
    cli = await asyncio.to_thread(run_cli, "users", "unlock", "前台", "--config",
                                  admin_site.config_path)
    client, token = await admin_client(admin_site)
    async with client:
        web = await client.post("/admin/users/unlock", data={
            "csrf_token": token, "username": "前台"})
        html = await web.text()

    assert cli.code == 0, cli.stderr
    assert "未被锁定" in cli.stdout
    assert "is not locked" in cli.stdout
    assert "已解除" not in cli.stdout
    assert web.status == 200
    assert "未被锁定" in html
    assert audit_rows(admin_site.store_path) == []
