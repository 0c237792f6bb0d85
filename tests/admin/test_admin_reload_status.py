"""Hot reload of a running daemon, and the health it reports."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from callscreen.admin.reload import reload_daemon, start_reload
from callscreen.admin.status import health_snapshot
from callscreen.daemon import Daemon
from callscreen.metrics import Metrics
from callscreen.tasks import TaskSet

from .conftest import ConfigWriter, load, run_cli

QUIET = "[asterisk]\nami_enabled = false\nagi_port = 0\n\n[web]\nenabled = false\n"
VIRTUAL = "17012345678"


@pytest.fixture
async def daemon(write_config: ConfigWriter) -> AsyncIterator[Daemon]:
    running = Daemon(load(write_config(rules="flag_threshold = 40", extra=QUIET)))
    await running.start()
    yield running
    await running.close()


async def verdict(daemon: Daemon, caller: str) -> str:
    assert daemon.screener is not None
    screened = await daemon.screener.screen(caller)
    return screened.decision.verdict.value


async def test_reload_valid_config_changes_next_call(daemon: Daemon,
                                                     write_config: ConfigWriter) -> None:
    path = write_config(rules="flag_threshold = 20", extra=QUIET)
    before = await verdict(daemon, VIRTUAL)

    result = await reload_daemon(daemon, path)

    assert result.ok
    assert before == "allow"
    assert await verdict(daemon, VIRTUAL) == "flag"
    assert daemon.config.rules.flag_threshold == 20


async def test_reload_invalid_config_keeps_old_rules(daemon: Daemon,
                                                     write_config: ConfigWriter) -> None:
    path = write_config(rules="flag_threshold = 0", extra=QUIET)
    metrics = Metrics()

    result = await reload_daemon(daemon, path, metrics=metrics)

    assert not result.ok
    assert "flag_threshold" in result.problems[0]
    assert daemon.last_reload is result
    assert daemon.config.rules.flag_threshold == 40
    assert await verdict(daemon, VIRTUAL) == "allow"
    assert b"callscreen_config_reload_failures_total 1.0" in metrics.render()


async def test_reload_reports_sections_needing_restart(daemon: Daemon,
                                                       write_config: ConfigWriter) -> None:
    path = write_config(rules="flag_threshold = 40", extra=QUIET + "[log]\nlevel = \"debug\"\n")

    result = await reload_daemon(daemon, path)

    assert result.ok
    assert result.restart_needed == ("log",)


async def test_sighup_handler_reloads(daemon: Daemon, write_config: ConfigWriter) -> None:
    path = write_config(rules="flag_threshold = 20", extra=QUIET)
    tasks = TaskSet("test")
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, start_reload, daemon, path, tasks)

    try:
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(500):
            if getattr(daemon, "last_reload", None) is not None:
                break
            await asyncio.sleep(0.01)
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        await tasks.drain(grace_s=5)

    assert daemon.last_reload is not None
    assert daemon.last_reload.ok
    assert await verdict(daemon, VIRTUAL) == "flag"


async def test_health_ok_for_running_daemon(daemon: Daemon) -> None:
    daemon.last_reload = None

    snapshot = health_snapshot(daemon, metrics=Metrics())

    assert snapshot["status"] == "ok"
    assert snapshot["agi"]["listening"]
    assert snapshot["agi"]["port"] > 0
    assert snapshot["outbox"]["backlog"] == 0
    assert isinstance(snapshot["outbox"]["backlog"], int)
    json.dumps(snapshot)


async def test_health_degraded_after_failed_reload(daemon: Daemon,
                                                   write_config: ConfigWriter) -> None:
    await reload_daemon(daemon, write_config(rules="flag_threshold = 0", extra=QUIET))

    snapshot = health_snapshot(daemon)

    assert snapshot["status"] == "degraded"
    assert snapshot["reload"]["ok"] is False
    assert "flag_threshold" in snapshot["reload"]["problems"][0]


async def test_status_cli_prints_reload_error(daemon: Daemon,
                                              write_config: ConfigWriter) -> None:
    await reload_daemon(daemon, write_config(rules="flag_threshold = 0", extra=QUIET))
    snapshot = health_snapshot(daemon)

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response(snapshot, status=503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        result = await asyncio.to_thread(run_cli, "status", "--url",
                                         f"http://127.0.0.1:{port}/healthz")
    finally:
        await runner.cleanup()

    assert result.code == 1
    assert "flag_threshold" in result.stdout
    assert "degraded" in result.stdout


def test_status_cli_unreachable_exits_3(write_config: ConfigWriter) -> None:
    result = run_cli("status", "--url", "http://127.0.0.1:9/healthz")

    assert result.code == 3
    assert "127.0.0.1:9" in result.stderr


def test_reload_cli_rejects_stale_pid_file(tmp_path: Path) -> None:
    pid_file = tmp_path / "callscreen.pid"
    pid_file.write_text("1234567\n", encoding="ascii")

    result = run_cli("reload", "--pid-file", pid_file)

    assert result.code == 1
    assert "1234567" in result.stderr


@pytest.mark.parametrize("web_section", ['[web]\nport = {port}\n',
                                         '[web]\nport = {port}\nsecure_cookies = "yes"\n'])
async def test_status_cli_reads_invalid_config(tmp_path: Path, web_section: str) -> None:
    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "problems": [], "version": "t"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    path = tmp_path / "broken.toml"
    path.write_text("[rules]\nflag_threshold = 0\n\n" + web_section.format(port=port),
                    encoding="utf-8")
    try:
        result = await asyncio.to_thread(run_cli, "status", "--config", path)
    finally:
        await runner.cleanup()

    assert result.code == 0, result.stderr
    assert "broken.toml" in result.stderr
    assert "check-config" in result.stderr
    assert "callscreen t" in result.stdout
