"""Fixtures for web tests: a real store file, a hub, and the app on a loopback port."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from callscreen.classifier.model import Reason
from callscreen.config import Config
from callscreen.hub import CallHub, CallUpdate
from callscreen.reception.accounts import create_user
from callscreen.store.db import Database
from callscreen.web.app import create_app
from callscreen.web.context import WebContext

PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_call(**changes: Any) -> CallUpdate:
    """Return a flagged ringing call from a Shanghai mobile; `changes` override fields."""
    now = datetime.now(UTC)
    call = CallUpdate(
        call_id="call-1", state="ringing", at=now, started_at=now,
        caller_masked="+86139****5678", caller_key="+8613912345678",
        caller_block="+861391234", caller_name="", kind="mobile", region="上海市",
        did="02188886666", verdict="flag", category="collector", score=55, tag="[疑似催收]",
        reasons=(Reason("reputation_block", 30, "同号段曾被标记为催收",
                        "block tagged as collector"),),
        extensions=("8001",),
    )
    return replace(call, **changes)


@dataclass
class WebServer:
    """A running app, its context and the base URL."""

    ctx: WebContext
    url: str

    def client(self) -> aiohttp.ClientSession:
        """Return a client session with its own cookie jar (cookies on 127.0.0.1 allowed)."""
        return aiohttp.ClientSession(base_url=self.url,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "callscreen.sqlite3")
    yield database
    await database.close()


async def start_server(ctx: WebContext) -> tuple[web.AppRunner, str]:
    """Start the app on 127.0.0.1 port 0; return the runner and base URL."""
    runner = web.AppRunner(create_app(ctx))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def server(db: Database) -> AsyncIterator[WebServer]:
    ctx = WebContext(config=Config(), store=db, hub=CallHub())
    await create_user(db, "前台", PASSWORD, "reception")
    await create_user(db, "hr1", PASSWORD, "hr")
    runner, url = await start_server(ctx)
    yield WebServer(ctx, url)
    await runner.cleanup()


async def login(client: aiohttp.ClientSession, username: str = "前台",
                password: str = PASSWORD) -> aiohttp.ClientResponse:
    """Log in through the form, the way a browser does; return the final response."""
    async with client.get("/login") as page:
        html = await page.text()
    csrf = CSRF_INPUT.search(html)
    assert csrf is not None

    form = {"csrf_token": csrf.group(1), "username": username, "password": password}
    async with client.post("/login", data=form) as response:
        await response.read()
        return response


async def console_csrf(client: aiohttp.ClientSession) -> str:
    """Return the session's CSRF token from the console page."""
    async with client.get("/console") as page:
        html = await page.text()
    match = CSRF_INPUT.search(html)
    assert match is not None
    return match.group(1)


@dataclass(frozen=True)
class Helpers:
    """The helper functions above, for tests (conftest modules cannot be imported)."""

    password: str = PASSWORD

    make_call = staticmethod(make_call)
    login = staticmethod(login)
    console_csrf = staticmethod(console_csrf)
    start_server = staticmethod(start_server)


@pytest.fixture
def helpers() -> Helpers:
    return Helpers()
