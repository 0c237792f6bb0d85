"""The in-memory history counts the different numbers of a block calling in a window."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callscreen.classifier import Decision
from callscreen.classifier.classify import fallback_decision
from callscreen.config.model import RulesConfig
from callscreen.numbers.normalise import normalise
from callscreen.pbx.model import CallerName
from callscreen.recent import RecentHistory
from callscreen.store import Store

NOW = datetime(2028, 2, 29, 9, 30, tzinfo=UTC)
RULES = RulesConfig()
WINDOW = timedelta(minutes=RULES.block_burst_window_minutes)


def test_block_callers_distinct_numbers_only() -> None:
    recent = RecentHistory(RULES)
    for number, seconds in [("17051230001", 50), ("17051230001", 40), ("17051230002", 30),
                            ("17051230003", 20), ("17051240001", 10)]:
        recent.add_call(normalise(number).key, NOW - timedelta(seconds=seconds))

    history = recent.history(normalise("17051230009"), NOW)

    assert history.block_callers_in_window == 3


def test_block_callers_exclude_own_number() -> None:
    recent = RecentHistory(RULES)
    for number in ("17051230001", "17051230002"):
        recent.add_call(normalise(number).key, NOW - timedelta(seconds=5))

    history = recent.history(normalise("17051230001"), NOW)

    assert history.block_callers_in_window == 1


def test_block_callers_outside_window_dropped() -> None:
    recent = RecentHistory(RULES)
    recent.add_call(normalise("17051230001").key, NOW - WINDOW - timedelta(seconds=1))
    recent.add_call(normalise("17051230002").key, NOW - WINDOW)
    recent.add_call(normalise("17051230003").key, NOW)

    history = recent.history(normalise("17051230009"), NOW)

    # The window is [now - window, now), as for the repeat-caller count.
    assert history.block_callers_in_window == 1


def test_block_callers_ignore_service_keys() -> None:
    recent = RecentHistory(RULES)
    recent.add_call(normalise("95588").key, NOW - timedelta(seconds=5))

    assert recent.history(normalise("95588"), NOW).block_callers_in_window == 0


def test_prune_forgets_old_block_calls() -> None:
    recent = RecentHistory(RULES)
    recent.add_call(normalise("17051230001").key, NOW - timedelta(seconds=5))

    recent.prune(NOW + WINDOW + timedelta(seconds=1))

    later = NOW + WINDOW + timedelta(seconds=2)
    assert recent.history(normalise("17051230009"), later).block_callers_in_window == 0


async def test_load_reads_block_calls_from_store(tmp_path: Path) -> None:
    rules = replace(RULES, repeat_window_minutes=1, block_burst_window_minutes=30)
    store = await Store.open(tmp_path / "calls.sqlite3")
    decision: Decision = fallback_decision()
    for index, number in enumerate(["17051230001", "17051230002", "17051230003"]):
        started = NOW - timedelta(minutes=10 + index)
        await store.record_decision(
            f"c-{number}", uniqueid=f"u-{number}", started_at=started, caller_raw=number,
            caller_name=CallerName(""), did="",
            decision=replace(decision, facts=normalise(number)), source="agi",
            decision_ms=1.0)
    recent = RecentHistory(rules)

    await recent.load(store, NOW)
    await store.close()

    assert recent.history(normalise("17051230009"), NOW).block_callers_in_window == 3
