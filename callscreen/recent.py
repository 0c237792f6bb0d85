"""Ring-time history kept in memory: recent calls per number and reception tags.

A decision must not wait on the disk. Each aiosqlite query costs thread hand-offs (about
0.4 ms on the benchmark machine, more when writes queue up), and a decision needs three.
The rules only look at short windows: calls within the repeat and block-burst windows, and
tags within `reputation_max_age_days`. So the daemon loads those once at start, adds each call as it
is decided, and reads new tags incrementally by row id.

A lookup must not cost more for a number or block with a long history either: calls are
kept sorted per number and expire from the front, and each reputation is a running
`DecayedSum`, so a lookup touches only the calls and tags that just left a window.
Times are integer microseconds since the epoch, so that window bounds compare exactly as
the store's text times do and ages divide exactly as `timedelta` division does.
"""

from __future__ import annotations

import functools
from bisect import insort
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import structlog

from callscreen.classifier.model import History
from callscreen.config.model import RulesConfig
from callscreen.decayed import DecayedSum
from callscreen.numbers.model import NumberFacts
from callscreen.store import Store, from_db_time, to_db_time
from callscreen.store.tags import TAG_WEIGHTS, TagKind

log = structlog.get_logger(__name__)

K = TypeVar("K", str, tuple[str, str])

LOAD_CALLS_SQL = (
    "SELECT caller_key, started_at FROM calls"
    " WHERE started_at >= ? AND caller_key IS NOT NULL AND caller_key <> ''"
    " ORDER BY started_at"
)
NEW_TAGS_SQL = (
    "SELECT id, caller_key, caller_block, tag, created_at, caller_org FROM tags"
    " WHERE id > ? AND created_at >= ? ORDER BY id"
)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Entries pruned between two pauses; 1,000 take about 0.6 ms on the 2-core benchmark machine.
PRUNE_STEP = 1000
MICROSECOND = timedelta(microseconds=1)


def to_microseconds(moment: datetime) -> int:
    """Return an aware datetime as integer microseconds since the epoch."""
    return (moment - EPOCH) // MICROSECOND


class RecentHistory:
    """The calls and tags the rules can still see, indexed by number and by block."""

    def __init__(self, rules: RulesConfig) -> None:
        self._rules = rules
        self._window_us = self._half_life_us = self._max_age_us = self._burst_window_us = 0
        self._use_rules(rules)
        self._calls: dict[str, deque[int]] = {}
        self._numbers: dict[str, DecayedSum] = {}
        self._checks: dict[str, DecayedSum] = {}
        self._blocks: dict[str, DecayedSum] = {}
        # A number's own tags inside its block, subtracted from the block's sum because the
        # store's block query leaves out the caller's own number.
        self._own_in_block: dict[tuple[str, str], DecayedSum] = {}
        # The one block that holds all of a number's weighted tags, or None when they span
        # several. With one block, the number's own-in-block sum equals its number sum.
        self._key_blocks: dict[str, str | None] = {}
        self._last_tag_id = 0
        # The organisation reception last recorded per number: (tag time, text).
        self._orgs: dict[str, tuple[int, str]] = {}
        # (started at, key) per number block in start order, for the block-burst rule, and
        # per block the calls each number has in that deque, so that a lookup counts the
        # numbers without walking a busy block's calls.
        self._block_calls: dict[str, deque[tuple[int, str]]] = {}
        self._block_keys: dict[str, dict[str, int]] = {}

    @property
    def block_burst_window(self) -> timedelta:
        """Return how far back the block-burst rule counts the numbers of a block."""
        return timedelta(minutes=self._rules.block_burst_window_minutes)

    @property
    def repeat_window(self) -> timedelta:
        """Return how far back the repeat-caller rule counts calls."""
        return timedelta(minutes=self._rules.repeat_window_minutes)

    @property
    def max_age(self) -> timedelta:
        """Return the age past which a tag no longer counts."""
        return timedelta(days=self._rules.reputation_max_age_days)

    async def load(self, store: Store, now: datetime, rules: RulesConfig | None = None) -> None:
        """(Re)load calls and tags inside the windows of `rules` (default: the current ones)."""
        self._use_rules(rules or self._rules)
        for table in (self._calls, self._numbers, self._checks, self._blocks,
                      self._own_in_block, self._key_blocks, self._block_calls, self._block_keys,
                      self._orgs):
            table.clear()
        self._last_tag_id = 0

        since = now - max(self.repeat_window, self.block_burst_window)
        rows = await store.db.fetch_all(LOAD_CALLS_SQL, (to_db_time(since),),
                                        action="load_recent_calls")
        for key, started_at in rows:
            self.add_call(key, from_db_time(started_at))
        added = await self.refresh_tags(store, now)
        log.info("recent_history_loaded", calls=len(rows), tags=added)

    async def refresh_tags(self, store: Store, now: datetime) -> int:
        """Add the tags stored since the last read (by any process); return how many."""
        rows = await store.db.fetch_all(
            NEW_TAGS_SQL, (self._last_tag_id, to_db_time(now - self.max_age)),
            action="load_recent_tags")

        for tag_id, key, block, kind, created_at, caller_org in rows:
            self._last_tag_id = max(self._last_tag_id, int(tag_id))
            at_us = to_microseconds(from_db_time(created_at))
            self._add_tag(key, block, TagKind(kind), at_us)
            if caller_org and key:
                self._orgs[key] = (at_us, caller_org)
        return len(rows)

    def stated_org(self, key: str) -> str:
        """Return the organisation reception last recorded for number `key`, or ""."""
        stated = self._orgs.get(key)
        return stated[1] if stated else ""

    def add_call(self, key: str, at: datetime) -> None:
        """Count a call from `key` (a NumberFacts.key) that started at `at`."""
        if not key:
            return

        at_us = to_microseconds(at)
        times = self._calls.get(key)
        if times is None:
            self._calls[key] = deque((at_us,))
        elif not times or at_us >= times[-1]:
            times.append(at_us)
        else:
            # AMI-observed calls can arrive slightly out of start order.
            insort(times, at_us)
        self._add_block_call(key, at_us)

    def history(self, facts: NumberFacts, now: datetime) -> History:
        """Return the caller's History as `Store.history` computes it, from memory."""
        now_us = to_microseconds(now)
        key, block = facts.key, facts.block
        if not key:
            return History(block_reputation=self._block_sum(block, key, now_us))

        numbers = self._numbers.get(key)
        number_sum = 0.0 if numbers is None else numbers.value_at(
            now_us, self._half_life_us, self._max_age_us)
        checks = self._checks.get(key)
        times = self._calls.get(key)
        return History(
            calls_in_window=self._count_calls(key, times, now_us) if times else 0,
            block_callers_in_window=self._count_block_callers(block, key, now_us),
            number_reputation=number_sum,
            block_reputation=self._block_sum(block, key, now_us, numbers, number_sum),
            employment_checks=0.0 if checks is None else checks.value_at(
                now_us, self._half_life_us, self._max_age_us),
        )

    def prune(self, now: datetime) -> None:
        """Forget calls and tags that fell out of every window, so memory stays bounded."""
        for _step in self.prune_steps(now):
            pass

    def prune_steps(self, now: datetime) -> Iterator[None]:
        """Prune as `prune` does, pausing (yielding) after every PRUNE_STEP entries.

        One pass over 20,000 numbers held the event loop for 10 to 13 ms. Calls and tags
        added between steps are kept, and pruned on the next pass if they are old.
        """
        now_us = to_microseconds(now)
        org_since_us = now_us - self._max_age_us
        # Each pass copies its table only when it starts: copying all of them at once held
        # the loop for several milliseconds too.
        passes: list[tuple[Callable[[], list[Any]], Callable[[Any], None]]] = [
            (lambda: list(self._calls), lambda key: self._drop_old_calls(key, now_us)),
            (lambda: list(self._block_calls),
             lambda block: self._drop_old_block_calls(block, now_us)),
            *[(functools.partial(_items, sums), functools.partial(self._prune_sum, sums, now_us))
              for sums in (self._numbers, self._checks, self._blocks, self._own_in_block)],
            (lambda: list(self._key_blocks), self._forget_key_block),
            (lambda: list(self._orgs), lambda key: self._forget_org(key, org_since_us)),
        ]
        for snapshot, prune_one in passes:
            entries = snapshot()
            for start in range(0, len(entries), PRUNE_STEP):
                for entry in entries[start:start + PRUNE_STEP]:
                    prune_one(entry)
                yield

    def _prune_sum(self, sums: dict[Any, DecayedSum], now_us: int,
                   item: tuple[Any, DecayedSum]) -> None:
        name, total = item
        total.value_at(now_us, self._half_life_us, self._max_age_us)
        # The name may hold a new sum by now, added between two steps.
        if not total and sums.get(name) is total:
            del sums[name]

    def _forget_key_block(self, key: str) -> None:
        if key not in self._numbers:
            self._key_blocks.pop(key, None)

    def _forget_org(self, key: str, since_us: int) -> None:
        stated = self._orgs.get(key)
        if stated is not None and stated[0] < since_us:
            del self._orgs[key]

    def _use_rules(self, rules: RulesConfig) -> None:
        self._rules = rules
        self._window_us = to_microseconds(EPOCH + self.repeat_window)
        self._half_life_us = to_microseconds(
            EPOCH + timedelta(days=rules.reputation_half_life_days))
        self._max_age_us = to_microseconds(EPOCH + self.max_age)
        self._burst_window_us = to_microseconds(EPOCH + self.block_burst_window)

    def _count_calls(self, key: str, times: deque[int], now_us: int) -> int:
        if times[0] < now_us - self._window_us:
            self._drop_old_calls(key, now_us)
            if not times:
                return 0

        # The window is [now - repeat_window, now), as in Store.history: calls that started
        # at or after `now` do not count yet. Such calls are rare, so check the newest first.
        count = len(times)
        if times[-1] < now_us:
            return count
        for at_us in reversed(times):
            if at_us < now_us:
                break
            count -= 1
        return count

    def _drop_old_calls(self, key: str, now_us: int) -> None:
        times = self._calls.get(key)
        if times is None:
            return
        since_us = now_us - self._window_us
        while times and times[0] < since_us:
            times.popleft()
        if not times:
            del self._calls[key]

    def _add_block_call(self, key: str, at_us: int) -> None:
        block = _block_of(key)
        if not block:
            return
        calls = self._block_calls.get(block)
        if calls is None:
            calls = self._block_calls[block] = deque()
            self._block_keys[block] = {}
        if not calls or at_us >= calls[-1][0]:
            calls.append((at_us, key))
        else:
            insort(calls, (at_us, key))
        keys = self._block_keys[block]
        keys[key] = keys.get(key, 0) + 1

    def _count_block_callers(self, block: str, key: str, now_us: int) -> int:
        """Count the other numbers of the caller's block that called in [now - window, now)."""
        calls = self._block_calls.get(block) if block else None
        if not calls:
            return 0
        if calls[0][0] < now_us - self._burst_window_us:
            self._drop_old_block_calls(block, now_us)
            if not calls:
                return 0
        keys = self._block_keys[block]
        if calls[-1][0] < now_us:
            return len(keys) - (key in keys)

        # Calls at or after `now` do not count yet. They sit at the end of the deque and are
        # rare (AMI-observed calls stamped slightly ahead), so they are walked one by one.
        later: dict[str, int] = {}
        for at_us, caller in reversed(calls):
            if at_us < now_us:
                break
            later[caller] = later.get(caller, 0) + 1
        count = len(keys)
        for caller, calls_later in later.items():
            if keys[caller] == calls_later:
                count -= 1
        if keys.get(key, 0) > later.get(key, 0):
            count -= 1
        return count

    def _drop_old_block_calls(self, block: str, now_us: int) -> None:
        if block not in self._block_calls:
            return
        calls, keys = self._block_calls[block], self._block_keys[block]
        since_us = now_us - self._burst_window_us
        while calls and calls[0][0] < since_us:
            _at_us, caller = calls.popleft()
            left = keys[caller] - 1
            if left:
                keys[caller] = left
            else:
                del keys[caller]
        if not calls:
            del self._block_calls[block]
            del self._block_keys[block]

    def _block_sum(self, block: str, key: str, now_us: int, numbers: DecayedSum | None = None,
                   number_sum: float = 0.0) -> float:
        """Return the block's sum without the caller's own tags (`numbers`, worth `number_sum`)."""
        total = self._blocks.get(block) if block else None
        if total is None:
            return 0.0
        block_sum = total.value_at(now_us, self._half_life_us, self._max_age_us)
        if numbers is None:
            # Without weighted tags of its own, the number has none inside the block either.
            return block_sum

        if self._key_blocks.get(key) == block:
            own, own_sum = numbers, number_sum
        else:
            own_in_block = self._own_in_block.get((block, key))
            if own_in_block is None:
                return block_sum
            own = own_in_block
            own_sum = own.value_at(now_us, self._half_life_us, self._max_age_us)

        # Every tag in the block is the caller's own: the store's sum is exactly 0.
        return 0.0 if len(own) == len(total) else block_sum - own_sum

    def _add_tag(self, key: str, block: str, kind: TagKind, at_us: int) -> None:
        half_life = self._half_life_us
        if kind is TagKind.EMPLOYMENT_CHECK:
            _sum(self._checks, key).add(at_us, 1.0, half_life)
        weight = TAG_WEIGHTS.get(kind, 0.0)
        if not weight or not key:
            return

        _sum(self._numbers, key).add(at_us, weight, half_life)
        self._key_blocks[key] = block if self._key_blocks.get(key, block) == block else None
        if block:
            _sum(self._blocks, block).add(at_us, weight, half_life)
            _sum(self._own_in_block, (block, key)).add(at_us, weight, half_life)


def _sum(sums: dict[K, DecayedSum], name: K) -> DecayedSum:
    total = sums.get(name)
    if total is None:
        total = sums[name] = DecayedSum()
    return total


def _block_of(key: str) -> str:
    """Return the block of an E.164 key as NumberFacts.block has it: the key less its last
    four digits. Service keys ("svc:95588") have no block."""
    return key[:-4] if key.startswith("+") and len(key) > 5 else ""


def _items(sums: dict[Any, DecayedSum]) -> list[tuple[Any, DecayedSum]]:
    return list(sums.items())
