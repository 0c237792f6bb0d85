"""How big each benchmark is: the full run, and the quick run the test suite uses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sizes:
    """Counts and durations of every benchmark."""

    agi_warm_up: int
    agi_calls_1: int
    agi_calls_10: int
    agi_calls_50: int
    open_rate: float
    open_duration_s: float
    ami_events: int
    history_rows: tuple[int, ...]
    history_lookups: int
    replay_rows: int
    memory_calls: tuple[int, ...]


FULL = Sizes(
    agi_warm_up=500, agi_calls_1=2_000, agi_calls_10=5_000, agi_calls_50=10_000,
    open_rate=100.0, open_duration_s=30.0, ami_events=1_000_000,
    history_rows=(0, 1_000_000, 10_000_000), history_lookups=2_000, replay_rows=1_000_000,
    memory_calls=(100_000, 1_000_000),
)
QUICK = Sizes(
    agi_warm_up=20, agi_calls_1=30, agi_calls_10=60, agi_calls_50=100,
    open_rate=100.0, open_duration_s=0.5, ami_events=5_000,
    history_rows=(0, 2_000, 5_000), history_lookups=30, replay_rows=5_000,
    memory_calls=(200, 500),
)
