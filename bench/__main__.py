"""`python -m bench [--quick] [--out DIR] [--only NAME ...]`: run the benchmarks, write results."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.agi_bench import run_agi_benchmark
from bench.agi_load import load_process_pool
from bench.ami_bench import run_ami_benchmark
from bench.history_bench import run_history_benchmark
from bench.machine import describe_machine
from bench.memory_bench import run_memory_benchmark
from bench.results import write_results
from bench.sizes import FULL, QUICK, Sizes
from callscreen.logs import configure_logging

BENCHMARKS = ("agi", "ami", "history", "memory")
# Each history file needs about 750 bytes per row (rows, indexes, WAL) while it exists.
BYTES_PER_HISTORY_ROW = 750


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="运行 callscreen 基准测试 / run the callscreen benchmarks (loopback only)")
    parser.add_argument("--quick", action="store_true",
                        help="数秒内的小规模运行 / tiny sizes, seconds; proves the code runs")
    parser.add_argument("--out", type=Path, default=Path("bench/results"),
                        help="结果目录 / folder for results.json and results.md")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS),
                        help="只运行这些基准 / run only these benchmarks")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="临时数据库目录 / folder for temporary stores (default: under /tmp)")
    parser.add_argument("--history-rows", type=_count, nargs="+", default=None,
                        help="历史行数，替代默认规模 / history sizes in rows, replacing the "
                             "default ones; replay runs over the largest one not above "
                             "1,000,000")
    parser.add_argument("--memory-calls", type=_count, nargs="+", default=None,
                        help="内存检查点（模拟来电数）/ memory checkpoints in simulated calls, "
                             "replacing the default ones")
    parser.add_argument("--memory-trace", action="store_true",
                        help="用 tracemalloc 列出增长最多的代码行（慢数倍）/ list the source "
                             "lines whose allocations grew most (tracemalloc, several times "
                             "slower)")
    return parser.parse_args(argv)


def _count(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 0:
        raise argparse.ArgumentTypeError(f"计数不能为负 / invalid count {text}: expected 0 or more")
    return value


def chosen_sizes(args: argparse.Namespace) -> Sizes:
    """Return the quick or full sizes with the command line's overrides applied."""
    sizes = QUICK if args.quick else FULL
    if args.history_rows:
        sizes = replace(sizes, history_rows=tuple(sorted(set(args.history_rows))))
    if args.memory_calls:
        sizes = replace(sizes, memory_calls=tuple(sorted(set(args.memory_calls))))
    return sizes


def fit_history_to_disk(sizes: Sizes, work_dir: Path) -> tuple[Sizes, str]:
    """Drop history sizes that the free space under `work_dir` cannot hold; explain why."""
    free = shutil.disk_usage(work_dir).free
    kept = tuple(rows for rows in sizes.history_rows if rows * BYTES_PER_HISTORY_ROW < free * 0.8)
    if kept == sizes.history_rows:
        return sizes, ""

    note = (f"free disk {free / 1e9:.1f} GB holds only {kept} of {sizes.history_rows} history "
            f"rows at about {BYTES_PER_HISTORY_ROW} bytes a row")
    return replace(sizes, history_rows=kept), note


async def run_all(sizes: Sizes, args: argparse.Namespace, work_dir: Path,
                  results: dict[str, Any]) -> None:
    """Run the chosen benchmarks one after another, writing the results after each one."""
    only, out_dir = args.only, args.out
    if "agi" in only:
        with load_process_pool() as pool:
            results["agi"] = await run_agi_benchmark(pool, work_dir, sizes)
        write_results(results, out_dir)
    if "ami" in only:
        results["ami"] = await run_ami_benchmark(work_dir, sizes)
        write_results(results, out_dir)
    if "history" in only:
        results["history"] = await run_history_benchmark(work_dir, sizes)
        write_results(results, out_dir)
    if "memory" in only:
        results["memory"] = await run_memory_benchmark(sizes.memory_calls, args.memory_trace)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and write the results; return the exit status."""
    args = parse_args(argv)
    sizes = chosen_sizes(args)
    started, clock = datetime.now(UTC), time.perf_counter()
    results: dict[str, Any] = {
        "machine": describe_machine(), "mode": "quick" if args.quick else "full",
        "started_at": started.isoformat(timespec="seconds"), "elapsed_s": None, "notes": [],
    }

    with tempfile.TemporaryDirectory(prefix="callscreen-bench-", dir=args.work_dir) as folder:
        work_dir = Path(folder)
        sizes, disk_note = fit_history_to_disk(sizes, work_dir)
        with (work_dir / "daemon.log").open("w", encoding="utf-8") as log_file:
            # The daemon logs as in production (INFO, JSON), into a file that is thrown away.
            configure_logging("info", "json", stream=log_file)
            results["notes"] = [disk_note] if disk_note else []
            asyncio.run(run_all(sizes, args, work_dir, results))

    results["elapsed_s"] = round(time.perf_counter() - clock, 1)
    json_path, md_path = write_results(results, args.out)
    print(f"结果 / results: {json_path} {md_path}")
    print(md_path.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
