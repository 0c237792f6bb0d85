"""In-memory history for replay: what the store's ring-time queries would have returned.

Replay walks the calls once in started_at order. Instead of one indexed query per call, it
keeps a sliding window of call times per caller key and decayed tag sums per number and per
block, applying each tag when the replay clock passes its created_at. The results match
`Store.history` at each call's start: calls in [start - window, start), and tags created
in [start - max_age, start], each halved per half-life of age.
Times are POSIX seconds (float) because datetime arithmetic would dominate the run time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from callscreen.classifier.model import History, ListMatch
from callscreen.decayed import DecayedSum
from callscreen.numbers.model import NumberFacts
from callscreen.store.lists import ListEntry, match_lists
from callscreen.store.tags import TAG_WEIGHTS, TagKind

K = TypeVar("K", str, tuple[str, str])


@dataclass(frozen=True, slots=True)
class StoredTag:
    """One reception tag as replay needs it."""

    at: float
    caller_key: str
    caller_block: str
    tag: TagKind


@dataclass(slots=True)
class TagTimeline:
    """Tags applied in created_at order as the replay clock passes them."""

    tags: Sequence[StoredTag]
    half_life_s: float
    max_age_s: float
    _next: int = 0
    _numbers: dict[str, DecayedSum] = field(default_factory=dict)
    _checks: dict[str, DecayedSum] = field(default_factory=dict)
    _blocks: dict[str, DecayedSum] = field(default_factory=dict)
    # Tags of one number inside its block, subtracted so that a number's own tags do not
    # count again as block reputation (the store's block query excludes them the same way).
    _own_in_block: dict[tuple[str, str], DecayedSum] = field(default_factory=dict)

    def advance(self, now: float) -> None:
        """Apply every tag created at or before `now`."""
        tags, index = self.tags, self._next
        while index < len(tags) and tags[index].at <= now:
            self._apply(tags[index])
            index += 1
        self._next = index

    def _apply(self, tag: StoredTag) -> None:
        weight = TAG_WEIGHTS.get(tag.tag, 0.0)
        if tag.tag is TagKind.EMPLOYMENT_CHECK:
            _sum(self._checks, tag.caller_key).add(tag.at, 1.0, self.half_life_s)
        if not weight:
            return

        _sum(self._numbers, tag.caller_key).add(tag.at, weight, self.half_life_s)
        if tag.caller_block:
            _sum(self._blocks, tag.caller_block).add(tag.at, weight, self.half_life_s)
            _sum(self._own_in_block, (tag.caller_block, tag.caller_key)).add(
                tag.at, weight, self.half_life_s)

    def reputation(self, key: str, block: str, now: float) -> tuple[float, float, float]:
        """Return (number, block, employment checks) sums for a caller at `now`."""
        numbers = self._numbers.get(key)
        number = self._value(numbers, now)
        checks = self._value(self._checks.get(key), now)
        block_sum = 0.0
        if block:
            block_sum = self._value(self._blocks.get(block), now)
            if numbers is not None:
                # Without weighted tags of its own, the number has none inside the block.
                block_sum -= self._value(self._own_in_block.get((block, key)), now)

        return number, block_sum, checks

    def _value(self, total: DecayedSum | None, now: float) -> float:
        if total is None:
            return 0.0
        return total.value_at(now, self.half_life_s, self.max_age_s)


def _sum(sums: dict[K, DecayedSum], key: K) -> DecayedSum:
    total = sums.get(key)
    if total is None:
        total = sums[key] = DecayedSum()
    return total


class CallWindows:
    """Per caller key, the start times of earlier calls inside the repeat window."""

    __slots__ = ("_times", "_window_s")

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._times: dict[str, deque[float]] = {}

    def count_then_add(self, key: str, now: float) -> int:
        """Return how many calls from `key` started in [now - window, now), then add this one."""
        if not key:
            return 0
        times = self._times.get(key)
        if times is None:
            self._times[key] = deque((now,))
            return 0

        cutoff = now - self._window_s
        while times and times[0] < cutoff:
            times.popleft()
        count = len(times)
        # Calls that started at the same instant are not "earlier" for the store's query.
        for earlier in reversed(times):
            if earlier < now:
                break
            count -= 1
        times.append(now)

        return count


class BlockWindows:
    """Per number block, the (start time, caller key) of earlier calls in the burst window."""

    __slots__ = ("_calls", "_window_s")

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._calls: dict[str, deque[tuple[float, str]]] = {}

    def count_then_add(self, block: str, key: str, now: float) -> int:
        """Return how many other numbers of `block` called in [now - window, now), then add
        this call."""
        if not block or not key:
            return 0
        calls = self._calls.get(block)
        if calls is None:
            self._calls[block] = deque(((now, key),))
            return 0

        cutoff = now - self._window_s
        while calls and calls[0][0] < cutoff:
            calls.popleft()
        callers = {caller for at, caller in calls if at < now and caller != key}
        calls.append((now, key))

        return len(callers)


class ListIndex:
    """Allow/block entries indexed by pattern, with each entry in force only in its lifetime."""

    def __init__(self, entries: Iterable[ListEntry]) -> None:
        self._exact: dict[str, list[ListEntry]] = {}
        self._block: dict[str, list[ListEntry]] = {}
        self._prefix: list[ListEntry] = []
        for entry in entries:
            if entry.match == "exact":
                self._exact.setdefault(entry.pattern, []).append(entry)
            elif entry.match == "block":
                self._block.setdefault(entry.pattern, []).append(entry)
            else:
                self._prefix.append(entry)

    def matches(self, facts: NumberFacts, now: datetime) -> tuple[ListMatch, ...]:
        """Return the list matches the screener would have found at `now`."""
        if not facts.key:
            return ()
        candidates = [*self._exact.get(facts.key, ()), *self._block.get(facts.block, ()),
                      *self._prefix]
        if not candidates:
            return ()

        in_force = [entry for entry in candidates if entry.added_at <= now]
        return match_lists(in_force, facts, now)


def history_at(facts: NumberFacts, now: datetime, now_s: float, windows: CallWindows,
               blocks: BlockWindows, timeline: TagTimeline, lists: ListIndex) -> History:
    """Build the History the screener would have fetched for this call at its start."""
    timeline.advance(now_s)
    number, block, checks = timeline.reputation(facts.key, facts.block, now_s)

    return History(
        calls_in_window=windows.count_then_add(facts.key, now_s),
        block_callers_in_window=blocks.count_then_add(facts.block, facts.key, now_s),
        number_reputation=number,
        block_reputation=block,
        employment_checks=checks,
        list_matches=lists.matches(facts, now),
    )
