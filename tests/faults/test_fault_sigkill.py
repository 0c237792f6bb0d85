"""SIGKILL while the daemon writes calls, tags and cases, then a restart.

The daemon runs as `python -m callscreen run` with a config file in tmp_path. A fake PBX
in the test process places calls to one employee's DID, and a reception client tags them
through the console, so call rows, tags, HR cases and outbox items are all being written
when the process is killed. What the daemon reported as committed (its debug log, and a
200 response to a tag request) must be in the file afterwards, the file must pass
`PRAGMA integrity_check`, and after the restart every queued notification reaches the
webhook receiver, a second time only if it was in flight at the kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import socket
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from callscreen.pbx.fake import FakeAsterisk, FakeCall
from callscreen.pbx.fake.asterisk import DEMO_AMI_SECRET
from callscreen.reception.accounts import create_user
from callscreen.store.db import Database
from callscreen.store.reception import Employee, replace_employees

from .conftest import query, wait_until

DID = "02188886666"
EMPLOYEE_ID = "E1001"
PASSWORD = "correct horse battery"
# Bounds of the workload: at most this many rounds of CONCURRENT_CALLS calls.
MAX_ROUNDS = 40
CONCURRENT_CALLS = 3
# Kill once this much has been committed, so every kind of row is being written.
KILL_AFTER_RECORDS = 9
START_TIMEOUT_S = 30.0
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class DaemonProcess:
    """A `callscreen run` child process and the JSON log events it has written so far."""

    process: asyncio.subprocess.Process
    events: list[dict[str, Any]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    def seen(self, event: str) -> list[dict[str, Any]]:
        """Return every logged event named `event`."""
        return [entry for entry in self.events if entry.get("event") == event]

    async def kill(self) -> None:
        """Send SIGKILL and wait for the process and its log reader to end."""
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), timeout=10)
        if self.reader is not None:
            await self.reader

    async def stop(self) -> int:
        """Send SIGTERM; return the exit status."""
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), timeout=30)
        if self.reader is not None:
            await self.reader
        return code


async def _collect(stream: asyncio.StreamReader, events: list[dict[str, Any]]) -> None:
    while line := await stream.readline():
        with contextlib.suppress(json.JSONDecodeError):
            events.append(json.loads(line))


async def start_daemon(config: Path) -> DaemonProcess:
    """Start the daemon and wait until it logs that the web console is listening."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callscreen", "run", "--config", str(config),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, limit=1_048_576)
    assert process.stderr is not None
    daemon = DaemonProcess(process)
    daemon.reader = asyncio.create_task(_collect(process.stderr, daemon.events))
    try:
        await wait_until(lambda: _started(daemon) or process.returncode is not None,
                         "the daemon to start", timeout=START_TIMEOUT_S)
    except AssertionError as exc:
        process.kill()
        await process.wait()
        raise AssertionError(f"{exc}; last log events: {daemon.events[-5:]}") from exc
    assert process.returncode is None, daemon.events[-5:]
    return daemon


def _started(daemon: DaemonProcess) -> bool:
    return bool(daemon.seen("web_listening")) and bool(daemon.seen("ami_logged_in"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(tmp_path: Path, *, ami_port: int, agi_port: int, webhook: str) -> Path:
    """Write the daemon's TOML config; every address is loopback."""
    path = tmp_path / "callscreen.toml"
    path.write_text(f"""
[asterisk]
ami_host = "127.0.0.1"
ami_port = {ami_port}
ami_secret = "{DEMO_AMI_SECRET}"
ami_reconnect_max_s = 2
agi_host = "127.0.0.1"
agi_port = {agi_port}

[numbers]
area_code = "021"

[store]
path = "{tmp_path / 'callscreen.sqlite3'}"

[log]
level = "debug"
format = "json"

[web]
host = "127.0.0.1"
port = 0

[anomaly]
suspect_categories = ["normal", "collector"]
low = {{ short_calls = 3 }}
medium = {{ short_calls = 6 }}
high = {{ short_calls = 12 }}

[notify]
channels = ["webhook"]
webhook_url = "{webhook}"
timeout_s = 2
backoff_initial_s = 0.1
backoff_max_s = 1
poll_interval_s = 0.1
""", encoding="utf-8")
    return path


async def seed(store_path: Path) -> None:
    """Create the store with one employee on the DID and one reception login."""
    db = await Database.open(store_path)
    try:
        employee = Employee(employee_id=EMPLOYEE_ID, name="张伟", department="财务部",
                            extension="8001", did=DID)
        await replace_employees(db, [employee], datetime.now(UTC))
        await create_user(db, "前台", PASSWORD, "reception")
    finally:
        await db.close()


@dataclass
class Receiver:
    """Webhook deliveries by dedupe key."""

    deliveries: Counter[str] = field(default_factory=Counter)

    async def handle(self, request: web.Request) -> web.Response:
        self.deliveries[request.headers["X-Callscreen-Dedupe-Key"]] += 1
        return web.json_response({"ok": True})


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[tuple[Receiver, str]]:
    """Serve the webhook on a loopback port; yield its state and URL."""
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield receiver, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    finally:
        await runner.cleanup()


async def reception_client(base: str) -> tuple[aiohttp.ClientSession, str]:
    """Log in as reception; return the session and its CSRF token."""
    client = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with client.get("/login") as page:
        token = CSRF_INPUT.search(await page.text())
    assert token is not None
    form = {"csrf_token": token.group(1), "username": "前台", "password": PASSWORD}
    async with client.post("/login", data=form) as response:
        await response.read()
    async with client.get("/console") as page:
        token = CSRF_INPUT.search(await page.text())
    assert token is not None
    return client, token.group(1)


@dataclass
class Workload:
    """Calls placed and tags the console confirmed, counted as the work runs."""

    tagged: list[str] = field(default_factory=list)
    calls: int = 0


async def run_workload(fake: FakeAsterisk, client: aiohttp.ClientSession, csrf: str,
                       work: Workload) -> None:
    """Place rounds of concurrent calls to the employee and tag the first of each round."""
    for round_no in range(MAX_ROUNDS):
        calls = [FakeCall(f"1391234{round_no:02d}{index:02d}", did=DID, talk_seconds=0.05)
                 for index in range(CONCURRENT_CALLS)]
        results = await asyncio.gather(*(fake.place_call(call) for call in calls))
        work.calls += len(results)
        call_id = results[0].variables.get("CALLSCREEN_CALL_ID")
        if call_id:
            await _tag(client, csrf, call_id, work)


async def _tag(client: aiohttp.ClientSession, csrf: str, call_id: str,
               work: Workload) -> None:
    form = {"csrf_token": csrf, "action": "collector", "employee": EMPLOYEE_ID, "note": ""}
    with contextlib.suppress(aiohttp.ClientError):
        async with client.post(f"/console/calls/{call_id}/feedback", data=form,
                               headers={"Accept": "application/json"}) as response:
            if response.status == 200:
                work.tagged.append(call_id)


def _committed(daemon: DaemonProcess, event: str, key: str) -> set[str]:
    return {str(entry[key]) for entry in daemon.seen(event)}


def _present(path: Path, sql: str) -> set[str]:
    return {str(row[0]) for row in query(path, sql)}


async def _when(condition: Callable[[], bool], what: str) -> None:
    await wait_until(condition, what, timeout=START_TIMEOUT_S)


async def test_sigkill_loses_no_committed_row(tmp_path: Path, reliability) -> None:
    reliability.describe(
        "写入通话/标签/个案时 SIGKILL 后重启 / SIGKILL while writing calls, tags and cases, "
        "then restart",
        "every committed row present; PRAGMA integrity_check ok; each notification "
        "delivered, twice only if it was in flight at the kill")
    store_path = tmp_path / "callscreen.sqlite3"
    await seed(store_path)
    agi_port = _free_port()
    fake = FakeAsterisk(agi_port=agi_port, agi_timeout_s=2.0)
    await fake.start()
    work = Workload()

    async with webhook_receiver() as (receiver, hook_url):
        config = write_config(tmp_path, ami_port=fake.ami_port,
                              agi_port=agi_port, webhook=hook_url)
        daemon = await start_daemon(config)
        client, csrf = await reception_client(daemon.seen("web_listening")[0]["url"])
        workload = asyncio.create_task(run_workload(fake, client, csrf, work))
        try:
            await _when(lambda: len(daemon.seen("call_recorded")) >= KILL_AFTER_RECORDS
                        and bool(daemon.seen("hr_case_opened")) and len(work.tagged) >= 2,
                        "calls, tags and a case to be written")
            await daemon.kill()
        finally:
            workload.cancel()
            await asyncio.gather(workload, return_exceptions=True)
            await client.close()

        integrity = query(store_path, "PRAGMA integrity_check")[0][0]
        decided = _committed(daemon, "call_decision_stored", "call_id")
        recorded = _committed(daemon, "call_recorded", "call_id")
        cases = _committed(daemon, "hr_case_opened", "case_no")
        in_flight = _present(store_path, "SELECT dedupe_key FROM outbox WHERE state = 'sending'")
        rows = _present(store_path, "SELECT call_id FROM calls")
        ended = _present(store_path, "SELECT call_id FROM calls WHERE ended_at IS NOT NULL")
        tags = _present(store_path, "SELECT call_id FROM tags")
        case_rows = _present(store_path, "SELECT case_no FROM cases")

        restarted = await start_daemon(config)
        try:
            await _when(lambda: _outbox_done(store_path), "the outbox to drain after restart")
            keys = _present(store_path, "SELECT dedupe_key FROM outbox")
        finally:
            status = await restarted.stop()
    await fake.close()

    duplicates = {key for key, count in receiver.deliveries.items() if count > 1}
    reliability.observed = (
        f"killed after {len(recorded)} records, {len(work.tagged)} tags, {len(cases)} "
        f"case(s); integrity_check={integrity}; all present; {len(keys)} notifications "
        f"delivered, {len(duplicates)} twice (in flight at kill: {len(in_flight)})")
    assert integrity == "ok"
    assert decided <= rows
    assert recorded <= ended
    assert set(work.tagged) <= tags
    assert cases <= case_rows
    assert set(receiver.deliveries) == keys
    assert duplicates <= in_flight
    assert status == 0


def _outbox_done(path: Path) -> bool:
    try:
        states = _present(path, "SELECT DISTINCT state FROM outbox")
    except sqlite3.OperationalError:
        return False
    return states == {"sent"}
