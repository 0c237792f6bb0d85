"""Login: locked accounts look like wrong passwords, the per-address limit, log fields,
where each role lands, and the language link."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from structlog.testing import capture_logs

from callscreen.i18n import t
from callscreen.reception.accounts import MAX_FAILED_LOGINS, create_user
from callscreen.web.login_throttle import MAX_FAILURES, WINDOW_S, LoginThrottle

WRONG_MESSAGE = "用户名或密码错误"
LOCKED_MESSAGE = "锁定"
LANGUAGE_LINK = re.compile(r'<p class="lang"><a href="([^"]+)">')


async def test_locked_account_with_wrong_password_looks_unknown(server, helpers):
    async with server.client() as client:
        answers = []
        for _ in range(MAX_FAILED_LOGINS + 2):
            response = await helpers.login(client, password="wrong password")
            answers.append((response.status, await response.text()))
        unknown = await helpers.login(client, username="nobody", password="wrong password")
        unknown_body = await unknown.text()

    for status, body in answers:
        assert status == 401
        assert WRONG_MESSAGE in body
        assert LOCKED_MESSAGE not in body
    assert unknown.status == 401
    assert WRONG_MESSAGE in unknown_body


async def test_locked_account_with_right_password_says_locked(server, helpers):
    async with server.client() as client:
        for _ in range(MAX_FAILED_LOGINS):
            await helpers.login(client, password="wrong password")

        response = await helpers.login(client)
        body = await response.text()

    assert response.status == 401
    assert LOCKED_MESSAGE in body


async def test_login_failures_limited_per_address(server, helpers):
    async with server.client() as client:
        for attempt in range(MAX_FAILURES):
            failed = await helpers.login(client, username=f"guess{attempt}", password="x" * 8)
            assert failed.status == 401

        # A real account and its right password are rejected too while the limit holds.
        throttled = await helpers.login(client)
        body = await throttled.text()
        retry_after = throttled.headers.get("Retry-After", "")

    assert throttled.status == 429
    assert t("auth.throttled", "zh-CN", minutes=int(WINDOW_S // 60)) in body
    assert retry_after.isdigit()
    assert 0 < int(retry_after) <= WINDOW_S


async def test_login_limit_counts_no_successes(server, helpers):
    for _ in range(3):
        async with server.client() as client:
            response = await helpers.login(client)
        assert response.url.path == "/console"

    async with server.client() as client:
        for attempt in range(MAX_FAILURES - 1):
            await helpers.login(client, username=f"guess{attempt}", password="x" * 8)
        response = await helpers.login(client)

    assert response.status == 200
    assert response.url.path == "/console"


def test_login_throttle_forgets_old_failures():
    now = [1000.0]
    throttle = LoginThrottle(max_failures=2, window_s=60.0, clock=lambda: now[0])

    throttle.record_failure("192.0.2.1")
    now[0] += 30.0
    throttle.record_failure("192.0.2.1")
    blocked = throttle.retry_after("192.0.2.1")
    other = throttle.retry_after("192.0.2.2")
    now[0] += 31.0
    after_oldest = throttle.retry_after("192.0.2.1")

    assert blocked == 30
    assert other == 0
    assert after_oldest == 0


def test_login_throttle_memory_bounded():
    throttle = LoginThrottle(max_failures=3, max_remotes=100)

    for number in range(1000):
        for _ in range(5):
            throttle.record_failure(f"10.0.{number // 256}.{number % 256}")

    assert len(throttle._failures) == 100
    assert max(len(times) for times in throttle._failures.values()) == 3
    assert throttle.retry_after("10.0.3.231") > 0
    assert throttle.retry_after("10.0.0.0") == 0


async def test_login_failure_log_names_remote_and_user(server, helpers):
    async with server.client() as client:
        with capture_logs() as logs:
            await helpers.login(client, password="wrong password")
            await helpers.login(client, username="hunter2-typed-here", password="x" * 8)

    failures = [entry for entry in logs if entry["event"] == "login_failed"]
    assert len(failures) == 2
    known, unknown = failures
    assert known["remote"] == "127.0.0.1"
    assert isinstance(known["user_id"], int)
    assert known["username"] == "前台"
    assert unknown["remote"] == "127.0.0.1"
    assert unknown["user_id"] is None
    assert "hunter2-typed-here" not in repr(unknown)
    assert all("wrong password" not in repr(entry) for entry in logs)


async def test_each_role_lands_on_its_home(server, helpers, db):
    await create_user(db, "boss", helpers.password, "admin")

    landed = {}
    root = {}
    for username in ("前台", "hr1", "boss"):
        async with server.client() as client:
            response = await helpers.login(client, username=username)
            landed[username] = response.url.path
            async with client.get("/") as home:
                root[username] = home.url.path

    assert landed == {"前台": "/console", "hr1": "/hr", "boss": "/console"}
    assert root == landed


async def test_login_next_wins_over_home(server, helpers):
    async with server.client() as client:
        async with client.get("/hr/knowledge") as sent_to_login:
            login_url = sent_to_login.url
        csrf = await _login_csrf(client, str(login_url.relative()))
        form = {"csrf_token": csrf, "username": "hr1", "password": helpers.password,
                "next": login_url.query["next"]}
        async with client.post("/login", data=form, allow_redirects=False) as response:
            location = response.headers["Location"]

    assert login_url.path == "/login"
    assert location == "/hr/knowledge"


async def test_login_redirect_keeps_query_string(server):
    async with server.client() as client, \
            client.get("/hr/knowledge?q=上门&page=2", allow_redirects=False) as response:
        location = urlsplit(response.headers["Location"])
    next_url = urlsplit(parse_qs(location.query)["next"][0])

    assert response.status == 303
    assert location.path == "/login"
    assert next_url.path == "/hr/knowledge"
    assert parse_qs(next_url.query) == {"q": ["上门"], "page": ["2"]}


async def test_login_offsite_next_goes_home(server, helpers):
    async with server.client() as client:
        csrf = await _login_csrf(client, "/login")
        form = {"csrf_token": csrf, "username": "hr1", "password": helpers.password,
                "next": "//evil.example/"}
        async with client.post("/login", data=form, allow_redirects=False) as response:
            location = response.headers["Location"]

    assert location == "/hr"


async def test_language_link_keeps_next(server):
    async with server.client() as client:
        async with client.get("/login", params={"next": "/hr/cases/7?x=1&y=2"}) as page:
            link = LANGUAGE_LINK.search(await page.text())
        assert link is not None
        href = link.group(1).replace("&amp;", "&")
        async with client.get(href, allow_redirects=False) as switched:
            location = switched.headers["Location"]
        async with client.get(location) as english:
            english_html = await english.text()

    assert urlsplit(href).path == "/lang/en"
    assert parse_qs(urlsplit(location).query) == {"next": ["/hr/cases/7?x=1&y=2"]}
    assert urlsplit(location).path == "/login"
    assert 'name="next" value="/hr/cases/7?x=1&amp;y=2"' in english_html
    assert "Log in" in english_html


async def test_language_link_drops_offsite_next(server):
    async with server.client() as client, \
            client.get("/login", params={"next": "//evil.example/"}) as page:
        link = LANGUAGE_LINK.search(await page.text())

    assert link is not None
    assert link.group(1) == "/lang/en?next=/login"


async def _login_csrf(client, path: str) -> str:
    async with client.get(path) as page:
        match = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert match is not None
    return match.group(1)
