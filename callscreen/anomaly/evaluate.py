"""Turn per-window signal counts into a risk level, recording which signal crossed what.

Pure: the counts come from indexed store queries, the thresholds from `AnomalyConfig`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from callscreen.config.model import AnomalyConfig


class RiskLevel(enum.StrEnum):
    """A case's risk level, lowest first; displayed as 低/中/高."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """Return 1 for low, 2 for medium, 3 for high, for comparing levels."""
        return RISK_ORDER.index(self) + 1


RISK_ORDER = (RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH)


@dataclass(frozen=True, slots=True)
class Crossing:
    """One signal at or above its threshold for one level."""

    signal: str
    value: int
    threshold: int
    level: RiskLevel


@dataclass(frozen=True, slots=True)
class Assessment:
    """The highest level reached (None when no threshold is met) and the crossings behind it."""

    level: RiskLevel | None
    counts: Mapping[str, int]
    crossings: tuple[Crossing, ...] = field(default_factory=tuple)


def thresholds_for(config: AnomalyConfig) -> dict[RiskLevel, Mapping[str, int]]:
    """Return the configured thresholds keyed by level."""
    return {RiskLevel.LOW: config.low, RiskLevel.MEDIUM: config.medium,
            RiskLevel.HIGH: config.high}


def assess(counts: Mapping[str, int], config: AnomalyConfig) -> Assessment:
    """Find the highest level for which any signal meets its threshold.

    The crossings listed are those of that level only, so a case records why it is at the
    level it is. A signal missing from `counts` counts as 0.
    """
    levels = thresholds_for(config)

    for level in reversed(RISK_ORDER):
        crossings = tuple(
            Crossing(signal=signal, value=counts.get(signal, 0), threshold=threshold,
                     level=level)
            for signal, threshold in sorted(levels[level].items())
            if counts.get(signal, 0) >= threshold
        )
        if crossings:
            return Assessment(level=level, counts=dict(counts), crossings=crossings)

    return Assessment(level=None, counts=dict(counts))
