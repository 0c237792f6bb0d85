"""Login, sessions, CSRF, roles, lockout, body limit and security headers."""

from __future__ import annotations

import io

import aiohttp

from callscreen.config import Config
from callscreen.config.model import WebConfig
from callscreen.hub import CallHub
from callscreen.reception.accounts import MAX_FAILED_LOGINS, create_user
from callscreen.web.context import WebContext


async def test_login_sets_strict_httponly_session_cookie(server, helpers):
    async with server.client() as client:

        response = await helpers.login(client)

        cookie = response.history[0].headers.getall("Set-Cookie")
    session_cookie = next(c for c in cookie if c.startswith("callscreen_session="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=Strict" in session_cookie
    assert "Secure" not in session_cookie
    assert str(response.url).endswith("/console")


async def test_secure_cookies_setting_marks_session_cookie_secure(db, helpers):
    config = Config(web=WebConfig(secure_cookies=True))
    ctx = WebContext(config=config, store=db, hub=CallHub())
    await create_user(db, "前台", helpers.password, "reception")
    runner, url = await helpers.start_server(ctx)
    try:
        async with aiohttp.ClientSession(base_url=url,
                                         cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:

            async with client.get("/login") as page:
                html = await page.text()
            token = html.split('name="csrf_token" value="')[1].split('"')[0]
            form = {"csrf_token": token, "username": "前台", "password": helpers.password}
            # A browser would not send a Secure cookie over plain http, so the test does.
            cookie = {"Cookie": f"callscreen_login_csrf={token}"}
            async with client.post("/login", data=form, headers=cookie,
                                   allow_redirects=False) as response:
                cookies = response.headers.getall("Set-Cookie")
    finally:
        await runner.cleanup()

    session_cookie = next(c for c in cookies if c.startswith("callscreen_session="))
    assert "Secure" in session_cookie


async def test_wrong_password_is_rejected(server, helpers):
    async with server.client() as client:

        response = await helpers.login(client, password="wrong password")

        body = await response.text()
    assert response.status == 401
    assert "用户名或密码错误" in body


async def test_unknown_user_gets_same_message_as_wrong_password(server, helpers):
    async with server.client() as client:

        response = await helpers.login(client, username="nobody")

        body = await response.text()
    assert response.status == 401
    assert "用户名或密码错误" in body


async def test_account_locks_after_repeated_failures(server, helpers):
    async with server.client() as client:
        for _ in range(MAX_FAILED_LOGINS):
            await helpers.login(client, password="wrong password")

        response = await helpers.login(client)

        body = await response.text()
    assert response.status == 401
    assert "锁定" in body


async def test_login_without_csrf_token_is_forbidden(server):
    form = {"username": "前台", "password": "x"}

    async with server.client() as client, client.post("/login", data=form) as response:
        status = response.status

    assert status == 403


async def test_console_redirects_anonymous_visitor_to_login(server):
    async with server.client() as client, \
            client.get("/console", allow_redirects=False) as response:
        location = response.headers["Location"]

    assert response.status == 303
    assert location.startswith("/login")


async def test_hr_role_cannot_open_console(server, helpers):
    async with server.client() as client:
        await helpers.login(client, username="hr1")

        async with client.get("/console", allow_redirects=False) as response:
            status = response.status

    assert status == 403


async def test_console_events_need_login(server):
    async with server.client() as client, \
            client.get("/console/events", allow_redirects=False) as response:
        status = response.status

    assert status == 303


async def test_logout_ends_session(server, helpers):
    async with server.client() as client:
        await helpers.login(client)
        csrf = await helpers.console_csrf(client)

        async with client.post("/logout", data={"csrf_token": csrf}) as response:
            await response.read()
        async with client.get("/console", allow_redirects=False) as after:
            status = after.status

    assert status == 303


async def test_pages_carry_security_headers(server):
    async with server.client() as client, client.get("/login") as response:
        headers = response.headers

    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"


async def test_pages_contain_no_inline_script(server, helpers):
    async with server.client() as client:
        await helpers.login(client)

        async with client.get("/console") as response:
            html = await response.text()

    assert "<script>" not in html
    assert '<script src="/static/console.js"></script>' in html


async def test_oversized_body_is_rejected(server, helpers):
    async with server.client() as client:
        await helpers.login(client)
        csrf = await helpers.console_csrf(client)
        server.ctx.hub.publish(helpers.make_call())
        body = b"action=collector&note=" + b"x" * server.ctx.config.web.max_body_bytes
        headers = {"X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded"}

        async with client.post("/console/calls/call-1/feedback", headers=headers,
                               data=io.BytesIO(body)) as response:
            status = response.status

    assert status == 413


async def test_language_switch_renders_english(server, helpers):
    async with server.client() as client:
        await helpers.login(client)

        async with client.get("/lang/en?next=/console") as response:
            html = await response.text()

    assert "Reception call console" in html


async def test_language_switch_ignores_offsite_next(server):
    async with server.client() as client, \
            client.get("/lang/en?next=//evil.example/", allow_redirects=False) as response:
        location = response.headers["Location"]

    assert location == "/console"
