"""The in-memory ring-time history must give what the store's indexed queries give."""

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callscreen.classifier import Decision
from callscreen.classifier.classify import fallback_decision
from callscreen.config.model import RulesConfig
from callscreen.numbers.normalise import normalise
from callscreen.pbx.model import CallerName
from callscreen.recent import RecentHistory
from callscreen.store import Store
from callscreen.store.tags import TagKind

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

    from_store = await store_history(store, number, NOW)
    from_memory = recent.history(facts, NOW)
    await store.close()

    assert from_memory.calls_in_window == from_store.calls_in_window
    assert from_memory.block_callers_in_window == from_store.block_callers_in_window
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

    recent.add_call(key, NOW)
    recent.add_call(key, NOW - timedelta(minutes=1))
    recent.add_call(key, NOW - window + timedelta(seconds=1))

    # The call starting at NOW itself is not an earlier call yet.
    assert recent.history(normalise("13912345678"), NOW).calls_in_window == 2
    assert recent.history(normalise("13912345678"), NOW + timedelta(seconds=2)) \
        .calls_in_window == 2


def test_prune_forgets_numbers_outside_every_window() -> None:
    recent = RecentHistory(RULES)
    recent.add_call("+8613912345678", NOW - timedelta(days=1))

    recent.prune(NOW)

    assert recent.history(normalise("13912345678"), NOW).calls_in_window == 0
    assert recent._calls == {}


async def store_history(store: Store, number: str, now: datetime):
    return await store.history(
        normalise(number), now, repeat_window=timedelta(minutes=RULES.repeat_window_minutes),
        half_life=timedelta(days=RULES.reputation_half_life_days),
        max_age=timedelta(days=RULES.reputation_max_age_days),
        block_burst_window=timedelta(minutes=RULES.block_burst_window_minutes))


async def test_busy_block_sums_every_tag(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "calls.sqlite3")
    facts = normalise("17055661201")
    for index in range(1_200):
        await store.add_tag(caller_key=f"+86170556612{index % 100:02d}", caller_block=facts.block,
                            tag="collector" if index % 3 else "not_collector", author="test",
                            created_at=NOW - timedelta(hours=index * 3))
    recent = RecentHistory(RULES)
    await recent.load(store, NOW)

    for later in (timedelta(0), timedelta(days=20), timedelta(days=100)):
        from_store = await store_history(store, "17055661201", NOW + later)
        from_memory = recent.history(facts, NOW + later)
        assert from_memory.block_reputation == pytest.approx(from_store.block_reputation,
                                                             rel=1e-9)
        assert from_memory.number_reputation == pytest.approx(from_store.number_reputation,
                                                              rel=1e-9)
    await store.close()


async def test_block_of_own_tags_only_is_zero(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "calls.sqlite3")
    facts = normalise("17055661201")
    for days in (1, 2, 3):
        await store.add_tag(caller_key=facts.key, caller_block=facts.block, tag="collector",
                            author="test", created_at=NOW - timedelta(days=days))
    recent = RecentHistory(RULES)
    await recent.load(store, NOW)
    await store.close()

    history = recent.history(facts, NOW + timedelta(hours=5))

    assert history.block_reputation == 0.0
    assert history.number_reputation > 0.0


async def test_number_with_tags_in_two_blocks(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "calls.sqlite3")
    own, other = normalise("17055661201"), normalise("13912345678")
    for days, block in [(1, own.block), (2, other.block), (3, own.block)]:
        await store.add_tag(caller_key=own.key, caller_block=block, tag="collector",
                            author="test", created_at=NOW - timedelta(days=days))
    await store.add_tag(caller_key=normalise("17055661202").key, caller_block=own.block,
                        tag="collector", author="test", created_at=NOW - timedelta(days=4))
    recent = RecentHistory(RULES)
    await recent.load(store, NOW)

    for number in ("17055661201", "17055661202", "13912345678"):
        from_store = await store_history(store, number, NOW)
        from_memory = recent.history(normalise(number), NOW)
        assert from_memory.number_reputation == pytest.approx(from_store.number_reputation,
                                                              rel=1e-9)
        assert from_memory.block_reputation == pytest.approx(from_store.block_reputation,
                                                             rel=1e-9)
    await store.close()


def test_future_tags_count_once_their_time_comes() -> None:
    recent = RecentHistory(RULES)
    facts = normalise("17055661201")
    at = NOW + timedelta(minutes=10)
    recent._add_tag(facts.key, facts.block, TagKind.COLLECTOR,
                    (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1))

    assert recent.history(facts, NOW).number_reputation == 0.0
    assert recent.history(facts, at).number_reputation == 1.0


# Offsets that sit on the window edges, where off-by-one-microsecond mistakes would show.
WINDOW = timedelta(minutes=RULES.repeat_window_minutes)
MAX_AGE = timedelta(days=RULES.reputation_max_age_days)
BURST = timedelta(minutes=RULES.block_burst_window_minutes)
EDGE_OFFSETS = [timedelta(0), -WINDOW, -WINDOW - timedelta(microseconds=1), -MAX_AGE,
                -MAX_AGE - timedelta(microseconds=1), timedelta(microseconds=1), -BURST,
                -BURST - timedelta(microseconds=1)]
offsets = st.one_of(
    st.sampled_from(EDGE_OFFSETS),
    st.integers(-200 * 86_400, 86_400).map(lambda seconds: timedelta(seconds=seconds)),
    st.integers(-3 * 3_600, 600).map(lambda seconds: timedelta(seconds=seconds)),
    st.integers(-1_200, 0).map(lambda seconds: timedelta(seconds=seconds)))
numbers = st.sampled_from(["13912345678", "13912340001", "17055661201", "17055661202",
                           "17055661203", "95588", "anonymous"])
later = st.one_of(st.sampled_from([timedelta(0), WINDOW, MAX_AGE, BURST]),
                 st.integers(0, 3 * 86_400).map(lambda seconds: timedelta(seconds=seconds)))
tag_kinds = st.sampled_from([str(kind) for kind in TagKind])
# None keeps the number's own block. The others file a tag under another block, as a tag
# stored by an older normaliser would be, so a number's tags can span blocks.
tag_blocks = st.sampled_from([None, "", normalise("17055661201").block,
                              normalise("13912345678").block])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(calls=st.lists(st.tuples(numbers, offsets), max_size=12),
       tags=st.lists(st.tuples(numbers, tag_kinds, offsets, st.booleans(), tag_blocks),
                     max_size=12),
       queries=st.lists(st.tuples(numbers, later), min_size=1, max_size=6))
def test_memory_history_equals_store_for_any_history(
        calls: list[tuple[str, timedelta]],
        tags: list[tuple[str, str, timedelta, bool, str | None]],
        queries: list[tuple[str, timedelta]]) -> None:
    # Queries run forward in time, as the daemon's clock does. Tags marked True arrive after
    # the load, as tags from the console or CLI do.
    queries = sorted(queries, key=lambda query: query[1])
    with TemporaryDirectory() as folder:
        asyncio.run(compare_histories(Path(folder), calls, tags, queries))


async def compare_histories(folder: Path, calls: list[tuple[str, timedelta]],
                            tags: list[tuple[str, str, timedelta, bool, str | None]],
                            queries: list[tuple[str, timedelta]]) -> None:
    store = await Store.open(folder / "calls.sqlite3")
    decision: Decision = fallback_decision()
    for index, (number, offset) in enumerate(calls):
        await store.record_decision(
            f"c-{index}", uniqueid=f"u-{index}", started_at=NOW + offset, caller_raw=number,
            caller_name=CallerName(""), did="",
            decision=replace(decision, facts=normalise(number)), source="agi",
            decision_ms=1.0)
    late_tags = []
    for number, kind, offset, late, block in tags:
        facts = normalise(number)
        if not facts.key:
            continue
        block = facts.block if block is None else block
        if late:
            late_tags.append((facts, block, kind, offset))
            continue
        await store.add_tag(caller_key=facts.key, caller_block=block, tag=kind,
                            author="test", created_at=NOW + offset)
    recent = RecentHistory(RULES)
    await recent.load(store, NOW)
    for facts, block, kind, offset in late_tags:
        await store.add_tag(caller_key=facts.key, caller_block=block, tag=kind,
                            author="test", created_at=NOW + offset)
    await recent.refresh_tags(store, NOW)

    try:
        for number, offset in queries:
            at = NOW + offset
            from_store = await store_history(store, number, at)
            from_memory = recent.history(normalise(number), at)
            assert from_memory.calls_in_window == from_store.calls_in_window
            assert from_memory.block_callers_in_window == from_store.block_callers_in_window
            assert from_memory.number_reputation == pytest.approx(
                from_store.number_reputation, rel=1e-9, abs=1e-12)
            assert from_memory.block_reputation == pytest.approx(
                from_store.block_reputation, rel=1e-9, abs=1e-12)
            assert from_memory.employment_checks == pytest.approx(
                from_store.employment_checks, rel=1e-9, abs=1e-12)
    finally:
        await store.close()
