"""Benchmarks 3 and 4: decision latency against history size, and `callscreen replay` speed.

Each history lives in its own sqlite file under the work folder and is deleted as soon as
its measurements are done, because 10 million rows take several gigabytes.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.history_gen import create_store, fill_history, hot_callers
from bench.servers import bench_config, running_daemon
from bench.sizes import Sizes
from bench.stats import ratio, summarise
from callscreen.admin.replay import replay
from callscreen.store.admin import open_read_only

# Timed passes over the callers. A decision takes microseconds, so one pass lasts a few
# milliseconds, short enough for one scheduler hiccup on a shared machine to skew it.
DECISION_PASSES = 5


async def measure_decisions(path: Path, lookups: int) -> dict[str, Any]:
    """Screen `lookups` repeat callers `DECISION_PASSES` times through a daemon on the store
    at `path`."""
    callers = hot_callers(lookups)
    async with running_daemon(bench_config(path)) as daemon:
        assert daemon.screener is not None
        # One untimed pass, so that every size is measured with the normaliser's cache warm:
        # the first size measured would otherwise pay for the misses alone.
        for caller in callers:
            await daemon.screener.screen(caller)
        latencies: list[float] = []
        started = time.perf_counter()
        for _ in range(DECISION_PASSES):
            for caller in callers:
                screened = await daemon.screener.screen(caller)
                latencies.append(screened.elapsed_ms / 1000)
        elapsed = time.perf_counter() - started

    return summarise(latencies, elapsed).to_json()


def measure_replay(path: Path) -> dict[str, Any]:
    """Replay every stored call with the default rules; return calls per second."""
    connection = open_read_only(str(path))
    now = datetime.now(UTC)
    try:
        started = time.perf_counter()
        report = replay(connection, bench_config(path), since=now - timedelta(days=400),
                        until=now, path=str(path))
        elapsed = time.perf_counter() - started
    finally:
        connection.close()

    return {"calls": report.calls, "elapsed_s": round(elapsed, 3),
            "calls_per_s": round(report.calls / elapsed, 1) if elapsed > 0 else 0.0}


def remove_store(path: Path) -> None:
    """Delete a store file and its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def run_history_benchmark(work_dir: Path, sizes: Sizes) -> dict[str, Any]:
    """Measure decision latency per history size, and replay over the largest history that
    is not above `sizes.replay_rows`."""
    results: dict[str, Any] = {"sizes": {}, "replay": None}
    replay_at = max((rows for rows in sizes.history_rows if rows <= sizes.replay_rows),
                    default=None)
    for rows in sizes.history_rows:
        path = work_dir / f"history-{rows}.sqlite3"
        await create_store(path)
        generated_s = await asyncio.to_thread(fill_history, path, rows, datetime.now(UTC))
        entry = {"generate_s": round(generated_s, 1),
                 **await measure_decisions(path, sizes.history_lookups)}
        if rows == replay_at and rows > 0:
            results["replay"] = await asyncio.to_thread(measure_replay, path)
        remove_store(path)
        results["sizes"][str(rows)] = entry

    smallest, largest = str(min(sizes.history_rows)), str(max(sizes.history_rows))
    results["ratios"] = {"p50_largest_over_empty": ratio(
        results["sizes"][largest]["p50_ms"], results["sizes"][smallest]["p50_ms"])}
    return results
