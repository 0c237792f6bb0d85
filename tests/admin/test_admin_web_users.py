"""The /admin/users page and `callscreen users`: every change is audited, never a password."""

from __future__ import annotations

import asyncio
import getpass
import re
import sqlite3
from pathlib import Path

import aiohttp

from callscreen.reception.accounts import MAX_FAILED_LOGINS

from .conftest import PASSWORD, AdminSite, audit_rows, login, page_csrf, run_cli

NEW_PASSWORD = "a different passphrase"


def account(store_path: Path, username: str) -> tuple[str, int, int, str | None]:
    with sqlite3.connect(store_path) as connection:
        row = connection.execute(
            "SELECT role, disabled, failed_logins, locked_until FROM users WHERE username = ?",
            (username,)).fetchone()
    return tuple(row)


def assert_no_secrets(store_path: Path, *passwords: str) -> None:
    for actor, action, detail in audit_rows(store_path):
        for password in passwords:
            assert password not in detail, (action, detail)
            assert password not in actor
        assert "$argon2" not in detail, (action, detail)


async def admin_client(site: AdminSite) -> tuple[aiohttp.ClientSession, str]:
    client = site.client()
    await login(client, "管理员")
    return client, await page_csrf(client, "/admin/users")


async def test_users_page_lists_roles_and_states(admin_site: AdminSite) -> None:
    client, _token = await admin_client(admin_site)

    async with client:
        response = await client.get("/admin/users")
        html = await response.text()

    assert response.status == 200
    for username in ("管理员", "admin2", "前台", "hr1"):
        assert f'data-username="{username}"' in html
    assert "人事" in html
    assert "（您）" in html


async def test_users_page_shows_last_login(admin_site: AdminSite) -> None:
    client, _token = await admin_client(admin_site)

    async with client:
        html = await (await client.get("/admin/users")).text()
    listed = await asyncio.to_thread(run_cli, "users", "list", "--config",
                                     admin_site.config_path)

    admin_row = html.split('data-username="管理员"', 1)[1].split("</tr>", 1)[0]
    reception_row = html.split('data-username="前台"', 1)[1].split("</tr>", 1)[0]
    assert "从未登录" not in admin_row
    assert re.search(r'class="last-login">\d{4}-\d{2}-\d{2} \d{2}:\d{2}<', admin_row)
    assert "从未登录" in reception_row
    assert re.search(r"^管理员\tadmin\tactive\t\d{4}-\d{2}-\d{2}T", listed.stdout, re.M)
    assert "前台\treception\tactive\t-" in listed.stdout


async def test_add_user_follows_password_rules(admin_site: AdminSite) -> None:
    client, token = await admin_client(admin_site)

    async with client:
        short = await client.post("/admin/users/add", data={
            "csrf_token": token, "username": "前台2", "role": "reception", "password": "short"})
        short_html = await short.text()
        bad_role = await client.post("/admin/users/add", data={
            "csrf_token": token, "username": "前台2", "role": "root",
            "password": NEW_PASSWORD})
        added = await client.post("/admin/users/add", data={
            "csrf_token": token, "username": "前台2", "role": "reception",
            "password": NEW_PASSWORD})
        taken = await client.post("/admin/users/add", data={
            "csrf_token": token, "username": "前台2", "role": "hr", "password": NEW_PASSWORD})
    async with admin_site.client() as newcomer:
        status = await login(newcomer, "前台2", NEW_PASSWORD)
        console = await newcomer.get("/console", allow_redirects=False)

    assert short.status == 400
    assert "至少 8 个字符" in short_html
    assert bad_role.status == 400
    assert added.status == 200
    assert taken.status == 400
    assert status == 200
    assert console.status == 200
    assert [row[:2] for row in audit_rows(admin_site.store_path)] == [("管理员", "user_add")]
    assert_no_secrets(admin_site.store_path, NEW_PASSWORD, "short")


async def test_reset_password_ends_old_one(admin_site: AdminSite) -> None:
    client, token = await admin_client(admin_site)

    async with client:
        response = await client.post("/admin/users/passwd", data={
            "csrf_token": token, "username": "前台", "password": NEW_PASSWORD})
        too_short = await client.post("/admin/users/passwd", data={
            "csrf_token": token, "username": "前台", "password": "1234567"})
        unknown = await client.post("/admin/users/passwd", data={
            "csrf_token": token, "username": "nobody", "password": NEW_PASSWORD})
    async with admin_site.client() as old, admin_site.client() as new:
        old_status = await login(old, "前台", PASSWORD)
        new_status = await login(new, "前台", NEW_PASSWORD)

    assert response.status == 200
    assert too_short.status == 400
    assert unknown.status == 404
    assert old_status == 401
    assert new_status == 200
    assert [row[:2] for row in audit_rows(admin_site.store_path)] == [
        ("管理员", "user_passwd")]
    assert_no_secrets(admin_site.store_path, NEW_PASSWORD, "1234567")


async def test_disable_and_enable_user(admin_site: AdminSite) -> None:
    async with admin_site.client() as desk:
        await login(desk, "前台")
        client, token = await admin_client(admin_site)
        async with client:
            disabled = await client.post("/admin/users/disable", data={
                "csrf_token": token, "username": "前台"})
            kicked = await desk.get("/console", allow_redirects=False)
            refused = await login(desk, "前台")
            enabled = await client.post("/admin/users/enable", data={
                "csrf_token": token, "username": "前台"})
            allowed = await login(desk, "前台")

    assert disabled.status == 200
    assert kicked.status == 303
    assert refused == 401
    assert enabled.status == 200
    assert allowed == 200
    assert [row[:2] for row in audit_rows(admin_site.store_path)] == [
        ("管理员", "user_disable"), ("管理员", "user_enable")]


async def test_admin_cannot_disable_or_demote_self(admin_site: AdminSite) -> None:
    client, token = await admin_client(admin_site)

    async with client:
        disable = await client.post("/admin/users/disable", data={
            "csrf_token": token, "username": "管理员"})
        disable_html = await disable.text()
        demote = await client.post("/admin/users/role", data={
            "csrf_token": token, "username": "管理员", "role": "reception"})
        still_in = await client.get("/admin")

    assert disable.status == 400
    assert "不能停用自己" in disable_html
    assert demote.status == 400
    assert still_in.status == 200
    assert account(admin_site.store_path, "管理员")[:2] == ("admin", 0)
    assert audit_rows(admin_site.store_path) == []


async def test_unlock_after_failed_logins(admin_site: AdminSite) -> None:
    async with admin_site.client() as desk:
        for _attempt in range(MAX_FAILED_LOGINS):
            await login(desk, "前台", "wrong password")
        locked = await login(desk, "前台")
        client, token = await admin_client(admin_site)
        async with client:
            page = await (await client.get("/admin/users")).text()
            response = await client.post("/admin/users/unlock", data={
                "csrf_token": token, "username": "前台"})
        unlocked = await login(desk, "前台")

    assert locked == 401
    assert "已锁定" in page
    assert response.status == 200
    assert unlocked == 200
    assert [row[:2] for row in audit_rows(admin_site.store_path)] == [
        ("管理员", "user_unlock")]


async def test_change_role_moves_user_to_hr(admin_site: AdminSite) -> None:
    async with admin_site.client() as desk:
        await login(desk, "前台")
        client, token = await admin_client(admin_site)
        async with client:
            response = await client.post("/admin/users/role", data={
                "csrf_token": token, "username": "前台", "role": "hr"})
            bad = await client.post("/admin/users/role", data={
                "csrf_token": token, "username": "前台", "role": "superuser"})
        old_session = await desk.get("/console", allow_redirects=False)
        await login(desk, "前台")
        hr_page = await desk.get("/hr", allow_redirects=False)

    assert response.status == 200
    assert bad.status == 400
    assert old_session.status == 303
    assert hr_page.status == 200
    assert account(admin_site.store_path, "前台")[0] == "hr"
    # Opening /hr as the new hr user appends its own case.list row after the change.
    actor, action, detail = audit_rows(admin_site.store_path)[0]
    assert (actor, action) == ("管理员", "user_role")
    assert '"role": "hr"' in detail


async def test_malformed_user_requests_are_4xx(admin_site: AdminSite) -> None:
    client, token = await admin_client(admin_site)

    async with client:
        unknown_action = await client.post("/admin/users/delete", data={
            "csrf_token": token, "username": "前台"})
        no_username = await client.post("/admin/users/disable", data={"csrf_token": token})
        control_name = await client.post("/admin/users/add", data={
            "csrf_token": token, "username": "bad\x07name", "role": "hr",
            "password": NEW_PASSWORD})
        file_as_name = aiohttp.FormData()
        file_as_name.add_field("csrf_token", token)
        file_as_name.add_field("username", b"x", filename="x.txt")
        file_response = await client.post("/admin/users/disable", data=file_as_name)

    assert unknown_action.status == 404
    assert no_username.status == 400
    assert control_name.status == 400
    assert file_response.status == 400


async def test_cli_changes_are_audited_and_chain_verifies(admin_site: AdminSite) -> None:
    config = admin_site.config_path
    username = "前台"

    def cli(*args: str, stdin: str | None = None):
        return run_cli("users", *args, "--config", config, stdin=stdin)

    def lock_then_unlock():
        # `users unlock` writes an audit row only for an account that is locked.
        with sqlite3.connect(admin_site.store_path) as connection:
            connection.execute("UPDATE users SET locked_until = '2999-01-01T00:00:00.000000Z'"
                               " WHERE username = ?", (username,))
        return cli("unlock", username)

    results = await asyncio.to_thread(lambda: [
        cli("add", "cli-user", "--role", "reception", "--password-stdin",
            stdin=NEW_PASSWORD + "\n"),
        cli("passwd", username, "--password-stdin", stdin=NEW_PASSWORD + "\n"),
        cli("disable", username),
        cli("enable", username),
        lock_then_unlock(),
        cli("role", username, "hr"),
    ])
    listed = await asyncio.to_thread(cli, "list")
    client, token = await admin_client(admin_site)
    async with client:
        await client.post("/admin/users/disable", data={"csrf_token": token,
                                                        "username": "cli-user"})
    verified = await asyncio.to_thread(run_cli, "audit", "verify", "--config", config)

    assert [result.code for result in results] == [0] * 6, [r.stderr for r in results]
    assert f"{username}\thr\tactive" in listed.stdout
    cli_actor = f"cli:{getpass.getuser()}"
    assert [row[:2] for row in audit_rows(admin_site.store_path)] == [
        (cli_actor, "user_add"), (cli_actor, "user_passwd"), (cli_actor, "user_disable"),
        (cli_actor, "user_enable"), (cli_actor, "user_unlock"), (cli_actor, "user_role"),
        ("管理员", "user_disable"),
    ]
    assert_no_secrets(admin_site.store_path, NEW_PASSWORD)
    assert verified.code == 0, verified.stderr


async def test_cli_list_changes_audit_os_user(admin_site: AdminSite) -> None:
    config = admin_site.config_path

    added = await asyncio.to_thread(run_cli, "list", "add", "13912345678", "--list", "block",
                                    "--by", "it-admin", "--config", config)
    removed = await asyncio.to_thread(run_cli, "list", "remove", "13912345678", "--list",
                                      "block", "--config", config)

    assert added.code == 0, added.stderr
    assert removed.code == 0, removed.stderr
    cli_actor = f"cli:{getpass.getuser()}"
    assert [row[:2] for row in audit_rows(admin_site.store_path)] == [
        (cli_actor, "list_add"), (cli_actor, "list_remove")]
    with sqlite3.connect(admin_site.store_path) as connection:
        added_by = connection.execute("SELECT added_by FROM list_entries").fetchone()[0]
    assert added_by == "it-admin"
