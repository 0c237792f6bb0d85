"""The ring-time decision: caller ID -> number facts -> history -> verdict.

This is the only place that joins the pure parts (normaliser, lists, classifier) with the
store's indexed lookups; FastAGI, observe-only AMI tracking and `callscreen classify` all
call it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import structlog

from callscreen.classifier import Decision, History, classify
from callscreen.config import Config
from callscreen.numbers.model import NumberFacts
from callscreen.numbers.normalise import normalise
from callscreen.recent import RecentHistory
from callscreen.store import Store
from callscreen.store.lists import ListEntry, match_lists

log = structlog.get_logger(__name__)

# List entries from the config file are not rows; they get negative ids to tell them apart.
CONFIG_ENTRY_AUTHOR = "config"
# How often a Screener without a refresh loop (one-shot commands) re-reads stored lists.
LIST_REFRESH_INTERVAL = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Screened:
    """A decision with the facts it rests on and how long it took."""

    decision: Decision
    facts: NumberFacts
    history: History
    elapsed_ms: float


class Screener:
    """Decides calls with the current config.

    With `recent` (the daemon), history comes from memory and stored lists are re-read by
    the daemon's refresh loop, so a decision never waits on the disk. Without it (one-shot
    commands), history is read from `store`; with no store there is no history at all.
    """

    def __init__(self, config: Config, store: Store | None,
                 recent: RecentHistory | None = None) -> None:
        self.config = config
        self._store = store
        self._recent = recent
        self._config_entries = config_list_entries(config)
        self._stored_entries: list[ListEntry] = []
        self._lists_read_at: datetime | None = None

    def normalise(self, caller: str) -> NumberFacts:
        """Normalise a caller ID with the configured region and area code."""
        numbers = self.config.numbers
        return normalise(caller, region=numbers.default_region, area_code=numbers.area_code)

    async def screen(self, caller: str, *, now: datetime | None = None) -> Screened:
        """Classify one caller ID against its history and the allow/block lists."""
        started = time.perf_counter()
        now = now or datetime.now(UTC)
        facts = self.normalise(caller)

        history = await self._history(facts, now)
        decision = classify(facts, history, self.config.rules)

        elapsed_ms = (time.perf_counter() - started) * 1000
        return Screened(decision, facts, history, elapsed_ms)

    async def refresh_lists(self, now: datetime | None = None) -> None:
        """Re-read the stored allow/block lists now (after an admin changed them)."""
        if self._store is None:
            return
        now = now or datetime.now(UTC)
        self._stored_entries = await self._store.active_list_entries(now)
        self._lists_read_at = now

    async def _history(self, facts: NumberFacts, now: datetime) -> History:
        if self._recent is not None:
            history = self._recent.history(facts, now)
        elif self._store is None:
            history = History()
        else:
            if self._lists_read_at is None or now - self._lists_read_at > LIST_REFRESH_INTERVAL:
                await self.refresh_lists(now)
            rules = self.config.rules
            history = await self._store.history(
                facts, now,
                repeat_window=timedelta(minutes=rules.repeat_window_minutes),
                half_life=timedelta(days=rules.reputation_half_life_days),
                max_age=timedelta(days=rules.reputation_max_age_days),
                block_burst_window=timedelta(minutes=rules.block_burst_window_minutes),
            )

        entries = [*self._config_entries, *self._stored_entries]
        return replace(history, list_matches=match_lists(entries, facts, now))


def config_list_entries(config: Config) -> list[ListEntry]:
    """Turn the config file's `allow`/`block` strings into list entries in normal form."""
    entries: list[ListEntry] = []
    since = datetime(1970, 1, 1, tzinfo=UTC)
    numbers = config.numbers

    for list_name, patterns in (("allow", config.rules.allow), ("block", config.rules.block)):
        for text in patterns:
            match, _, pattern = text.rpartition(":") if ":" in text else ("exact", "", text)
            if match == "svc":
                match, pattern = "exact", text
            elif match == "exact":
                pattern = normalise(pattern, region=numbers.default_region,
                                    area_code=numbers.area_code).key or pattern
            entries.append(ListEntry(id=-len(entries) - 1, list_name=list_name, match=match,
                                     pattern=pattern, note="", added_by=CONFIG_ENTRY_AUTHOR,
                                     added_at=since))
    return entries
