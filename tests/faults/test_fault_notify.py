"""Notification receivers that refuse, hang, drop or answer 500 while calls open an HR case.

Every call to the employee's DID counts as suspected here (`suspect_categories` includes
"normal"), so three calls open a case and queue one notification per channel. The outbox
must retry until the receiver works, deliver each dedupe key once, and never slow a call.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP

from callscreen.config import Config
from callscreen.daemon import Daemon
from callscreen.pbx.fake import FakeAsterisk, FakeCallResult
from callscreen.store.reception import Employee, replace_employees

from .conftest import daemon_config, place, query, running_daemon, wait_until

DID = "02188886666"
CALLS = 3
FAILURES = 3
EMPLOYEE = Employee(employee_id="E1001", name="张伟", department="财务部", extension="8001",
                    did=DID)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _notify_config(tmp_path: Path, **notify: Any) -> Config:
    config = daemon_config(tmp_path, notify=True)
    return replace(
        config,
        notify=replace(config.notify, timeout_s=0.5, backoff_initial_s=0.05,
                       backoff_max_s=0.5, poll_interval_s=0.05, **notify),
        anomaly=replace(config.anomaly, suspect_categories=["normal", "collector"],
                        low={"short_calls": CALLS}),
    )


async def _screen_calls(daemon: Daemon, fake: FakeAsterisk) -> list[FakeCallResult]:
    assert daemon.store is not None
    await replace_employees(daemon.store.db, [EMPLOYEE], datetime.now(UTC))
    return [await place(fake, f"1391234{index:04d}", did=DID) for index in range(CALLS)]


def _outbox_states(path: str) -> dict[str, int]:
    return dict(query(path, "SELECT state, count(*) FROM outbox GROUP BY state"))


def _all_sent(path: str) -> bool:
    states = _outbox_states(path)
    return bool(states) and set(states) == {"sent"}


@dataclass
class Webhook:
    """A loopback webhook receiver that misbehaves in one way first."""

    mode: str
    attempts: int = 0
    delivered: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.mode == "500" and self.attempts <= FAILURES:
            return web.Response(status=500)
        if self.mode == "hangs" and self.attempts == 1:
            await self.release.wait()
            return web.Response(status=503)

        self.delivered.append(request.headers["X-Callscreen-Dedupe-Key"])
        return web.json_response({"ok": True})


async def _serve(hook: Webhook, port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


WEBHOOK_FAULTS = {
    "500": f"webhook 前 {FAILURES} 次返回 500 / webhook answers 500 {FAILURES} times",
    "hangs": "webhook 第一次请求不返回 / webhook never answers the first request",
    "refused": "webhook 端口未监听，稍后恢复 / webhook port refuses, comes up later",
}


@pytest.mark.parametrize("mode", sorted(WEBHOOK_FAULTS))
async def test_webhook_fault_retries_until_delivered(mode: str, tmp_path: Path,
                                                     reliability) -> None:
    reliability.describe(WEBHOOK_FAULTS[mode],
                         "calls keep their verdicts; the outbox retries with backoff; each "
                         "notification delivered once; none lost")
    port = _free_port()
    hook = Webhook(mode)
    config = _notify_config(tmp_path, channels=["webhook"],
                            webhook_url=f"http://127.0.0.1:{port}/hook")
    runner = None if mode == "refused" else await _serve(hook, port)

    try:
        async with running_daemon(config) as (daemon, fake):
            results = await _screen_calls(daemon, fake)
            await wait_until(lambda: bool(_outbox_states(config.store.path)),
                             "the queued notification")
            if runner is None:
                await wait_until(lambda: "pending" in _outbox_states(config.store.path)
                                 and _attempts(config.store.path) >= 2, "failed attempts")
                runner = await _serve(hook, port)
            await wait_until(lambda: _all_sent(config.store.path), "delivery")
            await asyncio.sleep(0.3)  # a duplicate delivery would arrive in this pause
            keys = [row[0] for row in query(config.store.path,
                                            "SELECT dedupe_key FROM outbox")]
    finally:
        hook.release.set()
        if runner is not None:
            await runner.cleanup()

    reliability.observed = (f"{len(results)} calls answered "
                            f"({', '.join(r.agi_status for r in results)}); "
                            f"{hook.attempts} requests reached the receiver, "
                            f"{len(hook.delivered)} delivered for {len(keys)} queued")
    assert all(result.agi_status == "SUCCESS" for result in results)
    assert sorted(hook.delivered) == sorted(keys)
    assert hook.attempts > len(keys) or mode == "refused"


def _attempts(path: str) -> int:
    return int(query(path, "SELECT coalesce(max(attempts), 0) FROM outbox")[0][0])


class Mailbox:
    """An aiosmtpd handler that records each message's dedupe key."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.keys: list[str] = []
        self.rejected = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.mode == "rejects" and self.rejected < FAILURES:
            self.rejected += 1
            return "451 Requested action aborted: local error in processing"

        content = envelope.content.decode("utf-8", "replace")
        for line in content.splitlines():
            if line.startswith("X-Callscreen-Dedupe-Key:"):
                self.keys.append(line.split(":", 1)[1].strip())
        return "250 Message accepted for delivery"


class _Stalled(asyncio.Protocol):
    """Accepts the connection and never sends the SMTP greeting (or closes at once)."""

    def __init__(self, drop: bool) -> None:
        self.drop = drop
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if self.drop:
            transport.close()


@dataclass
class SmtpServer:
    """A loopback SMTP server whose first connection stalls or drops, as `mode` says."""

    mode: str
    mailbox: Mailbox
    connections: int = 0
    stalled: list[_Stalled] = field(default_factory=list)

    def protocol(self) -> asyncio.BaseProtocol:
        self.connections += 1
        if self.connections == 1 and self.mode in ("hangs", "drops"):
            stalled = _Stalled(drop=self.mode == "drops")
            self.stalled.append(stalled)
            return stalled

        return SMTP(self.mailbox, hostname="127.0.0.1")

    def close_stalled(self) -> None:
        for stalled in self.stalled:
            if stalled.transport is not None:
                stalled.transport.close()


@asynccontextmanager
async def smtp_server(mode: str) -> AsyncIterator[tuple[SmtpServer, int]]:
    """Serve SMTP on a loopback port; yield the server state and the port."""
    state = SmtpServer(mode, Mailbox(mode))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(state.protocol, "127.0.0.1", 0)
    try:
        yield state, int(server.sockets[0].getsockname()[1])
    finally:
        state.close_stalled()
        server.close()
        await server.wait_closed()


SMTP_FAULTS = {
    "hangs": "SMTP 服务器连接后不应答 / SMTP server accepts and never greets",
    "drops": "SMTP 服务器接受后立即断开 / SMTP server drops the connection",
    "rejects": f"SMTP 服务器前 {FAILURES} 次返回 451 / SMTP server answers 451 {FAILURES} times",
}


@pytest.mark.parametrize("mode", sorted(SMTP_FAULTS))
async def test_smtp_fault_retries_until_delivered(mode: str, tmp_path: Path,
                                                  reliability) -> None:
    reliability.describe(SMTP_FAULTS[mode],
                         "calls keep their verdicts; the outbox retries with backoff; each "
                         "notification delivered once; none lost")

    async with smtp_server(mode) as (server, port):
        config = _notify_config(tmp_path, channels=["email"], smtp_host="127.0.0.1",
                                smtp_port=port, email_to=["hr@example.test"])
        async with running_daemon(config) as (daemon, fake):
            results = await _screen_calls(daemon, fake)
            await wait_until(lambda: _all_sent(config.store.path), "delivery")
            await asyncio.sleep(0.3)  # a duplicate delivery would arrive in this pause
            keys = [row[0] for row in query(config.store.path,
                                            "SELECT dedupe_key FROM outbox")]

    reliability.observed = (f"{len(results)} calls answered; {server.connections} SMTP "
                            f"connections, {len(server.mailbox.keys)} delivered for "
                            f"{len(keys)} queued")
    assert all(result.agi_status == "SUCCESS" for result in results)
    assert sorted(server.mailbox.keys) == sorted(keys)
    assert server.connections > len(keys)
