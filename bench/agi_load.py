"""The FastAGI load generator: plays Asterisk's side of `AGI(agi://HOST:PORT/screen)`.

It runs in its own process (see `run_load_in_process`), so its CPU time is not charged to
the server under test. Each call set-up connects, sends the 22-line environment block and
the two `agi_arg_N` lines as res_agi 22.10.1 does, and replies to each command line as res_agi
replies when it succeeds: `200 result=0` for EXEC, `200 result=1` for the rest. The
set-up ends when the server closes or half-closes the connection. It then sends `HANGUP`
and closes, as res_agi does at session end. A set-up's latency runs from the start of
connect() to that end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

MAX_COMMANDS_PER_CALL = 64
# res_agi's replies to a successful EXEC and SET VARIABLE (captures, README G4).
EXEC_DONE = b"200 result=0\n"
SET_VARIABLE_DONE = b"200 result=1\n"
MAX_LINE_BYTES = 8192
DID = "02188886666"


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """One load run: closed loop (`concurrency` workers, `calls` in total) or open loop
    (`rate` set-ups per second for `duration_s`)."""

    host: str
    port: int
    callers: tuple[str, ...]
    concurrency: int = 1
    calls: int = 0
    rate: float = 0.0
    duration_s: float = 0.0
    call_timeout_s: float = 10.0

    @property
    def open_loop(self) -> bool:
        """True when set-ups start on a fixed schedule rather than after the previous one."""
        return self.rate > 0


@dataclass(slots=True)
class LoadResult:
    """Latencies of the completed set-ups, failures, wall time and commands seen per call."""

    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    elapsed_s: float = 0.0
    commands: Counter[str] = field(default_factory=Counter)


def environment_block(uniqueid: str, caller: str) -> bytes:
    """Return the environment block res_agi sends for one call from `caller`."""
    lines = [
        ("agi_network", "yes"), ("agi_network_script", "screen"),
        ("agi_request", "agi://127.0.0.1:4573/screen"),
        ("agi_channel", "IAX2/carrier-7844"), ("agi_language", "en"), ("agi_type", "IAX2"),
        ("agi_uniqueid", uniqueid), ("agi_version", "22.10.1"),
        ("agi_callerid", caller or "unknown"), ("agi_calleridname", "unknown"),
        ("agi_callingpres", "0" if caller else "67"), ("agi_callingani2", "0"),
        ("agi_callington", "0"), ("agi_callingtns", "0"), ("agi_dnid", "unknown"),
        ("agi_rdnis", "unknown"), ("agi_context", "from-trunk"), ("agi_extension", "screen"),
        ("agi_priority", "4"), ("agi_enhanced", "0.0"), ("agi_accountcode", ""),
        ("agi_threadid", "139958421550784"), ("agi_arg_1", caller), ("agi_arg_2", DID),
    ]
    text = "".join(f"{key}: {value}\n" for key, value in lines) + "\n"

    return text.encode()


async def place_call(spec: LoadSpec, env: bytes, result: LoadResult) -> float:
    """Run one AGI session against the server and return its latency in seconds."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(spec.host, spec.port, limit=MAX_LINE_BYTES)
    try:
        writer.write(env)
        for _ in range(MAX_COMMANDS_PER_CALL):
            line = await reader.readline()
            if not line.endswith(b"\n"):
                break
            verb = line.split(b" ", 2)[0]
            result.commands[verb.decode("ascii", "replace")] += 1
            writer.write(EXEC_DONE if verb == b"EXEC" else SET_VARIABLE_DONE)
        elapsed = time.perf_counter() - started

        writer.write(b"HANGUP\n")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    return elapsed


async def _timed_call(spec: LoadSpec, env: bytes, result: LoadResult,
                      scheduled: float | None = None) -> None:
    try:
        async with asyncio.timeout(spec.call_timeout_s):
            latency = await place_call(spec, env, result)
    except (OSError, TimeoutError) as exc:
        result.errors += 1
        result.first_error = result.first_error or repr(exc)
        return

    if scheduled is not None:
        # Open loop: count the wait behind a late start too, so a stall is not hidden.
        latency = time.perf_counter() - scheduled
    result.latencies_s.append(latency)


def _env_for(spec: LoadSpec, index: int) -> bytes:
    caller = spec.callers[index % len(spec.callers)]
    return environment_block(f"bench-{os.getpid()}-{time.time_ns()}.{index}", caller)


async def run_closed_loop(spec: LoadSpec) -> LoadResult:
    """Keep `spec.concurrency` set-ups in flight until `spec.calls` have completed."""
    result = LoadResult()
    counter = iter(range(spec.calls))

    async def worker() -> None:
        for index in counter:
            await _timed_call(spec, _env_for(spec, index), result)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(spec.concurrency):
            group.create_task(worker())
    result.elapsed_s = time.perf_counter() - started

    return result


async def run_open_loop(spec: LoadSpec) -> LoadResult:
    """Start one set-up every 1/rate seconds for `spec.duration_s`, whatever the replies."""
    result = LoadResult()
    total = int(spec.rate * spec.duration_s)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for index in range(total):
            scheduled = started + index / spec.rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            group.create_task(_timed_call(spec, _env_for(spec, index), result, scheduled))
    result.elapsed_s = time.perf_counter() - started

    return result


def run_load(spec: LoadSpec) -> LoadResult:
    """Run one load in a fresh event loop (the entry point of the load process)."""
    runner = run_open_loop if spec.open_loop else run_closed_loop

    return asyncio.run(runner(spec))


def load_process_pool() -> ProcessPoolExecutor:
    """Return a one-worker pool whose process is started fresh (spawn), not forked."""
    return ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))


async def run_load_in_process(pool: ProcessPoolExecutor, spec: LoadSpec) -> LoadResult:
    """Run `spec` in the pool's process while this process's event loop serves it."""
    loop = asyncio.get_running_loop()

    return await loop.run_in_executor(pool, run_load, spec)
