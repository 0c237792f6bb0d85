"""A daemon with FastAGI and the web console on loopback, and raw-socket clients for both.

Hostile-input tests import these with `from .conftest import ...`. Raw sockets are used
where an HTTP client would repair the input (it normalises `..` in paths, for example).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callscreen.config import Config
from callscreen.daemon import Daemon
from callscreen.reception.accounts import create_user

from ..reliability_report import register

LOOPBACK = "127.0.0.1"
PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
READ_LIMIT_S = 10.0


@dataclass
class Running:
    """The daemon under attack and the ports it listens on."""

    daemon: Daemon
    agi_port: int
    web_url: str
    web_port: int


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    config = Config()
    config = replace(
        config,
        asterisk=replace(config.asterisk, agi_host=LOOPBACK, agi_port=0, ami_enabled=False),
        store=replace(config.store, path=str(tmp_path / "callscreen.sqlite3")),
        web=replace(config.web, host=LOOPBACK, port=0),
        notify=replace(config.notify, enabled=False),
    )
    daemon = Daemon(config)
    await daemon.start()
    try:
        assert daemon.agi is not None and daemon.store is not None
        await create_user(daemon.store.db, "前台", PASSWORD, "reception")
        await create_user(daemon.store.db, "hr1", PASSWORD, "hr")
        port = int(daemon.web_url.rsplit(":", 1)[1])
        yield Running(daemon, daemon.agi.port, daemon.web_url, port)
    finally:
        await daemon.close()


def client(base: str) -> aiohttp.ClientSession:
    """Return a client with its own cookie jar (cookies on 127.0.0.1 allowed)."""
    return aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login(session: aiohttp.ClientSession, username: str) -> str:
    """Log in through the form; return the console's CSRF token ("" for non-reception)."""
    async with session.get("/login") as page:
        token = CSRF_INPUT.search(await page.text())
    assert token is not None
    form = {"csrf_token": token.group(1), "username": username, "password": PASSWORD}
    async with session.post("/login", data=form) as response:
        await response.read()
    async with session.get("/console") as page:
        token = CSRF_INPUT.search(await page.text())
    return token.group(1) if token else ""


async def raw_exchange(port: int, data: bytes) -> bytes:
    """Send `data` on a fresh connection; return what arrives until the peer closes.

    The write side stays open: aiohttp drops a connection whose client half-closes
    before the response is written.
    """
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    received = b""
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(READ_LIMIT_S):
            while chunk := await reader.read(4096):
                received += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass  # the server closed first; what arrived before the reset still counts
    finally:
        writer.close()
        await asyncio.gather(writer.wait_closed(), return_exceptions=True)
    return received


async def raw_http_status(port: int, request: bytes) -> int:
    """Send one raw HTTP/1.1 request and return the status code of the response."""
    response = await raw_exchange(port, request)
    head = response.split(b"\r\n", 1)[0]
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    assert match is not None, f"no HTTP status line in {response[:80]!r}"
    return int(match.group(1))


def rejection_lines(logs: list[dict[str, Any]], status: int) -> list[dict[str, Any]]:
    """Return the `web_request_rejected` lines for `status` among captured log entries."""
    return [entry for entry in logs
            if entry["event"] == "web_request_rejected" and entry["status"] == status]


def pytest_configure(config: pytest.Config) -> None:
    register(config)
