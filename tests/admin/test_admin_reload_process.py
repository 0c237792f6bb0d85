"""Hot reload of a real `callscreen run` process, driven as an admin would drive it.

The daemon runs as a child process with a config file and a pid file. A fake PBX in the
test process places calls over FastAGI, and the verdict is read from the variables the
daemon set on the call. The tests then edit the config file and reload the daemon, once
with `callscreen reload` and once with a plain SIGHUP, and read `callscreen status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from callscreen.pbx.fake import FakeAsterisk, FakeCall
from callscreen.pbx.fake.asterisk import DEMO_AMI_SECRET

from .conftest import run_cli

START_TIMEOUT_S = 30.0
EVENT_TIMEOUT_S = 15.0
# Three virtual-operator numbers from different blocks: each scores 25 on its number kind
# alone, and none adds repeat-caller history to the next.
FIRST, SECOND, THIRD = "17012345678", "17112345678", "16512345678"
IN_FLIGHT_CALLS = 10


@dataclass
class DaemonProcess:
    """A `callscreen run` child process and the JSON log events it has written so far."""

    process: asyncio.subprocess.Process
    events: list[dict[str, Any]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def wait_for(self, event: str, *, after: int = 0) -> dict[str, Any]:
        """Wait until `event` has been logged more than `after` times; return the newest."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + EVENT_TIMEOUT_S
        while loop.time() < deadline:
            matches = [entry for entry in self.events if entry.get("event") == event]
            if len(matches) > after:
                return matches[-1]
            assert self.process.returncode is None, self.events[-5:]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {event!r} log event; last events: {self.events[-5:]}")


async def _collect(stream: asyncio.StreamReader, events: list[dict[str, Any]]) -> None:
    while line := await stream.readline():
        with contextlib.suppress(json.JSONDecodeError):
            events.append(json.loads(line))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Setup:
    """Paths and ports of one daemon under test."""

    config: Path
    pid_file: Path
    store: Path
    agi_port: int
    web_port: int

    def write(self, rules: str, *, ami_port: int | None = None) -> None:
        """Write the config file with `rules` as the body of its [rules] table.

        With `ami_port`, the daemon logs in to the fake PBX's AMI there; otherwise AMI is off.
        """
        if ami_port is None:
            ami = "ami_enabled = false"
        else:
            ami = (f'ami_host = "127.0.0.1"\nami_port = {ami_port}\n'
                   f'ami_secret = "{DEMO_AMI_SECRET}"')
        self.config.write_text(f"""
[asterisk]
{ami}
agi_host = "127.0.0.1"
agi_port = {self.agi_port}

[numbers]
area_code = "021"

[rules]
{rules}

[store]
path = "{self.store}"

[log]
level = "info"
format = "json"

[web]
host = "127.0.0.1"
port = {self.web_port}
""", encoding="utf-8")

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/healthz"


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(config=tmp_path / "callscreen.toml", pid_file=tmp_path / "callscreen.pid",
                 store=tmp_path / "callscreen.sqlite3", agi_port=_free_port(),
                 web_port=_free_port())


@contextlib.asynccontextmanager
async def running_daemon(setup: Setup) -> AsyncIterator[DaemonProcess]:
    """Run `callscreen run` on the config file as written; stop it with SIGTERM."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callscreen", "run", "--config", str(setup.config),
        "--pid-file", str(setup.pid_file),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, limit=1_048_576)
    assert process.stderr is not None
    running = DaemonProcess(process)
    running.reader = asyncio.create_task(_collect(process.stderr, running.events))

    try:
        await running.wait_for("web_listening")
        yield running
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout=30)
        await running.reader


@pytest.fixture
async def daemon(setup: Setup) -> AsyncIterator[DaemonProcess]:
    setup.write("flag_threshold = 40")
    async with running_daemon(setup) as running:
        yield running


async def verdict_of_call(setup: Setup, caller: str) -> str:
    """Place one call through the fake PBX; return the verdict the daemon set on it."""
    fake = FakeAsterisk(agi_port=setup.agi_port)
    await fake.start()
    try:
        result = await fake.place_call(FakeCall(caller, talk_seconds=0))
    finally:
        await fake.close()

    assert result.agi_status == "SUCCESS", result
    return result.variables["CALLSCREEN_VERDICT"]


async def test_reload_cli_applies_new_threshold(setup: Setup, daemon: DaemonProcess) -> None:
    assert await verdict_of_call(setup, FIRST) == "allow"

    setup.write("flag_threshold = 20")
    reloaded = await asyncio.to_thread(run_cli, "reload", "--pid-file", setup.pid_file)
    event = await daemon.wait_for("config_reloaded")

    assert reloaded.code == 0, reloaded.stderr
    assert event["path"] == str(setup.config)
    assert await verdict_of_call(setup, SECOND) == "flag"


async def test_sighup_with_broken_config_keeps_rules(setup: Setup,
                                                     daemon: DaemonProcess) -> None:
    setup.write("flag_threshold = 20")
    os.kill(daemon.process.pid, signal.SIGHUP)
    await daemon.wait_for("config_reloaded")
    assert await verdict_of_call(setup, FIRST) == "flag"

    setup.write("flag_threshold = 0")
    os.kill(daemon.process.pid, signal.SIGHUP)
    rejected = await daemon.wait_for("config_reload_rejected")
    status = await asyncio.to_thread(run_cli, "status", "--url", setup.health_url)

    assert any("flag_threshold" in problem for problem in rejected["problems"])
    assert await verdict_of_call(setup, SECOND) == "flag"
    assert daemon.process.returncode is None
    assert status.code == 1, status.stdout + status.stderr
    assert "flag_threshold" in status.stdout


async def test_good_reload_clears_status_error(setup: Setup, daemon: DaemonProcess) -> None:
    setup.write("flag_threshold = 0")
    os.kill(daemon.process.pid, signal.SIGHUP)
    await daemon.wait_for("config_reload_rejected")

    setup.write("flag_threshold = 30")
    os.kill(daemon.process.pid, signal.SIGHUP)
    await daemon.wait_for("config_reloaded")
    status = await asyncio.to_thread(run_cli, "status", "--url", setup.health_url)

    assert status.code == 0, status.stdout + status.stderr
    assert "flag_threshold" not in status.stdout
    assert await verdict_of_call(setup, THIRD) == "allow"


async def test_reload_keeps_calls_in_flight(setup: Setup) -> None:
    fake = FakeAsterisk(agi_port=setup.agi_port, ring_delay_s=0.5)
    await fake.start()
    setup.write("flag_threshold = 40", ami_port=fake.ami_port)
    callers = [f"1391234{index:04d}" for index in range(IN_FLIGHT_CALLS)]

    try:
        async with running_daemon(setup) as daemon:
            await daemon.wait_for("ami_logged_in")
            calls = [asyncio.create_task(fake.place_call(FakeCall(caller, talk_seconds=1.0)))
                     for caller in callers]
            await daemon.wait_for("call_screened", after=IN_FLIGHT_CALLS - 1)

            setup.write("flag_threshold = 20", ami_port=fake.ami_port)
            os.kill(daemon.process.pid, signal.SIGHUP)
            results = await asyncio.gather(*calls)
            await daemon.wait_for("config_reloaded")
            rows = await wait_for_ended_calls(setup.store, IN_FLIGHT_CALLS)
            events = [entry.get("event") for entry in daemon.events]
    finally:
        await fake.close()

    assert events.index("config_reloaded") < events.index("call_recorded")
    assert [result.agi_status for result in results] == ["SUCCESS"] * IN_FLIGHT_CALLS
    assert all("CALLSCREEN_VERDICT" in result.variables for result in results)
    assert sorted(linkedid for linkedid, _ in rows) == sorted(r.linkedid for r in results)
    assert all(answered_by == "100" for _, answered_by in rows)


async def wait_for_ended_calls(store: Path, count: int) -> list[tuple[str, str]]:
    """Wait until `count` calls have ended in the store; return (linkedid, answered_by) rows."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + EVENT_TIMEOUT_S
    rows: list[tuple[str, str]] = []
    while loop.time() < deadline:
        with contextlib.closing(sqlite3.connect(store)) as connection:
            rows = connection.execute(
                "SELECT linkedid, answered_by FROM calls WHERE ended_at IS NOT NULL").fetchall()
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.1)
    raise AssertionError(f"{len(rows)} of {count} calls ended in the store")
