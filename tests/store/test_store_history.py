"""History at ring time: repeat window, decayed number and block reputation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callscreen.classifier.model import History
from callscreen.numbers.model import NumberKind
from callscreen.pbx.model import CallerName
from callscreen.store import Store

HALF_LIFE = timedelta(days=30)
MAX_AGE = timedelta(days=365)
WINDOW = timedelta(hours=24)


async def add_call(store: Store, call_id: str, started_at: datetime, facts, make_decision) -> None:
    await store.record_decision(
        call_id, uniqueid=call_id, started_at=started_at, caller_raw=facts.raw,
        caller_name=CallerName(""), did="02188886666", decision=make_decision(facts),
        source="agi", decision_ms=2.0,
    )


async def history(store: Store, facts, now: datetime, window: timedelta = WINDOW) -> History:
    return await store.history(facts, now, repeat_window=window, half_life=HALF_LIFE,
                               max_age=MAX_AGE)


async def test_number_reputation_halves_per_half_life(store: Store, make_facts,
                                                      now: datetime) -> None:
    facts = make_facts("+8613912345678")
    for days in (0, 30, 60):
        await store.add_tag(caller_key=facts.key, caller_block=facts.block, tag="collector",
                            author="reception", created_at=now - timedelta(days=days))

    result = await history(store, facts, now)

    assert result.number_reputation == pytest.approx(1.75)


async def test_not_collector_tag_counts_negative(store: Store, make_facts, now: datetime) -> None:
    facts = make_facts("+8613912345678")
    await store.add_tag(caller_key=facts.key, caller_block=facts.block, tag="collector",
                        author="reception", created_at=now - timedelta(days=30))
    await store.add_tag(caller_key=facts.key, caller_block=facts.block, tag="not_collector",
                        author="reception", created_at=now)

    result = await history(store, facts, now)

    assert result.number_reputation == pytest.approx(-0.5)


async def test_official_and_employment_tags_weigh_nothing(store: Store, make_facts,
                                                          now: datetime) -> None:
    facts = make_facts("+8613912345678")
    for tag in ("official", "employment_check"):
        await store.add_tag(caller_key=facts.key, caller_block=facts.block, tag=tag,
                            author="reception", created_at=now)

    result = await history(store, facts, now)

    assert result.number_reputation == 0.0


async def test_abusive_tag_counts_like_collector(store: Store, make_facts, now: datetime) -> None:
    facts = make_facts("+8613912345678")
    await store.add_tag(caller_key=facts.key, caller_block=facts.block, tag="abusive",
                        author="reception", created_at=now)

    result = await history(store, facts, now)

    assert result.number_reputation == pytest.approx(1.0)


async def test_tags_older_than_max_age_are_ignored(store: Store, make_facts,
                                                   now: datetime) -> None:
    facts = make_facts("+8613912345678")
    await store.add_tag(caller_key=facts.key, caller_block=facts.block, tag="collector",
                        author="reception", created_at=now - MAX_AGE - timedelta(seconds=1))

    result = await history(store, facts, now)

    assert result.number_reputation == 0.0


async def test_employment_checks_are_decayed_count(store: Store, make_facts,
                                                   now: datetime) -> None:
    facts = make_facts("+8613912345678")
    for days in (0, 30):
        await store.add_tag(caller_key=facts.key, caller_block=facts.block,
                            tag="employment_check", author="reception",
                            created_at=now - timedelta(days=days))

    result = await history(store, facts, now)

    assert result.employment_checks == pytest.approx(1.5)


async def test_block_reputation_excludes_number_itself(store: Store, make_facts,
                                                       now: datetime) -> None:
    caller = make_facts("+8613912345678")
    neighbour = make_facts("+8613912340001")
    other_block = make_facts("+8613800138000")
    for facts in (caller, neighbour, neighbour, other_block):
        await store.add_tag(caller_key=facts.key, caller_block=facts.block, tag="collector",
                            author="reception", created_at=now)

    result = await history(store, caller, now)

    assert caller.block == neighbour.block
    assert result.block_reputation == pytest.approx(2.0)
    assert result.number_reputation == pytest.approx(1.0)


async def test_repeat_window_includes_start_excludes_now(store: Store, make_facts,
                                                         make_decision, now: datetime) -> None:
    facts = make_facts("+8613912345678")
    await add_call(store, "too-old", now - WINDOW - timedelta(microseconds=1), facts,
                   make_decision)
    await add_call(store, "at-start", now - WINDOW, facts, make_decision)
    await add_call(store, "inside", now - timedelta(hours=1), facts, make_decision)
    await add_call(store, "at-now", now, facts, make_decision)

    result = await history(store, facts, now)

    assert result.calls_in_window == 2


async def test_repeat_window_counts_only_same_number(store: Store, make_facts, make_decision,
                                                     now: datetime) -> None:
    facts = make_facts("+8613912345678")
    await add_call(store, "other", now - timedelta(hours=1), make_facts("+8613912340001"),
                   make_decision)

    result = await history(store, facts, now)

    assert result.calls_in_window == 0


@pytest.mark.parametrize(("now", "expected"), [
    (datetime(2026, 3, 1, 0, 30, tzinfo=UTC), 2),  # month end
    (datetime(2027, 1, 1, 0, 30, tzinfo=UTC), 2),  # year end
    (datetime(2028, 3, 1, 0, 30, tzinfo=UTC), 2),  # after 29 February 2028
])
async def test_repeat_window_spans_calendar_edges(store: Store, make_facts, make_decision,
                                                  now: datetime, expected: int) -> None:
    facts = make_facts("+8613912345678")
    await add_call(store, "two-days", now - timedelta(hours=49), facts, make_decision)
    await add_call(store, "yesterday", now - timedelta(hours=23, minutes=59), facts,
                   make_decision)
    await add_call(store, "minutes-ago", now - timedelta(minutes=45), facts, make_decision)

    result = await history(store, facts, now)

    assert result.calls_in_window == expected


async def test_anonymous_caller_has_empty_history(store: Store, make_facts, make_decision,
                                                  now: datetime) -> None:
    anonymous = make_facts("", kind=NumberKind.ANONYMOUS, key="", block="")
    await add_call(store, "anon-1", now - timedelta(hours=1), anonymous, make_decision)

    result = await history(store, anonymous, now)

    assert result == History()


async def test_tag_without_number_is_rejected(store: Store) -> None:
    with pytest.raises(ValueError, match="caller_key"):
        await store.add_tag(caller_key="", caller_block="", tag="collector", author="r")


async def test_unknown_tag_is_rejected(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.add_tag(caller_key="+8613912345678", caller_block="+861391234",
                            tag="spam", author="r")
