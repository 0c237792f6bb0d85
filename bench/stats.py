"""Latency summaries: nearest-rank percentiles over a list of seconds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """p50, p99 and max in milliseconds, the number of samples and the rate per second."""

    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    per_s: float

    def to_json(self) -> dict[str, Any]:
        """Return the summary as a JSON-ready dict with values rounded to 0.1 µs."""
        # A ring-time decision takes a few microseconds, so whole microseconds would move
        # a ratio of two of them by 10 % or more.
        return {key: round(value, 4) if isinstance(value, float) else value
                for key, value in asdict(self).items()}


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile of already sorted values (0.0 when empty)."""
    if not sorted_values:
        return 0.0

    rank = max(1, math.ceil(fraction * len(sorted_values)))

    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarise(latencies_s: Sequence[float], elapsed_s: float) -> LatencySummary:
    """Summarise latencies in seconds measured over `elapsed_s` seconds of wall time."""
    ordered = sorted(latencies_s)
    rate = len(ordered) / elapsed_s if elapsed_s > 0 else 0.0

    return LatencySummary(
        samples=len(ordered),
        p50_ms=percentile(ordered, 0.50) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        max_ms=(ordered[-1] if ordered else 0.0) * 1000,
        per_s=rate,
    )


def ratio(numerator: float, denominator: float) -> float | None:
    """Return numerator / denominator rounded to 3 places, or None when the base is 0."""
    if denominator == 0:
        return None

    return round(numerator / denominator, 3)
