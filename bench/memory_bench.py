"""Benchmark 5: resident memory of the daemon after many simulated calls.

A simulated call is what the daemon does for one real call: the FastAGI `screen` route
decides it (and writes its ring-time row), then AMI events Newchannel and Hangup end it
(and the call record is written). It runs in a fresh process so that RSS is the daemon's.

The daemon runs on a simulated clock that moves `CALL_SPACING` per call, so a million
calls cover days of simulated time within minutes. Every time-bounded structure (recent
calls per number for the repeat window, the console's call list, remembered decisions)
then fills and starts forgetting long before the first checkpoint. Growth between the
checkpoints is what stays behind per call, a leak, and not those windows filling.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench.agi_load import environment_block
from bench.callers import caller_pool
from bench.servers import bench_config, running_daemon
from callscreen.logs import configure_logging
from callscreen.pbx.agi_wire import parse_environment
from callscreen.pbx.ami_wire import AmiFramer

CALLS_IN_FLIGHT = 20
# How many background tasks and unwritten call records may pile up before new calls wait,
# as a PBX's calls would wait on a busy daemon. Without it the backlog, not the daemon,
# sets RSS.
MAX_BACKLOG = 200
IDLE_BACKGROUND_TASKS = 2
SETTLE_POLLS = 2_000
# Simulated time between two call starts: one call a second is a busy company line, and
# puts the two-hour repeat window at 7,200 calls, well before the first checkpoint.
CALL_SPACING = timedelta(seconds=1)
CALLER_POOL = 50_000
TRACE_FRAMES = 1
TRACE_TOP = 12
AMI_CALL_TEMPLATE = (
    "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: IAX2/carrier-{n}\r\n"
    "ChannelState: 0\r\nChannelStateDesc: Down\r\nCallerIDNum: {caller}\r\n"
    "CallerIDName: <unknown>\r\nConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\n"
    "Language: en\r\nAccountCode: \r\nContext: from-trunk\r\nExten: 02188886666\r\n"
    "Priority: 1\r\nUniqueid: {uid}\r\nLinkedid: {uid}\r\n\r\n"
    "Event: Hangup\r\nPrivilege: call,all\r\nChannel: IAX2/carrier-{n}\r\n"
    "ChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: {caller}\r\n"
    "CallerIDName: <unknown>\r\nConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\n"
    "Language: en\r\nAccountCode: \r\nContext: from-trunk\r\nExten: screen\r\n"
    "Priority: 5\r\nUniqueid: {uid}\r\nLinkedid: {uid}\r\nCause: 16\r\n"
    "Cause-txt: Normal Clearing\r\n\r\n"
)


class SimulatedClock:
    """A clock for the daemon that moves only when `advance` is called."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        self._now = start
        self._step = step

    def __call__(self) -> datetime:
        return self._now

    def advance(self) -> None:
        """Move the clock on by one step."""
        self._now += self._step


def rss_mb() -> float:
    """Return this process's resident set size in MB, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _simulate(daemon: Any, clock: SimulatedClock, framer: AmiFramer, caller: str,
                    index: int) -> None:
    clock.advance()
    uid = f"mem-{index}"
    lines = environment_block(uid, caller).split(b"\n")[:-2]
    await daemon.screen(parse_environment(lines))
    data = AMI_CALL_TEMPLATE.format(n=index, caller=caller or "<unknown>", uid=uid)
    for message in framer.feed(data.encode()):
        daemon.on_ami_event(message)


async def _run(checkpoints: tuple[int, ...], trace: bool) -> dict[str, Any]:
    callers = caller_pool(CALLER_POOL, seed=11)
    framer = AmiFramer()
    framer.feed(b"Asterisk Call Manager/11.0.0\r\n")
    # The simulated days end about now, so no stamp lies in the future of the parts that
    # keep real time (retention purge, HR hooks).
    clock = SimulatedClock(datetime.now(UTC) - CALL_SPACING * checkpoints[-1], CALL_SPACING)
    results: dict[str, Any] = {"call_spacing_s": CALL_SPACING.total_seconds(), "checkpoints": {}}
    snapshots: list[tracemalloc.Snapshot] = []

    with tempfile.TemporaryDirectory(prefix="callscreen-bench-mem-") as folder, \
            (Path(folder) / "daemon.log").open("w", encoding="utf-8") as log_file:
        configure_logging("info", "json", stream=log_file)
        async with running_daemon(bench_config(Path(folder) / "mem.sqlite3"),
                                  clock=clock) as daemon:
            done, started = 0, time.perf_counter()
            results["start_rss_mb"] = round(rss_mb(), 1)
            for checkpoint in checkpoints:
                while done < checkpoint:
                    batch = range(done, min(done + CALLS_IN_FLIGHT, checkpoint))
                    await asyncio.gather(*(_simulate(daemon, clock, framer,
                                                     callers[i % len(callers)], i)
                                           for i in batch))
                    done = batch.stop
                    await _wait_for_backlog(daemon, MAX_BACKLOG)
                await _wait_for_backlog(daemon, IDLE_BACKGROUND_TASKS)
                gc.collect()
                elapsed = time.perf_counter() - started
                results["checkpoints"][str(checkpoint)] = {
                    "rss_mb": round(rss_mb(), 1), "elapsed_s": round(elapsed, 1),
                    "calls_per_s": round(done / elapsed, 1),
                    "python_blocks": sys.getallocatedblocks(),
                    "store_mb": round(_store_bytes(Path(folder)) / 1e6, 1),
                }
                if trace:
                    snapshots.append(_snapshot())

    if len(snapshots) >= 2:
        results["top_growth"] = _top_growth(snapshots[-2], snapshots[-1])
    return results


async def _wait_for_backlog(daemon: Any, limit: int) -> None:
    # Wait for the call-record writes; the purge loop and the history refresh stay running.
    for _ in range(SETTLE_POLLS):
        if len(daemon.background) + daemon.call_records.pending <= limit:
            return
        await asyncio.sleep(0.001 if limit > IDLE_BACKGROUND_TASKS else 0.05)


def _store_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.glob("mem.sqlite3*"))


def _snapshot() -> tracemalloc.Snapshot:
    if not tracemalloc.is_tracing():
        tracemalloc.start(TRACE_FRAMES)
    return tracemalloc.take_snapshot().filter_traces(
        (tracemalloc.Filter(False, tracemalloc.__file__),))


def _top_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> list[str]:
    stats = after.compare_to(before, "lineno")
    return [str(stat) for stat in stats[:TRACE_TOP]]


def measure_memory(checkpoints: tuple[int, ...], trace: bool = False) -> dict[str, Any]:
    """Run the simulated calls and return RSS in MB at each checkpoint (process entry point).

    With `trace`, tracemalloc starts at the first checkpoint and the result lists the source
    lines whose live allocations grew most between the last two checkpoints. Give three
    checkpoints: between the first two, objects that replace untraced ones (cache entries,
    window contents) would count as growth. Tracing slows every call down several times, so
    use it with smaller checkpoints.
    """
    return asyncio.run(_run(checkpoints, trace))


async def run_memory_benchmark(checkpoints: tuple[int, ...],
                               trace: bool = False) -> dict[str, Any]:
    """Measure in a fresh process; return RSS per checkpoint and the growth between the last two."""
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        results = await loop.run_in_executor(pool, measure_memory, checkpoints, trace)

    rss = {calls: point["rss_mb"] for calls, point in results["checkpoints"].items()}
    results["growth_mb"] = round(rss[str(checkpoints[-1])] - rss[str(checkpoints[0])], 1)
    return results
