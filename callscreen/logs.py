"""structlog set-up: JSON lines when not on a terminal, readable console output on one.

Phone numbers are masked by the callers (NumberFacts.masked, mask_number); this module adds a
last line of defence that drops any key whose name suggests a secret.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SECRET_KEYS = ("secret", "password", "token", "webhook_key")
LEVELS = ("debug", "info", "warning", "error")
# Commands other than `run` log only errors on the terminal, so that an expected event
# (a wrong password, a skipped row) does not print an English log line beside the
# command's own bilingual message. This variable or `--verbose` lowers the level.
COMMAND_LOG_LEVEL_ENV = "CALLSCREEN_LOG_LEVEL"
DEFAULT_COMMAND_LOG_LEVEL = "error"
VERBOSE_COMMAND_LOG_LEVEL = "info"

_command_log_level = DEFAULT_COMMAND_LOG_LEVEL


def _drop_secrets(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    for key in list(event):
        if _is_secret_key(key):
            event[key] = "******"
    return event


# Key names come from the code, so they are few. Checking each name once, instead of on
# every event, took a third off the cost of a log line.
@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_KEYS)


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time of the write.

    A logger bound to the stderr object of configuration time keeps writing to it after
    it was replaced and closed (test runners capture stderr per test), and fails.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(level: str = "info", fmt: str = "auto", *, stream: Any = None) -> None:
    """Configure structlog and the standard library's root logger once, at start-up.

    Logs go to `stream`, by default to the process's standard error.
    """
    stream = stream or _CurrentStderr()
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (structlog.processors.JSONRenderer(ensure_ascii=False) if use_json
                     else structlog.dev.ConsoleRenderer(colors=stream.isatty()))

    numeric = getattr(logging, level.upper())
    logging.basicConfig(level=numeric, stream=stream, format="%(message)s", force=True)
    # aiosqlite logs two DEBUG lines per statement, which would drown callscreen's own
    # debug events (and at call volume, fill the disk).
    logging.getLogger("aiosqlite").setLevel(max(numeric, logging.INFO))
    # asyncio's DEBUG lines ("Using selector: EpollSelector") bypass structlog and would put
    # plain text into the JSON stream.
    logging.getLogger("asyncio").setLevel(max(numeric, logging.INFO))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )


def set_command_log_level(level: str) -> None:
    """Set the level `configure_command_logging` uses; `level` is one of LEVELS."""
    global _command_log_level
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; allowed: {', '.join(LEVELS)}")
    _command_log_level = level


def configure_command_logging(fmt: str = "auto") -> None:
    """Configure logging for a command (not the daemon) at the level chosen for commands."""
    configure_logging(_command_log_level, fmt)
