"""The console's event stream follows a call through ringing, answered and ended.

The daemon, its web console and the fake PBX run on loopback; the test reads the real
SSE stream as a logged-in reception user, with and without an AMI outage at ring time.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from callscreen.daemon import Daemon
from callscreen.pbx.fake import FakeAsterisk, FakeCall
from callscreen.reception.accounts import create_user
from callscreen.store.db import Database

from .conftest import daemon_config, logged_in, running_daemon, wait_until

CALLER = "13912345678"
USERNAME = "前台"
PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
STATE_CLASS = re.compile(r'class="call verdict-\w+ state-(\w+)"')
ANSWERED_BY = re.compile(r'<dd class="answered-by">([^<]*)</dd>')
EVENT_WAIT_S = 15.0
# Reception's phone rings this long; the first AMI reconnect waits at least 1 s, so an
# AMI drop at ring time puts the answer inside the outage.
RING_S = 0.5


async def seed_user(path: str) -> None:
    db = await Database.open(path)
    try:
        await create_user(db, USERNAME, PASSWORD, "reception")
    finally:
        await db.close()


@asynccontextmanager
async def console_stream(base: str) -> AsyncIterator[aiohttp.ClientResponse]:
    """Log in as reception, open /console/events and skip its snapshot event."""
    async with aiohttp.ClientSession(base_url=base,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get("/login") as page:
            token = CSRF_INPUT.search(await page.text())
        assert token is not None
        form = {"csrf_token": token.group(1), "username": USERNAME, "password": PASSWORD}
        async with session.post("/login", data=form) as response:
            await response.read()
            assert response.url.path == "/console"

        async with session.get("/console/events") as stream:
            name, _data = await read_event(stream)
            assert name == "snapshot"
            yield stream


async def read_event(stream: aiohttp.ClientResponse) -> tuple[str, dict]:
    """Read one SSE event, skipping keepalive comments; return its name and JSON data."""
    name, data = "", ""
    while True:
        line = (await asyncio.wait_for(stream.content.readline(), EVENT_WAIT_S)).decode()
        if line.startswith("event: "):
            name = line[len("event: "):].strip()
        elif line.startswith("data: "):
            data = line[len("data: "):].strip()
        elif line == "\n" and name:
            return name, json.loads(data)


async def card_states(stream: aiohttp.ClientResponse) -> list[tuple[str, str]]:
    """Read call cards until one is ended; return (state, answered-by text) of each card."""
    seen: list[tuple[str, str]] = []
    while not seen or seen[-1][0] != "ended":
        name, data = await read_event(stream)
        if name != "call":
            continue
        state = STATE_CLASS.search(data["html"])
        answered_by = ANSWERED_BY.search(data["html"])
        assert state is not None, data["html"]
        seen.append((state.group(1), answered_by.group(1) if answered_by else ""))
    return seen


async def drop_ami_at_ring(daemon: Daemon, fake: FakeAsterisk) -> None:
    assert daemon.ami is not None
    await wait_until(lambda: len(daemon.hub.active()) == 1, "the call to ring")
    fake.drop_ami_connections()
    await wait_until(lambda: daemon.ami.health.reconnects >= 1, "the reconnect")
    await wait_until(lambda: logged_in(daemon), "the second login")


async def test_console_stream_shows_answered(tmp_path: Path) -> None:
    config = daemon_config(tmp_path, web=True)
    await seed_user(config.store.path)

    async with (running_daemon(config, ring_delay_s=RING_S) as (daemon, fake),
                console_stream(daemon.web_url) as stream):
        placed = asyncio.create_task(fake.place_call(FakeCall(CALLER, talk_seconds=1.0)))
        states = await card_states(stream)
        await placed

    assert states[0] == ("ringing", "")
    assert ("answered", "100") in states
    assert states.index(("answered", "100")) < len(states) - 1
    assert states[-1] == ("ended", "100")


async def test_console_stream_answer_after_outage(tmp_path: Path, reliability) -> None:
    reliability.describe(
        "AMI 断开期间来电被接听，前台控制台 / call answered while AMI is down, on the console",
        "after the reconnect the console card turns to answered, with who answered, "
        "before it ends")
    config = daemon_config(tmp_path, web=True)
    await seed_user(config.store.path)

    async with (running_daemon(config, ring_delay_s=RING_S) as (daemon, fake),
                console_stream(daemon.web_url) as stream):
        placed = asyncio.create_task(fake.place_call(FakeCall(CALLER, talk_seconds=3.0)))
        watched = asyncio.create_task(card_states(stream))
        await drop_ami_at_ring(daemon, fake)
        states = await watched
        await placed

    reliability.observed = "card states " + " → ".join(state for state, _by in states)
    assert states[0] == ("ringing", "")
    assert ("answered", "100") in states
    assert states[-1] == ("ended", "100")
