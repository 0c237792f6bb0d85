"""The call log: ring-time row, AMI end of the call, one row per call."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pytest

from callscreen.classifier.model import Category, Verdict
from callscreen.pbx.model import CallerName, CallRecord
from callscreen.store import Store

# Uniqueids of one Local-channel call as Asterisk 22 names them with systemname set:
# the ;1 half is the record's inbound channel, the ;2 half runs the FastAGI script.
LOCAL_1 = "callscreen-pbx-1764876201.101"
LOCAL_2 = "callscreen-pbx-1764876201.102"
GBK_NAME = CallerName("张伟", b"\xd5\xc5\xce\xb0", "gb18030")


def make_record(started_at: datetime, **changes) -> CallRecord:
    fields = {
        "linkedid": LOCAL_1,
        "uniqueid": LOCAL_1,
        "channel": "Local/02188886666@from-trunk-00000000;1",
        "started_at": started_at,
        "caller_raw": "13912345678",
        "did": "02188886666",
        "answered_at": started_at + timedelta(seconds=4),
        "ended_at": started_at + timedelta(seconds=64),
        "answered_by": "100",
        "talk_seconds": 60,
        "hangup_cause": 16,
        "hangup_cause_text": "Normal Clearing",
        "agi_status": "SUCCESS",
        "bridged_seconds_by_party": {"100": 60},
    }
    fields.update(changes)
    return CallRecord(**fields)


async def record_ring(store: Store, make_decision, started_at: datetime,
                      call_id: str = "cs-1", uniqueid: str = LOCAL_2) -> None:
    await store.record_decision(
        call_id, uniqueid=uniqueid, started_at=started_at, caller_raw="13912345678",
        caller_name=GBK_NAME, did="02188886666", decision=make_decision(), source="agi",
        decision_ms=4.25, decided_at=started_at + timedelta(milliseconds=5),
    )


async def count_calls(store: Store) -> int:
    row = await store.db.fetch_one("SELECT count(*) FROM calls", (), action="test")
    return int(row[0]) if row else 0


async def test_record_decision_stores_ring_time_row(store: Store, make_decision,
                                                    now: datetime) -> None:
    await record_ring(store, make_decision, now)

    call = await store.get_call("cs-1")

    assert call is not None
    assert call.uniqueid == LOCAL_2
    assert call.started_at == now
    assert call.verdict is Verdict.FLAG
    assert call.category is Category.COLLECTOR
    assert call.caller_key == "+8613912345678"
    assert call.caller_block == "+861391234"
    assert call.caller_region == "江苏省常州市"
    assert call.decision_source == "agi"
    assert call.reasons == make_decision().reasons
    assert call.facts == make_decision().facts
    assert call.linkedid is None


async def test_record_decision_keeps_raw_caller_name_bytes(store: Store, make_decision,
                                                           now: datetime) -> None:
    await record_ring(store, make_decision, now)

    call = await store.get_call("cs-1")

    assert call is not None
    assert call.caller_name == GBK_NAME


async def test_record_decision_rejects_unknown_source(store: Store, make_decision,
                                                      now: datetime) -> None:
    with pytest.raises(ValueError, match="source"):
        await store.record_decision(
            "cs-1", uniqueid=LOCAL_2, started_at=now, caller_raw="", caller_name=CallerName(""),
            did="", decision=make_decision(), source="web", decision_ms=1.0,
        )


async def test_record_call_joins_local_halves_into_one_row(store: Store, make_decision,
                                                           now: datetime) -> None:
    await record_ring(store, make_decision, now)

    call_id = await store.record_call(make_record(now), uniqueids={LOCAL_1, LOCAL_2})

    call = await store.get_call(call_id)
    assert call_id == "cs-1"
    assert await count_calls(store) == 1
    assert call is not None
    assert call.linkedid == LOCAL_1
    assert call.uniqueid == LOCAL_2
    assert call.verdict is Verdict.FLAG
    assert call.answered_by == "100"
    assert call.talk_seconds == 60
    assert call.hangup_cause == 16
    assert call.ended_at == now + timedelta(seconds=64)
    assert call.bridged_seconds_by_party == {"100": 60}


async def test_record_call_twice_leaves_one_identical_row(store: Store, make_decision,
                                                          now: datetime) -> None:
    await record_ring(store, make_decision, now)
    record = make_record(now)
    await store.record_call(record, uniqueids={LOCAL_1, LOCAL_2})
    first = await store.get_call("cs-1")

    await store.record_call(record, uniqueids={LOCAL_1, LOCAL_2})

    assert await count_calls(store) == 1
    assert await store.get_call("cs-1") == first


async def test_record_call_finds_row_by_linkedid_on_repeat(store: Store, make_decision,
                                                           now: datetime) -> None:
    await record_ring(store, make_decision, now)
    await store.record_call(make_record(now), uniqueids={LOCAL_2})

    call_id = await store.record_call(make_record(now, talk_seconds=61))

    call = await store.get_call(call_id)
    assert call_id == "cs-1"
    assert call is not None and call.talk_seconds == 61
    assert await count_calls(store) == 1


async def test_record_call_without_agi_row_inserts_with_fallback(store: Store, make_decision,
                                                                 now: datetime) -> None:
    fallback = make_decision(verdict=Verdict.ALLOW, category=Category.NORMAL, score=5)

    call_id = await store.record_call(make_record(now), fallback_decision=fallback)
    again = await store.record_call(make_record(now), fallback_decision=fallback)

    call = await store.get_call(call_id)
    assert again == call_id
    assert await count_calls(store) == 1
    assert call is not None
    assert call.decision_source == "ami"
    assert call.verdict is Verdict.ALLOW
    assert call.caller_key == "+8613912345678"
    assert call.started_at == now
    assert call.caller_raw == "13912345678"


async def test_record_call_without_any_decision_leaves_verdict_empty(store: Store,
                                                                     now: datetime) -> None:
    call_id = await store.record_call(make_record(now))

    call = await store.get_call(call_id)

    assert call is not None
    assert call.verdict is None
    assert call.decision_source is None
    assert call.answered_by == "100"


async def test_record_call_keeps_agi_decision_over_fallback(store: Store, make_decision,
                                                            now: datetime) -> None:
    await record_ring(store, make_decision, now)
    fallback = make_decision(verdict=Verdict.ALLOW, category=Category.NORMAL, score=5)

    await store.record_call(make_record(now), uniqueids={LOCAL_2}, fallback_decision=fallback)

    call = await store.get_call("cs-1")
    assert call is not None
    assert call.verdict is Verdict.FLAG
    assert call.decision_source == "agi"


async def test_record_call_fills_missing_caller_name(store: Store, make_decision,
                                                     now: datetime) -> None:
    await store.record_decision(
        "cs-1", uniqueid=LOCAL_2, started_at=now, caller_raw="13912345678",
        caller_name=CallerName("", b"", ""), did="02188886666", decision=make_decision(),
        source="agi", decision_ms=1.0,
    )

    await store.record_call(make_record(now, caller_name=GBK_NAME), uniqueids={LOCAL_2})

    call = await store.get_call("cs-1")
    assert call is not None and call.caller_name == GBK_NAME


async def test_get_call_returns_none_for_unknown_id(store: Store) -> None:
    call = await store.get_call("missing")

    assert call is None


async def test_recent_calls_newest_first_with_limit(store: Store, make_decision,
                                                    now: datetime) -> None:
    for minutes in (30, 10, 20):
        await record_ring(store, make_decision, now - timedelta(minutes=minutes),
                          call_id=f"cs-{minutes}", uniqueid=f"u-{minutes}")

    calls = await store.recent_calls(2)

    assert [call.call_id for call in calls] == ["cs-10", "cs-20"]


async def test_recent_calls_since_excludes_older(store: Store, make_decision,
                                                 now: datetime) -> None:
    for minutes in (30, 10):
        await record_ring(store, make_decision, now - timedelta(minutes=minutes),
                          call_id=f"cs-{minutes}", uniqueid=f"u-{minutes}")

    calls = await store.recent_calls(10, since=now - timedelta(minutes=15))

    assert [call.call_id for call in calls] == ["cs-10"]


async def test_count_calls_by_verdict_groups_since(store: Store, make_decision,
                                                   now: datetime) -> None:
    await record_ring(store, make_decision, now, call_id="flagged", uniqueid="u1")
    await record_ring(store, make_decision, now - timedelta(days=2), call_id="old",
                      uniqueid="u2")
    await store.record_call(make_record(now, linkedid="l3", uniqueid="u3"))

    counts = await store.count_calls_by_verdict(now - timedelta(days=1))

    assert counts == {"flag": 1, "": 1}


async def test_stored_reasons_invalid_json_reads_as_empty(store: Store, make_decision,
                                                          now: datetime) -> None:
    await record_ring(store, make_decision, now)
    with sqlite3.connect(store.db.path) as connection:
        connection.execute("UPDATE calls SET reasons_json = 'not json'")

    call = await store.get_call("cs-1")

    assert call is not None and call.reasons == ()
