"""Fixtures for the admin tests: config files, a store, a call history, the CLI, the console."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from callscreen.config import Config, load_config
from callscreen.daemon import Daemon
from callscreen.pbx.model import CallerName
from callscreen.reception.accounts import create_user
from callscreen.screening import Screener
from callscreen.store import Store

REPO = Path(__file__).resolve().parents[2]
CLI_TIMEOUT_S = 120

ConfigWriter = Callable[..., Path]


@dataclass(frozen=True)
class CliResult:
    """Exit code and output of one `python -m callscreen` run."""

    code: int
    stdout: str
    stderr: str


def run_cli(*args: str | Path, cwd: Path | None = None, stdin: str | None = None) -> CliResult:
    """Run `python -m callscreen ARGS` in a child process and capture its output."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [sys.executable, "-m", "callscreen", *map(str, args)],
        capture_output=True, text=True, encoding="utf-8", timeout=CLI_TIMEOUT_S,
        cwd=cwd or REPO, env=env, check=False, input=stdin,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "callscreen.sqlite3"


@pytest.fixture
def write_config(tmp_path: Path, store_path: Path) -> ConfigWriter:
    """Write a config file with the given [rules] and extra TOML, pointing at store_path."""

    def write(name: str = "callscreen.toml", rules: str = "", extra: str = "") -> Path:
        path = tmp_path / name
        path.write_text(
            f'[store]\npath = "{store_path}"\n\n[rules]\n{rules}\n{extra}\n', encoding="utf-8")
        return path

    return write


async def record_calls(store: Store, config: Config,
                       calls: Sequence[tuple[str, datetime]]) -> list[str]:
    """Screen each (caller, time) with `config` as the daemon would, store it, return ids."""
    screener = Screener(config, store)
    call_ids: list[str] = []
    for index, (caller, started_at) in enumerate(calls):
        screened = await screener.screen(caller, now=started_at)
        call_id = f"c{index:05d}"
        await store.record_decision(
            call_id, uniqueid=f"1700000000.{index}", started_at=started_at, caller_raw=caller,
            caller_name=CallerName(""), did="02188886666", decision=screened.decision,
            source="agi", decision_ms=1.0, decided_at=started_at,
        )
        call_ids.append(call_id)
    return call_ids


def load(path: Path) -> Config:
    """Load a config file written by write_config."""
    return load_config(path)


# --- a running daemon with its console, for the admin pages ---------------------------------

PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
WEB_ON_LOOPBACK = (
    "[asterisk]\nami_enabled = false\nagi_port = 0\n\n"
    "[web]\nhost = \"127.0.0.1\"\nport = 0\n\n[notify]\nenabled = false\n"
)
# Every account the admin-page tests log in with: username -> role.
ACCOUNTS = {"管理员": "admin", "admin2": "admin", "前台": "reception", "hr1": "hr"}


@dataclass
class AdminSite:
    """The running daemon, its console URL and the config file it reloads."""

    daemon: Daemon
    url: str
    config_path: Path
    store_path: Path

    def client(self) -> aiohttp.ClientSession:
        """Return a client with its own cookie jar (cookies on 127.0.0.1 allowed)."""
        return aiohttp.ClientSession(base_url=self.url,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True))


@pytest.fixture
async def admin_site(write_config: ConfigWriter, store_path: Path) -> AsyncIterator[AdminSite]:
    path = write_config(rules="flag_threshold = 40", extra=WEB_ON_LOOPBACK)
    daemon = Daemon(load(path))
    await daemon.start()
    try:
        assert daemon.store is not None
        for username, role in ACCOUNTS.items():
            await create_user(daemon.store.db, username, PASSWORD, role)
        yield AdminSite(daemon, daemon.web_url, path, store_path)
    finally:
        await daemon.close()


async def login(client: aiohttp.ClientSession, username: str,
                password: str = PASSWORD) -> int:
    """Log in through the form as a browser does; return the status of the final page."""
    async with client.get("/login") as page:
        html = await page.text()
    token = CSRF_INPUT.search(html)
    assert token is not None

    form = {"csrf_token": token.group(1), "username": username, "password": password}
    async with client.post("/login", data=form) as response:
        await response.read()
        return response.status


async def page_csrf(client: aiohttp.ClientSession, path: str = "/admin") -> str:
    """Return the session's CSRF token from a page's forms."""
    async with client.get(path) as page:
        html = await page.text()
    token = CSRF_INPUT.search(html)
    assert token is not None, html[:500]
    return token.group(1)


def audit_rows(store_path: Path) -> list[tuple[str, str, str]]:
    """Return (actor, action, detail) of every audit row, oldest first."""
    with sqlite3.connect(store_path) as connection:
        rows = connection.execute(
            "SELECT actor, action, detail FROM audit_log ORDER BY id").fetchall()
    return [tuple(row) for row in rows]
