"""Builders of the channel, bridge and hangup events of Asterisk 22.10.1, in captured shape."""

from __future__ import annotations

from collections.abc import Sequence

from callscreen.pbx.fake.ami_messages import build_event
from callscreen.pbx.fake.calls import PbxContext
from callscreen.pbx.fake.channel import FakeChannel, Header

CAUSE_TEXTS = {0: "Unknown", 16: "Normal Clearing", 19: "No user responding",
               21: "Call Rejected", 32: "Circuit/channel congestion"}
CALLING_PRES_ALLOWED = "0 (Presentation Allowed, Not Screened)"


class EventWriter:
    """Emits the events of one call to every AMI listener of the fake PBX."""

    def __init__(self, context: PbxContext) -> None:
        self.context = context

    def emit(self, name: str, privilege: str, body: Sequence[Header]) -> None:
        """Emit one event with `SystemName`, as a PBX with `systemname` set does."""
        self.context.emit(build_event(name, privilege, self.context.system_name, body))

    def channel(self, name: str, channel: FakeChannel, extra: Sequence[Header] = (),
                privilege: str = "call,all") -> None:
        """Emit an event made of the channel snapshot followed by `extra` headers."""
        self.emit(name, privilege, channel.snapshot() + list(extra))

    def new_channel(self, channel: FakeChannel) -> None:
        """Register the channel and emit Newchannel."""
        self.context.channels[channel.name] = channel
        self.channel("Newchannel", channel)

    def new_exten(self, channel: FakeChannel, app: str, data: str, extension: str) -> None:
        """Emit Newexten for the channel's current priority."""
        channel.application, channel.app_data = app, data
        extra = [("Extension", extension), ("Application", app), ("AppData", data)]
        self.channel("Newexten", channel, extra, privilege="dialplan,all")

    def var_set(self, channel: FakeChannel, variable: str, value: str) -> None:
        """Emit VarSet; `variable` is shown as written, with any `__` inheritance prefix."""
        extra = [("Variable", variable), ("Value", value)]
        self.channel("VarSet", channel, extra, privilege="dialplan,all")

    def new_callerid(self, channel: FakeChannel) -> None:
        """Emit NewCallerid with its presentation header."""
        self.channel("NewCallerid", channel, [("CID-CallingPres", CALLING_PRES_ALLOWED)])

    def new_state(self, channel: FakeChannel, state: int) -> None:
        """Change the channel state and emit Newstate."""
        channel.state = state
        self.channel("Newstate", channel)

    def soft_hangup_request(self, channel: FakeChannel, cause: int) -> None:
        """Emit SoftHangupRequest."""
        self.channel("SoftHangupRequest", channel, [("Cause", str(cause))])

    def hangup_request(self, channel: FakeChannel, cause: int) -> None:
        """Emit HangupRequest; Asterisk leaves out `Cause` when the cause is 0."""
        extra = [("Cause", str(cause))] if cause else []
        self.channel("HangupRequest", channel, extra)

    def hangup(self, channel: FakeChannel, cause: int) -> None:
        """Emit Hangup with Cause and Cause-txt and forget the channel."""
        channel.dead = True
        self.context.channels.pop(channel.name, None)
        extra = [("Cause", str(cause)), ("Cause-txt", CAUSE_TEXTS.get(cause, "Unknown"))]
        self.channel("Hangup", channel, extra)

    def hangup_from_dialplan(self, channel: FakeChannel, cause: int) -> None:
        """Emit the three events of a channel the dialplan hangs up (Hangup app or an error).

        The capture shows SoftHangupRequest with cause 16 even for `Hangup(21)`.
        """
        self.soft_hangup_request(channel, 16)
        self.hangup_request(channel, cause)
        self.hangup(channel, cause)

    def bridge(self, name: str, bridge_id: str, count: int,
               channel: FakeChannel | None = None) -> None:
        """Emit a bridge event: the bridge headers, then the channel snapshot if any."""
        body: list[Header] = [
            ("BridgeUniqueid", bridge_id), ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"), ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"), ("BridgeNumChannels", str(count)),
            ("BridgeVideoSourceMode", "none"),
        ]
        if channel is not None:
            body += channel.snapshot()
        # CoreShowChannels lists each channel's bridge in its BridgeId field.
        if channel is not None and name == "BridgeEnter":
            channel.bridge_id = bridge_id
        elif channel is not None and name == "BridgeLeave":
            channel.bridge_id = ""
        self.emit(name, "call,all", body)
