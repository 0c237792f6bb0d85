"""The rejection log: one `web_request_rejected` line per rejected request, no secrets.

Each case sends a real request to the app on a loopback port and reads what structlog
recorded while it ran.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs
from yarl import URL

from callscreen.config import Config
from callscreen.hub import CallHub
from callscreen.reception.accounts import create_user
from callscreen.web.app import create_app
from callscreen.web.context import WebContext
from callscreen.web.rejections import (
    LIMITER,
    PER_KEY_LIMIT,
    TOTAL_LIMIT,
    WINDOW_S,
    RejectionLimiter,
)

QUERY_TOKEN = "phone-token-3f9a7c"
BODY_MARKER = "body-marker-51e2"
FORGED_TOKEN = "Zm9yZ2VkLXNlc3Npb24tdG9rZW4"
WRONG_CSRF = "wrong-csrf-token-8d1b"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class App:
    """The running app, its base URL and the rejection limiter's clock."""

    app: web.Application
    url: str
    clock: FakeClock

    def client(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(base_url=self.url,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True))


@pytest.fixture
async def running(db, helpers) -> AsyncIterator[App]:
    ctx = WebContext(config=Config(), store=db, hub=CallHub())
    ctx.hub.publish(helpers.make_call())
    await create_user(db, "前台", helpers.password, "reception")
    await create_user(db, "hr1", helpers.password, "hr")
    app = create_app(ctx)
    clock = FakeClock()
    app[LIMITER].clock = clock
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield App(app, f"http://127.0.0.1:{runner.addresses[0][1]}", clock)
    await runner.cleanup()


def rejected(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == "web_request_rejected"]


def session_token(session: aiohttp.ClientSession, base: str) -> str:
    cookie = session.cookie_jar.filter_cookies(URL(base)).get("callscreen_session")
    return cookie.value if cookie is not None else ""


async def test_not_found_logged_at_info_without_query(running: App) -> None:
    async with running.client() as session:
        with capture_logs() as logs:
            async with session.get(f"/no-such-page?token={QUERY_TOKEN}") as response:
                status = response.status

    lines = rejected(logs)
    assert status == 404
    assert len(lines) == 1
    assert lines[0]["log_level"] == "info"
    assert lines[0]["status"] == 404
    assert lines[0]["method"] == "GET"
    assert lines[0]["path"] == "/no-such-page"
    assert lines[0]["reason"] == "not_found"
    assert lines[0]["remote"] == "127.0.0.1"
    assert QUERY_TOKEN not in repr(logs)


async def test_method_not_allowed_logged(running: App, helpers) -> None:
    async with running.client() as session:
        await helpers.login(session)
        csrf = await helpers.console_csrf(session)
        with capture_logs() as logs:
            async with session.post("/console", headers={"X-CSRF-Token": csrf}) as response:
                status = response.status

    lines = rejected(logs)
    assert status == 405
    assert len(lines) == 1
    assert lines[0]["log_level"] == "warning"
    assert lines[0]["reason"] == "method_not_allowed"
    assert lines[0]["username"] == "前台"
    assert csrf not in repr(logs)


async def test_oversized_body_logged(running: App) -> None:
    body = io.BytesIO(f"username={BODY_MARKER}".encode() + b"a" * (2 * 1_048_576))

    async with running.client() as session:
        with capture_logs() as logs:
            async with session.post("/login", data=body, headers={
                    "Content-Type": "application/x-www-form-urlencoded"}) as response:
                status = response.status

    lines = rejected(logs)
    assert status == 413
    assert len(lines) == 1
    assert lines[0]["reason"] == "body_too_large"
    assert lines[0]["path"] == "/login"
    assert BODY_MARKER not in repr(logs)


async def test_unparsable_form_logged(running: App) -> None:
    async with running.client() as session:
        async with session.get("/login") as page:
            await page.read()
        with capture_logs() as logs:
            async with session.post("/login", data=f"username={BODY_MARKER}\xff".encode(
                    "latin-1"), headers={
                    "Content-Type": "application/x-www-form-urlencoded"}) as response:
                status = response.status

    lines = rejected(logs)
    assert status == 400
    assert len(lines) == 1
    assert lines[0]["reason"] == "bad_form"
    assert BODY_MARKER not in repr(logs)


async def test_bad_json_feedback_logged(running: App, helpers) -> None:
    async with running.client() as session:
        await helpers.login(session)
        csrf = await helpers.console_csrf(session)
        with capture_logs() as logs:
            async with session.post("/console/calls/call-1/feedback",
                                    data=f'{{"note": "{BODY_MARKER}'.encode(),
                                    headers={"Content-Type": "application/json",
                                             "X-CSRF-Token": csrf}) as response:
                status = response.status

    lines = rejected(logs)
    assert status == 400
    assert len(lines) == 1
    assert lines[0]["reason"] == "bad_request"
    assert lines[0]["path"] == "/console/calls/call-1/feedback"
    assert lines[0]["username"] == "前台"
    assert BODY_MARKER not in repr(logs)
    assert csrf not in repr(logs)


async def test_missing_csrf_logged(running: App, helpers) -> None:
    async with running.client() as session:
        await helpers.login(session)
        token = session_token(session, running.url)
        with capture_logs() as logs:
            async with session.post("/console/calls/call-1/feedback",
                                    data={"action": "collector"}) as response:
                status = response.status

    lines = rejected(logs)
    assert status == 403
    assert len(lines) == 1
    assert lines[0]["reason"] == "csrf_missing"
    assert lines[0]["username"] == "前台"
    assert token
    assert token not in repr(logs)


async def test_wrong_csrf_logged(running: App, helpers) -> None:
    async with running.client() as session:
        await helpers.login(session)
        with capture_logs() as logs:
            async with session.post("/console/calls/call-1/feedback",
                                    data={"action": "collector", "csrf_token": WRONG_CSRF},
                                    ) as response:
                status = response.status

    lines = rejected(logs)
    assert status == 403
    assert len(lines) == 1
    assert lines[0]["reason"] == "csrf_mismatch"
    assert WRONG_CSRF not in repr(logs)


async def test_wrong_role_logged(running: App, helpers) -> None:
    async with running.client() as session:
        await helpers.login(session, "hr1")
        with capture_logs() as logs:
            async with session.get("/console", allow_redirects=False) as response:
                status = response.status

    lines = rejected(logs)
    assert status == 403
    assert len(lines) == 1
    assert lines[0]["reason"] == "role_not_allowed"
    assert lines[0]["username"] == "hr1"


async def test_anonymous_post_logged(running: App) -> None:
    async with running.client() as session:
        async with session.get("/login") as page:
            await page.read()
        csrf = session.cookie_jar.filter_cookies(URL(running.url))["callscreen_login_csrf"]
        with capture_logs() as logs:
            async with session.post("/console/calls/call-1/feedback",
                                    data={"csrf_token": csrf.value}) as response:
                status = response.status

    lines = rejected(logs)
    assert status == 401
    assert len(lines) == 1
    assert lines[0]["reason"] == "login_required"
    assert lines[0]["username"] == ""
    assert csrf.value not in repr(logs)


@pytest.mark.parametrize("value", [FORGED_TOKEN, "", "A" * 8000])
async def test_forged_session_cookie_logged(running: App, value: str) -> None:
    async with aiohttp.ClientSession(base_url=running.url) as session:
        with capture_logs() as logs:
            async with session.get("/console", allow_redirects=False,
                                   headers={"Cookie": f"callscreen_session={value}"}
                                   ) as response:
                status = response.status

    lines = rejected(logs)
    assert status == 303
    assert len(lines) == 1
    assert lines[0]["log_level"] == "warning"
    assert lines[0]["status"] == 303
    assert lines[0]["reason"] == "session_cookie_invalid"
    assert FORGED_TOKEN not in repr(logs)
    assert "AAAAAAAA" not in repr(logs)


async def test_valid_session_not_logged(running: App, helpers) -> None:
    async with running.client() as session:
        await helpers.login(session)
        with capture_logs() as logs:
            async with session.get("/console") as response:
                status = response.status

    assert status == 200
    assert rejected(logs) == []


async def test_repeats_summarised_after_window(running: App) -> None:
    repeats = PER_KEY_LIMIT + 7

    async with running.client() as session:
        with capture_logs() as logs:
            for _ in range(repeats):
                async with session.get("/scan/admin.php") as response:
                    assert response.status == 404
            running.clock.now += WINDOW_S
            async with session.get("/scan/after-window") as response:
                assert response.status == 404

    lines = rejected(logs)
    summaries = [entry for entry in logs
                 if entry["event"] == "web_request_rejections_suppressed"]
    assert len(lines) == PER_KEY_LIMIT + 1
    assert lines[-1]["path"] == "/scan/after-window"
    assert len(summaries) == 1
    assert summaries[0]["suppressed"] == 7
    assert summaries[0]["by_status"] == {"404": 7}
    assert summaries[0]["remotes"] == 1
    assert logs.index(summaries[0]) < logs.index(lines[-1])


async def test_suppressed_summary_logged_on_shutdown(db) -> None:
    app = create_app(WebContext(config=Config(), store=db, hub=CallHub()))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"

    with capture_logs() as logs:
        async with aiohttp.ClientSession(base_url=url) as session:
            for _ in range(PER_KEY_LIMIT + 2):
                async with session.get("/missing") as response:
                    await response.read()
        await runner.cleanup()

    summaries = [entry for entry in logs
                 if entry["event"] == "web_request_rejections_suppressed"]
    assert len(summaries) == 1
    assert summaries[0]["suppressed"] == 2


def test_limiter_caps_each_remote_and_status() -> None:
    clock = FakeClock()
    limiter = RejectionLimiter(clock=clock)

    admitted = [limiter.admit("10.0.0.1", 404) for _ in range(PER_KEY_LIMIT + 3)]
    other_status = limiter.admit("10.0.0.1", 403)
    other_remote = limiter.admit("10.0.0.2", 404)

    assert admitted == [True] * PER_KEY_LIMIT + [False] * 3
    assert other_status is True
    assert other_remote is True


def test_limiter_caps_all_remotes_together() -> None:
    limiter = RejectionLimiter(clock=FakeClock())

    admitted = [limiter.admit(f"10.0.{n // 250}.{n % 250}", 404) for n in range(TOTAL_LIMIT + 5)]

    assert admitted.count(True) == TOTAL_LIMIT
    assert limiter.suppressed.total() == 5


def test_limiter_new_window_logs_again() -> None:
    clock = FakeClock()
    limiter = RejectionLimiter(clock=clock)
    for _ in range(PER_KEY_LIMIT + 1):
        limiter.admit("10.0.0.1", 404)

    with capture_logs() as logs:
        clock.now += WINDOW_S
        again = limiter.admit("10.0.0.1", 404)

    assert again is True
    assert [entry["event"] for entry in logs] == ["web_request_rejections_suppressed"]
    assert logs[0]["suppressed"] == 1
