"""A daemon and a fake Asterisk on loopback, and helpers that read the store file directly.

Fault tests import these with `from .conftest import ...`. Reading the sqlite file through
a separate connection shows what a restarted daemon would find, not the daemon's cache.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from callscreen.config import Config
from callscreen.daemon import Daemon
from callscreen.pbx.fake import FakeAsterisk, FakeCall, FakeCallResult
from callscreen.pbx.fake.asterisk import DEMO_AMI_SECRET

from ..reliability_report import register

LOOPBACK = "127.0.0.1"
WAIT_LIMIT_S = 15.0


def daemon_config(tmp_path: Path, *, web: bool = False, notify: bool = False,
                  **asterisk: Any) -> Config:
    """Return a config with FastAGI on port 0, the store in `tmp_path`, AMI not yet started."""
    config = Config()
    return replace(
        config,
        asterisk=replace(config.asterisk, agi_host=LOOPBACK, agi_port=0, ami_enabled=False,
                         ami_host=LOOPBACK, ami_secret=DEMO_AMI_SECRET, **asterisk),
        numbers=replace(config.numbers, area_code="021"),
        store=replace(config.store, path=str(tmp_path / "callscreen.sqlite3")),
        web=replace(config.web, enabled=web, host=LOOPBACK, port=0),
        notify=replace(config.notify, enabled=notify),
    )


@asynccontextmanager
async def running_daemon(config: Config, *, ami: bool = True, ami_port: int = 0,
                         ring_delay_s: float = 0.0) -> AsyncIterator[tuple[Daemon, FakeAsterisk]]:
    """Start the daemon and a fake PBX that screens through it; close both afterwards.

    `ring_delay_s` is how long reception's phone rings before it answers.
    """
    daemon = Daemon(config)
    await daemon.start()
    try:
        assert daemon.agi is not None
        fake = FakeAsterisk(agi_port=daemon.agi.port, ami_port=ami_port,
                            ami_secret=config.asterisk.ami_secret, ring_delay_s=ring_delay_s)
        await fake.start()
        try:
            if ami:
                daemon.start_ami(LOOPBACK, fake.ami_port)
                await wait_until(lambda: logged_in(daemon), "AMI login")
            yield daemon, fake
        finally:
            await fake.close()
    finally:
        await daemon.close()


def logged_in(daemon: Daemon) -> bool:
    """Return True when the daemon's AMI client is logged in."""
    return daemon.ami is not None and daemon.ami.health.logged_in


async def wait_until(condition: Callable[[], bool], what: str,
                     timeout: float = WAIT_LIMIT_S) -> None:
    """Poll `condition` every 20 ms; raise AssertionError naming `what` after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def place(fake: FakeAsterisk, caller: str, **changes: Any) -> FakeCallResult:
    """Place one short answered call from `caller`; `changes` override FakeCall fields."""
    call = FakeCall(caller, talk_seconds=changes.pop("talk_seconds", 0.1), **changes)
    return await fake.place_call(call)


def query(path: str | Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one read query on a fresh connection to the store file."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return list(connection.execute(sql, params).fetchall())
    finally:
        connection.close()


def rows_for_uniqueid(path: str | Path, uniqueid: str) -> list[tuple[Any, ...]]:
    """Return (call_id, verdict, ended_at, answered_by) of every row of one call."""
    return query(path, "SELECT call_id, verdict, ended_at, answered_by FROM calls "
                       "WHERE uniqueid = ? OR linkedid = ?", (uniqueid, uniqueid))


def pytest_configure(config: pytest.Config) -> None:
    register(config)
