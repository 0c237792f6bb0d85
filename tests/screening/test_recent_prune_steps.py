"""Pruning the in-memory history in steps, so the event loop is never held for a whole pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callscreen.config.model import RulesConfig
from callscreen.recent import PRUNE_STEP, RecentHistory

NOW = datetime(2028, 2, 29, 9, 30, tzinfo=UTC)
RULES = RulesConfig()
OLD = NOW - timedelta(days=1)


def _keys(count: int) -> list[str]:
    return [f"+861391234{index:04d}" for index in range(count)]


def test_prune_pauses_between_steps() -> None:
    recent = RecentHistory(RULES)
    for key in _keys(3 * PRUNE_STEP):
        recent.add_call(key, OLD)

    steps = sum(1 for _step in recent.prune_steps(NOW))

    assert steps >= 3
    assert recent._calls == {}


def test_call_added_between_steps_is_kept() -> None:
    recent = RecentHistory(RULES)
    keys = _keys(2 * PRUNE_STEP)
    for key in keys:
        recent.add_call(key, OLD)

    steps = recent.prune_steps(NOW)
    next(steps)
    recent.add_call(keys[-1], NOW)
    recent.add_call("+8617055661201", NOW)
    for _step in steps:
        pass

    assert set(recent._calls) == {keys[-1], "+8617055661201"}
    assert list(recent._calls[keys[-1]]) == [int(NOW.timestamp() * 1_000_000)]
