"""Channel state of the fake PBX and the snapshot headers Asterisk 22 puts in channel events.

Text is kept as `str`. Bytes that are not UTF-8, such as a GBK caller name, travel inside it
as surrogate escapes. They go back to the wire unchanged, because Asterisk passes them through.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

Header = tuple[str, str]

STATE_DESCRIPTIONS = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
STATE_DOWN = 0
STATE_RING = 4
STATE_UP = 6


def show_party(value: str) -> str:
    """Return a caller-ID value as AMI shows it: the literal `<unknown>` when empty."""
    return value if value else "<unknown>"


@dataclass(slots=True)
class FakeChannel:
    """One channel of the fake PBX, with what its AMI channel snapshot shows."""

    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    state: int = STATE_RING
    caller_num: str = ""
    caller_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    priority: int = 1
    application: str = ""
    app_data: str = ""
    channel_type: str = "IAX2"
    variables: dict[str, str] = field(default_factory=dict)
    bridge_id: str = ""
    created_at: float = field(default_factory=time.monotonic)
    dead: bool = False

    def snapshot(self, prefix: str = "") -> list[Header]:
        """Build the 14 snapshot headers, in Asterisk's order, each name prefixed."""
        headers = [
            ("Channel", self.name),
            ("ChannelState", str(self.state)),
            ("ChannelStateDesc", STATE_DESCRIPTIONS.get(self.state, "Unknown")),
            ("CallerIDNum", show_party(self.caller_num)),
            ("CallerIDName", show_party(self.caller_name)),
            ("ConnectedLineNum", show_party(self.connected_num)),
            ("ConnectedLineName", show_party(self.connected_name)),
            ("Language", "en"),
            ("AccountCode", ""),
            ("Context", self.context),
            ("Exten", self.exten),
            ("Priority", str(self.priority)),
            ("Uniqueid", self.uniqueid),
            ("Linkedid", self.linkedid),
        ]

        return [(prefix + key, value) for key, value in headers]

    def callerid_all(self) -> str:
        """Return `${CALLERID(all)}` as the dialplan expands it: `"name" <num>`."""
        return f'"{self.caller_name}" <{self.caller_num}>'

    def seconds_up(self) -> int:
        """Return whole seconds since the channel was created (the `Seconds` of Status)."""
        return int(time.monotonic() - self.created_at)
