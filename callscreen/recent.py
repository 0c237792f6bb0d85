"""Ring-time history kept in memory: recent calls per number and reception tags.

A decision must not wait on the disk. Each aiosqlite query costs thread hand-offs (about
0.4 ms on the benchmark machine, more when writes queue up), and a decision needs three.
The rules only look at short windows: calls within the repeat window, and tags within
`reputation_max_age_days`. So the daemon loads those once at start, adds each call as it
is decided, and reads new tags incrementally by row id.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from callscreen.classifier.model import History
from callscreen.config.model import RulesConfig
from callscreen.numbers.model import NumberFacts
from callscreen.store import Store, from_db_time, to_db_time
from callscreen.store.tags import TAG_WEIGHTS, TagKind, decayed_sum

log = structlog.get_logger(__name__)

# Per-block tag lists keep their newest entries only. A block holds up to 10,000 numbers,
# and reputation is capped at two tags' worth anyway, so older tags beyond this change
# nothing a person would notice while they would make every lookup on that block slower.
MAX_TAGS_PER_BLOCK = 500

LOAD_CALLS_SQL = (
    "SELECT caller_key, started_at FROM calls"
    " WHERE started_at >= ? AND caller_key IS NOT NULL AND caller_key <> ''"
    " ORDER BY started_at"
)
NEW_TAGS_SQL = (
    "SELECT id, caller_key, caller_block, tag, created_at FROM tags"
    " WHERE id > ? AND created_at >= ? ORDER BY id"
)


@dataclass(frozen=True, slots=True)
class Tag:
    """One reception tag as the reputation rules weigh it."""

    key: str
    kind: TagKind
    created_at: datetime


class RecentHistory:
    """The calls and tags the rules can still see, indexed by number and by block."""

    def __init__(self, rules: RulesConfig) -> None:
        self._rules = rules
        self._calls: dict[str, deque[datetime]] = {}
        self._by_key: dict[str, list[Tag]] = {}
        self._by_block: dict[str, deque[Tag]] = {}
        self._last_tag_id = 0
        # (started_at, key) per number block, for the block-burst rule.
        self._block_calls: dict[str, deque[tuple[datetime, str]]] = {}

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
        self._rules = rules or self._rules
        self._calls.clear()
        self._by_key.clear()
        self._by_block.clear()
        self._block_calls.clear()
        self._last_tag_id = 0

        since = now - max(self.repeat_window, self.block_burst_window)
        rows = await store.db.fetch_all(LOAD_CALLS_SQL, (to_db_time(since),),
                                        action="load_recent_calls")
        for key, started_at in rows:
            self._calls.setdefault(key, deque()).append(from_db_time(started_at))
            self._add_block_call(key, from_db_time(started_at))
        added = await self.refresh_tags(store, now)
        log.info("recent_history_loaded", calls=len(rows), tags=added)

    async def refresh_tags(self, store: Store, now: datetime) -> int:
        """Add the tags stored since the last read (by any process); return how many."""
        rows = await store.db.fetch_all(
            NEW_TAGS_SQL, (self._last_tag_id, to_db_time(now - self.max_age)),
            action="load_recent_tags")

        for tag_id, key, block, kind, created_at in rows:
            self._last_tag_id = max(self._last_tag_id, int(tag_id))
            self._add_tag(key, block, Tag(key, TagKind(kind), from_db_time(created_at)))
        return len(rows)

    def add_call(self, key: str, at: datetime) -> None:
        """Count a call from `key` (a NumberFacts.key) that started at `at`."""
        if key:
            self._calls.setdefault(key, deque()).append(at)
            self._add_block_call(key, at)

    def history(self, facts: NumberFacts, now: datetime) -> History:
        """Return the caller's History as `Store.history` computes it, from memory."""
        rules = self._rules
        half_life = timedelta(days=rules.reputation_half_life_days)
        since = now - self.max_age

        own = [tag for tag in self._by_key.get(facts.key, ()) if since <= tag.created_at <= now]
        block = [tag for tag in self._by_block.get(facts.block, ())
                 if tag.key != facts.key and since <= tag.created_at <= now] \
            if facts.block else []

        return History(
            calls_in_window=self._count_calls(facts.key, now),
            block_callers_in_window=self._count_block_callers(facts, now),
            number_reputation=decayed_sum(_weighed(own), now, half_life, TAG_WEIGHTS),
            block_reputation=decayed_sum(_weighed(block), now, half_life, TAG_WEIGHTS),
            employment_checks=decayed_sum(_weighed(own), now, half_life,
                                          {TagKind.EMPLOYMENT_CHECK: 1.0}),
        )

    def prune(self, now: datetime) -> None:
        """Forget calls and tags that fell out of every window, so memory stays bounded."""
        for key in list(self._calls):
            self._drop_old_calls(key, now)
        for block in list(self._block_calls):
            self._drop_old_block_calls(block, now)
        tag_since = now - self.max_age
        for key in list(self._by_key):
            kept = [tag for tag in self._by_key[key] if tag.created_at >= tag_since]
            if kept:
                self._by_key[key] = kept
            else:
                del self._by_key[key]
        for block in list(self._by_block):
            kept_block = deque((t for t in self._by_block[block] if t.created_at >= tag_since),
                               maxlen=MAX_TAGS_PER_BLOCK)
            if kept_block:
                self._by_block[block] = kept_block
            else:
                del self._by_block[block]

    def _count_calls(self, key: str, now: datetime) -> int:
        if not key or key not in self._calls:
            return 0
        self._drop_old_calls(key, now)
        since = now - self.repeat_window
        # The window is [now - repeat_window, now), as in Store.history.
        return sum(1 for at in self._calls.get(key, ()) if since <= at < now)

    def _drop_old_calls(self, key: str, now: datetime) -> None:
        times = self._calls[key]
        since = now - self.repeat_window
        while times and times[0] < since:
            times.popleft()
        if not times:
            del self._calls[key]

    def _add_block_call(self, key: str, at: datetime) -> None:
        block = _block_of(key)
        if block:
            self._block_calls.setdefault(block, deque()).append((at, key))

    def _count_block_callers(self, facts: NumberFacts, now: datetime) -> int:
        """Count the other numbers of the caller's block that called in [now - window, now)."""
        if not facts.block or facts.block not in self._block_calls:
            return 0
        self._drop_old_block_calls(facts.block, now)
        since = now - self.block_burst_window
        keys = {key for at, key in self._block_calls.get(facts.block, ())
                if since <= at < now and key != facts.key}
        return len(keys)

    def _drop_old_block_calls(self, block: str, now: datetime) -> None:
        calls = self._block_calls[block]
        since = now - self.block_burst_window
        while calls and calls[0][0] < since:
            calls.popleft()
        if not calls:
            del self._block_calls[block]

    def _add_tag(self, key: str, block: str, tag: Tag) -> None:
        if key:
            self._by_key.setdefault(key, []).append(tag)
        if block:
            self._by_block.setdefault(block, deque(maxlen=MAX_TAGS_PER_BLOCK)).append(tag)


def _block_of(key: str) -> str:
    """Return the block of an E.164 key as NumberFacts.block has it: the key less its last
    four digits. Service keys ("svc:95588") have no block."""
    return key[:-4] if key.startswith("+") and len(key) > 5 else ""


def _weighed(tags: list[Tag]) -> list[tuple[TagKind, datetime]]:
    return [(tag.kind, tag.created_at) for tag in tags]
