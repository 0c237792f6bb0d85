"""At debug level the JSON log stream carries only JSON lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import structlog

from callscreen.logs import configure_logging


def test_debug_stream_is_all_json() -> None:
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    try:
        loop = asyncio.new_event_loop()
        loop.close()
        structlog.get_logger("test").debug("probe_event")
    finally:
        configure_logging("warning", "console")
        logging.getLogger("asyncio").setLevel(logging.NOTSET)

    lines = stream.getvalue().splitlines()
    events = [json.loads(line)["event"] for line in lines]
    assert "probe_event" in events
    assert not any("Using selector" in line for line in lines)
