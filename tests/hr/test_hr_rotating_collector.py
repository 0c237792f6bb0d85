"""A collector rotating through one number block, asking for one employee, opens one case."""

from __future__ import annotations

import io
from datetime import timedelta

from callscreen.anomaly.evaluate import RiskLevel
from callscreen.cases.actions import Actor, close_case, search_knowledge
from callscreen.cases.model import EventKind
from callscreen.cases.service import HrContext, on_call_recorded, on_feedback
from callscreen.config.model import NotifyConfig
from callscreen.notify.outbox import Notifier
from callscreen.store import hr_cases
from callscreen.store import outbox as outbox_queries

from .conftest import NOW, add_call

BLOCK = "+861701234"


async def _burst(ctx: HrContext, first: int, count: int, start_offset: timedelta) -> None:
    for index in range(first, first + count):
        call_id = f"call-{index}"
        started = NOW + start_offset + timedelta(minutes=20 * (index - first))
        await add_call(ctx.store, call_id, started_at=started, caller=f"{BLOCK}{index:04d}",
                       transferred_to="8101", bridged={"8000": 30, "8101": 90})
        await on_call_recorded(ctx, call_id)


def _context(store, config, *, notifier=None, at=NOW + timedelta(hours=3)) -> HrContext:
    return HrContext(config=config, store=store, notifier=notifier, clock=lambda: at)


async def test_rotating_collector_opens_one_case(store, config):
    ctx = _context(store, config)

    await _burst(ctx, 1, 8, timedelta(0))

    cases = await hr_cases.list_cases(store.db)
    assert len(cases) == 1
    assert cases[0].employee_id == "E1001"
    assert cases[0].risk is RiskLevel.MEDIUM


async def test_rotating_collector_records_crossed_signals(store, config):
    ctx = _context(store, config)

    await _burst(ctx, 1, 8, timedelta(0))

    case = (await hr_cases.list_cases(store.db))[0]
    assert case.signals["counts"]["short_calls"] == 8
    assert case.signals["counts"]["short_numbers"] == 8
    assert case.signals["counts"]["short_blocks"] == 1
    assert case.signals["crossings"] == [
        {"signal": "short_numbers", "value": 8, "threshold": 5, "level": "medium"},
    ]


async def test_rotating_collector_links_every_call(store, config):
    ctx = _context(store, config)

    await _burst(ctx, 1, 8, timedelta(0))

    case = (await hr_cases.list_cases(store.db))[0]
    events = await hr_cases.case_events(store.db, case.id)
    linked = sorted(event.call_id for event in events if event.kind is EventKind.CALL)
    assert linked == sorted(f"call-{index}" for index in range(1, 9))


async def test_second_burst_raises_risk_without_duplicate(store, config):
    await _burst(_context(store, config), 1, 8, timedelta(0))
    later = _context(store, config, at=NOW + timedelta(days=1, hours=3))

    await _burst(later, 101, 8, timedelta(days=1))

    cases = await hr_cases.list_cases(store.db)
    assert len(cases) == 1
    assert cases[0].risk is RiskLevel.HIGH
    assert cases[0].signals["crossings"][0]["signal"] == "long_numbers"
    events = await hr_cases.case_events(store.db, cases[0].id)
    raised = [event.body["to"] for event in events if event.kind is EventKind.RISK_RAISED]
    assert raised == ["medium", "high"]
    assert [event.kind for event in events].count(EventKind.OPENED) == 1


async def test_calls_for_other_employee_open_no_case(store, config):
    ctx = _context(store, config)

    await add_call(store, "solo", started_at=NOW, caller="+8613912345678", did="8102",
                   answered_by="8102")
    await on_call_recorded(ctx, "solo")

    assert await hr_cases.list_cases(store.db) == []


async def test_normal_calls_open_no_case(store, config):
    ctx = _context(store, config)

    for index in range(8):
        await add_call(store, f"client-{index}", started_at=NOW,
                       caller=f"+86139123{index:05d}", category="normal", transferred_to="8101")
        await on_call_recorded(ctx, f"client-{index}")

    assert await hr_cases.list_cases(store.db) == []


async def test_feedback_names_employee_and_marks_suspected(store, config):
    ctx = _context(store, config)
    for index in range(3):
        call_id = f"fb-{index}"
        await add_call(store, call_id, started_at=NOW, caller=f"+86139000{index:05d}",
                       category="normal")
        await store.add_tag(caller_key=f"+86139000{index:05d}", caller_block="+86139000",
                            tag="collector", author="前台", call_id=call_id,
                            employee_id="E1002")

        await on_feedback(ctx, call_id, "E1002")

    cases = await hr_cases.list_cases(store.db)
    assert [case.employee_id for case in cases] == ["E1002"]
    assert cases[0].risk is RiskLevel.LOW


async def test_case_queues_one_notification_per_level(store, config):
    notifier = Notifier(store, NotifyConfig(channels=["print"]), print_stream=io.StringIO())
    ctx = _context(store, config, notifier=notifier)

    await _burst(ctx, 1, 8, timedelta(0))
    await on_feedback(ctx, None, "E1001")

    counts = await outbox_queries.count_by_state(store.db)
    assert counts == {"pending": 2}


async def test_closed_case_is_redacted_in_knowledge_base(store, config):
    await _burst(_context(store, config), 1, 8, timedelta(0))
    actor = Actor(username="hr.li", via="cli")

    await close_case(store, actor, 1, summary="张伟 收到 17012340001 的催收电话",
                     approach="提供理财咨询，约定与催收方书面沟通")
    found = await search_knowledge(store, actor, "理财咨询")

    assert [case_no for case_no, _text in found] == ["HR-2026-0001"]
    assert "张伟" not in found[0][1]
    assert "17012340001" not in found[0][1]


async def test_new_anomaly_after_close_opens_new_case(store, config):
    await _burst(_context(store, config), 1, 8, timedelta(0))
    await close_case(store, Actor(username="hr.li", via="cli"), 1, summary="已处理",
                     approach="EAP")

    await _burst(_context(store, config, at=NOW + timedelta(days=1, hours=3)), 201, 3,
                 timedelta(days=1))

    numbers = [case.case_no for case in await hr_cases.list_cases(store.db)]
    assert sorted(numbers) == ["HR-2026-0001", "HR-2026-0002"]
