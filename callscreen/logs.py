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
