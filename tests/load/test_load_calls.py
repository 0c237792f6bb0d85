"""Sustained load: 200 concurrent calls set up over FastAGI while 20 reception viewers watch.

The daemon runs as `python -m callscreen run` in its own process, so that the load
generator and the daemon do not share an event loop. Each of CONCURRENT_CALLS workers is
one line: it plays res_agi's side of a call set-up (environment block, a `200 result=1`
for each SET VARIABLE), holds the call for HOLD_S seconds and sets up the next, for
LOAD_DURATION_S seconds or MAX_SESSIONS_PER_WORKER calls. The workers start HOLD_S /
CONCURRENT_CALLS apart, so 200 calls are up at once and set-ups arrive at a steady
CONCURRENT_CALLS / HOLD_S = 50 per second. VIEWERS clients, logged in before the load
starts, keep the console's event stream open throughout.

A second test sets up all 200 calls at the same instant. Both tests require every verdict
within the decision deadline. A verdict is late when the daemon fell back to "allow" at the
deadline, or when CALLSCREEN_VERDICT reached the client more than DEADLINE_MS after it sent
the environment block. Either way the call rang unscreened or later than promised.

LOAD_DURATION_S is 60 s as the reliability promise states; CI runs it at that length and
the test takes about LOAD_DURATION_S + 15 s. CALLSCREEN_LOAD_SECONDS overrides it for a
quick local run (for example 5).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callscreen.pbx.fake.agi_client import variables_set_by
from callscreen.reception.accounts import create_user
from callscreen.store.db import Database

LOAD_DURATION_S = float(os.environ.get("CALLSCREEN_LOAD_SECONDS", "60"))
CONCURRENT_CALLS = 200
HOLD_S = 4.0
VIEWERS = 20
# Bounds the loop even if sessions ever became instant.
MAX_SESSIONS_PER_WORKER = 5_000
DEADLINE_MS = 300
SESSION_TIMEOUT_S = 10.0
START_TIMEOUT_S = 30.0
# Viewers keep reading this long after the last set-up, for the events still on the way.
VIEWER_GRACE_S = 2.0
PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
CALLERS = ["13912345678", "17012345678", "02161234567", "4008001234", "95588", "anonymous",
           "+8613800138000", "1069012345", "008613912345678", "84664163"]


@dataclass
class LoadStats:
    """What the load generator saw."""

    sessions: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    fallbacks: int = 0
    late_verdicts: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    viewer_events: list[int] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(worker: int, number: int) -> bytes:
    caller = CALLERS[(worker + number) % len(CALLERS)]
    lines = [
        "agi_network: yes", "agi_network_script: screen",
        "agi_request: agi://127.0.0.1/screen", f"agi_channel: IAX2/carrier-{worker}",
        "agi_language: en", "agi_type: IAX2", f"agi_uniqueid: load-{worker}.{number}",
        "agi_version: 22.10.1", f"agi_callerid: {caller}", "agi_calleridname: unknown",
        "agi_callingpres: 0", "agi_dnid: unknown", "agi_context: from-trunk",
        "agi_extension: 02188886666", "agi_priority: 3", "agi_arg_1: " + caller,
        "agi_arg_2: 02188886666",
    ]
    return ("\n".join(lines) + "\n\n").encode()


async def one_session(port: int, worker: int, number: int, stats: LoadStats) -> None:
    """Play one FastAGI session as res_agi does and record its verdict and latency."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    variables: dict[str, str] = {}
    verdict_ms = 0.0
    try:
        started = loop.time()
        writer.write(_environment(worker, number))
        await writer.drain()
        while line := await reader.readline():
            assigned = variables_set_by(line.decode())
            if assigned is None:
                stats.errors[f"unexpected line {line[:30]!r}"] += 1
                break
            elapsed_ms = (loop.time() - started) * 1000
            if not variables:
                stats.latencies_ms.append(elapsed_ms)
            if "CALLSCREEN_VERDICT" in assigned:
                verdict_ms = elapsed_ms
            variables.update(assigned)
            writer.write(b"200 result=0\n" if line.startswith(b"EXEC") else b"200 result=1\n")
            await writer.drain()
        writer.write(b"HANGUP\n")
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    stats.sessions += 1
    stats.verdicts[variables.get("CALLSCREEN_VERDICT", "missing")] += 1
    fell_back = variables.get("CALLSCREEN_REASONS") == "error"
    stats.fallbacks += fell_back
    stats.late_verdicts += fell_back or verdict_ms > DEADLINE_MS


async def call_worker(port: int, worker: int, stop_at: float, stats: LoadStats, *,
                      hold_s: float = HOLD_S, offset_s: float = 0.0) -> None:
    """Set up a call, hold it `hold_s`, repeat until `stop_at` (loop time) or the bound."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(offset_s)
    for number in range(MAX_SESSIONS_PER_WORKER):
        if loop.time() >= stop_at:
            return
        try:
            await asyncio.wait_for(one_session(port, worker, number, stats), SESSION_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            stats.errors[type(exc).__name__] += 1
        await asyncio.sleep(hold_s)


async def open_viewer(base: str) -> tuple[aiohttp.ClientSession, aiohttp.ClientResponse]:
    """Log in as reception, open the console's event stream and read its snapshot event."""
    session = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    await _login(session)
    stream = await session.get("/console/events")
    assert stream.status == 200
    assert await stream.content.readline() == b"event: snapshot\n"
    return session, stream


async def watch(stream: aiohttp.ClientResponse, stop_at: float, index: int,
                stats: LoadStats) -> None:
    """Count `call` events on an open stream until `stop_at` (loop time)."""
    loop = asyncio.get_running_loop()
    events = 0
    while (remaining := stop_at - loop.time()) > 0:
        try:
            line = await asyncio.wait_for(stream.content.readline(), remaining)
        except TimeoutError:
            break
        if not line:
            stats.errors[f"viewer {index} stream closed"] += 1
            break
        events += line == b"event: call\n"
    stats.viewer_events.append(events)


async def _login(session: aiohttp.ClientSession) -> None:
    async with session.get("/login") as page:
        token = CSRF_INPUT.search(await page.text())
    assert token is not None
    form = {"csrf_token": token.group(1), "username": "前台", "password": PASSWORD}
    async with session.post("/login", data=form) as response:
        await response.read()
        assert response.url.path == "/console"


def write_config(tmp_path: Path, agi_port: int) -> Path:
    """Write the daemon's config: FastAGI and web on loopback, AMI and notifications off."""
    path = tmp_path / "callscreen.toml"
    path.write_text(f"""
[asterisk]
ami_enabled = false
agi_host = "127.0.0.1"
agi_port = {agi_port}
decision_deadline_ms = {DEADLINE_MS}

[store]
path = "{tmp_path / 'callscreen.sqlite3'}"

[log]
level = "info"
format = "json"

[web]
host = "127.0.0.1"
port = 0

[notify]
enabled = false
""", encoding="utf-8")
    return path


async def _collect(stream: asyncio.StreamReader, events: list[dict[str, Any]]) -> None:
    # Keeps the listening lines, warnings and errors; per-call INFO lines are dropped.
    while line := await stream.readline():
        with contextlib.suppress(json.JSONDecodeError):
            entry = json.loads(line)
            if entry.get("level") != "info" or str(entry.get("event")).endswith("listening"):
                events.append(entry)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


@dataclass
class DaemonUnderLoad:
    """The daemon process, its AGI port, web URL and the log events it has written."""

    process: asyncio.subprocess.Process
    agi_port: int
    base: str
    events: list[dict[str, Any]]

    def problems(self) -> list[dict[str, Any]]:
        """Return the WARNING and ERROR events logged so far."""
        return [entry for entry in self.events if entry.get("level") in ("warning", "error")]


@contextlib.asynccontextmanager
async def daemon_process(tmp_path: Path) -> AsyncIterator[DaemonUnderLoad]:
    """Seed a reception login, start `callscreen run` and stop it with SIGTERM afterwards."""
    db = await Database.open(tmp_path / "callscreen.sqlite3")
    await create_user(db, "前台", PASSWORD, "reception")
    await db.close()
    agi_port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callscreen", "run", "--config",
        str(write_config(tmp_path, agi_port)), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, limit=1_048_576)
    assert process.stderr is not None
    events: list[dict[str, Any]] = []
    collector = asyncio.create_task(_collect(process.stderr, events))

    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            while not any(entry.get("event") == "web_listening" for entry in events):
                assert process.returncode is None, events[-5:]
                await asyncio.sleep(0.05)
        base = next(entry["url"] for entry in events if entry.get("event") == "web_listening")
        yield DaemonUnderLoad(process, agi_port, base, events)
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 30)
        await collector


def _latency_summary(stats: LoadStats) -> str:
    p50, p99 = _percentile(stats.latencies_ms, 0.5), _percentile(stats.latencies_ms, 0.99)
    slowest = max(stats.latencies_ms, default=0.0)
    return (f"first variable after p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {slowest:.0f} ms "
            "(measured by the client)")


@pytest.mark.load
async def test_load_verdicts_within_deadline(tmp_path: Path, reliability) -> None:
    reliability.describe(
        f"负载：{CONCURRENT_CALLS} 路并发通话 {LOAD_DURATION_S:.0f} s（每秒 "
        f"{CONCURRENT_CALLS / HOLD_S:.0f} 次建立），{VIEWERS} 个控制台观看者 / load: "
        f"{CONCURRENT_CALLS} concurrent calls for {LOAD_DURATION_S:.0f} s "
        f"({CONCURRENT_CALLS / HOLD_S:.0f} set-ups per second) with {VIEWERS} live viewers",
        f"every set-up gets its verdict within the {DEADLINE_MS} ms deadline (none late, none "
        "falls back); no error on either side; every viewer gets the calls live")
    stats = LoadStats()
    loop = asyncio.get_running_loop()

    async with daemon_process(tmp_path) as daemon:
        viewers = await asyncio.gather(*(open_viewer(daemon.base) for _ in range(VIEWERS)))
        try:
            stop_at = loop.time() + LOAD_DURATION_S
            async with asyncio.TaskGroup() as group:
                for index, (_session, stream) in enumerate(viewers):
                    group.create_task(watch(stream, stop_at + VIEWER_GRACE_S, index, stats))
                for worker in range(CONCURRENT_CALLS):
                    group.create_task(call_worker(
                        daemon.agi_port, worker, stop_at, stats,
                        offset_s=worker * HOLD_S / CONCURRENT_CALLS))
        finally:
            for session, stream in viewers:
                stream.close()
                await session.close()
        problems = daemon.problems()

    reliability.observed = (
        f"{stats.sessions} set-ups, verdicts {dict(stats.verdicts)}, late verdicts "
        f"{stats.late_verdicts}, fallbacks {stats.fallbacks}; {_latency_summary(stats)}; "
        "client errors "
        f"{sum(stats.errors.values())}; daemon warnings/errors {len(problems)}; call events "
        f"per viewer min {min(stats.viewer_events, default=0)}")
    assert stats.sessions >= CONCURRENT_CALLS
    assert stats.verdicts["missing"] == 0
    assert stats.fallbacks == 0
    assert stats.late_verdicts == 0
    assert not stats.errors
    assert not problems, problems[:5]
    assert len(stats.viewer_events) == VIEWERS
    assert min(stats.viewer_events) >= stats.sessions


@pytest.mark.load
async def test_burst_of_simultaneous_setups(tmp_path: Path, reliability) -> None:
    reliability.describe(
        f"突发：{CONCURRENT_CALLS} 个呼叫同时建立 / burst: {CONCURRENT_CALLS} call set-ups "
        "at the same instant",
        f"every call gets its verdict within the {DEADLINE_MS} ms deadline: no late "
        "verdict, no fallback, no error")
    stats = LoadStats()
    loop = asyncio.get_running_loop()

    async with daemon_process(tmp_path) as daemon:
        stop_at = loop.time() + 0.1
        async with asyncio.TaskGroup() as group:
            for worker in range(CONCURRENT_CALLS):
                group.create_task(call_worker(daemon.agi_port, worker, stop_at, stats))
        errors = [entry for entry in daemon.problems() if entry.get("level") == "error"]

    reliability.observed = (f"{stats.sessions} set-ups, {stats.late_verdicts} late verdicts "
                            f"({stats.fallbacks} fell back to allow at the deadline); "
                            f"{_latency_summary(stats)}; errors "
                            f"{sum(stats.errors.values()) + len(errors)}")
    assert stats.sessions == CONCURRENT_CALLS
    assert stats.verdicts["missing"] == 0
    assert stats.late_verdicts == 0
    assert not stats.errors
    assert not errors, errors[:5]
