"""Benchmark 2: AMI events per second, callscreen's whole path against a bare panoramisk Manager.

callscreen's path is AmiClient -> Daemon.on_ami_event -> CallTracker -> a call record in
the store for every call (with the HR hook). Its time runs from the first event to the
moment the last call record is in the store. The bare path is panoramisk's Manager with a
no-op callback for every event; its time runs from the first event to the end marker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from multiprocessing import get_context
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from panoramisk import Manager

from bench.ami_stream import (
    BANNER,
    END_MARKER_NAME,
    StreamSpec,
    capture_events,
    repetitions_for,
    serve_stream,
)
from bench.servers import LOOPBACK, bench_config, running_daemon
from bench.sizes import Sizes
from bench.stats import ratio
from callscreen.pbx.ami_wire import AmiFramer, AmiMessage
from callscreen.pbx.tracker import CallEnded, CallTracker

STREAM_TIMEOUT_S = 600.0
POLL_INTERVAL_S = 0.05
SERVER_START_TIMEOUT_S = 30.0


class StreamIncompleteError(RuntimeError):
    """The stream or the call records did not all arrive before the timeout."""


@dataclass(slots=True)
class StreamClock:
    """Counts events and times the stream from the first event to the end marker."""

    events: int = 0
    first_at: float = 0.0
    end_at: float = 0.0
    done: asyncio.Event | None = None

    def see(self, is_end: bool) -> None:
        """Count one event; note the time of the first one and of the end marker."""
        if not self.events:
            self.first_at = time.perf_counter()
        self.events += 1
        if is_end:
            self.end_at = time.perf_counter()
            assert self.done is not None
            self.done.set()


def start_stream_server(spec: StreamSpec) -> tuple[BaseProcess, int]:
    """Start the fake AMI server process and return it with its port."""
    context = get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=serve_stream, args=(spec, child), daemon=True)
    process.start()
    child.close()
    if not parent.poll(SERVER_START_TIMEOUT_S):
        process.kill()
        raise StreamIncompleteError("the fake AMI server did not report its port")

    return process, int(parent.recv())


def expected_calls(repetitions: int) -> int:
    """Return how many call records the stream must produce: calls per pass x passes."""
    tracker = CallTracker()
    framer = AmiFramer()
    now = datetime.now(UTC)
    ended = 0
    for message in framer.feed(BANNER + b"".join(capture_events())):
        ended += sum(isinstance(effect, CallEnded) for effect in tracker.feed(message, now))

    return ended * repetitions


async def _wait(event: asyncio.Event, what: str) -> None:
    try:
        async with asyncio.timeout(STREAM_TIMEOUT_S):
            await event.wait()
    except TimeoutError as exc:
        raise StreamIncompleteError(f"{what} did not finish in {STREAM_TIMEOUT_S} s") from exc


async def run_callscreen(work_dir: Path, events: int) -> dict[str, Any]:
    """Feed the stream through the daemon and wait until every call record is stored."""
    process, port = start_stream_server(StreamSpec(events, "CoreShowChannels"))
    clock = StreamClock(done=asyncio.Event())
    config = bench_config(work_dir / "ami.sqlite3")
    config = replace(config, asterisk=replace(config.asterisk, ami_ping_interval_s=60.0))
    try:
        async with running_daemon(config) as daemon:
            on_event = daemon.on_ami_event

            def counted(message: AmiMessage) -> None:
                clock.see(message.event == "UserEvent"
                          and message.get("UserEvent") == END_MARKER_NAME)
                on_event(message)

            daemon.on_ami_event = counted  # type: ignore[method-assign]
            daemon.start_ami(LOOPBACK, port)
            await _wait(clock.done, "the AMI stream")  # type: ignore[arg-type]
            records = await _wait_for_records(daemon, expected_calls(_repetitions(events)))
            stored_at = time.perf_counter()
    finally:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()

    return _rates(clock, stored_at, records)


async def _wait_for_records(daemon: Any, expected: int) -> int:
    async with asyncio.timeout(STREAM_TIMEOUT_S):
        while True:
            row = await daemon.store.db.fetch_one("SELECT count(*) FROM calls", (),
                                                  action="bench_count_calls")
            if int(row[0]) >= expected:
                return int(row[0])
            await asyncio.sleep(POLL_INTERVAL_S)


def _repetitions(events: int) -> int:
    return repetitions_for(events, len(capture_events()))


def _rates(clock: StreamClock, finished_at: float, records: int) -> dict[str, Any]:
    elapsed = finished_at - clock.first_at
    return {"events": clock.events, "elapsed_s": round(elapsed, 3),
            "events_per_s": round(clock.events / elapsed, 1), "call_records": records}


async def run_bare(events: int) -> dict[str, Any]:
    """Feed the stream through panoramisk's Manager with a no-op callback."""
    process, port = start_stream_server(StreamSpec(events, None))
    clock = StreamClock(done=asyncio.Event())
    manager = Manager(host=LOOPBACK, port=port, username="bench", secret="bench",
                      ping_delay=600, ping_interval=600, reconnect_timeout=600)
    manager.register_event("*", _noop(clock))
    try:
        await manager.connect()
        await _wait(clock.done, "the AMI stream")  # type: ignore[arg-type]
    finally:
        manager.close()
        process.join(timeout=5)
        if process.is_alive():
            process.kill()

    return _rates(clock, clock.end_at, 0)


def _noop(clock: StreamClock) -> Callable[[Manager, Any], None]:
    def callback(_manager: Manager, message: Any) -> None:
        clock.see(message.event == "UserEvent" and message.get("UserEvent") == END_MARKER_NAME)

    return callback


async def run_ami_benchmark(work_dir: Path, sizes: Sizes) -> dict[str, Any]:
    """Measure bare panoramisk, then callscreen, on the same stream."""
    bare = await run_bare(sizes.ami_events)
    screened = await run_callscreen(work_dir, sizes.ami_events)

    return {"bare": bare, "callscreen": screened,
            "ratios": {"events_per_s": ratio(screened["events_per_s"], bare["events_per_s"])}}
