"""Desk-phone screens follow a real call from the fake PBX through ringing and answer.

The daemon, its web app and the fake PBX run on loopback. Reception is extensions 100 and
101, and 200 is an employee's phone. The fake PBX rings reception, 100 answers and talks.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from callscreen.config import Config
from callscreen.daemon import Daemon
from callscreen.pbx.fake import FakeAsterisk, FakeCall
from callscreen.pbx.fake.asterisk import DEMO_AMI_SECRET
from callscreen.reception.phones import add_phone
from callscreen.store.db import Database

LOOPBACK = "127.0.0.1"
WAIT_LIMIT_S = 15.0
NO_CALL = "当前没有来电"
# Long enough that the test reads every phone while the call is in that state.
RING_S = 2.0
TALK_S = 3.0


def daemon_config(tmp_path: Path) -> Config:
    config = Config()
    return replace(
        config,
        asterisk=replace(config.asterisk, agi_host=LOOPBACK, agi_port=0, ami_enabled=False,
                         ami_host=LOOPBACK, ami_secret=DEMO_AMI_SECRET),
        numbers=replace(config.numbers, area_code="021"),
        store=replace(config.store, path=str(tmp_path / "callscreen.sqlite3")),
        web=replace(config.web, enabled=True, host=LOOPBACK, port=0),
        notify=replace(config.notify, enabled=False),
        hr=replace(config.hr, reception_extensions=["100", "101"]),
    )


async def register_phones(path: str) -> dict[str, str]:
    db = await Database.open(path)
    try:
        return {ext: await add_phone(db, ext, "yealink") for ext in ("100", "101", "200")}
    finally:
        await db.close()


@pytest.fixture
async def pbx(tmp_path: Path) -> AsyncIterator[tuple[Daemon, FakeAsterisk, dict[str, str]]]:
    config = daemon_config(tmp_path)
    tokens = await register_phones(config.store.path)
    daemon = Daemon(config)
    await daemon.start()
    try:
        assert daemon.agi is not None
        fake = FakeAsterisk(agi_port=daemon.agi.port, ami_secret=DEMO_AMI_SECRET,
                            ring_delay_s=RING_S)
        await fake.start()
        try:
            daemon.start_ami(LOOPBACK, fake.ami_port)
            await wait_until(lambda: daemon.ami is not None and daemon.ami.health.logged_in,
                             "AMI login")
            yield daemon, fake, tokens
        finally:
            await fake.close()
    finally:
        await daemon.close()


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT_S
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {WAIT_LIMIT_S} s waiting for {what}")
        await asyncio.sleep(0.02)


async def screen(client: aiohttp.ClientSession, extension: str, token: str) -> str:
    async with client.get(f"/phone/yealink/{extension}", params={"token": token}) as response:
        assert response.status == 200
        body = await response.read()
    return ET.fromstring(body).findtext("Text") or ""


def call_state(daemon: Daemon, state: str) -> Callable[[], bool]:
    return lambda: any(call.state == state for call in daemon.hub.active())


async def test_phone_screen_follows_call(pbx) -> None:
    daemon, fake, tokens = pbx
    placed = asyncio.create_task(fake.place_call(FakeCall("13912345678", answer_by="100",
                                                          talk_seconds=TALK_S)))

    async with aiohttp.ClientSession(base_url=daemon.web_url) as client:
        await wait_until(call_state(daemon, "ringing"), "the call to ring")
        ringing = {ext: await screen(client, ext, token) for ext, token in tokens.items()}
        ringing_state = daemon.hub.active()[0].state

        await wait_until(call_state(daemon, "answered"), "the answer")
        answered = {ext: await screen(client, ext, token) for ext, token in tokens.items()}
        answered_state = daemon.hub.active()[0].state

        await placed
        await wait_until(call_state(daemon, "ended"), "the hang-up")
        ended = await screen(client, "100", tokens["100"])

    assert ringing_state == "ringing"
    assert "+86139****5678" in ringing["100"]
    assert "+86139****5678" in ringing["101"]
    assert ringing["200"] == NO_CALL
    assert answered_state == "answered"
    assert "+86139****5678" in answered["100"]
    assert answered["101"] == NO_CALL
    assert answered["200"] == NO_CALL
    assert ended == NO_CALL
