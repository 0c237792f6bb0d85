"""Desk-phone XML screens: tokens, well-formed XML, hostile caller names."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from callscreen.reception.phones import add_phone
from callscreen.web.phone_xml import MAX_NAME_CHARS, xml_text

HOSTILE_NAMES = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "{{7*7}}",
                 "Tom & Jerry", "长" * 500, "bell\x07and\x00nul\x1b[31m", "张伟"]


async def fetch(server, path: str) -> tuple[int, str]:
    async with server.client() as client, client.get(path) as response:
        return response.status, await response.text()


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_yealink_screen_is_well_formed_with_hostile_name(server, helpers, name):
    token = await add_phone(server.ctx.store, "8001", "yealink")
    server.ctx.hub.publish(helpers.make_call(caller_name=name))

    status, body = await fetch(server, f"/phone/yealink/8001?token={token}")

    root = ET.fromstring(body.encode("utf-8"))
    text = root.findtext("Text") or ""
    assert status == 200
    assert root.tag == "YealinkIPPhoneTextScreen"
    assert "+86139****5678" in text
    assert xml_text(name, MAX_NAME_CHARS) in text


async def test_cisco_screen_shows_verdict_and_short_script(server, helpers):
    token = await add_phone(server.ctx.store, "8001", "cisco")
    server.ctx.hub.publish(helpers.make_call(caller_name="Tom & Jerry"))

    status, body = await fetch(server, f"/phone/cisco/8001?token={token}")

    root = ET.fromstring(body.encode("utf-8"))
    text = root.findtext("Text") or ""
    assert status == 200
    assert root.tag == "CiscoIPPhoneText"
    assert root.findtext("Title") == "来电筛查"
    assert text.startswith("标记 · 疑似催收 · 55")
    assert "个人信息保护法" in text
    assert "Tom & Jerry" in text


async def test_phone_screen_without_call_says_so(server):
    token = await add_phone(server.ctx.store, "8002", "yealink")

    status, body = await fetch(server, f"/phone/yealink/8002?token={token}")

    root = ET.fromstring(body.encode("utf-8"))
    assert status == 200
    assert root.findtext("Text") == "当前没有来电"


async def test_phone_screen_ignores_other_extensions_calls(server, helpers):
    token = await add_phone(server.ctx.store, "8002", "yealink")
    server.ctx.hub.publish(helpers.make_call(extensions=("8001",)))

    _, body = await fetch(server, f"/phone/yealink/8002?token={token}")

    assert ET.fromstring(body.encode("utf-8")).findtext("Text") == "当前没有来电"


async def test_phone_screen_rejects_wrong_token(server):
    await add_phone(server.ctx.store, "8001", "yealink")

    status, _ = await fetch(server, "/phone/yealink/8001?token=guess")

    assert status == 403


async def test_phone_screen_rejects_other_model(server):
    token = await add_phone(server.ctx.store, "8001", "yealink")

    status, _ = await fetch(server, f"/phone/cisco/8001?token={token}")

    assert status == 403


async def test_new_token_replaces_old_one(server):
    old = await add_phone(server.ctx.store, "8001", "yealink")
    await add_phone(server.ctx.store, "8001", "yealink")

    status, _ = await fetch(server, f"/phone/yealink/8001?token={old}")

    assert status == 403


async def test_phone_screen_in_english(server, helpers):
    token = await add_phone(server.ctx.store, "8001", "cisco")
    server.ctx.hub.publish(helpers.make_call())

    _, body = await fetch(server, f"/phone/cisco/8001?token={token}&lang=en")

    assert ET.fromstring(body.encode("utf-8")).findtext("Title") == "Call screening"
