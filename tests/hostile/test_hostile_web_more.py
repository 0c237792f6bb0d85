"""More hostile requests to the web console: open redirects, bodies and ids that used to
raise inside a handler (HTTP 500), texts that must come from the message catalogue, and a
header-only directory import.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import aiohttp
import pytest
from structlog.testing import capture_logs
from yarl import URL

from callscreen.anomaly.evaluate import RiskLevel
from callscreen.cli import main
from callscreen.i18n import both, t
from callscreen.store import hr_cases
from callscreen.store.db import to_db_time

from .conftest import (
    CSRF_INPUT,
    PASSWORD,
    Running,
    client,
    login,
    raw_exchange,
    rejection_lines,
)

EVIL_NEXT = {
    "tab_after_slash": "/%09/evil.example",
    "newline_after_slash": "/%0A/evil.example",
    "double_slash": "//evil.example",
    "backslash": "/%5Cevil.example",
    "absolute_url": "https://evil.example/",
    "ideographic_space": "/%E3%80%80/evil.example",
    "no_slash": "evil.example",
}


@pytest.mark.parametrize("case", sorted(EVIL_NEXT))
async def test_language_switch_never_redirects_off_site(case: str, running: Running,
                                                        reliability) -> None:
    reliability.describe(f"语言切换 next 指向外站 / language switch next= {case}",
                         "Location: /console")

    async with client(running.web_url) as session, session.get(
            f"/lang/en?next={EVIL_NEXT[case]}", allow_redirects=False) as response:
        location = response.headers.get("Location")

    reliability.observed = f"HTTP {response.status}; Location {location!r}"
    assert response.status == 303
    assert location == "/console"


async def test_language_switch_keeps_local_path(running: Running, reliability) -> None:
    reliability.describe("语言切换 next 为本站路径 / language switch next=/hr",
                         "Location: /hr")

    async with client(running.web_url) as session, session.get(
            "/lang/en?next=/hr", allow_redirects=False) as response:
        location = response.headers.get("Location")

    reliability.observed = f"Location {location!r}"
    assert location == "/hr"


@pytest.mark.parametrize("case", sorted(EVIL_NEXT))
async def test_login_never_redirects_off_site(case: str, running: Running,
                                              reliability) -> None:
    reliability.describe(f"登录后 next 指向外站 / login next= {case}",
                         "Location: /console after a correct login")

    async with client(running.web_url) as session:
        async with session.get(f"/login?next={EVIL_NEXT[case]}") as page:
            html = await page.text()
        token = CSRF_INPUT.search(html)
        assert token is not None
        form = {"csrf_token": token.group(1), "username": "前台", "password": PASSWORD,
                "next": unquote(EVIL_NEXT[case])}
        async with session.post("/login", data=form, allow_redirects=False) as response:
            location = response.headers.get("Location")

    reliability.observed = f"HTTP {response.status}; Location {location!r}"
    assert response.status == 303
    assert location == "/console"


# The header value as raw bytes: é in UTF-8, é in Latin-1 (not valid UTF-8), and GBK.
NON_ASCII_TOKENS = {"utf8": "é".encode(), "latin1": b"\xe9", "gbk": "令牌".encode("gbk")}


@pytest.mark.parametrize("case", sorted(NON_ASCII_TOKENS))
async def test_non_ascii_csrf_header_gets_403(case: str, running: Running,
                                              reliability) -> None:
    reliability.describe(f"非 ASCII 的 X-CSRF-Token / X-CSRF-Token: é ({case})",
                         "HTTP 403, never 5xx")
    request = (b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
               b"Cookie: callscreen_login_csrf=abcdef\r\nX-CSRF-Token: "
               + NON_ASCII_TOKENS[case] + b"\r\nContent-Length: 0\r\n\r\n")

    with capture_logs() as logs:
        response = await raw_exchange(running.web_port, request)

    status_line = response.split(b"\r\n", 1)[0]
    reliability.observed = status_line.decode("latin-1")
    assert status_line.startswith(b"HTTP/1.1 403")
    assert [line["reason"] for line in rejection_lines(logs, 403)] == ["csrf_mismatch"]


async def _login_form_session(session: aiohttp.ClientSession) -> str:
    async with session.get("/login") as page:
        token = CSRF_INPUT.search(await page.text())
    assert token is not None
    return token.group(1)


BAD_BODIES = {
    "urlencoded_not_utf8": ("application/x-www-form-urlencoded", b"username=\xff&a=b"),
    "multipart_without_boundary": ("multipart/form-data",
                                   b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n"
                                   b"1\r\n--x--\r\n"),
    "multipart_part_without_name": ("multipart/form-data; boundary=x",
                                    b"--x\r\nContent-Disposition: form-data\r\n\r\n"
                                    b"1\r\n--x--\r\n"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
async def test_unparsable_login_body_gets_400(case: str, running: Running,
                                              reliability) -> None:
    content_type, body = BAD_BODIES[case]
    reliability.describe(f"登录表单无法解析 / login body: {case}", "HTTP 400, never 5xx")

    async with client(running.web_url) as session:
        await _login_form_session(session)
        with capture_logs() as logs:
            async with session.post("/login", data=body,
                                    headers={"Content-Type": content_type}) as response:
                status = response.status
                text = await response.text()

    reliability.observed = f"HTTP {status}"
    assert status == 400
    assert text == both("web.bad_form")
    assert [line["reason"] for line in rejection_lines(logs, 400)] == ["bad_form"]


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
async def test_unparsable_feedback_body_gets_400(case: str, running: Running,
                                                 reliability) -> None:
    content_type, body = BAD_BODIES[case]
    reliability.describe(f"反馈表单无法解析（令牌在请求头）/ feedback body: {case}",
                         "HTTP 400, never 5xx")

    async with client(running.web_url) as session:
        csrf = await login(session, "前台")
        with capture_logs() as logs:
            async with session.post("/console/calls/c1/feedback", data=body,
                                    headers={"Content-Type": content_type,
                                             "X-CSRF-Token": csrf}) as response:
                status = response.status

    reliability.observed = f"HTTP {status}"
    assert status == 400
    assert [line["reason"] for line in rejection_lines(logs, 400)] == ["bad_form"]


BAD_CASE_IDS = {
    "superscript_two": "/hr/cases/%C2%B2",
    "arabic_digits": "/hr/cases/%D9%A1",
    "beyond_int64": "/hr/cases/99999999999999999999999999",
    "int64_max_plus_one": f"/hr/cases/{2**63}",
    "zero": "/hr/cases/0",
}


@pytest.mark.parametrize("case", sorted(BAD_CASE_IDS))
async def test_bad_case_id_gets_404(case: str, running: Running, reliability) -> None:
    reliability.describe(f"个案编号无效 / HR case id {case}", "HTTP 404, never 5xx")

    async with client(running.web_url) as session:
        await login(session, "hr1")
        with capture_logs() as logs:
            async with session.get(URL(BAD_CASE_IDS[case], encoded=True),
                                   allow_redirects=False) as response:
                status = response.status

    reliability.observed = f"HTTP {status}"
    assert status == 404
    assert [line["username"] for line in rejection_lines(logs, 404)] == ["hr1"]


@pytest.mark.parametrize("month", ["9999-12", "0000-01", "1999-12", "2101-01"])
async def test_attendance_month_out_of_range_gets_400(month: str, running: Running,
                                                      reliability) -> None:
    reliability.describe(f"考勤月份超出范围 / attendance month {month}",
                         "HTTP 400 with a bilingual message")

    async with client(running.web_url) as session:
        await login(session, "hr1")
        with capture_logs() as logs:
            async with session.get(f"/hr/attendance.csv?month={month}") as response:
                status = response.status
                text = await response.text()

    reliability.observed = f"HTTP {status}: {text}"
    assert status == 400
    assert [line["path"] for line in rejection_lines(logs, 400)] == ["/hr/attendance.csv"]
    assert text == both("report.month_out_of_range", month=month, first=2000, last=2100)


async def test_attendance_month_in_range_downloads(running: Running, reliability) -> None:
    reliability.describe("考勤月份 2100-12 / attendance month 2100-12", "HTTP 200")

    async with client(running.web_url) as session:
        await login(session, "hr1")
        async with session.get("/hr/attendance.csv?month=2100-12") as response:
            status = response.status

    reliability.observed = f"HTTP {status}"
    assert status == 200


async def _open_unlocked_case(running: Running, session: aiohttp.ClientSession) -> str:
    """Insert case 1 for a new employee, log in as hr1, unlock it; return the CSRF token."""
    assert running.daemon.store is not None
    now = datetime.now(UTC)
    async with running.daemon.store.db.write("seed_case") as connection:
        await connection.execute(
            "INSERT INTO employees (employee_id, name, department, extension, did,"
            " imported_at) VALUES ('E1001', '张伟', '财务部', '8101', '', ?)",
            (to_db_time(now),))
        await hr_cases.insert_case(connection, employee_id="E1001", risk=RiskLevel.LOW,
                                   signals={}, now=now)

    await login(session, "hr1")
    async with session.get("/hr/cases/1") as page:
        token = CSRF_INPUT.search(await page.text())
    assert token is not None
    async with session.post("/hr/cases/1/unlock", data={
            "csrf_token": token.group(1), "reason": "跟进", "password": PASSWORD}) as response:
        assert response.status == 200
    return token.group(1)


# (form path, fields, text that must appear, raw Python text that must not)
BAD_CASE_FORMS = {
    "unknown_status": ("status", {"status": "deleted"}, "'deleted'",
                       "is not a valid CaseStatus"),
    "unknown_referral_state": ("referrals", {"state": "maybe", "resource": "legal_aid"},
                               "'maybe'", "is not a valid ReferralState"),
    "unicode_referral_id": ("referrals", {"state": "accepted", "referral_id": "²"}, "'²'",
                            "invalid literal for int()"),
    "huge_referral_id": ("referrals", {"state": "accepted", "referral_id": "9" * 30},
                         "9" * 30, "too large"),
    "day_out_of_range": ("leave", {"start": "2026-02-30", "end": "2026-03-01"},
                         "'2026-02-30'", "day is out of range for month"),
    "not_a_date": ("leave", {"start": "2026-03-01", "end": "tomorrow"}, "'tomorrow'",
                   "Invalid isoformat string"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASE_FORMS))
async def test_bad_case_form_gets_catalogue_400(case: str, running: Running,
                                                reliability) -> None:
    action, fields, shown, leaked = BAD_CASE_FORMS[case]
    reliability.describe(f"个案表单值无效 / HR case form: {case}",
                         "HTTP 400 naming the value, no raw Python message")

    async with client(running.web_url) as session:
        csrf = await _open_unlocked_case(running, session)
        with capture_logs() as logs:
            async with session.post(f"/hr/cases/1/{action}",
                                    data={"csrf_token": csrf, **fields},
                                    allow_redirects=False) as response:
                status = response.status
                text = await response.text()

    reliability.observed = f"HTTP {status}: {text}"
    assert status == 400
    assert [line["username"] for line in rejection_lines(logs, 400)] == ["hr1"]
    assert shown in text
    assert leaked not in text
    assert " / " in text


async def test_referral_bad_id_text_is_from_catalogue(running: Running, reliability) -> None:
    reliability.describe("转介编号为 ² / referral id ²", "the hr.bad_referral_id text")

    async with client(running.web_url) as session:
        csrf = await _open_unlocked_case(running, session)
        with capture_logs() as logs:
            async with session.post("/hr/cases/1/referrals", data={
                    "csrf_token": csrf, "state": "accepted", "referral_id": "²"}) as response:
                text = await response.text()

    reliability.observed = text
    assert text == both("hr.bad_referral_id", value="'²'")
    assert len(rejection_lines(logs, 400)) == 1


async def test_csrf_text_is_chinese_first(running: Running, reliability) -> None:
    reliability.describe("缺少 CSRF 令牌 / POST without a CSRF token",
                         "403 text in Chinese, then English")

    async with client(running.web_url) as session:
        await login(session, "前台")
        with capture_logs() as logs:
            async with session.post("/console/calls/c1/feedback",
                                    data={"action": "collector"}) as response:
                text = await response.text()

    reliability.observed = text
    assert response.status == 403
    assert text == both("auth.csrf_rejected")
    assert [line["reason"] for line in rejection_lines(logs, 403)] == ["csrf_missing"]
    assert text.startswith(t("auth.csrf_rejected", "zh-CN"))


async def test_role_text_is_chinese_first(running: Running, reliability) -> None:
    reliability.describe("前台访问人事页面 / reception requests /hr",
                         "403 text in Chinese, then English")

    async with client(running.web_url) as session:
        await login(session, "前台")
        with capture_logs() as logs:
            async with session.get("/hr", allow_redirects=False) as response:
                text = await response.text()

    reliability.observed = text
    assert response.status == 403
    assert text == both("auth.role_rejected")
    assert [line["reason"] for line in rejection_lines(logs, 403)] == ["role_not_allowed"]
    assert text.startswith(t("auth.role_rejected", "zh-CN"))


async def test_login_required_text_is_chinese_first(running: Running, reliability) -> None:
    reliability.describe("未登录提交表单 / anonymous POST to a guarded form",
                         "401 text in Chinese, then English")

    async with client(running.web_url) as session:
        token = await _login_form_session(session)
        with capture_logs() as logs:
            async with session.post("/console/calls/c1/feedback",
                                    data={"csrf_token": token}) as response:
                text = await response.text()

    reliability.observed = text
    assert response.status == 401
    assert [line["reason"] for line in rejection_lines(logs, 401)] == ["login_required"]
    assert text == both("auth.login_required")
    assert text.startswith(t("auth.login_required", "zh-CN"))


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "callscreen.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "store.sqlite3"}"\n', encoding="utf-8")
    return path


def _run(config_file: Path, *argv: str) -> int:
    return main([*argv, "--config", str(config_file)])


def test_header_only_directory_import_is_rejected(config_file: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  reliability) -> None:
    reliability.describe("只有表头的通讯录 CSV / directory CSV with a header and no rows",
                         "exit 2, the directory stays as it was")
    good = tmp_path / "good.csv"
    good.write_text("姓名,工号\n张伟,E001\n", encoding="utf-8")
    empty = tmp_path / "empty.csv"
    empty.write_text("姓名,工号\n", encoding="utf-8")
    _run(config_file, "directory", "import", str(good))

    status = _run(config_file, "directory", "import", str(empty))
    still_there = _run(config_file, "directory", "find", "E001")

    errors = capsys.readouterr().err
    reliability.observed = f"exit {status}"
    assert status == 2
    assert both("directory.empty_file", path=empty) in errors
    assert still_there == 0


def test_header_only_import_with_allow_empty_wipes(config_file: Path, tmp_path: Path,
                                                   reliability) -> None:
    reliability.describe("只有表头的 CSV 加 --allow-empty / header-only CSV, --allow-empty",
                         "exit 0 and an empty directory")
    good = tmp_path / "good.csv"
    good.write_text("姓名,工号\n张伟,E001\n", encoding="utf-8")
    empty = tmp_path / "empty.csv"
    empty.write_text("姓名,工号\n", encoding="utf-8")
    _run(config_file, "directory", "import", str(good))

    status = _run(config_file, "directory", "import", str(empty), "--allow-empty")
    found = _run(config_file, "directory", "find", "E001")

    reliability.observed = f"exit {status}; find exit {found}"
    assert status == 0
    assert found == 1
