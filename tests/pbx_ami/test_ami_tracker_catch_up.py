"""CallTracker after an AMI reconnect: answers and transfers read from CoreShowChannels.

The list rows are the captured CoreShowChannel event of Asterisk 22.10.1 with only its
values changed, so the tracker is tested on the fields Asterisk really sends.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pbx_ami_captures import raw_bytes

from callscreen.pbx.ami_wire import AmiFramer, AmiMessage
from callscreen.pbx.channel_list import ChannelList
from callscreen.pbx.tracker import (
    CallAnswered,
    CallEnded,
    CallStarted,
    CallTracker,
    CallTransferred,
    TrackerEvent,
)

from .test_ami_tracker_replay import DID, EXPECTED_CALLS, T0, ended, message, replay

CALLER = {"Uniqueid": "pbx-1.0", "Linkedid": "pbx-1.0", "Channel": "IAX2/carrier-1"}
RECEPTION = {"Uniqueid": "pbx-1.1", "Linkedid": "pbx-1.0",
             "Channel": "Local/100@internal-00000001;1"}
RECONNECT = T0 + timedelta(seconds=20)
BRIDGE = "38466466-b5db-4a8a-9e12-0353d7e36bac"


def captured_row() -> list[tuple[str, str]]:
    """Return the headers of the first CoreShowChannel event in the ami-actions capture."""
    for item in AmiFramer().feed(raw_bytes("ami-actions")):
        if item.event == "CoreShowChannel":
            return list(item.headers)
    raise AssertionError("the ami-actions capture has no CoreShowChannel event")


def listed(*, uniqueid: str, linkedid: str, channel: str, state: str, context: str,
           bridge: str = "") -> AmiMessage:
    """Return the captured row with these values; BridgeId is one space when empty."""
    values = {"Uniqueid": uniqueid, "Linkedid": linkedid, "Channel": channel,
              "ChannelState": state, "ChannelStateDesc": "Up" if state == "6" else "Ring",
              "Context": context, "BridgeId": bridge or " "}
    return AmiMessage([(key, values.get(key, value)) for key, value in captured_row()])


def caller_row(state: str, bridge: str = "") -> AmiMessage:
    return listed(uniqueid="pbx-1.0", linkedid="pbx-1.0", channel="IAX2/carrier-1",
                  state=state, context="from-trunk", bridge=bridge)


def reception_row(uniqueid: str, channel: str, bridge: str = "") -> AmiMessage:
    return listed(uniqueid=uniqueid, linkedid="pbx-1.0", channel=channel, state="6",
                  context="internal", bridge=bridge)


def ringing_call() -> CallTracker:
    """Return a tracker following one IAX2 call that has run its inbound dialplan."""
    tracker = CallTracker()
    tracker.feed(message(Event="Newchannel", Context="from-trunk", Exten=DID,
                         CallerIDNum="13800138000", **CALLER), T0)
    tracker.feed(message(Event="Newexten", Context="from-trunk", Exten=DID,
                         Application="NoOp", **CALLER), T0)
    return tracker


def answered_call() -> CallTracker:
    """Return a tracker whose call was answered by Local/100 and bridged before the drop."""
    tracker = ringing_call()
    tracker.feed(message(Event="Newchannel", Context="internal", Exten="100", **RECEPTION), T0)
    tracker.feed(message(Event="DialEnd", DialStatus="ANSWER", DestChannel=RECEPTION["Channel"],
                         DestUniqueid=RECEPTION["Uniqueid"], **CALLER), T0)
    for ids in (RECEPTION, CALLER):
        tracker.feed(message(Event="BridgeEnter", BridgeUniqueid=BRIDGE, **ids), T0)
    return tracker


def catch_up(tracker: CallTracker, *rows: AmiMessage) -> list[TrackerEvent]:
    channels = ChannelList.from_messages(rows)
    return tracker.reconcile(channels.linkedids(), RECONNECT, channels)


def hang_up(tracker: CallTracker, seconds: float, *first: dict[str, str]) -> CallEnded:
    """Hang up the channels `first`, then the caller; return the call's CallEnded."""
    at = RECONNECT + timedelta(seconds=seconds)
    for ids in first:
        tracker.feed(message(Event="Hangup", Cause="16", **ids), at)
    events = tracker.feed(message(Event="Hangup", Cause="16", **CALLER), at)
    return ended(events)[0]


def test_captured_row_has_the_fields_read() -> None:
    keys = {key for key, _value in captured_row()}

    assert {"Uniqueid", "Linkedid", "Channel", "ChannelState", "Context", "BridgeId"} <= keys


def test_catch_up_answer_from_bridge_peer() -> None:
    tracker = ringing_call()

    events = catch_up(tracker,
                      caller_row("6", BRIDGE),
                      reception_row("pbx-1.1", "Local/100@internal-00000001;1", BRIDGE),
                      reception_row("pbx-1.2", "Local/100@internal-00000001;2"))

    assert [type(event) for event in events] == [CallAnswered]
    record = events[0].record
    assert record.answered_by == "100"
    assert record.answered_at == RECONNECT
    assert record.answered_at_observed is True
    assert record.transferred_to == ""


def test_catch_up_answer_counts_talk_from_reconnect() -> None:
    tracker = ringing_call()
    catch_up(tracker, caller_row("6", BRIDGE),
             reception_row("pbx-1.1", "Local/100@internal-00000001;1", BRIDGE))

    record = hang_up(tracker, 30).record

    assert record.answered_by == "100"
    assert record.talk_seconds == 30
    assert tracker.live_calls == 0


def test_catch_up_answer_without_bridge() -> None:
    tracker = ringing_call()

    events = catch_up(tracker, caller_row("6"),
                      reception_row("pbx-1.2", "Local/100@internal-00000001;2"))

    assert [type(event) for event in events] == [CallAnswered]
    assert events[0].record.answered_by == "100"


def test_catch_up_ignores_inbound_local_half() -> None:
    # The ;1 half of an Originate'd Local channel is Up in the inbound context once the
    # call is answered; it is the caller's side, not the party who answered.
    tracker = ringing_call()

    events = catch_up(tracker, caller_row("6"),
                      listed(uniqueid="pbx-1.9", linkedid="pbx-1.0", state="6",
                             channel="Local/02188886666@from-trunk-00000000;1",
                             context="from-trunk"))

    assert events == []


def test_catch_up_up_alone_is_not_answer() -> None:
    # The dialplan answers by itself to play the blocked-call message.
    tracker = ringing_call()

    events = catch_up(tracker, caller_row("6"))

    assert events == []
    assert hang_up(tracker, 5).record.answered_at is None


def test_catch_up_ringing_caller_is_not_answer() -> None:
    tracker = ringing_call()

    events = catch_up(tracker, caller_row("4"),
                      reception_row("pbx-1.2", "Local/100@internal-00000001;2"))

    assert events == []


def test_catch_up_transfer_to_new_peer() -> None:
    tracker = answered_call()

    events = catch_up(tracker,
                      caller_row("6", "bridge-2"),
                      reception_row("pbx-1.7", "Local/200@internal-00000004;1", "bridge-2"))

    assert [type(event) for event in events] == [CallTransferred]
    record = events[0].record
    assert record.transferred_to == "200"
    assert record.answered_by == "100"
    assert record.answered_at == T0


def test_catch_up_transfer_peer_of_other_call() -> None:
    # An attended transfer bridges the caller with a channel of the transferer's second
    # call, which has its own Linkedid.
    tracker = answered_call()

    events = catch_up(tracker,
                      caller_row("6", "bridge-2"),
                      listed(uniqueid="pbx-2.1", linkedid="pbx-2.0", state="6",
                             channel="IAX2/desk201-17", context="internal", bridge="bridge-2"))

    assert [type(event) for event in events] == [CallTransferred]
    assert events[0].record.transferred_to == "desk201"


def test_catch_up_known_peer_is_not_transfer() -> None:
    tracker = answered_call()

    events = catch_up(tracker, caller_row("6", BRIDGE),
                      reception_row("pbx-1.1", "Local/100@internal-00000001;1", BRIDGE))

    assert events == []
    record = hang_up(tracker, 10, RECEPTION).record
    assert record.transferred_to == ""
    assert record.answered_by == "100"


def test_catch_up_repeated_reconnect_reports_once() -> None:
    tracker = answered_call()
    rows = (caller_row("6", "bridge-2"),
            reception_row("pbx-1.7", "Local/200@internal-00000004;1", "bridge-2"))

    first = catch_up(tracker, *rows)
    second = catch_up(tracker, *rows)

    assert len(first) == 1
    assert second == []


def test_catch_up_still_closes_vanished_calls() -> None:
    tracker = ringing_call()
    other = {"Uniqueid": "pbx-3.0", "Linkedid": "pbx-3.0", "Channel": "IAX2/carrier-3"}
    tracker.feed(message(Event="Newchannel", Context="from-trunk", Exten=DID, **other), T0)

    events = catch_up(tracker, caller_row("4"))

    closed = ended(events)
    assert [event.record.linkedid for event in closed] == ["pbx-3.0"]
    assert tracker.live_calls == 1


@pytest.mark.parametrize("base", ["ami-inbound-calls-local", "ami-inbound-calls-iax2"])
def test_replay_answered_effect_per_answer(base: str) -> None:
    events = replay(base)

    answered = {event.record.linkedid for event in events if isinstance(event, CallAnswered)}
    order = [(type(event), event.record.linkedid) for event in events]

    assert len(answered) == sum(1 for _caller, was_answered, _cause in EXPECTED_CALLS
                                if was_answered)
    for linkedid in answered:
        assert order.index((CallStarted, linkedid)) < order.index((CallAnswered, linkedid))
        assert order.index((CallAnswered, linkedid)) < order.index((CallEnded, linkedid))
