"""CallTracker times: event Timestamps are used only near the arrival clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import structlog
from pbx_ami_captures import recv_chunks
from test_ami_tracker_replay import DID, T0, ended, message, replay

from callscreen.pbx.ami_wire import AmiFramer, AmiMessage
from callscreen.pbx.tracker import MAX_TIMESTAMP_SKEW, CallTracker, TrackerEvent


def replay_stamped(base: str, stamp_of) -> list[TrackerEvent]:
    """Replay a capture with a `Timestamp:` header added to every event, as
    `timestampevents = yes` adds it; `stamp_of(arrival)` gives the header's value."""
    tracker = CallTracker()
    framer = AmiFramer()
    events: list[TrackerEvent] = []
    for seconds, chunk in recv_chunks(base):
        arrival = T0 + timedelta(seconds=seconds)
        for msg in framer.feed(chunk):
            if msg.get("Event"):
                msg = AmiMessage([*msg.headers, ("Timestamp", stamp_of(arrival))])
            events.extend(tracker.feed(msg, arrival))
    return events


def times(events: list[TrackerEvent]) -> list[tuple]:
    return [(e.record.started_at, e.record.answered_at, e.record.ended_at,
             e.record.talk_seconds) for e in ended(events)]


@pytest.mark.parametrize("base", ["ami-inbound-calls-local", "ami-inbound-calls-iax2"])
def test_capture_stamps_on_capture_clock_kept(base: str) -> None:
    # Stamps a little before arrival, as a PBX with its own clock would send them.
    events = replay_stamped(base, lambda at: f"{(at - timedelta(seconds=2)).timestamp():.6f}")

    shifted = [tuple(t - timedelta(seconds=2) if isinstance(t, datetime) else t for t in row)
               for row in times(replay(base))]
    assert times(events) == shifted


@pytest.mark.parametrize("stamp", ["1", "253402300000", "4000000000", "-5"])
@pytest.mark.parametrize("base", ["ami-inbound-calls-local", "ami-inbound-calls-iax2"])
def test_capture_stamps_far_off_ignored(base: str, stamp: str) -> None:
    events = replay_stamped(base, lambda _at: stamp)

    assert times(events) == times(replay(base))


def test_mixed_stamps_never_negative() -> None:
    tracker = CallTracker()
    ids = {"Uniqueid": "pbx-11.0", "Linkedid": "pbx-11.0", "Channel": "IAX2/carrier-11"}
    start = T0.timestamp()
    tracker.feed(message(Event="Newchannel", Context="from-trunk", Exten=DID,
                         CallerIDNum="13800138000", Timestamp=f"{start + 50:.6f}", **ids), T0)
    tracker.feed(message(Event="Newexten", Context="from-trunk", Exten=DID,
                         Application="NoOp", **ids), T0)
    tracker.feed(message(Event="BridgeEnter", BridgeUniqueid="b-11",
                         Timestamp=f"{start + 55:.6f}", **ids), T0)
    tracker.feed(message(Event="BridgeLeave", BridgeUniqueid="b-11", **ids), T0)

    events = tracker.feed(message(Event="Hangup", Cause="16", **ids), T0)

    record = ended(events)[0].record
    assert record.started_at == T0 + timedelta(seconds=50)
    assert record.ended_at >= record.started_at
    assert record.talk_seconds == 0


def test_far_stamp_uses_arrival_time() -> None:
    tracker = CallTracker()
    ids = {"Uniqueid": "pbx-12.0", "Linkedid": "pbx-12.0", "Channel": "IAX2/carrier-12"}
    arrival = datetime.now(UTC)
    tracker.feed(message(Event="Newchannel", Context="from-trunk", Exten=DID,
                         Timestamp="1", **ids), arrival)
    tracker.feed(message(Event="BridgeEnter", BridgeUniqueid="b-12",
                         Timestamp="4000000000", **ids), arrival)
    tracker.feed(message(Event="BridgeLeave", BridgeUniqueid="b-12", **ids),
                 arrival + timedelta(seconds=6))

    events = tracker.feed(message(Event="Hangup", Cause="16", Timestamp="253402300000", **ids),
                          arrival + timedelta(seconds=6))

    record = ended(events)[0].record
    assert record.started_at == arrival
    assert record.ended_at == arrival + timedelta(seconds=6)
    assert record.talk_seconds == 6


def test_stamp_at_skew_limit_accepted() -> None:
    tracker = CallTracker()
    ids = {"Uniqueid": "pbx-13.0", "Linkedid": "pbx-13.0", "Channel": "IAX2/carrier-13"}
    stamp = T0 - MAX_TIMESTAMP_SKEW
    tracker.feed(message(Event="Newchannel", Context="from-trunk", Exten=DID,
                         Timestamp=f"{stamp.timestamp():.6f}", **ids), T0)

    events = tracker.feed(message(Event="Hangup", Cause="16", **ids), T0)

    assert ended(events)[0].record.started_at == stamp


def test_rejected_stamps_logged_once_a_minute() -> None:
    tracker = CallTracker()
    ids = {"Uniqueid": "pbx-14.0", "Linkedid": "pbx-14.0", "Channel": "IAX2/carrier-14"}
    tracker.feed(message(Event="Newchannel", Context="from-trunk", Exten=DID, **ids), T0)

    with structlog.testing.capture_logs() as logs:
        for _ in range(20):
            tracker.feed(message(Event="Newexten", Context="from-trunk", Exten=DID,
                                 Application="NoOp", Timestamp="1", **ids), T0)

    rejected = [entry for entry in logs if entry["event"] == "ami_timestamp_rejected"]
    assert len(rejected) == 1
    assert rejected[0]["log_level"] == "warning"
    assert rejected[0]["reason"] == "skew"
