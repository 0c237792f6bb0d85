"""The servers under test: the callscreen daemon, and a bare panoramisk FastAGI application."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from panoramisk.fast_agi import Application, Request

from callscreen.config import Config
from callscreen.daemon import Daemon, freeze_startup_objects, utc_now

LOOPBACK = "127.0.0.1"
# What the bare baseline sets: the same six CALLSCREEN_* variables, with fixed values.
BARE_VARIABLES = (
    ("CALLSCREEN_VERDICT", "allow"), ("CALLSCREEN_CATEGORY", "normal"),
    ("CALLSCREEN_SCORE", "0"), ("CALLSCREEN_TAG", ""), ("CALLSCREEN_REASONS", ""),
)


def bench_config(store_path: Path) -> Config:
    """Return the default config with FastAGI on a free loopback port and only the core on.

    The web console, AMI and notifications are off because the benchmark drives FastAGI
    and AMI itself. The HR hooks stay on, as in production.
    """
    config = Config()

    return replace(
        config,
        asterisk=replace(config.asterisk, agi_host=LOOPBACK, agi_port=0, ami_enabled=False,
                         ami_host=LOOPBACK),
        store=replace(config.store, path=str(store_path)),
        web=replace(config.web, enabled=False, host=LOOPBACK, port=0),
        notify=replace(config.notify, enabled=False),
    )


@asynccontextmanager
async def running_daemon(config: Config,
                         clock: Callable[[], datetime] = utc_now) -> AsyncIterator[Daemon]:
    """Start a daemon with `config` (stamping times from `clock`) and close it on exit."""
    daemon = Daemon(config, clock=clock)
    await daemon.start()
    freeze_startup_objects()
    try:
        yield daemon
    finally:
        await daemon.close()


async def _bare_screen(request: Request) -> None:
    call_id = f"c{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"
    for name, value in (*BARE_VARIABLES, ("CALLSCREEN_CALL_ID", call_id)):
        await request.send_command(f'SET VARIABLE {name} "{value}"')


@asynccontextmanager
async def running_bare_agi() -> AsyncIterator[int]:
    """Serve a bare panoramisk FastAGI `screen` route on a free loopback port; yield it."""
    app = Application()
    app.add_route("screen", _bare_screen)
    server = await asyncio.start_server(app.handler, LOOPBACK, 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()
