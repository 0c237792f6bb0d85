"""Benchmark 5: resident memory of the daemon after many simulated calls.

A simulated call is what the daemon does for one real call: the FastAGI `screen` route
decides it (and writes its ring-time row), then AMI events Newchannel and Hangup end it
(and the call record is written). It runs in a fresh process so that RSS is the daemon's.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
from concurrent.futures import ProcessPoolExecutor
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
IDLE_BACKGROUND_TASKS = 2
SETTLE_POLLS = 2_000
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


def rss_mb() -> float:
    """Return this process's resident set size in MB, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _simulate(daemon: Any, framer: AmiFramer, caller: str, index: int) -> None:
    uid = f"mem-{index}"
    lines = environment_block(uid, caller).split(b"\n")[:-2]
    await daemon.screen(parse_environment(lines))
    data = AMI_CALL_TEMPLATE.format(n=index, caller=caller or "<unknown>", uid=uid)
    for message in framer.feed(data.encode()):
        daemon.on_ami_event(message)


async def _run(checkpoints: tuple[int, ...]) -> dict[str, Any]:
    callers = caller_pool(50_000, seed=11)
    framer = AmiFramer()
    framer.feed(b"Asterisk Call Manager/11.0.0\r\n")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="callscreen-bench-mem-") as folder, \
            (Path(folder) / "daemon.log").open("w", encoding="utf-8") as log_file:
        configure_logging("info", "json", stream=log_file)
        async with running_daemon(bench_config(Path(folder) / "mem.sqlite3")) as daemon:
            done = 0
            results["start_rss_mb"] = round(rss_mb(), 1)
            for checkpoint in checkpoints:
                while done < checkpoint:
                    batch = range(done, min(done + CALLS_IN_FLIGHT, checkpoint))
                    await asyncio.gather(*(_simulate(daemon, framer, callers[i % len(callers)], i)
                                           for i in batch))
                    done = batch.stop
                await _settle(daemon)
                gc.collect()
                results[str(checkpoint)] = round(rss_mb(), 1)

    return results


async def _settle(daemon: Any) -> None:
    # Wait for the call-record writes; the purge loop and the HR hooks' tasks stay running.
    for _ in range(SETTLE_POLLS):
        if len(daemon.background) <= IDLE_BACKGROUND_TASKS:
            return
        await asyncio.sleep(0.05)


def measure_memory(checkpoints: tuple[int, ...]) -> dict[str, Any]:
    """Run the simulated calls and return RSS in MB at each checkpoint (process entry point)."""
    return asyncio.run(_run(checkpoints))


async def run_memory_benchmark(checkpoints: tuple[int, ...]) -> dict[str, Any]:
    """Measure in a fresh process; return RSS per checkpoint and the growth between the last two."""
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        results = await loop.run_in_executor(pool, measure_memory, checkpoints)

    first, last = str(checkpoints[0]), str(checkpoints[-1])
    results["growth_mb"] = round(results[last] - results[first], 1)
    return results
