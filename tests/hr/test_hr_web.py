"""HR pages over a real loopback server: role checks, step-up unlock, audit, CSV download."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from callscreen.cases import actions
from callscreen.cases.actions import Actor
from callscreen.cases.retention import ANONYMISED_MARKER, anonymise_closed_cases
from callscreen.cases.service import HrContext, on_call_recorded
from callscreen.hub import CallHub
from callscreen.i18n import t
from callscreen.reception.accounts import MAX_FAILED_LOGINS, create_user
from callscreen.web.app import create_app
from callscreen.web.context import WebContext
from callscreen.web.hr import setup_hr_routes

from .conftest import NOW, add_call

PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def server(store, config) -> AsyncIterator[str]:
    await create_user(store.db, "hr.li", PASSWORD, "hr")
    await create_user(store.db, "desk", PASSWORD, "reception")
    ctx = HrContext(config=config, store=store, clock=lambda: NOW + timedelta(hours=4))
    for index in range(6):
        await add_call(store, f"w{index}", started_at=NOW + timedelta(minutes=index),
                       caller=f"+86170123{index:05d}", transferred_to="8101")
        await on_call_recorded(ctx, f"w{index}")

    app = create_app(WebContext(config=config, store=store.db, hub=CallHub()))
    setup_hr_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def _login(url: str, username: str) -> tuple[aiohttp.ClientSession, str]:
    client = aiohttp.ClientSession(base_url=url, cookie_jar=aiohttp.CookieJar(unsafe=True))
    page = await (await client.get("/login")).text()
    token = CSRF_INPUT.search(page).group(1)
    await client.post("/login", data={"username": username, "password": PASSWORD,
                                      "csrf_token": token})
    listing = await (await client.get("/hr/cases/1")).text()
    match = CSRF_INPUT.search(listing)
    return client, match.group(1) if match else ""


def _audit(store) -> list[tuple[str, str, str]]:
    with sqlite3.connect(store.db.path) as connection:
        return connection.execute(
            "SELECT actor, action, reason FROM audit_log ORDER BY id").fetchall()


async def test_reception_login_is_refused_and_audited(server, store):
    client, _token = await _login(server, "desk")

    async with client:
        response = await client.get("/hr/cases/1", allow_redirects=False)

    assert response.status == 403
    assert ("desk@web", "access.denied", "") in _audit(store)


async def test_hr_login_sees_case_list(server):
    client, _token = await _login(server, "hr.li")

    async with client:
        page = await (await client.get("/hr")).text()

    assert "HR-2026-0001" in page


async def test_detail_needs_reason_and_password(server):
    client, _token = await _login(server, "hr.li")

    async with client:
        page = await (await client.get("/hr/cases/1")).text()

    assert 'name="password"' in page
    assert "张伟" not in page


async def test_wrong_password_keeps_case_closed(server, store):
    client, token = await _login(server, "hr.li")

    async with client:
        response = await client.post("/hr/cases/1/unlock", data={
            "reason": "员工求助", "password": "wrong", "csrf_token": token})
        page = await response.text()

    assert response.status == 403
    assert "张伟" not in page
    assert ("hr.li@web", "case.step_up_failed", "员工求助") in _audit(store)


async def test_unlock_shows_case_and_audits_reason(server, store):
    client, token = await _login(server, "hr.li")

    async with client:
        response = await client.post("/hr/cases/1/unlock", data={
            "reason": "员工求助", "password": PASSWORD, "csrf_token": token})
        page = await response.text()

    assert response.status == 200
    assert "张伟" in page
    assert "HR-2026-0001" in page
    assert ("hr.li@web", "case.read", "员工求助") in _audit(store)


async def test_note_after_unlock_lands_on_timeline(server, store):
    client, token = await _login(server, "hr.li")

    async with client:
        await client.post("/hr/cases/1/unlock", data={
            "reason": "跟进", "password": PASSWORD, "csrf_token": token})
        await client.post("/hr/cases/1/note", data={"text": "已约谈，提供理财咨询",
                                                     "csrf_token": token})
        page = await (await client.get("/hr/cases/1")).text()

    assert "已约谈，提供理财咨询" in page
    assert ("hr.li@web", "case.note", "") in _audit(store)


async def test_attendance_download_has_bom(server):
    client, _token = await _login(server, "hr.li")

    async with client:
        response = await client.get("/hr/attendance.csv", params={"month": "2026-12"})
        data = await response.read()

    assert response.status == 200
    assert data.startswith(b"\xef\xbb\xbf\xe5\xb7\xa5\xe5\x8f\xb7")  # BOM + "工号"


async def _anonymise_case_one(store) -> None:
    hr = Actor(username="hr.li", via="cli")
    await actions.add_note(store, hr, 1, "张伟说欠款来自网贷")
    await actions.close_case(store, hr, 1, summary="张伟已还清", approach="与张伟面谈")
    changed = await anonymise_closed_cases(store, closed_before=datetime.now(UTC)
                                           + timedelta(seconds=1), actor="it-admin")
    assert changed == 1


async def test_anonymised_case_page_renders(server, store):
    await _anonymise_case_one(store)
    client, token = await _login(server, "hr.li")

    async with client:
        listing = await (await client.get("/hr")).text()
        response = await client.post("/hr/cases/1/unlock", data={
            "reason": "年度统计", "password": PASSWORD, "csrf_token": token})
        page = await response.text()

    assert response.status == 200
    assert "张伟" not in page
    assert "E1001" not in page
    assert "员工#1" in page
    assert ANONYMISED_MARKER in page
    assert t("hr.anonymised_short", "zh-CN") in listing


async def test_anonymised_case_rejects_note(server, store):
    await _anonymise_case_one(store)
    client, token = await _login(server, "hr.li")

    async with client:
        await client.post("/hr/cases/1/unlock", data={
            "reason": "年度统计", "password": PASSWORD, "csrf_token": token})
        response = await client.post("/hr/cases/1/note", data={
            "text": "张伟又来电", "csrf_token": token}, allow_redirects=False)

    assert response.status == 400
    with sqlite3.connect(store.db.path) as connection:
        bodies = connection.execute("SELECT body_json FROM case_events").fetchall()
    assert not any("张伟" in body for (body,) in bodies)


def _lock_state(store, username: str) -> tuple[int, str | None]:
    with sqlite3.connect(store.db.path) as connection:
        return connection.execute("SELECT failed_logins, locked_until FROM users"
                                  " WHERE username = ?", (username,)).fetchone()


async def _step_up(client, token: str, password: str) -> tuple[int, str]:
    response = await client.post("/hr/cases/1/unlock", data={
        "reason": "跟进", "password": password, "csrf_token": token})
    return response.status, await response.text()


async def test_failed_step_ups_lock_account(server, store):
    client, token = await _login(server, "hr.li")

    async with client:
        for _attempt in range(MAX_FAILED_LOGINS - 1):
            status, page = await _step_up(client, token, "wrong")
            assert status == 403
            assert t("hr.step_up_failed", "zh-CN") in page
        status, page = await _step_up(client, token, "wrong")
        locked_status, locked_page = await _step_up(client, token, PASSWORD)

    assert status == 403
    assert t("auth.locked", "zh-CN") in page
    assert locked_status == 403
    assert "张伟" not in locked_page
    failures, locked_until = _lock_state(store, "hr.li")
    assert failures == MAX_FAILED_LOGINS
    assert locked_until is not None


async def test_step_up_failures_add_to_login_failures(server, store):
    async with aiohttp.ClientSession(base_url=server,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as stranger:
        page = await (await stranger.get("/login")).text()
        login_token = CSRF_INPUT.search(page).group(1)
        for _attempt in range(2):
            await stranger.post("/login", data={"username": "hr.li", "password": "wrong",
                                                "csrf_token": login_token})
    assert _lock_state(store, "hr.li") == (2, None)
    client, token = await _login(server, "hr.li")
    assert _lock_state(store, "hr.li") == (0, None)

    async with client:
        for _attempt in range(MAX_FAILED_LOGINS - 1):
            await _step_up(client, token, "wrong")
        assert _lock_state(store, "hr.li")[0] == MAX_FAILED_LOGINS - 1
        status, page = await _step_up(client, token, PASSWORD)

    assert status == 200
    assert "张伟" in page
    assert _lock_state(store, "hr.li") == (0, None)


async def test_locked_account_cannot_log_in_after_step_ups(server, store):
    client, token = await _login(server, "hr.li")
    async with client:
        for _attempt in range(MAX_FAILED_LOGINS):
            await _step_up(client, token, "wrong")

    async with aiohttp.ClientSession(base_url=server,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        page = await (await other.get("/login")).text()
        login_token = CSRF_INPUT.search(page).group(1)
        response = await other.post("/login", data={
            "username": "hr.li", "password": PASSWORD, "csrf_token": login_token})
        text = await response.text()

    assert response.status == 401
    assert t("auth.locked", "zh-CN") in text
    audited = [row for row in _audit(store) if row[1] == "case.step_up_failed"]
    assert len(audited) == MAX_FAILED_LOGINS
