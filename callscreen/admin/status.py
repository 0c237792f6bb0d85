"""Health: the `/healthz` JSON computed from a running daemon, and `callscreen status`.

Shape of the JSON (a contract for supervisors and for `callscreen status`):

    {"status": "ok" | "degraded", "problems": [str, ...], "version": "0.1.0",
     "checked_at": ISO-8601 UTC,
     "ami": {"enabled": bool, "connected": bool, "logged_in": bool, "reconnects": int,
             "events_received": int, "last_error": str | null},
     "agi": {"enabled": bool, "listening": bool, "host": str, "port": int},
     "store": {"open": bool, "path": str},
     "reload": null | {"at", "path", "ok", "problems": [str], "restart_needed": [str]},
     "outbox": {"backlog": integer | null}}

"degraded" lists each reason in `problems`; serve it with HTTP 503 so that a supervisor detects it.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from callscreen import __version__
from callscreen.admin.reload import ReloadResult
from callscreen.cli import config_from_args
from callscreen.config import Config
from callscreen.errors import CallscreenError, ConfigError
from callscreen.i18n import both
from callscreen.logs import configure_command_logging
from callscreen.metrics import Metrics
from callscreen.pbx.ami import AmiClient
from callscreen.pbx.fastagi import FastAgiServer
from callscreen.store import Store

# A health document is a few hundred bytes; anything near this bound is not one.
MAX_HEALTH_BYTES = 256 * 1024
STATUS_TIMEOUT_S = 5.0
EXIT_OK, EXIT_DEGRADED, EXIT_UNREACHABLE = 0, 1, 3


class StatusUnavailableError(CallscreenError, ConnectionError):
    """The daemon's /healthz could not be read: not running, wrong URL, or not JSON."""


class HealthSource(Protocol):
    """The daemon attributes a health snapshot reads."""

    config: Config
    store: Store | None
    agi: FastAgiServer | None
    ami: AmiClient | None
    last_reload: ReloadResult | None


def health_snapshot(daemon: HealthSource, *, metrics: Metrics | None = None,
                    now: datetime | None = None) -> dict[str, Any]:
    """Return the health JSON (shape in the module docstring) for a running daemon."""
    snapshot: dict[str, Any] = {
        "version": __version__,
        "checked_at": (now or datetime.now(UTC)).isoformat(),
        "ami": _ami_health(daemon),
        "agi": _agi_health(daemon),
        "store": {"open": daemon.store is not None, "path": daemon.config.store.path},
        "reload": daemon.last_reload.to_json() if daemon.last_reload else None,
        "outbox": {"backlog": _backlog(metrics)},
    }
    problems = health_problems(snapshot)

    return {"status": "degraded" if problems else "ok", "problems": problems, **snapshot}


def _backlog(metrics: Metrics | None) -> int | None:
    # The Prometheus gauge stores a float, but the backlog is a count of notifications.
    return None if metrics is None else round(metrics.outbox_backlog_value())


def _ami_health(daemon: HealthSource) -> dict[str, Any]:
    enabled = daemon.config.asterisk.ami_enabled
    if daemon.ami is None:
        return {"enabled": enabled, "connected": False, "logged_in": False, "reconnects": 0,
                "events_received": 0, "last_error": None}

    health = daemon.ami.health
    return {
        "enabled": enabled,
        "connected": health.connected,
        "logged_in": health.logged_in,
        "reconnects": health.reconnects,
        "events_received": health.events_received,
        "last_error": str(health.last_error) if health.last_error else None,
    }


def _agi_health(daemon: HealthSource) -> dict[str, Any]:
    asterisk = daemon.config.asterisk

    return {
        "enabled": asterisk.mode == "screen",
        "listening": daemon.agi is not None,
        "host": asterisk.agi_host,
        "port": daemon.agi.port if daemon.agi is not None else asterisk.agi_port,
    }


def health_problems(snapshot: dict[str, Any]) -> list[str]:
    """Return one line per reason the snapshot is degraded (Chinese with English beside it)."""
    problems: list[str] = []
    ami, agi, reload = snapshot["ami"], snapshot["agi"], snapshot["reload"]
    if ami["enabled"] and not (ami["connected"] and ami["logged_in"]):
        # The last error is already in both languages, so it follows the bilingual heading
        # instead of being filled into each language's text.
        problems.append(f"{both('status.ami_down')}: {ami['last_error'] or '—'}")
    if agi["enabled"] and not agi["listening"]:
        problems.append(both("status.agi_down", port=agi["port"]))
    if not snapshot["store"]["open"]:
        problems.append(both("status.store_closed", path=snapshot["store"]["path"]))
    if reload is not None and not reload["ok"]:
        problems.append(both("status.reload_failed", path=reload["path"],
                             count=len(reload["problems"])))

    return problems


def health_url(config: Config, url: str | None) -> str:
    """Return --url, or the /healthz URL of the web server the config describes."""
    if url:
        return url

    host = _loopback_for_wildcard(config.web.host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.web.port}/healthz"


def _loopback_for_wildcard(host: str) -> str:
    # A server bound to every address is reachable on loopback, which keeps the request local.
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host

    if address.is_unspecified:
        return "::1" if address.version == 6 else "127.0.0.1"
    return host


async def fetch_health(url: str) -> dict[str, Any]:
    """GET the health JSON; raise StatusUnavailableError naming the URL on any failure."""
    timeout = aiohttp.ClientTimeout(total=STATUS_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.get(url, allow_redirects=False) as response:
            body = await response.content.read(MAX_HEALTH_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise StatusUnavailableError(both("status.unreachable", url=url, error=exc)) from exc

    if len(body) > MAX_HEALTH_BYTES:
        raise StatusUnavailableError(both("status.not_health", url=url))
    try:
        snapshot = json.loads(body)
    except ValueError as exc:
        raise StatusUnavailableError(both("status.not_health", url=url)) from exc
    if not isinstance(snapshot, dict) or "status" not in snapshot:
        raise StatusUnavailableError(both("status.not_health", url=url))

    return snapshot


async def status_command(args: argparse.Namespace) -> int:
    """Print the running daemon's health; exit 0 when ok, 1 when degraded, 3 when unreachable."""
    configure_command_logging()
    url = health_url(_status_config(args), args.url)
    try:
        snapshot = await fetch_health(url)
    except StatusUnavailableError as exc:
        print(exc, file=sys.stderr)
        return EXIT_UNREACHABLE

    if args.json:
        print(json.dumps(snapshot, ensure_ascii=False, indent=2))
    else:
        print(format_health(snapshot))
    return EXIT_OK if snapshot.get("status") == "ok" else EXIT_DEGRADED


def _status_config(args: argparse.Namespace) -> Config:
    """Load --config, or when it is invalid keep only its [web] host and port.

    Status is most needed right after a reload failed on an invalid file, so an invalid
    file only earns a note on stderr and the daemon is still asked.
    """
    try:
        return config_from_args(args)
    except ConfigError as exc:
        print(both("status.config_invalid", path=args.config, count=len(exc.problems)),
              file=sys.stderr)

    return lenient_web_config(Path(args.config))


def lenient_web_config(path: Path) -> Config:
    """Return the defaults with the [web] host and port of `path` where they are usable."""
    defaults = Config()
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8").removeprefix("\ufeff"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return defaults

    section = raw.get("web")
    if not isinstance(section, dict):
        return defaults
    host = section.get("host", defaults.web.host)
    port = section.get("port", defaults.web.port)
    if not isinstance(host, str) or not host:
        host = defaults.web.host
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= 65535:
        port = defaults.web.port

    return replace(defaults, web=replace(defaults.web, host=host, port=port))


Translate = Callable[..., str]


@dataclass(frozen=True, slots=True)
class HealthLine:
    """One line of the health report: its text, indent depth and whether it is a problem."""

    text: str
    depth: int = 0
    problem: bool = False


def format_health(snapshot: dict[str, Any]) -> str:
    """Render the health JSON for a terminal, Chinese first with English beside it."""
    lines = []
    for line in health_lines(snapshot, both):
        prefix = "  ! " if line.problem else "  " * line.depth
        lines.append(prefix + line.text)

    return "\n".join(lines)


def health_lines(snapshot: dict[str, Any], translate: Translate,
                 zone: tzinfo | None = None) -> list[HealthLine]:
    """Return the lines of the health report, worded by `translate(message_id, **params)`.

    `callscreen status` passes `both` and prints times as stored (ISO 8601 with the UTC
    offset). The admin page passes the visitor's language and the site's time zone.
    """
    ami = snapshot.get("ami") or {}
    agi = snapshot.get("agi") or {}
    store = snapshot.get("store") or {}
    state = "ok" if snapshot.get("status") == "ok" else "degraded"
    ami_up = bool(ami.get("connected") and ami.get("logged_in"))
    texts = [
        translate("status.header", version=snapshot.get("version", "?")) + ": "
        + translate(f"status.state_{state}"),
        translate("status.ami_up" if ami_up else "status.ami_not_up",
                  reconnects=ami.get("reconnects", 0), events=ami.get("events_received", 0)),
        translate("status.agi_listening" if agi.get("listening")
                  else "status.agi_not_listening",
                  host=agi.get("host", "?"), port=agi.get("port", "?")),
        translate("status.store", path=store.get("path", "?")),
        translate("status.outbox",
                  backlog=(snapshot.get("outbox") or {}).get("backlog", "—")),
    ]
    lines = [HealthLine(text) for text in texts]
    lines.extend(_reload_lines(snapshot.get("reload"), translate, zone))
    lines.extend(HealthLine(str(problem), problem=True)
                 for problem in snapshot.get("problems", []))

    return lines


def _reload_lines(reload: dict[str, Any] | None, translate: Translate,
                  zone: tzinfo | None) -> list[HealthLine]:
    if reload is None:
        return [HealthLine(translate("status.reload_none"))]

    at = _local_time(str(reload.get("at", "?")), zone)
    if reload.get("ok"):
        lines = [HealthLine(translate("status.reload_ok", at=at,
                                      path=reload.get("path")))]
        restart = reload.get("restart_needed") or []
        if restart:
            lines.append(HealthLine(translate("status.restart_needed",
                                              sections=", ".join(restart)), depth=1))
        return lines

    lines = [HealthLine(translate("status.reload_error", at=at,
                                  path=reload.get("path")))]
    lines.extend(HealthLine(str(problem), depth=2) for problem in reload.get("problems", []))
    return lines


def _local_time(stored: str, zone: tzinfo | None) -> str:
    """Format an ISO 8601 time as "YYYY-MM-DD HH:MM" in `zone`; keep it as stored otherwise."""
    if zone is None:
        return stored
    try:
        moment = datetime.fromisoformat(stored)
    except ValueError:
        return stored

    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"
