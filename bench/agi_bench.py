"""Benchmark 1: ring-time decisions over FastAGI, callscreen against bare panoramisk."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.agi_load import LoadResult, LoadSpec, run_load_in_process
from bench.callers import caller_pool
from bench.servers import LOOPBACK, bench_config, running_bare_agi, running_daemon
from bench.sizes import Sizes
from bench.stats import ratio, summarise

CALLER_POOL_SIZE = 20_000


class LoadFailedError(RuntimeError):
    """Every set-up of a load run failed, so there is nothing to measure."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """One row of the table: a closed loop at some concurrency, or the open loop."""

    name: str
    concurrency: int = 1
    calls: int = 0
    rate: float = 0.0
    duration_s: float = 0.0


def scenarios(sizes: Sizes) -> list[Scenario]:
    """Return the closed loops at 1, 10 and 50 concurrent and the fixed-rate open loop."""
    return [
        Scenario("closed_1", concurrency=1, calls=sizes.agi_calls_1),
        Scenario("closed_10", concurrency=10, calls=sizes.agi_calls_10),
        Scenario("closed_50", concurrency=50, calls=sizes.agi_calls_50),
        Scenario("open_100_per_s", rate=sizes.open_rate, duration_s=sizes.open_duration_s),
    ]


async def run_scenarios(pool: ProcessPoolExecutor, port: int, sizes: Sizes,
                        callers: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Warm the server up, then run every scenario against `port`; return the summaries."""
    warm_up = LoadSpec(LOOPBACK, port, callers, concurrency=10, calls=sizes.agi_warm_up)
    await run_load_in_process(pool, warm_up)

    results: dict[str, dict[str, Any]] = {}
    for scenario in scenarios(sizes):
        spec = LoadSpec(LOOPBACK, port, callers, concurrency=scenario.concurrency,
                        calls=scenario.calls, rate=scenario.rate,
                        duration_s=scenario.duration_s)
        results[scenario.name] = _summary(await run_load_in_process(pool, spec))

    return results


def _summary(result: LoadResult) -> dict[str, Any]:
    if not result.latencies_s:
        raise LoadFailedError(f"every FastAGI set-up failed: {result.first_error}")

    return {
        **summarise(result.latencies_s, result.elapsed_s).to_json(),
        "errors": result.errors,
        "commands": dict(result.commands),
    }


async def run_agi_benchmark(pool: ProcessPoolExecutor, work_dir: Path,
                            sizes: Sizes) -> dict[str, Any]:
    """Measure bare panoramisk, then callscreen, on the same scenarios and callers."""
    callers = tuple(caller_pool(CALLER_POOL_SIZE))

    async with running_bare_agi() as port:
        bare = await run_scenarios(pool, port, sizes, callers)
    async with running_daemon(bench_config(work_dir / "agi.sqlite3")) as daemon:
        assert daemon.agi is not None
        screened = await run_scenarios(pool, daemon.agi.port, sizes, callers)

    return {"bare": bare, "callscreen": screened, "ratios": _ratios(bare, screened)}


def _ratios(bare: dict[str, dict[str, Any]],
            screened: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    return {
        "p50_closed_1": ratio(screened["closed_1"]["p50_ms"], bare["closed_1"]["p50_ms"]),
        "p50_closed_10": ratio(screened["closed_10"]["p50_ms"], bare["closed_10"]["p50_ms"]),
        "p50_closed_50": ratio(screened["closed_50"]["p50_ms"], bare["closed_50"]["p50_ms"]),
        "per_s_closed_50": ratio(screened["closed_50"]["per_s"], bare["closed_50"]["per_s"]),
        "p99_open": ratio(screened["open_100_per_s"]["p99_ms"],
                          bare["open_100_per_s"]["p99_ms"]),
    }
