"""The console page, its live event stream and the feedback buttons."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import escape

from callscreen.store.reception import Employee, replace_employees
from callscreen.store.tags import load_reputation

GBK_NAME = "张伟".encode("gbk").decode("gbk")
# What a GBK name looks like after a UTF-8 decode with replacement characters.
GBK_MANGLED = "张伟".encode("gbk").decode("utf-8", errors="replace")
HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "Tom & Jerry",
    "长" * 500,
    GBK_NAME,
    GBK_MANGLED,
]


async def read_event(response, wait_seconds: float = 2.0) -> tuple[str, dict]:
    """Read one SSE event (skipping keepalive comments) and return its name and data."""
    name, data = "", ""
    while True:
        line = (await asyncio.wait_for(response.content.readline(), wait_seconds)).decode()
        if line.startswith("event: "):
            name = line[len("event: "):].strip()
        elif line.startswith("data: "):
            data = line[len("data: "):].strip()
        elif line == "\n" and name:
            return name, json.loads(data)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_console_page_escapes_caller_name(server, helpers, name):
    server.ctx.hub.publish(helpers.make_call(caller_name=name))
    async with server.client() as client:
        await helpers.login(client)

        async with client.get("/console") as response:
            page = await response.text()

    shown = name if len(name) <= 80 else name[:80] + "…"
    assert str(escape(shown)) in page
    assert "<img src=x" not in page
    assert "<script>alert" not in page


async def test_console_page_shows_template_syntax_literally(server, helpers):
    server.ctx.hub.publish(helpers.make_call(caller_name="{{7*7}}"))
    async with server.client() as client:
        await helpers.login(client)

        async with client.get("/console") as response:
            page = await response.text()

    assert "{{7*7}}" in page
    assert ">49<" not in page


async def test_console_page_shows_reasons_and_script(server, helpers):
    server.ctx.hub.publish(helpers.make_call())
    async with server.client() as client:
        await helpers.login(client)

        async with client.get("/console") as response:
            page = await response.text()

    assert "同号段曾被标记为催收" in page
    assert "个人信息保护法" in page
    assert "+86139****5678" in page


async def test_console_never_shows_full_number(server, helpers):
    server.ctx.hub.publish(helpers.make_call())
    async with server.client() as client:
        await helpers.login(client)

        async with client.get("/console") as response:
            page = await response.text()

    assert "+8613912345678" not in page
    assert "+861391234" not in page


async def test_event_stream_starts_with_snapshot(server, helpers):
    server.ctx.hub.publish(helpers.make_call())
    async with server.client() as client:
        await helpers.login(client)

        async with client.get("/console/events") as response:
            name, data = await read_event(response)

    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert name == "snapshot"
    assert [card["call_id"] for card in data["calls"]] == ["call-1"]


async def test_event_stream_pushes_published_call(server, helpers):
    async with server.client() as client:
        await helpers.login(client)
        async with client.get("/console/events") as response:
            await read_event(response)

            server.ctx.hub.publish(helpers.make_call(call_id="call-2"))
            name, data = await read_event(response, wait_seconds=0.3)

    assert name == "call"
    assert data["call_id"] == "call-2"
    assert "+86139****5678" in data["html"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_event_stream_escapes_caller_name(server, helpers, name):
    async with server.client() as client:
        await helpers.login(client)
        async with client.get("/console/events") as response:
            await read_event(response)
            server.ctx.hub.publish(helpers.make_call(caller_name=name))

            raw = b""
            while not raw.endswith(b"\n\n") or b"event: call" not in raw:
                raw += await asyncio.wait_for(response.content.readline(), 2.0)

    frame = raw.decode()
    assert "<" not in frame
    assert ">" not in frame
    payload = json.loads(frame.split("data: ", 1)[1])
    assert "<img src=x" not in payload["html"]
    assert "<script>alert" not in payload["html"]


async def test_collector_feedback_raises_block_reputation(server, helpers):
    await replace_employees(server.ctx.store, [Employee("E001", "张伟", "销售部", "8001")],
                            datetime.now(UTC))
    server.ctx.hub.publish(helpers.make_call())
    async with server.client() as client:
        await helpers.login(client)
        csrf = await helpers.console_csrf(client)
        form = {"csrf_token": csrf, "action": "collector", "employee": "E001",
                "note": "问张伟是否在职"}

        async with client.post("/console/calls/call-1/feedback", data=form,
                               headers={"Accept": "application/json"}) as response:
            answer = await response.json()

    reputation = await load_reputation(
        server.ctx.store, caller_key="+8613912340000", caller_block="+861391234",
        now=datetime.now(UTC) + timedelta(seconds=1), half_life=timedelta(days=30),
        max_age=timedelta(days=180))
    assert answer == {"ok": True, "message": "已记录反馈。"}
    assert reputation.block > 0.9


async def test_feedback_stores_employee_and_author(server, helpers):
    await replace_employees(server.ctx.store, [Employee("E001", "张伟", "销售部", "8001")],
                            datetime.now(UTC))
    server.ctx.hub.publish(helpers.make_call())
    async with server.client() as client:
        await helpers.login(client)
        csrf = await helpers.console_csrf(client)
        form = {"csrf_token": csrf, "action": "collector", "employee": "张伟"}

        async with client.post("/console/calls/call-1/feedback", data=form,
                               allow_redirects=False) as response:
            status = response.status

    row = await server.ctx.store.fetch_one("SELECT tag, employee_id, author FROM tags", (),
                                           action="test")
    assert status == 303
    assert tuple(row) == ("collector", "E001", "前台")


async def test_feedback_records_caller_organisation(server, helpers):
    server.ctx.hub.publish(helpers.make_call())
    async with server.client() as client:
        await helpers.login(client)
        csrf = await helpers.console_csrf(client)
        form = {"csrf_token": csrf, "action": "collector",
                "caller_org": "  某某资产\n管理公司  "}
        async with client.post("/console/calls/call-1/feedback", data=form,
                               allow_redirects=False) as response:
            status = response.status
        async with client.get("/console") as page:
            html = await page.text()

    row = await server.ctx.store.fetch_one("SELECT caller_org FROM tags", (), action="test")
    assert status == 303
    assert row[0] == "某某资产 管理公司"
    assert server.ctx.hub.get("call-1").caller_org == "某某资产 管理公司"
    assert '<dd class="caller-org">某某资产 管理公司</dd>' in html
    assert "您是某某资产 管理公司的工作人员" in html
    assert "（已说明：某某资产 管理公司）" in html


async def test_feedback_escapes_caller_organisation(server, helpers):
    server.ctx.hub.publish(helpers.make_call())
    async with server.client() as client:
        await helpers.login(client)
        csrf = await helpers.console_csrf(client)
        form = {"csrf_token": csrf, "action": "collector",
                "caller_org": "<script>alert(1)</script>{{7*7}}"}
        async with client.post("/console/calls/call-1/feedback", data=form,
                               allow_redirects=False):
            pass
        async with client.get("/console") as page:
            html = await page.text()

    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;{{7*7}}" in html
    assert ">49<" not in html


async def test_feedback_rejects_long_caller_organisation(server, helpers):
    server.ctx.hub.publish(helpers.make_call())
    async with server.client() as client:
        await helpers.login(client)
        csrf = await helpers.console_csrf(client)
        form = {"csrf_token": csrf, "action": "collector", "caller_org": "公" * 101}
        async with client.post("/console/calls/call-1/feedback", data=form,
                               headers={"Accept": "application/json"}) as response:
            answer = await response.json()
            status = response.status

    assert status == 400
    assert "100" in answer["message"]
    assert await server.ctx.store.fetch_one("SELECT 1 FROM tags", (), action="test") is None


async def test_feedback_without_csrf_token_is_forbidden(server, helpers):
    server.ctx.hub.publish(helpers.make_call())
    async with server.client() as client:
        await helpers.login(client)

        async with client.post("/console/calls/call-1/feedback",
                               data={"action": "collector"}) as response:
            status = response.status

    rows = await server.ctx.store.fetch_all("SELECT 1 FROM tags", (), action="test")
    assert status == 403
    assert rows == []


async def test_feedback_on_anonymous_call_is_rejected(server, helpers):
    server.ctx.hub.publish(helpers.make_call(caller_key="", caller_block="", kind="anonymous"))
    async with server.client() as client:
        await helpers.login(client)
        csrf = await helpers.console_csrf(client)

        async with client.post("/console/calls/call-1/feedback",
                               data={"csrf_token": csrf, "action": "not_collector"},
                               headers={"Accept": "application/json"}) as response:
            answer = await response.json()

    assert response.status == 400
    assert answer["message"] == "该来电没有号码，无法标记。"


async def test_feedback_with_unknown_employee_is_rejected(server, helpers):
    server.ctx.hub.publish(helpers.make_call())
    async with server.client() as client:
        await helpers.login(client)
        csrf = await helpers.console_csrf(client)

        async with client.post("/console/calls/call-1/feedback",
                               data={"csrf_token": csrf, "action": "collector",
                                     "employee": "E999"},
                               headers={"Accept": "application/json"}) as response:
            await response.read()

    rows = await server.ctx.store.fetch_all("SELECT 1 FROM tags", (), action="test")
    assert response.status == 400
    assert rows == []


async def test_feedback_on_unknown_call_returns_not_found(server, helpers):
    async with server.client() as client:
        await helpers.login(client)
        csrf = await helpers.console_csrf(client)

        async with client.post("/console/calls/gone/feedback",
                               data={"csrf_token": csrf, "action": "collector"}) as response:
            status = response.status

    assert status == 404


async def test_console_lists_directory_in_employee_picker(server, helpers):
    await replace_employees(server.ctx.store,
                            [Employee("E001", "<b>张伟</b>", "销售部", "8001", initials="zw")],
                            datetime.now(UTC))
    async with server.client() as client:
        await helpers.login(client)

        async with client.get("/console") as response:
            page = await response.text()

    assert '<option value="E001" label="&lt;b&gt;张伟&lt;/b&gt; · 销售部 · zw">' in page
