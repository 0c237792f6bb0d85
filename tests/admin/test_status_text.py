"""Wording of the health report: one bilingual text per problem, counts as integers."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from callscreen.admin.status import (
    format_health,
    health_lines,
    health_problems,
    health_snapshot,
)
from callscreen.daemon import Daemon
from callscreen.i18n import t
from callscreen.metrics import Metrics

from .conftest import ConfigWriter, load

LOGIN_FAILED = "AMI 登录失败 / AMI login failed for user 'callscreen' at 127.0.0.1:5038"


def _snapshot(last_error: str | None) -> dict[str, Any]:
    return {
        "ami": {"enabled": True, "connected": True, "logged_in": False, "reconnects": 2,
                "events_received": 0, "last_error": last_error},
        "agi": {"enabled": False, "listening": False, "host": "127.0.0.1", "port": 4573},
        "store": {"open": True, "path": "x.sqlite3"},
        "reload": None,
        "outbox": {"backlog": 0},
    }


def test_ami_problem_names_error_once() -> None:
    problems = health_problems(_snapshot(LOGIN_FAILED))

    assert problems == [f"AMI 未连接 / AMI is not connected: {LOGIN_FAILED}"]


async def test_backlog_printed_as_count(write_config: ConfigWriter) -> None:
    quiet = "[asterisk]\nami_enabled = false\nagi_port = 0\n\n[web]\nenabled = false\n"
    daemon = Daemon(load(write_config(extra=quiet)))
    await daemon.start()
    try:
        metrics = Metrics()
        metrics.bind_outbox_backlog(lambda: 3)
        snapshot = health_snapshot(daemon, metrics=metrics)
    finally:
        await daemon.close()

    assert snapshot["outbox"]["backlog"] == 3
    assert "待发送通知：3 / notifications waiting: 3" in format_health(snapshot)


def test_reload_time_in_site_zone() -> None:
    snapshot = _snapshot(None)
    snapshot["reload"] = {"at": "2026-12-04T16:30:05.123456+00:00", "path": "c.toml",
                          "ok": True, "problems": [], "restart_needed": []}

    def english(message_id: str, **params: object) -> str:
        return t(message_id, "en", **params)

    local = [line.text for line in health_lines(snapshot, english, ZoneInfo("Asia/Shanghai"))]
    stored = [line.text for line in health_lines(snapshot, english)]

    assert "config reload: succeeded at 2026-12-05 00:30 (c.toml)" in local
    assert "config reload: succeeded at 2026-12-04T16:30:05.123456+00:00 (c.toml)" in stored
