"""Admin pages on the daemon's own console over loopback: roles, CSRF, health and reload."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import pytest
from yarl import URL

from .conftest import (
    WEB_ON_LOOPBACK,
    AdminSite,
    ConfigWriter,
    audit_rows,
    login,
    page_csrf,
    run_cli,
)

ADMIN_PAGES = ("/admin", "/admin/lists", "/admin/users", "/admin/lists.csv")
# A virtual-operator number: allowed at flag_threshold 40, flagged at 20.
VIRTUAL = "17012345678"


async def verdict(site: AdminSite, caller: str) -> str:
    assert site.daemon.screener is not None
    screened = await site.daemon.screener.screen(caller)
    return screened.decision.verdict.value


@pytest.mark.parametrize("path", ADMIN_PAGES)
async def test_anonymous_is_sent_to_login(admin_site: AdminSite, path: str) -> None:
    async with admin_site.client() as client:
        response = await client.get(path, allow_redirects=False)

    location = URL(response.headers["Location"])
    assert response.status == 303
    assert location.path == "/login"
    assert location.query["next"] == path


@pytest.mark.parametrize("username", ["前台", "hr1"])
async def test_other_roles_get_403(admin_site: AdminSite, username: str) -> None:
    async with admin_site.client() as client:
        await login(client, username)
        statuses = [(await client.get(path, allow_redirects=False)).status
                    for path in ADMIN_PAGES]
        # NOTE: no hr page carries a form, so hr posts without a token and the CSRF check
        # rejects that POST. The GETs above are what test hr's role.
        token = await page_csrf(client, "/console") if username == "前台" else ""
        posted = await client.post("/admin/reload", data={"csrf_token": token},
                                    allow_redirects=False)

    assert statuses == [403, 403, 403, 403]
    assert posted.status == 403


async def test_post_without_csrf_is_rejected(admin_site: AdminSite) -> None:
    async with admin_site.client() as client:
        await login(client, "管理员")
        missing = await client.post("/admin/lists/add", data={
            "list": "block", "match": "exact", "number": "13912345678"})
        wrong = await client.post("/admin/users/add", data={
            "csrf_token": "not-the-token", "username": "x1", "role": "hr",
            "password": "long enough pw"})
        reload = await client.post("/admin/reload")

    assert missing.status == 403
    assert wrong.status == 403
    assert reload.status == 403
    assert audit_rows(admin_site.store_path) == []


async def test_health_page_shows_status_lines(admin_site: AdminSite) -> None:
    async with admin_site.client() as client:
        await login(client, "管理员")
        response = await client.get("/admin")
        html = await response.text()

    assert response.status == 200
    assert "AMI：未连接（重连 0 次" in html
    assert "FastAGI：正在监听 127.0.0.1:" in html
    assert "待发送通知" in html
    assert "配置重载：启动后未重载" in html
    assert "重新加载配置" in html


async def test_health_page_in_english(admin_site: AdminSite) -> None:
    async with admin_site.client() as client:
        await login(client, "管理员")
        await client.get("/lang/en?next=/admin")
        html = await (await client.get("/admin")).text()

    assert "FastAGI: listening on 127.0.0.1:" in html
    assert "Reload config" in html


async def test_reload_button_applies_valid_config(admin_site: AdminSite,
                                                  write_config: ConfigWriter) -> None:
    before = await verdict(admin_site, VIRTUAL)
    write_config(rules="flag_threshold = 20", extra=WEB_ON_LOOPBACK)

    async with admin_site.client() as client:
        await login(client, "管理员")
        token = await page_csrf(client)
        response = await client.post("/admin/reload", data={"csrf_token": token})
        html = await response.text()

    assert response.status == 200
    assert "配置已重新加载" in html
    assert "成功" in html
    assert before == "allow"
    assert await verdict(admin_site, VIRTUAL) == "flag"


async def test_broken_config_reload_shows_error(admin_site: AdminSite,
                                                write_config: ConfigWriter) -> None:
    write_config(rules="flag_threshold = 0", extra=WEB_ON_LOOPBACK)

    async with admin_site.client() as client:
        await login(client, "管理员")
        token = await page_csrf(client)
        response = await client.post("/admin/reload", data={"csrf_token": token})
        html = await response.text()
        later = await (await client.get("/admin")).text()

    assert response.status == 422
    assert "配置无效，未重新加载" in html
    assert "flag_threshold" in html
    assert "仍在使用原规则" in later
    assert "flag_threshold" in later
    assert admin_site.daemon.config.rules.flag_threshold == 40
    assert await verdict(admin_site, VIRTUAL) == "allow"


async def test_reload_error_stays_until_good_reload(admin_site: AdminSite,
                                                    write_config: ConfigWriter) -> None:
    health = f"{admin_site.url}/healthz"
    write_config(rules="flag_threshold = 0", extra=WEB_ON_LOOPBACK)
    async with admin_site.client() as client:
        await login(client, "管理员")
        token = await page_csrf(client)
        await client.post("/admin/reload", data={"csrf_token": token})

        broken = await asyncio.to_thread(run_cli, "status", "--url", health)
        write_config(rules="flag_threshold = 40", extra=WEB_ON_LOOPBACK)
        await client.post("/admin/reload", data={"csrf_token": token})
        html = await (await client.get("/admin")).text()
        fixed = await asyncio.to_thread(run_cli, "status", "--url", health)

    assert broken.code == 1
    assert "flag_threshold" in broken.stdout
    assert fixed.code == 0, fixed.stdout
    assert "flag_threshold" not in fixed.stdout
    assert "flag_threshold" not in html
    assert "成功" in html


async def test_console_shows_admin_link_to_admins_only(admin_site: AdminSite) -> None:
    async with admin_site.client() as admin, admin_site.client() as desk:
        await login(admin, "管理员")
        await login(desk, "前台")
        admin_html = await (await admin.get("/console")).text()
        desk_html = await (await desk.get("/console")).text()

    assert 'href="/admin"' in admin_html
    assert "管理" in admin_html
    assert 'href="/admin"' not in desk_html


async def test_oversized_upload_gets_413(admin_site: AdminSite) -> None:
    limit = admin_site.daemon.config.web.max_body_bytes
    async with admin_site.client() as client:
        await login(client, "管理员")
        token = await page_csrf(client, "/admin/lists")
        form = aiohttp.FormData()
        form.add_field("csrf_token", token)
        form.add_field("file", io.BytesIO(b"13912345678\n" * (limit // 12 + 10)),
                       filename="big.csv", content_type="text/csv")
        response = await client.post("/admin/lists/import", data=form)
        text = await response.text()

    assert response.status == 413
    assert str(limit) in text
    assert "max_body_bytes" in text
    assert audit_rows(admin_site.store_path) == []
