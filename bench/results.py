"""The results writer: one JSON file and one markdown table per run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TARGETS = {
    "p50_closed_1": ("ring-time p50 callscreen / bare, 1 concurrent", "<= 1.0"),
    "per_s_closed_50": ("set-ups/s callscreen / bare, 50 concurrent", ">= 2.0"),
    "open_p99_ms": ("open loop 100/s p99 (ms)", "<= 5"),
    "ami_ratio": ("AMI events/s callscreen / bare", ">= 0.8"),
    "history_ratio": ("decision p50 largest history / empty", "<= 1.2"),
    "replay_per_s": ("replay calls/s", ">= 20000"),
    "memory_growth_mb": ("RSS growth between the two checkpoints (MB)", "<= 20"),
}


def target_values(results: dict[str, Any]) -> dict[str, float | None]:
    """Pick each targeted figure out of the results (None when its benchmark did not run)."""
    agi, ami = results.get("agi"), results.get("ami")
    history, memory = results.get("history"), results.get("memory")
    replayed = history.get("replay") if history else None

    return {
        "p50_closed_1": agi["ratios"]["p50_closed_1"] if agi else None,
        "per_s_closed_50": agi["ratios"]["per_s_closed_50"] if agi else None,
        "open_p99_ms": agi["callscreen"]["open_100_per_s"]["p99_ms"] if agi else None,
        "ami_ratio": ami["ratios"]["events_per_s"] if ami else None,
        "history_ratio": history["ratios"]["p50_largest_over_empty"] if history else None,
        "replay_per_s": replayed["calls_per_s"] if replayed else None,
        "memory_growth_mb": memory["growth_mb"] if memory else None,
    }


def _met(value: float | None, target: str) -> str:
    if value is None:
        return "not run"
    operator, bound = target.split()
    met = value <= float(bound) if operator == "<=" else value >= float(bound)
    return "met" if met else "MISSED"


def markdown(results: dict[str, Any]) -> str:
    """Render the machine, the targets and every measured figure as markdown tables."""
    machine = results["machine"]
    lines = [f"Run {results['started_at']} ({results['mode']} mode, {results['elapsed_s']} s)", "",
             "| machine | |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in machine.items()]
    lines += ["", "| target | measured | aim | result |", "| --- | --- | --- | --- |"]
    for key, value in target_values(results).items():
        label, aim = TARGETS[key]
        lines.append(f"| {label} | {value if value is not None else '—'} | {aim} | "
                     f"{_met(value, aim)} |")
    lines += _agi_lines(results.get("agi")) + _other_lines(results)

    return "\n".join(lines) + "\n"


def _agi_lines(agi: dict[str, Any] | None) -> list[str]:
    if not agi:
        return []
    lines = ["", "| FastAGI scenario | server | p50 ms | p99 ms | max ms | set-ups/s | errors |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for scenario in agi["bare"]:
        for server in ("bare", "callscreen"):
            row = agi[server][scenario]
            lines.append(f"| {scenario} | {server} | {row['p50_ms']} | {row['p99_ms']} | "
                         f"{row['max_ms']} | {round(row['per_s'], 1)} | {row['errors']} |")
    return lines


def _other_lines(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if results.get("ami"):
        lines += ["", "| AMI ingestion | events | seconds | events/s | call records |",
                  "| --- | --- | --- | --- | --- |"]
        for side in ("bare", "callscreen"):
            row = results["ami"][side]
            lines.append(f"| {side} | {row['events']} | {row['elapsed_s']} | "
                         f"{row['events_per_s']} | {row['call_records']} |")
    if results.get("history"):
        lines += ["", "| history rows | generated in s | decision p50 ms | p99 ms | max ms |",
                  "| --- | --- | --- | --- | --- |"]
        for rows, row in results["history"]["sizes"].items():
            lines.append(f"| {int(rows):,} | {row['generate_s']} | {row['p50_ms']} | "
                         f"{row['p99_ms']} | {row['max_ms']} |")
        replayed = results["history"].get("replay")
        if replayed:
            lines += ["", f"Replay: {replayed['calls']:,} calls in {replayed['elapsed_s']} s, "
                          f"{replayed['calls_per_s']} calls/s."]
    if results.get("memory"):
        lines += _memory_lines(results["memory"])
    return lines


def _memory_lines(memory: dict[str, Any]) -> list[str]:
    lines = ["", "| simulated calls | RSS MB | Python blocks | store MB | seconds | calls/s |",
             "| --- | --- | --- | --- | --- | --- |"]
    for calls, point in memory["checkpoints"].items():
        lines.append(f"| {int(calls):,} | {point['rss_mb']} | {point['python_blocks']:,} | "
                     f"{point['store_mb']} | {point['elapsed_s']} | {point['calls_per_s']} |")
    lines += ["", f"RSS at start {memory['start_rss_mb']} MB, growth between the checkpoints "
                  f"{memory['growth_mb']} MB; one call every {memory['call_spacing_s']} s of "
                  "simulated time."]
    if memory.get("top_growth"):
        lines += ["", "Allocations that grew most between the checkpoints (tracemalloc):", ""]
        lines += [f"    {line}" for line in memory["top_growth"]]
    return lines


def write_results(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write results.json and results.md into `out_dir`; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "results.json", out_dir / "results.md"
    json_path.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n",
                         encoding="utf-8")
    md_path.write_text(markdown(results), encoding="utf-8")

    return json_path, md_path
