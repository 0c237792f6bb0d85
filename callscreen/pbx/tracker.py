"""Follow inbound calls through AMI events and produce one CallRecord per call.

A pure state machine: `CallTracker.feed` takes one AmiMessage and the time it arrived
and returns what happened (`CallStarted`, `CallAnswered`, `CallTransferred`, `CallEnded`).
It does no I/O, so a capture can be replayed into it and the records compared.

Calls are keyed by Linkedid, which every channel of one call shares, including both
halves of a Local channel and the channels it dials. A call counts as inbound when one
of its channels is in an inbound context at Newchannel or at its first Newexten, or when
its dialplan enters callscreen's screening subroutine, whatever context it started in. The
call ends once every channel of the Linkedid has hung up.

Times are the `now` passed to `feed`, the daemon's clock at receipt. An event's
`Timestamp:` header (manager.conf `timestampevents = yes`) is used instead only when it
lies within `MAX_TIMESTAMP_SKEW` of `now`, because it is more precise when events are read
in bursts, while a PBX clock that is wrong would store calls in 1970 or 9999.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from callscreen.pbx.ami_wire import AmiMessage
from callscreen.pbx.channel_list import ChannelList, ListedChannel
from callscreen.pbx.model import CallerName, CallRecord

log = structlog.get_logger(__name__)

# The trunk contexts of dialplan/README.md (plain Asterisk and FreePBX) and of the
# recorded PBX; `[asterisk] inbound_contexts` in the config replaces this set.
DEFAULT_INBOUND_CONTEXTS = frozenset({
    "from-trunk", "from-pstn", "from-trunk-qs", "from-external", "callscreen-from-trunk",
})
# The subroutine of dialplan/callscreen.conf: only inbound calls are screened, so a channel
# entering it is inbound even when its trunk context is missing from inbound_contexts.
SCREENING_CONTEXTS = frozenset({"callscreen-screen"})
DEFAULT_MAX_CALLS = 10_000

# An event Timestamp further than this from the arrival time is ignored.
MAX_TIMESTAMP_SKEW = timedelta(seconds=60)
_REJECTED_TIMESTAMP_LOG_INTERVAL_S = 60.0

# Variables a screening dialplan sets to the dialled number, lower case; "s" means "no DID".
# dialplan/callscreen.conf sets __CALLSCREEN_DID; the recorded PBX set __SCREEN_DID.
DID_VARIABLES = frozenset({"callscreen_did", "__callscreen_did", "screen_did", "__screen_did"})
# The only VarSet variables the tracker reads. VarSet is about a third of all AMI events.
_USED_VARIABLES = DID_VARIABLES | {"agistatus"}
_NO_DID = frozenset({"", "s"})


@dataclass(frozen=True, slots=True)
class CallStarted:
    """An inbound call whose caller ID is settled; `record` is a snapshot."""

    record: CallRecord


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """An inbound call answered by `record.answered_by`; `record` is a snapshot.

    Sent again when a more precise answering party becomes known.
    """

    record: CallRecord


@dataclass(frozen=True, slots=True)
class CallTransferred:
    """An inbound call transferred to `record.transferred_to`; `record` is a snapshot."""

    record: CallRecord


@dataclass(frozen=True, slots=True)
class CallEnded:
    """An inbound call whose channels have all hung up, or that was closed by reconcile
    or eviction (then `hangup_cause` is None)."""

    record: CallRecord


TrackerEvent = CallStarted | CallAnswered | CallTransferred | CallEnded


@dataclass(slots=True)
class _Channel:
    uniqueid: str
    name: str
    linkedid: str
    inbound: bool
    caller_num: str = ""
    caller_name: CallerName = field(default_factory=lambda: CallerName("", b"", ""))
    seen_exten: bool = False
    bridge_id: str = ""
    bridged_at: datetime | None = None


@dataclass(slots=True)
class _Call:
    linkedid: str
    record: CallRecord | None = None
    live: set[str] = field(default_factory=set)
    caller_uniqueid: str = ""
    caller_fixed: bool = False  # set once the channel running the inbound dialplan is known
    started: bool = False
    did_from_variable: str = ""
    answered_uniqueid: str = ""
    talk: float = 0.0
    party_seconds: dict[str, float] = field(default_factory=dict)


class CallTracker:
    """Turn AMI events into CallStarted / CallEnded for inbound calls.

    State is bounded: finished calls are forgotten at once, and when more than
    `max_calls` Linkedids are live the oldest is evicted with a WARNING.
    """

    def __init__(
        self,
        *,
        inbound_contexts: frozenset[str] = DEFAULT_INBOUND_CONTEXTS,
        max_calls: int = DEFAULT_MAX_CALLS,
    ) -> None:
        self._inbound_contexts = inbound_contexts
        self._max_calls = max_calls
        self._calls: dict[str, _Call] = {}
        self._channels: dict[str, _Channel] = {}
        self._bridges: dict[str, set[str]] = {}
        self._timestamps = _TimestampCheck()
        self._handlers: dict[str, Callable[[AmiMessage, datetime], list[TrackerEvent]]] = {
            "newchannel": self._on_newchannel,
            "newexten": self._on_newexten,
            "newcallerid": self._on_newcallerid,
            "varset": self._on_varset,
            # TODO: DialBegin (who was rung but did not answer) needs a CallRecord field.
            "dialend": self._on_dialend,
            "bridgeenter": self._on_bridgeenter,
            "bridgeleave": self._on_bridgeleave,
            "blindtransfer": self._on_blindtransfer,
            "attendedtransfer": self._on_attendedtransfer,
            "hangup": self._on_hangup,
        }

    @property
    def live_calls(self) -> int:
        """The number of Linkedids currently followed, inbound or not."""
        return len(self._calls)

    def linkedids(self) -> set[str]:
        """Return the Linkedids currently followed."""
        return set(self._calls)

    def feed(self, msg: AmiMessage, now: datetime) -> list[TrackerEvent]:
        """Apply one AMI message; return the CallStarted / CallEnded it causes.

        `now` is the arrival time (UTC), used unless the event has a `Timestamp:` header
        within `MAX_TIMESTAMP_SKEW` of it. Events about unknown or finished channels are
        ignored.
        """
        event = msg.event.lower()
        handler = self._handlers.get(event)
        if handler is None:
            return []
        if event == "varset" and not msg.may_have_value("Variable", _USED_VARIABLES):
            # Checked before the event time is read, so that most VarSets are never split
            # into headers.
            return []

        return handler(msg, self._timestamps.event_time(msg, now))

    def reconcile(self, active_linkedids: set[str], now: datetime,
                  channels: ChannelList | None = None) -> list[TrackerEvent]:
        """Close every followed call whose Linkedid is not in `active_linkedids`.

        Used after an AMI reconnect: the Linkedids listed by CoreShowChannels are the calls
        still up, and the others ended while the connection was down. Their records get
        `ended_at=now` and no hangup cause. A call that never reached CallStarted gets
        one just before its CallEnded.

        With `channels` (the same CoreShowChannels rows), calls still up also learn an
        answer or a transfer that happened during the outage; see `_catch_up`.
        """
        events: list[TrackerEvent] = []
        if channels is not None:
            for linkedid in active_linkedids & set(self._calls):
                events.extend(self._catch_up(self._calls[linkedid], channels, now))

        gone = [linkedid for linkedid in self._calls if linkedid not in active_linkedids]
        for linkedid in gone:
            events.extend(self._close(self._calls[linkedid], now, reason="reconcile"))

        return events

    def _catch_up(self, call: _Call, channels: ChannelList, now: datetime) -> list[TrackerEvent]:
        """Infer from the caller's CoreShowChannel row what was missed while AMI was down.

        The caller's channel in state Up with a party beside it (a bridge peer, else an Up
        channel of the call outside the inbound contexts) means the call was answered. The
        time of the answer is not in the list, so `answered_at` is the reconnect time and
        `answered_at_observed` is set. A bridge peer the tracker has never seen, whose
        party differs from `answered_by`, means the call was transferred to that party.
        """
        record = call.record
        caller = self._channels.get(call.caller_uniqueid)
        row = channels.channel(call.linkedid, call.caller_uniqueid)
        if record is None or caller is None or row is None:
            return []

        self._sync_bridge(caller, row.bridge_id, now)
        peers = channels.bridge_peers(row)
        if not row.up:
            return []

        if record.answered_at is None:
            party = self._answering_party(call, peers, channels)
            if not party:
                # Up without a party: the dialplan answered itself, e.g. to play a message.
                return []
            record.answered_at = now
            record.answered_at_observed = True
            record.answered_by = party
            log.info("ami_answer_inferred", linkedid=call.linkedid, answered_by=party)
            # TODO: a call both answered and transferred during one outage is recorded as
            # answered by the transfer target; the list cannot tell the two apart.
            return [CallAnswered(_snapshot(record))]

        # TODO: ConnectedLineNum is not read: on the captured Local channels it held the
        # caller's own number, so it cannot name the new party of a transfer.
        new_peers = [peer for peer in peers if peer.uniqueid not in self._channels]
        party = _party(new_peers[0].name) if new_peers else ""
        if not party or party in (record.answered_by, record.transferred_to):
            return []

        record.transferred_to = party
        log.info("ami_transfer_inferred", linkedid=call.linkedid, transferred_to=party)
        return [CallTransferred(_snapshot(record))]

    def _answering_party(self, call: _Call, peers: list[ListedChannel],
                         channels: ChannelList) -> str:
        for peer in peers:
            if party := _party(peer.name):
                return party

        for row in channels.by_linkedid.get(call.linkedid, ()):
            known = self._channels.get(row.uniqueid)
            inbound = known.inbound if known is not None else row.context in self._inbound_contexts
            party = _party(row.name)
            if row.up and not inbound and row.uniqueid != call.caller_uniqueid and party:
                return party

        return ""

    def _sync_bridge(self, channel: _Channel, bridge_id: str, now: datetime) -> None:
        """Move `channel` into the bridge the list shows, entering it at `now`.

        NOTE: bridge time before the reconnect is lost for a bridge entered during the
        outage, and peers the tracker never saw get no `bridged_seconds_by_party` entry.
        """
        if channel.bridge_id == bridge_id:
            return

        self._leave_bridge(channel, now)
        if bridge_id:
            channel.bridge_id = bridge_id
            channel.bridged_at = now
            self._bridges.setdefault(bridge_id, set()).add(channel.uniqueid)

    # Handlers, one per event. Each returns the events it causes.

    def _on_newchannel(self, msg: AmiMessage, now: datetime) -> list[TrackerEvent]:
        uniqueid = msg.get("Uniqueid") or ""
        if not uniqueid or uniqueid in self._channels:
            return []

        linkedid = msg.get("Linkedid") or uniqueid
        events = self._make_room(linkedid, now)
        call = self._calls.setdefault(linkedid, _Call(linkedid))
        channel = _Channel(
            uniqueid=uniqueid,
            name=msg.get("Channel") or "",
            linkedid=linkedid,
            inbound=(msg.get("Context") or "") in self._inbound_contexts,
            caller_num=msg.known("CallerIDNum") or "",
            caller_name=msg.caller_name("CallerIDName"),
        )
        self._channels[uniqueid] = channel
        call.live.add(uniqueid)
        if channel.inbound:
            self._mark_inbound(call, channel, now, exten=msg.get("Exten") or "")

        return events

    def _on_newexten(self, msg: AmiMessage, now: datetime) -> list[TrackerEvent]:
        channel, call = self._lookup(msg)
        if channel is None or call is None:
            return []

        first = not channel.seen_exten
        channel.seen_exten = True
        context = msg.get("Context") or ""
        screening = context in SCREENING_CONTEXTS
        in_inbound_context = screening or context in self._inbound_contexts
        if (first or screening) and in_inbound_context and not channel.inbound:
            channel.inbound = True
            self._mark_inbound(call, channel, now, exten=msg.get("Exten") or "")
        # AppDial/AppDial2 are markers Asterisk emits for the outgoing side of a Dial or
        # an Originate ("(Outgoing Line)"); that channel is not running the dialplan.
        runs_dialplan = not (msg.get("Application") or "").startswith("AppDial")
        if not (channel.inbound and in_inbound_context and runs_dialplan):
            return []

        if not call.caller_fixed:
            call.caller_fixed = True
            self._set_caller(call, channel)
            self._set_exten_did(call, msg.get("Exten") or "")

        return self._start(call)

    def _on_newcallerid(self, msg: AmiMessage, now: datetime) -> list[TrackerEvent]:
        channel, call = self._lookup(msg)
        if channel is None or call is None:
            return []

        channel.caller_num = msg.known("CallerIDNum") or ""
        channel.caller_name = msg.caller_name("CallerIDName")
        if call.record is None or channel.uniqueid != call.caller_uniqueid:
            return []
        self._set_caller(call, channel)
        # The ;1 half of a Local channel hands the call to its ;2 half, which runs the
        # dialplan; starting here would report the ;1 Uniqueid, not the one AGI sees.
        if not channel.caller_num or _is_local_first_half(channel.name):
            return []

        return self._start(call)

    def _on_varset(self, msg: AmiMessage, now: datetime) -> list[TrackerEvent]:
        channel, call = self._lookup(msg)
        if channel is None or call is None:
            return []

        # The DID is kept even before the call is known to be inbound: a trunk context
        # missing from inbound_contexts may set it before entering the screening context.
        variable = (msg.get("Variable") or "").lower()
        value = msg.get("Value") or ""
        if variable in DID_VARIABLES and value not in _NO_DID and not call.did_from_variable:
            call.did_from_variable = value
            if call.record is not None:
                call.record.did = value
        elif variable == "agistatus" and channel.inbound and call.record is not None:
            call.record.agi_status = value

        return []

    def _on_dialend(self, msg: AmiMessage, now: datetime) -> list[TrackerEvent]:
        # A DialEnd without Channel is Originate dialling the first Local half: no caller.
        channel, call = self._lookup(msg)
        if channel is None or call is None or call.record is None:
            return []
        if (msg.get("DialStatus") or "").upper() != "ANSWER":
            return []

        answered_by = _party(msg.get("DestChannel") or "") or _real_exten(msg.get("DestExten"))
        record = call.record
        if record.answered_at is None and channel.inbound:
            record.answered_at = max(now, record.started_at)
            record.answered_by = answered_by
            call.answered_uniqueid = msg.get("DestUniqueid") or ""
        elif _is_local_partner(channel.name, self._channel_name(call.answered_uniqueid)):
            # The answering Local channel dialled on (e.g. Local/100 rang a desk phone):
            # the phone that answered it is the more precise party.
            record.answered_by = answered_by or record.answered_by
            call.answered_uniqueid = msg.get("DestUniqueid") or ""
        else:
            return []

        return [CallAnswered(_snapshot(record))]

    def _on_bridgeenter(self, msg: AmiMessage, now: datetime) -> list[TrackerEvent]:
        channel, _call = self._lookup(msg)
        bridge_id = msg.get("BridgeUniqueid") or ""
        if channel is None or not bridge_id:
            return []

        self._leave_bridge(channel, now)
        channel.bridge_id = bridge_id
        channel.bridged_at = now
        self._bridges.setdefault(bridge_id, set()).add(channel.uniqueid)

        return []

    def _on_bridgeleave(self, msg: AmiMessage, now: datetime) -> list[TrackerEvent]:
        channel, _call = self._lookup(msg)
        if channel is not None:
            self._leave_bridge(channel, now)

        return []

    def _on_blindtransfer(self, msg: AmiMessage, now: datetime) -> list[TrackerEvent]:
        if (msg.get("Result") or "Success") != "Success":
            return []

        call = self._call_of(msg.get("TransfereeUniqueid"), msg.get("TransfererUniqueid"))
        if call is None or call.record is None:
            return []

        call.record.transferred_to = msg.get("Extension") or ""
        return [CallTransferred(_snapshot(call.record))]

    def _on_attendedtransfer(self, msg: AmiMessage, now: datetime) -> list[TrackerEvent]:
        if (msg.get("Result") or "Success") != "Success":
            return []

        call = self._call_of(msg.get("TransfereeUniqueid"), msg.get("OrigTransfererUniqueid"))
        target = _party(msg.get("TransferTargetChannel") or "") or (
            msg.known("SecondTransfererConnectedLineNum") or ""
        )
        if call is None or call.record is None or not target:
            return []

        call.record.transferred_to = target
        return [CallTransferred(_snapshot(call.record))]

    def _on_hangup(self, msg: AmiMessage, now: datetime) -> list[TrackerEvent]:
        channel, call = self._lookup(msg)
        if channel is None or call is None:
            return []

        self._leave_bridge(channel, now)
        del self._channels[channel.uniqueid]
        call.live.discard(channel.uniqueid)
        record = call.record
        is_caller = channel.uniqueid == call.caller_uniqueid
        if record is not None and (is_caller or (channel.inbound and record.hangup_cause is None)):
            record.hangup_cause = _int_or_none(msg.get("Cause"))
            record.hangup_cause_text = msg.get("Cause-txt") or ""
        if call.live:
            return []

        return self._close(call, now, reason="hangup")

    # Helpers that change state.

    def _mark_inbound(self, call: _Call, channel: _Channel, now: datetime, *, exten: str) -> None:
        if call.record is None:
            call.record = CallRecord(
                linkedid=call.linkedid,
                uniqueid=channel.uniqueid,
                channel=channel.name,
                started_at=now,
                did=call.did_from_variable,
            )
        if not call.caller_uniqueid:
            self._set_caller(call, channel)
        self._set_exten_did(call, exten)

    def _set_caller(self, call: _Call, channel: _Channel) -> None:
        record = call.record
        if record is None:
            return

        call.caller_uniqueid = channel.uniqueid
        record.uniqueid = channel.uniqueid
        record.channel = channel.name
        record.caller_raw = channel.caller_num
        record.caller_name = channel.caller_name

    def _set_exten_did(self, call: _Call, exten: str) -> None:
        record = call.record
        if record is None or call.did_from_variable or record.did or exten in _NO_DID:
            return

        record.did = exten

    def _start(self, call: _Call) -> list[TrackerEvent]:
        if call.started or call.record is None:
            return []

        call.started = True
        # DEBUG: the daemon logs each call at INFO once it is stored (call_recorded), and a
        # JSON log line costs as much as tracking a hundred events.
        log.debug("call_started", linkedid=call.linkedid, uniqueid=call.record.uniqueid)

        return [CallStarted(_snapshot(call.record))]

    def _close(self, call: _Call, now: datetime, *, reason: str) -> list[TrackerEvent]:
        for uniqueid in list(call.live):
            channel = self._channels.pop(uniqueid, None)
            if channel is not None:
                self._leave_bridge(channel, now)
        self._calls.pop(call.linkedid, None)
        record = call.record
        if record is None:
            return []

        events = self._start(call)
        # With Timestamps from the PBX mixed with arrival times, `now` can be slightly
        # behind the start; a record never ends before it starts.
        record.ended_at = max(now, record.started_at)
        record.talk_seconds = round(call.talk)
        record.bridged_seconds_by_party = {
            party: round(seconds) for party, seconds in call.party_seconds.items()
        }
        log.debug("call_ended", linkedid=call.linkedid, reason=reason, cause=record.hangup_cause)
        events.append(CallEnded(record))

        return events

    def _make_room(self, linkedid: str, now: datetime) -> list[TrackerEvent]:
        if linkedid in self._calls or len(self._calls) < self._max_calls:
            return []

        oldest = next(iter(self._calls.values()))
        log.warning("call_evicted", linkedid=oldest.linkedid, max_calls=self._max_calls)

        return self._close(oldest, now, reason="evicted")

    def _leave_bridge(self, channel: _Channel, now: datetime) -> None:
        # Asterisk may send Hangup before BridgeLeave, so a hangup also leaves the bridge
        # and the later BridgeLeave finds the channel gone or out of the bridge.
        if not channel.bridge_id or channel.bridged_at is None:
            return

        members = self._bridges.get(channel.bridge_id, set())
        members.discard(channel.uniqueid)
        for other_id in members:
            other = self._channels.get(other_id)
            if other is not None and other.bridged_at is not None:
                overlap = _seconds_between(max(channel.bridged_at, other.bridged_at), now)
                self._add_party_time(channel, other, overlap)
                self._add_party_time(other, channel, overlap)
        call = self._calls.get(channel.linkedid)
        if call is not None and call.caller_uniqueid == channel.uniqueid:
            # TODO: this counts time the caller sits alone in a bridge (e.g. after the
            # other party left) as talk time; count only overlaps with another member.
            call.talk += _seconds_between(channel.bridged_at, now)
        if not members:
            self._bridges.pop(channel.bridge_id, None)
        channel.bridge_id = ""
        channel.bridged_at = None

    def _add_party_time(self, caller: _Channel, party: _Channel, seconds: float) -> None:
        call = self._calls.get(caller.linkedid)
        if call is None or call.caller_uniqueid != caller.uniqueid:
            return

        name = _party(party.name) or party.name
        call.party_seconds[name] = call.party_seconds.get(name, 0.0) + seconds

    # Lookups.

    def _lookup(self, msg: AmiMessage) -> tuple[_Channel | None, _Call | None]:
        channel = self._channels.get(msg.get("Uniqueid") or "")
        if channel is None:
            return None, None

        return channel, self._calls.get(channel.linkedid)

    def _call_of(self, *uniqueids: str | None) -> _Call | None:
        for uniqueid in uniqueids:
            channel = self._channels.get(uniqueid or "")
            if channel is not None:
                return self._calls.get(channel.linkedid)

        return None

    def _channel_name(self, uniqueid: str) -> str:
        channel = self._channels.get(uniqueid)

        return channel.name if channel is not None else ""


class _TimestampCheck:
    """Pick each event's time and log, at most once a minute, Timestamps it rejects."""

    def __init__(self) -> None:
        self._rejected = 0
        self._logged_at: float | None = None

    def event_time(self, msg: AmiMessage, now: datetime) -> datetime:
        # Present only with `timestampevents = yes` in manager.conf: seconds since the epoch.
        stamp = msg.get("Timestamp")
        if not stamp:
            return now

        try:
            event_time = datetime.fromtimestamp(float(stamp), UTC)
        except (ValueError, OverflowError, OSError):
            self._reject(msg, stamp, now, reason="unparsable")
            return now
        if abs(event_time - now) > MAX_TIMESTAMP_SKEW:
            self._reject(msg, stamp, now, reason="skew")
            return now

        return event_time

    def _reject(self, msg: AmiMessage, stamp: str, now: datetime, *, reason: str) -> None:
        self._rejected += 1
        clock = time.monotonic()
        if self._logged_at is not None and (
                clock - self._logged_at < _REJECTED_TIMESTAMP_LOG_INTERVAL_S):
            return

        log.warning("ami_timestamp_rejected", ami_event=msg.event, timestamp=stamp[:40],
                    reason=reason, received_at=now.isoformat(),
                    max_skew_s=MAX_TIMESTAMP_SKEW.total_seconds(), rejected=self._rejected)
        self._logged_at = clock
        self._rejected = 0


def _seconds_between(start: datetime, end: datetime) -> float:
    """Return the seconds from `start` to `end`, or 0 when event times run backwards."""
    return max(0.0, (end - start).total_seconds())


def _party(channel: str) -> str:
    """Return the extension or peer a channel name stands for.

    `Local/100@internal-00000001;1` -> "100", `PJSIP/101-0000002a` -> "101",
    `IAX2/carrier-7844` -> "carrier".
    """
    technology, slash, rest = channel.partition("/")
    if not slash or not rest:
        return ""

    if technology.lower() == "local":
        return rest.partition("@")[0]
    peer, dash, _sequence = rest.rpartition("-")

    return peer if dash else rest


def _is_local_first_half(name: str) -> bool:
    return name.startswith("Local/") and name.endswith(";1")


def _is_local_partner(name: str, other: str) -> bool:
    """Tell whether two channel names are the ;1 and ;2 halves of one Local channel."""
    if not name.startswith("Local/") or not other.startswith("Local/"):
        return False

    base, sep, _half = name.rpartition(";")
    other_base, other_sep, _other_half = other.rpartition(";")

    return bool(sep and other_sep) and base == other_base and name != other


def _real_exten(exten: str | None) -> str:
    return "" if exten in (None, "", "s") else str(exten)


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _snapshot(record: CallRecord) -> CallRecord:
    return dataclasses.replace(
        record, bridged_seconds_by_party=dict(record.bridged_seconds_by_party)
    )
