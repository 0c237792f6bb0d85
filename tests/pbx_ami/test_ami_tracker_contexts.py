"""CallTracker on the FreePBX wiring: the recorded calls with only Context/Exten changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pbx_ami_captures import recv_chunks
from test_ami_tracker_replay import DID, T0, ended, message

from callscreen.config import Config
from callscreen.pbx.ami_wire import AmiFramer, AmiMessage
from callscreen.pbx.tracker import CallStarted, CallTracker, TrackerEvent

# The defaults before the FreePBX trunk context was added to them.
OLD_DEFAULT_CONTEXTS = frozenset({"from-trunk", "from-pstn", "from-external"})


def freepbx_shape(msg: AmiMessage, trunk_context: str) -> AmiMessage:
    """Move the recorded [from-trunk] into the FreePBX wiring of dialplan/README.md.

    The DID extension runs in the trunk context and the `screen` extension becomes the
    `s` extension of [callscreen-screen]; every other header is kept as recorded.
    """
    screen = msg.get("Context") == "from-trunk" and msg.get("Exten") == "screen"
    headers = []
    for key, value in msg.headers:
        if key == "Context" and value == "from-trunk":
            value = "callscreen-screen" if screen else trunk_context
        elif key == "Exten" and screen:
            value = "s"
        headers.append((key, value))
    return AmiMessage(headers)


def replay(base: str, tracker: CallTracker, trunk_context: str | None) -> list[TrackerEvent]:
    framer = AmiFramer()
    events: list[TrackerEvent] = []
    for seconds, chunk in recv_chunks(base):
        for msg in framer.feed(chunk):
            if trunk_context is not None:
                msg = freepbx_shape(msg, trunk_context)
            events.extend(tracker.feed(msg, T0 + timedelta(seconds=seconds)))
    return events


def summary(events: list[TrackerEvent]) -> list[tuple]:
    return [
        (r.uniqueid, r.caller_raw, r.answered_by, r.hangup_cause, r.talk_seconds, r.started_at)
        for r in (event.record for event in ended(events))
    ]


@pytest.mark.parametrize("base", ["ami-inbound-calls-local", "ami-inbound-calls-iax2"])
def test_freepbx_trunk_context_with_default_config(base: str) -> None:
    contexts = frozenset(Config().asterisk.inbound_contexts)

    reference = replay(base, CallTracker(), None)
    events = replay(base, CallTracker(inbound_contexts=contexts), "callscreen-from-trunk")

    assert len(ended(events)) == 12
    assert summary(events) == summary(reference)
    assert {event.record.did for event in ended(events)} == {DID}


@pytest.mark.parametrize("base", ["ami-inbound-calls-local", "ami-inbound-calls-iax2"])
def test_unlisted_trunk_context_found_by_screening(base: str) -> None:
    reference = replay(base, CallTracker(), None)

    events = replay(base, CallTracker(inbound_contexts=OLD_DEFAULT_CONTEXTS), "from-carrier")

    records = [event.record for event in ended(events)]
    assert len(records) == 12
    assert [r.caller_raw for r in records] == [r.caller_raw for r in
                                               (e.record for e in ended(reference))]
    assert [r.answered_by for r in records] == [r.answered_by for r in
                                                (e.record for e in ended(reference))]
    assert [r.hangup_cause for r in records] == [r.hangup_cause for r in
                                                 (e.record for e in ended(reference))]
    # The DID comes from the recorded __SCREEN_DID VarSet, set before the screening context.
    assert {r.did for r in records} == {DID}


def test_default_config_lists_freepbx_trunk_context() -> None:
    assert "callscreen-from-trunk" in Config().asterisk.inbound_contexts


def test_screening_context_marks_channel_inbound_late() -> None:
    tracker = CallTracker(inbound_contexts=OLD_DEFAULT_CONTEXTS)
    ids = {"Uniqueid": "pbx-9.0", "Linkedid": "pbx-9.0", "Channel": "PJSIP/carrier-00000009"}
    tracker.feed(message(Event="Newchannel", Context="from-carrier", Exten=DID,
                         CallerIDNum="13800138000", **ids), T0)
    first = tracker.feed(message(Event="Newexten", Context="from-carrier", Exten=DID,
                                 Application="Gosub", **ids), T0)

    events = tracker.feed(message(Event="Newexten", Context="callscreen-screen", Exten="s",
                                  Application="Set", **ids), T0)
    tracker.feed(message(Event="VarSet", Variable="__CALLSCREEN_DID", Value=DID, **ids), T0)
    closed = tracker.feed(message(Event="Hangup", Cause="16", **ids), T0)

    assert first == []
    assert [type(event) for event in events] == [CallStarted]
    assert events[0].record.caller_raw == "13800138000"
    assert ended(closed)[0].record.did == DID


def test_callscreen_did_variable_sets_did() -> None:
    tracker = CallTracker()
    ids = {"Uniqueid": "pbx-10.0", "Linkedid": "pbx-10.0", "Channel": "IAX2/carrier-10"}
    tracker.feed(message(Event="Newchannel", Context="callscreen-from-trunk", Exten="s",
                         CallerIDNum="13800138000", **ids), T0)
    tracker.feed(message(Event="Newexten", Context="callscreen-from-trunk", Exten="s",
                         Application="Gosub", **ids), T0)
    tracker.feed(message(Event="Newexten", Context="callscreen-screen", Exten="s",
                         Application="Set", **ids), T0)

    tracker.feed(message(Event="VarSet", Variable="__CALLSCREEN_DID", Value="02188886601",
                         **ids), T0)
    events = tracker.feed(message(Event="Hangup", Cause="16", **ids), T0)

    assert ended(events)[0].record.did == "02188886601"
