"""Hot reload: validate a new config in full, then swap the rules of the running daemon.

The swap is two attribute assignments in the event loop thread, so a decision in flight
keeps the Screener it started with and the next call uses the new one. An invalid config
changes nothing: the old rules keep running and the problems are kept for `callscreen status`.

`callscreen reload` sends SIGHUP to the daemon whose process id `callscreen run --pid-file`
wrote; under systemd, `systemctl reload callscreen` does the same through ExecReload.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import structlog

from callscreen.config import Config, load_config
from callscreen.errors import CallscreenError, ConfigError
from callscreen.i18n import both
from callscreen.logs import configure_command_logging
from callscreen.metrics import Metrics
from callscreen.screening import Screener
from callscreen.store import Store
from callscreen.tasks import TaskSet

log = structlog.get_logger(__name__)

# Sections the running daemon reads only at start-up: a change there is kept in the new
# config but takes effect after a restart.
RESTART_SECTIONS = ("asterisk", "store", "web", "log")


class ReloadError(CallscreenError, RuntimeError):
    """`callscreen reload` could not signal the daemon (no pid file, no such process)."""


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """The outcome of one reload, kept on the daemon for `/healthz` and `callscreen status`."""

    at: datetime
    path: str
    ok: bool
    problems: tuple[str, ...] = ()
    restart_needed: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """Return the result as the `reload` object of the health JSON."""
        return {
            "at": self.at.isoformat(),
            "path": self.path,
            "ok": self.ok,
            "problems": list(self.problems),
            "restart_needed": list(self.restart_needed),
        }


class Reloadable(Protocol):
    """The daemon attributes a reload reads and replaces."""

    config: Config
    screener: Screener | None
    store: Store | None
    last_reload: ReloadResult | None


async def reload_daemon(daemon: Reloadable, path: str | Path, *, metrics: Metrics | None = None,
                        now: datetime | None = None) -> ReloadResult:
    """Load and check `path` in full; only when it is valid, swap the daemon's rules.

    Returns the result and stores it in `daemon.last_reload`. An invalid config, invalid reply
    scripts or a failed read of the stored lists give a result with ok=False and the problems,
    never an exception.
    """
    at = now or datetime.now(UTC)
    config, problems = check_config_file(path)
    screener = None
    if config is not None and not problems:
        screener, problems = await _new_screener(config, daemon.store)

    if config is None or screener is None:
        result = ReloadResult(at=at, path=str(path), ok=False, problems=tuple(problems))
        log.error("config_reload_rejected", path=str(path), problems=list(problems))
    else:
        result = ReloadResult(at=at, path=str(path), ok=True,
                              restart_needed=_restart_sections(daemon.config, config))
        daemon.config = config
        daemon.screener = screener
        log.info("config_reloaded", path=str(path),
                 restart_needed=list(result.restart_needed))

    daemon.last_reload = result
    if metrics is not None:
        metrics.count_reload(ok=result.ok)
    return result


def check_config_file(path: str | Path) -> tuple[Config | None, list[str]]:
    """Load the config and check the reply scripts it points to; return it and every problem."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        return None, list(exc.problems)

    return config, _script_problems(config)


def _script_problems(config: Config) -> list[str]:
    try:
        from callscreen.reception.scripts import ScriptRenderer
    except ModuleNotFoundError:
        return []

    return [str(problem) for problem in ScriptRenderer(config).check()]


async def _new_screener(config: Config, store: Store | None) -> tuple[Screener | None, list[str]]:
    # Reading the stored lists now keeps that read off the first call after the swap.
    screener = Screener(config, store)
    try:
        await screener.refresh_lists()
    except CallscreenError as exc:
        return None, [str(exc)]

    return screener, []


def _restart_sections(old: Config, new: Config) -> tuple[str, ...]:
    return tuple(name for name in RESTART_SECTIONS if getattr(old, name) != getattr(new, name))


def start_reload(daemon: Reloadable, path: str | Path, tasks: TaskSet, *,
                 metrics: Metrics | None = None) -> None:
    """Start a reload as a tracked task; use it as the SIGHUP handler of the event loop.

    Example: `loop.add_signal_handler(signal.SIGHUP, start_reload, daemon, path, tasks)`.
    """
    log.info("config_reload_requested", path=str(path))
    tasks.start(reload_daemon(daemon, path, metrics=metrics), name="config_reload")


def write_pid_file(path: str | Path) -> None:
    """Write this process's id to `path`, for `callscreen reload --pid-file`."""
    Path(path).write_text(f"{os.getpid()}\n", encoding="ascii")


def remove_pid_file(path: str | Path) -> None:
    """Remove the pid file if it still names this process."""
    pid_path = Path(path)
    try:
        if pid_path.read_text(encoding="ascii").strip() == str(os.getpid()):
            pid_path.unlink()
    except OSError:
        return


def signal_daemon(pid_file: str | Path) -> int:
    """Send SIGHUP to the callscreen process named in `pid_file`; return its process id.

    Raises ReloadError when the file is missing or invalid, or the process is gone or is not
    callscreen (a stale pid file may name an unrelated process, which SIGHUP would end).
    """
    pid = _read_pid(pid_file)
    _check_is_callscreen(pid, pid_file)

    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError as exc:
        raise ReloadError(both("admin.reload_no_process", pid=pid, path=pid_file)) from exc
    except PermissionError as exc:
        raise ReloadError(both("admin.reload_denied", pid=pid)) from exc

    return pid


def _read_pid(pid_file: str | Path) -> int:
    try:
        text = Path(pid_file).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReloadError(both("admin.reload_no_pid_file", path=pid_file)) from exc
    if not text.isdigit() or int(text) <= 1:
        raise ReloadError(both("admin.reload_bad_pid_file", path=pid_file, text=text[:20]))

    return int(text)


def _check_is_callscreen(pid: int, pid_file: str | Path) -> None:
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        arguments = cmdline.read_bytes()
    except FileNotFoundError as exc:
        raise ReloadError(both("admin.reload_no_process", pid=pid, path=pid_file)) from exc
    except OSError:
        # NOTE: without /proc (not Linux) the process cannot be checked; the signal is sent.
        return

    if b"callscreen" not in arguments:
        raise ReloadError(both("admin.reload_not_callscreen", pid=pid, path=pid_file))


def reload_command(args: argparse.Namespace) -> int:
    """Check the config file when given, then signal the running daemon to reload."""
    configure_command_logging("auto")
    if args.config:
        _config, problems = check_config_file(args.config)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(both("admin.reload_not_sent"), file=sys.stderr)
            return 2

    pid = signal_daemon(args.pid_file)
    print(both("admin.reload_sent", pid=pid))
    return 0

