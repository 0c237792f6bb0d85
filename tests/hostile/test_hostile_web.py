"""Hostile requests to the web console: each gets the right 4xx (never a 5xx) or a close.

Requests that an HTTP client library would repair (dot segments, encoded slashes) are
sent over a raw socket. The observed column of the report says what was logged.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from structlog.testing import capture_logs

from callscreen.pbx.fake import FakeAsterisk, FakeCall

from .conftest import Running, client, login, raw_http_status, rejection_lines

ONE_MEGABYTE = 1_048_576


def _logged(logs: list[dict[str, Any]]) -> str:
    events = [str(entry["event"]) for entry in logs if entry["log_level"] != "debug"]
    return ", ".join(events) or "nothing"

# (fault, raw request path) for the static route and the other path parameters.
TRAVERSALS = {
    "static_dotdot": ("静态文件 ../ 穿越 / static path with ../",
                      "/static/../../../../etc/passwd"),
    "static_encoded": ("静态文件 %2e%2e 编码穿越 / static path with %2e%2e",
                       "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),
    "static_encoded_slash": ("静态文件 ..%2f 穿越 / static path with ..%2f",
                             "/static/..%2f..%2f..%2fetc%2fpasswd"),
    "static_source": ("静态路径读取源码 / static path to the package source",
                      "/static/../app.py"),
    "phone_extension": ("话机分机名穿越 / phone extension ../../etc/passwd",
                        "/phone/yealink/..%2f..%2fetc%2fpasswd"),
    "language_name": ("语言名穿越 / language name ../../etc/passwd",
                      "/lang/..%2f..%2fetc%2fpasswd"),
    "hr_case_id": ("个案编号穿越 / HR case id ../../etc/passwd",
                   "/hr/cases/..%2f..%2fetc%2fpasswd"),
}


@pytest.mark.parametrize("case", sorted(TRAVERSALS))
async def test_path_traversal_gets_4xx(case: str, running: Running, reliability) -> None:
    fault, path = TRAVERSALS[case]
    reliability.describe(f"路径穿越 / path traversal: {fault}",
                         "a 4xx (or a redirect to the login page), never the file, never 5xx")
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
               ).encode()

    with capture_logs() as logs:
        status = await raw_http_status(running.web_port, request)

    reliability.observed = f"HTTP {status}; logged {_logged(logs)}"
    assert 300 <= status < 500
    assert status not in (200, 204)
    if status >= 400:
        assert len(rejection_lines(logs, status)) == 1


async def test_oversized_body_gets_413(running: Running, reliability) -> None:
    reliability.describe("超大请求体 (2 MB) / oversized body (2 MB) to the login form",
                         "HTTP 413, never 5xx, a web_request_rejected line")
    body = io.BytesIO(b"username=" + b"a" * (2 * ONE_MEGABYTE))

    with capture_logs() as logs:
        async with client(running.web_url) as session, session.post(
                "/login", data=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"}) as response:
            status = response.status

    reliability.observed = f"HTTP {status}; logged {_logged(logs)}"
    assert status == 413
    assert [line["reason"] for line in rejection_lines(logs, 413)] == ["body_too_large"]


async def test_bad_json_feedback_gets_4xx(running: Running, reliability) -> None:
    reliability.describe("反馈接口收到坏 JSON / malformed JSON body to the feedback endpoint",
                         "a 4xx, never 5xx, a web_request_rejected line")
    call_id = await _ring_once(running)

    async with client(running.web_url) as session:
        csrf = await login(session, "前台")
        with capture_logs() as logs:
            async with session.post(f"/console/calls/{call_id}/feedback",
                                    data=b'{"action": "coll',
                                    headers={"Content-Type": "application/json",
                                             "X-CSRF-Token": csrf}) as response:
                status = response.status

    reliability.observed = f"HTTP {status}; logged {_logged(logs)}"
    assert 400 <= status < 500
    assert [line["username"] for line in rejection_lines(logs, status)] == ["前台"]


async def _ring_once(running: Running) -> str:
    fake = FakeAsterisk(agi_port=running.agi_port)
    await fake.start()
    try:
        result = await fake.place_call(FakeCall("13912345678", talk_seconds=0.05))
    finally:
        await fake.close()
    return result.variables["CALLSCREEN_CALL_ID"]


async def test_missing_csrf_is_rejected_and_logged(running: Running, reliability) -> None:
    reliability.describe("缺少 CSRF 令牌的 POST / POST without a CSRF token",
                         "HTTP 403, a csrf_rejected and a web_request_rejected WARNING")

    async with client(running.web_url) as session:
        await login(session, "前台")
        with capture_logs() as logs:
            async with session.post("/console/calls/c1/feedback",
                                    data={"action": "collector"}) as response:
                status = response.status

    events = [entry["event"] for entry in logs if entry["log_level"] == "warning"]
    reliability.observed = f"HTTP {status}; logged {', '.join(events) or 'nothing'}"
    assert status == 403
    assert "csrf_rejected" in events
    assert [line["reason"] for line in rejection_lines(logs, 403)] == ["csrf_missing"]


async def test_wrong_csrf_on_login_is_rejected(running: Running, reliability) -> None:
    reliability.describe("登录表单 CSRF 令牌错误 / login form with a wrong CSRF token",
                         "HTTP 403, no session cookie, a web_request_rejected line "
                         "without the password")
    form = {"csrf_token": "forged", "username": "前台", "password": "correct horse battery"}

    async with client(running.web_url) as session:
        async with session.get("/login") as page:
            await page.read()
        with capture_logs() as logs:
            async with session.post("/login", data=form, allow_redirects=False) as response:
                status = response.status
                cookies = [cookie.key for cookie in session.cookie_jar]

    reliability.observed = f"HTTP {status}; cookies: {cookies}; logged {_logged(logs)}"
    assert status == 403
    assert "callscreen_session" not in cookies
    assert [line["reason"] for line in rejection_lines(logs, 403)] == ["csrf_mismatch"]
    assert "correct horse battery" not in repr(logs)


FORGED_COOKIES = {
    "random": "callscreen_session=Zm9yZ2VkLXNlc3Npb24tdG9rZW4",
    "empty": "callscreen_session=",
    "huge": "callscreen_session=" + "A" * 8000,
    "sql": "callscreen_session=' OR '1'='1",
}


@pytest.mark.parametrize("case", sorted(FORGED_COOKIES))
async def test_forged_session_cookie_is_not_a_login(case: str, running: Running,
                                                    reliability) -> None:
    reliability.describe(f"伪造会话 Cookie / forged session cookie: {case}",
                         "treated as logged out: redirect to /login or 401, never 5xx; "
                         "a web_request_rejected line without the cookie")
    request = ("GET /console HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
               f"Cookie: {FORGED_COOKIES[case]}\r\n\r\n").encode()

    with capture_logs() as logs:
        status = await raw_http_status(running.web_port, request)

    reliability.observed = f"HTTP {status}; logged {_logged(logs)}"
    assert status in (303, 401) or 400 <= status < 500
    assert [line["reason"] for line in rejection_lines(logs, status)] == [
        "session_cookie_invalid"]
    cookie_value = FORGED_COOKIES[case].partition("=")[2]
    if cookie_value:
        assert cookie_value not in repr(logs)


HR_URLS = ["/hr", "/hr/cases/1", "/hr/knowledge", "/hr/attendance.csv", "/hr/audit.jsonl"]


@pytest.mark.parametrize("path", HR_URLS)
async def test_reception_cannot_open_hr_urls(path: str, running: Running,
                                             reliability) -> None:
    reliability.describe(f"前台账号访问人事页面 / reception login requests {path}",
                         "HTTP 403 (or 404), no case data, a role_rejected and a "
                         "web_request_rejected WARNING")

    async with client(running.web_url) as session:
        await login(session, "前台")
        with capture_logs() as logs:
            async with session.get(path, allow_redirects=False) as response:
                status = response.status
                body = await response.text()

    events = [entry["event"] for entry in logs if entry["log_level"] == "warning"]
    reliability.observed = f"HTTP {status}; logged {', '.join(events) or 'nothing'}"
    assert status in (403, 404)
    assert "HR-" not in body
    assert "role_rejected" in events
    assert [line["username"] for line in rejection_lines(logs, status)] == ["前台"]


async def test_reception_cannot_post_hr_forms(running: Running, reliability) -> None:
    reliability.describe("前台账号提交人事表单 / reception login posts an HR case note",
                         "HTTP 403 and a web_request_rejected line")

    async with client(running.web_url) as session:
        csrf = await login(session, "前台")
        with capture_logs() as logs:
            async with session.post("/hr/cases/1/note", data={"csrf_token": csrf, "text": "x"},
                                    allow_redirects=False) as response:
                status = response.status

    reliability.observed = f"HTTP {status}; logged {_logged(logs)}"
    assert status == 403
    assert [line["reason"] for line in rejection_lines(logs, 403)] == ["role_not_allowed"]
    assert csrf not in repr(logs)


async def test_oversized_header_gets_4xx(running: Running, reliability) -> None:
    reliability.describe("超长请求头 (64 KB) / a 64 KB request header",
                         "a 4xx or a closed socket, never 5xx, a web_request_rejected line")
    request = ("GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
               f"X-Junk: {'a' * 65536}\r\n\r\n").encode()

    with capture_logs() as logs:
        status = await raw_http_status(running.web_port, request)

    reliability.observed = f"HTTP {status}; logged {_logged(logs)}"
    assert 400 <= status < 500
    assert [line["reason"] for line in rejection_lines(logs, status)] == [
        "unparsable_request"]


async def test_garbage_request_line_gets_400(running: Running, reliability) -> None:
    reliability.describe("非 HTTP 的请求行 / a request line that is not HTTP",
                         "HTTP 400 or a closed socket, never 5xx, a web_request_rejected line")

    with capture_logs() as logs:
        status = await raw_http_status(running.web_port,
                                       b"\x16\x03\x01\x02\x00garbage\r\n\r\n")

    reliability.observed = f"HTTP {status}; logged {_logged(logs)}"
    assert status == 400
    assert [line["reason"] for line in rejection_lines(logs, 400)] == ["unparsable_request"]
