"""A running sum of weights that halve per half-life of age, for the in-memory histories.

Both the daemon (`callscreen.recent`) and `callscreen replay` need the store's reputation
sums, sum(weight * 0.5 ** (age / half_life)) over the tags in [now - max_age, now], once per
call. Re-summing every tag makes a lookup cost grow with the tags of a busy block, so the
sum is kept decayed to one reference time and only scaled at lookup. Each caller picks one
time unit: replay uses POSIX seconds and the daemon integer microseconds. The half-life and
max age are given in that same unit.
"""

from __future__ import annotations

from bisect import insort
from collections import deque


class DecayedSum:
    """A sum of weights, each halved per half-life of its age, without items older than max_age.

    Lookups drop old items for good, so the `now` of successive lookups should not go
    backwards by more than a clock step: an item dropped at a later `now` stays dropped.
    Items may be added in any time order.
    """

    __slots__ = ("_at", "_items", "_value")

    def __init__(self) -> None:
        self._value = 0.0
        self._at: float = 0
        self._items: deque[tuple[float, float]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, at: float, weight: float, half_life: float) -> None:
        """Add `weight` at time `at`."""
        items = self._items
        if not items:
            self._value, self._at = 0.0, at
        if not items or at >= items[-1][0]:
            items.append((at, weight))
        else:
            insort(items, (at, weight))

        if at >= self._at:
            self._decay_to(at, half_life)
            self._value += weight
        else:
            self._value += weight * 0.5 ** ((self._at - at) / half_life)

    def value_at(self, now: float, half_life: float, max_age: float) -> float:
        """Return the decayed sum at `now` over items in [now - max_age, now]."""
        items = self._items
        cutoff = now - max_age
        while items and items[0][0] < cutoff:
            at, weight = items.popleft()
            self._value -= weight * 0.5 ** ((self._at - at) / half_life)
        if not items:
            # Subtracting decayed floats leaves rounding residue; an empty sum is exactly 0.
            self._value = 0.0
            return 0.0

        if items[-1][0] > now:
            # Items stamped after `now` (another writer's clock runs ahead) do not count yet.
            counted: float = sum(weight * 0.5 ** ((now - at) / half_life)
                                 for at, weight in items if at <= now)
            return counted
        if now > self._at:
            # _decay_to, inlined: this runs on every ring-time decision.
            self._value *= 0.5 ** ((now - self._at) / half_life)
            self._at = now
            return self._value
        if now == self._at:
            return self._value
        growth: float = 0.5 ** ((now - self._at) / half_life)
        return self._value * growth

    def _decay_to(self, now: float, half_life: float) -> None:
        if now > self._at:
            self._value *= 0.5 ** ((now - self._at) / half_life)
            self._at = now
