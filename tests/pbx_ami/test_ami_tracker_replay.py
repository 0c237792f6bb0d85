"""CallTracker replaying the recorded AMI sessions and small hand-made sequences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pbx_ami_captures import recv_chunks

from callscreen.pbx.ami_wire import AmiFramer, AmiMessage
from callscreen.pbx.tracker import CallEnded, CallStarted, CallTracker, TrackerEvent

T0 = datetime(2026, 12, 4, 19, 25, tzinfo=UTC)
DID = "02188886666"

# (caller number, answered, hangup cause) of calls 1 to 12, in the order they ended.
EXPECTED_CALLS = [
    ("13800138000", True, 16),
    ("+8613912345678", True, 16),
    ("013912345678", True, 16),
    ("02161234567", True, 16),
    ("4008001234", False, 16),
    ("95588", True, 16),
    ("", False, 21),
    ("", False, 21),
    ("anonymous", False, 0),
    ("13800138000", True, 16),
    ("+8613912345678", True, 16),
    ("95588", True, 16),
]


def replay(base: str, tracker: CallTracker | None = None) -> list[TrackerEvent]:
    tracker = tracker or CallTracker()
    framer = AmiFramer()
    events: list[TrackerEvent] = []
    for seconds, chunk in recv_chunks(base):
        for message in framer.feed(chunk):
            events.extend(tracker.feed(message, T0 + timedelta(seconds=seconds)))
    return events


def ended(events: list[TrackerEvent]) -> list[CallEnded]:
    return [event for event in events if isinstance(event, CallEnded)]


def message(**headers: str) -> AmiMessage:
    return AmiMessage([(key.replace("_", "-"), value) for key, value in headers.items()])


@pytest.mark.parametrize("base", ["ami-inbound-calls-local", "ami-inbound-calls-iax2"])
def test_replay_one_record_per_call(base: str) -> None:
    events = replay(base)

    records = [event.record for event in ended(events)]

    assert len(records) == 12
    assert len({record.linkedid for record in records}) == 12


@pytest.mark.parametrize("base", ["ami-inbound-calls-local", "ami-inbound-calls-iax2"])
def test_replay_callers_answers_and_causes(base: str) -> None:
    events = replay(base)

    records = [event.record for event in ended(events)]
    seen = [(r.caller_raw, r.answered_at is not None, r.hangup_cause) for r in records]

    assert seen == EXPECTED_CALLS


@pytest.mark.parametrize("base", ["ami-inbound-calls-local", "ami-inbound-calls-iax2"])
def test_replay_did_and_answering_extension(base: str) -> None:
    events = replay(base)

    records = [event.record for event in ended(events)]

    assert {record.did for record in records} == {DID}
    assert {record.answered_by for record in records if record.answered_at} == {"100"}


@pytest.mark.parametrize("base", ["ami-inbound-calls-local", "ami-inbound-calls-iax2"])
def test_replay_caller_names(base: str) -> None:
    events = replay(base)

    names = [event.record.caller_name.text for event in ended(events)]

    assert names[7] == "anonymous"
    assert names[8] == "Anonymous"
    assert names[9] == "张三"
    assert names[10] == "李四"
    assert names[0] == ""


@pytest.mark.parametrize("base", ["ami-inbound-calls-local", "ami-inbound-calls-iax2"])
def test_replay_agi_status_and_cause_text(base: str) -> None:
    events = replay(base)

    records = [event.record for event in ended(events)]

    assert records[3].agi_status == "FAILURE"
    assert records[4].agi_status == "HANGUP"
    assert records[6].hangup_cause_text == "Call Rejected"
    assert records[8].hangup_cause_text == "Unknown"


@pytest.mark.parametrize("base", ["ami-inbound-calls-local", "ami-inbound-calls-iax2"])
def test_replay_talk_time_of_answered_call(base: str) -> None:
    events = replay(base)

    first = ended(events)[0].record

    assert first.talk_seconds >= 1
    assert first.bridged_seconds_by_party.get("100", 0) >= 1
    assert first.ended_at is not None
    assert first.ended_at > first.started_at


@pytest.mark.parametrize("base", ["ami-inbound-calls-local", "ami-inbound-calls-iax2"])
def test_replay_overlapping_calls_kept_apart(base: str) -> None:
    events = replay(base)

    last_two = [event.record for event in ended(events)][10:]

    assert [record.caller_raw for record in last_two] == ["+8613912345678", "95588"]
    assert last_two[0].linkedid != last_two[1].linkedid
    assert last_two[0].channel != last_two[1].channel


@pytest.mark.parametrize("base", ["ami-inbound-calls-local", "ami-inbound-calls-iax2"])
def test_replay_start_precedes_end_once(base: str) -> None:
    events = replay(base)

    order = [(type(event), event.record.linkedid) for event in events]

    for kind, linkedid in order:
        if kind is CallEnded:
            assert order.index((CallStarted, linkedid)) < order.index((CallEnded, linkedid))
    assert sum(1 for kind, _l in order if kind is CallStarted) == 12


def test_replay_local_start_reports_dialplan_channel() -> None:
    events = replay("ami-inbound-calls-local")

    started = [event.record for event in events if isinstance(event, CallStarted)]

    assert started[0].channel.endswith(";2")
    assert started[0].caller_raw == "13800138000"


def test_replay_leaves_no_live_calls() -> None:
    tracker = CallTracker()

    replay("ami-inbound-calls-iax2", tracker)

    assert tracker.live_calls == 0


def test_replay_extra_gbk_call_killed_before_agi() -> None:
    events = replay("ami-extra-calls")

    records = [event.record for event in ended(events)]
    killed = [r for r in records if r.caller_name.raw == b"\xd5\xc5\xce\xb0" and not r.agi_status]

    assert len(records) == 5
    assert len(killed) == 2
    assert killed[0].caller_name.text == "张伟"
    assert killed[0].hangup_cause == 0
    assert killed[0].caller_raw == "13800138000"


def test_replay_extra_call_without_agi_listener_is_answered() -> None:
    events = replay("ami-extra-calls")

    last = ended(events)[-1].record

    assert last.agi_status == "FAILURE"
    assert last.answered_by == "100"


def test_late_events_after_hangup_are_ignored() -> None:
    tracker = CallTracker()
    ids = {"Uniqueid": "pbx-1.0", "Linkedid": "pbx-1.0", "Channel": "IAX2/carrier-1"}
    tracker.feed(message(Event="Newchannel", Context="from-trunk", Exten=DID,
                         CallerIDNum="13800138000", **ids), T0)
    tracker.feed(message(Event="Hangup", Cause="16", **ids), T0)

    late = [
        tracker.feed(message(Event="VarSet", Variable="X", Value="1", **ids), T0),
        tracker.feed(message(Event="NewAccountCode", **ids), T0),
        tracker.feed(message(Event="Hangup", Cause="16", **ids), T0),
        tracker.feed(message(Event="BridgeLeave", BridgeUniqueid="b", **ids), T0),
    ]

    assert late == [[], [], [], []]


def test_new_callerid_updates_settled_number() -> None:
    tracker = CallTracker()
    ids = {"Uniqueid": "pbx-2.0", "Linkedid": "pbx-2.0", "Channel": "SIP/trunk-0001"}
    tracker.feed(message(Event="Newchannel", Context="from-pstn", Exten="s",
                         CallerIDNum="8613900000000", **ids), T0)
    tracker.feed(message(Event="NewCallerid", CallerIDNum="13900000000", **ids), T0)

    events = tracker.feed(message(Event="Hangup", Cause="16", **ids), T0)

    assert ended(events)[0].record.caller_raw == "13900000000"
    assert ended(events)[0].record.did == ""


def test_outbound_call_produces_no_record() -> None:
    tracker = CallTracker()
    ids = {"Uniqueid": "pbx-3.0", "Linkedid": "pbx-3.0", "Channel": "PJSIP/101-00000001"}
    tracker.feed(message(Event="Newchannel", Context="from-internal", Exten="95588", **ids), T0)

    events = tracker.feed(message(Event="Hangup", Cause="16", **ids), T0)

    assert events == []
    assert tracker.live_calls == 0


def test_channel_entering_inbound_context_at_first_newexten() -> None:
    tracker = CallTracker()
    ids = {"Uniqueid": "pbx-4.0", "Linkedid": "pbx-4.0", "Channel": "DAHDI/1-1"}
    tracker.feed(message(Event="Newchannel", Context="default", Exten="s",
                         CallerIDNum="95588", **ids), T0)

    events = tracker.feed(message(Event="Newexten", Context="from-external", Exten=DID,
                                  Application="NoOp", **ids), T0)

    assert [type(event) for event in events] == [CallStarted]
    assert events[0].record.did == DID


def test_blind_transfer_sets_transferred_to() -> None:
    tracker = CallTracker()
    ids = {"Uniqueid": "pbx-5.0", "Linkedid": "pbx-5.0", "Channel": "IAX2/carrier-5"}
    tracker.feed(message(Event="Newchannel", Context="from-trunk", Exten=DID, **ids), T0)
    tracker.feed(message(Event="BlindTransfer", Result="Success", TransfereeUniqueid="pbx-5.0",
                         TransfererUniqueid="pbx-5.1", Extension="200"), T0)

    events = tracker.feed(message(Event="Hangup", Cause="16", **ids), T0)

    assert ended(events)[0].record.transferred_to == "200"


def test_attended_transfer_sets_target_party() -> None:
    tracker = CallTracker()
    ids = {"Uniqueid": "pbx-6.0", "Linkedid": "pbx-6.0", "Channel": "IAX2/carrier-6"}
    tracker.feed(message(Event="Newchannel", Context="from-trunk", Exten=DID, **ids), T0)
    tracker.feed(message(Event="AttendedTransfer", Result="Success",
                         TransfereeUniqueid="pbx-6.0", OrigTransfererUniqueid="pbx-6.1",
                         TransferTargetChannel="PJSIP/201-0000000a"), T0)

    events = tracker.feed(message(Event="Hangup", Cause="16", **ids), T0)

    assert ended(events)[0].record.transferred_to == "201"


def test_timestamp_header_wins_over_arrival_time() -> None:
    tracker = CallTracker()
    ids = {"Uniqueid": "pbx-7.0", "Linkedid": "pbx-7.0", "Channel": "IAX2/carrier-7"}
    tracker.feed(message(Event="Newchannel", Context="from-trunk", Exten=DID,
                         Timestamp="1796412314.500000", **ids), T0)

    events = tracker.feed(message(Event="Hangup", Cause="16", **ids), T0)

    started_at = ended(events)[0].record.started_at
    assert started_at == datetime.fromtimestamp(1796412314.5, UTC)


def test_reconcile_closes_vanished_calls_only() -> None:
    tracker = CallTracker()
    for n in ("a", "b"):
        ids = {"Uniqueid": n, "Linkedid": n, "Channel": f"IAX2/carrier-{n}"}
        tracker.feed(message(Event="Newchannel", Context="from-trunk", Exten=DID, **ids), T0)

    events = tracker.reconcile({"b"}, T0 + timedelta(seconds=30))

    closed = ended(events)
    assert [event.record.linkedid for event in closed] == ["a"]
    assert closed[0].record.hangup_cause is None
    assert tracker.live_calls == 1


def test_live_call_cap_evicts_oldest() -> None:
    tracker = CallTracker(max_calls=3)
    events: list[TrackerEvent] = []

    for n in range(5):
        ids = {"Uniqueid": f"u{n}", "Linkedid": f"u{n}", "Channel": f"IAX2/carrier-{n}"}
        events += tracker.feed(message(Event="Newchannel", Context="from-trunk", **ids), T0)

    assert tracker.live_calls == 3
    assert [event.record.linkedid for event in ended(events)] == ["u0", "u1"]


def test_bad_timestamp_falls_back_to_arrival_time() -> None:
    tracker = CallTracker()
    ids = {"Uniqueid": "pbx-8.0", "Linkedid": "pbx-8.0", "Channel": "IAX2/carrier-8"}
    tracker.feed(message(Event="Newchannel", Context="from-trunk", Exten=DID,
                         Timestamp="not-a-number", **ids), T0)

    events = tracker.feed(message(Event="Hangup", Cause="16", **ids), T0)

    assert ended(events)[0].record.started_at == T0
