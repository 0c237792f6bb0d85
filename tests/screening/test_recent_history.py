"""The in-memory ring-time history must give what the store's indexed queries give."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callscreen.classifier import Decision
from callscreen.classifier.classify import fallback_decision
from callscreen.config.model import RulesConfig
from callscreen.numbers.normalise import normalise
from callscreen.pbx.model import CallerName
from callscreen.recent import MAX_TAGS_PER_BLOCK, RecentHistory
from callscreen.store import Store

NOW = datetime(2028, 2, 29, 9, 30, tzinfo=UTC)
RULES = RulesConfig()
NUMBERS = ["13912345678", "13912340001", "17055661201", "17055661202", "95588"]


async def store_with_history(tmp_path: Path) -> Store:
    store = await Store.open(tmp_path / "calls.sqlite3")
    decision: Decision = fallback_decision()
    for index, minutes in enumerate([1, 5, 30, 119, 121, 600, 60 * 24 * 3]):
        for number in NUMBERS[: 2 + index % 3]:
            facts = normalise(number)
            started = NOW - timedelta(minutes=minutes)
            await store.record_decision(
                f"c-{number}-{minutes}", uniqueid=f"u-{number}-{minutes}", started_at=started,
                caller_raw=number, caller_name=CallerName(""), did="",
                decision=replace(decision, facts=facts), source="agi", decision_ms=1.0)
    for number, kind, days in [("17055661201", "collector", 1), ("17055661201", "collector", 40),
                               ("17055661202", "not_collector", 3),
                               ("13912345678", "employment_check", 10),
                               ("13912340001", "abusive", 200)]:
        facts = normalise(number)
        await store.add_tag(caller_key=facts.key, caller_block=facts.block, tag=kind,
                            author="test", created_at=NOW - timedelta(days=days))
    return store


@pytest.mark.parametrize("number", [*NUMBERS, "17055669999", "anonymous"])
async def test_memory_history_equals_store_history(tmp_path: Path, number: str) -> None:
    store = await store_with_history(tmp_path)
    recent = RecentHistory(RULES)
    await recent.load(store, NOW)
    facts = normalise(number)

    from_store = await store.history(
        facts, NOW, repeat_window=timedelta(minutes=RULES.repeat_window_minutes),
        half_life=timedelta(days=RULES.reputation_half_life_days),
        max_age=timedelta(days=RULES.reputation_max_age_days))
    from_memory = recent.history(facts, NOW)
    await store.close()

    assert from_memory.calls_in_window == from_store.calls_in_window
    assert from_memory.number_reputation == pytest.approx(from_store.number_reputation)
    assert from_memory.block_reputation == pytest.approx(from_store.block_reputation)
    assert from_memory.employment_checks == pytest.approx(from_store.employment_checks)


async def test_tags_from_another_writer_are_read_on_refresh(tmp_path: Path) -> None:
    store = await store_with_history(tmp_path)
    recent = RecentHistory(RULES)
    await recent.load(store, NOW)
    facts = normalise("17055661300")
    before = recent.history(facts, NOW).block_reputation

    await store.add_tag(caller_key=facts.key, caller_block=facts.block, tag="collector",
                        author="cli", created_at=NOW)
    added = await recent.refresh_tags(store, NOW)
    after = recent.history(normalise("17055661301"), NOW).block_reputation
    await store.close()

    assert added == 1
    assert after > before


def test_added_calls_count_until_they_leave_the_window() -> None:
    recent = RecentHistory(RULES)
    key = normalise("13912345678").key
    window = timedelta(minutes=RULES.repeat_window_minutes)

    recent.add_call(key, NOW - window + timedelta(seconds=1))
    recent.add_call(key, NOW - timedelta(minutes=1))

    assert recent.history(normalise("13912345678"), NOW).calls_in_window == 2
    assert recent.history(normalise("13912345678"), NOW + timedelta(seconds=2)) \
        .calls_in_window == 1


def test_prune_forgets_numbers_outside_every_window() -> None:
    recent = RecentHistory(RULES)
    recent.add_call("+8613912345678", NOW - timedelta(days=1))

    recent.prune(NOW)

    assert recent.history(normalise("13912345678"), NOW).calls_in_window == 0
    assert recent._calls == {}


async def test_block_keeps_only_newest_tags(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "calls.sqlite3")
    facts = normalise("17055661201")
    for index in range(MAX_TAGS_PER_BLOCK + 20):
        await store.add_tag(caller_key=f"+86170556612{index % 100:02d}", caller_block=facts.block,
                            tag="collector", author="test",
                            created_at=NOW - timedelta(minutes=index))
    recent = RecentHistory(RULES)

    await recent.load(store, NOW)
    await store.close()

    assert len(recent._by_block[facts.block]) == MAX_TAGS_PER_BLOCK
