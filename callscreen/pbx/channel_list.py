"""Read the CoreShowChannels list that the daemon requests after each AMI login.

Only fields seen in the Asterisk 22.10.1 capture of a CoreShowChannel event are read:
Channel, ChannelState, Context, Uniqueid, Linkedid and BridgeId. BridgeId is a single space
when the channel is in no bridge.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from callscreen.pbx.ami_wire import AmiMessage

# ChannelState 6 is AST_STATE_UP, shown as `ChannelStateDesc: Up`.
STATE_UP = "6"


@dataclass(frozen=True, slots=True)
class ListedChannel:
    """One CoreShowChannel row: a channel that existed when the list was taken."""

    uniqueid: str
    linkedid: str
    name: str
    context: str
    up: bool
    bridge_id: str


@dataclass(frozen=True, slots=True)
class ChannelList:
    """The rows of one CoreShowChannels reply, indexed by Linkedid and by bridge."""

    by_linkedid: dict[str, list[ListedChannel]]
    by_bridge: dict[str, list[ListedChannel]]

    @classmethod
    def from_messages(cls, messages: Iterable[AmiMessage]) -> ChannelList:
        """Build the index from the list items; other events (e.g. the Complete) are skipped."""
        by_linkedid: dict[str, list[ListedChannel]] = {}
        by_bridge: dict[str, list[ListedChannel]] = {}
        for message in messages:
            if message.event != "CoreShowChannel":
                continue
            row = _row(message)
            if not row.uniqueid or not row.linkedid:
                continue

            by_linkedid.setdefault(row.linkedid, []).append(row)
            if row.bridge_id:
                by_bridge.setdefault(row.bridge_id, []).append(row)

        return cls(by_linkedid, by_bridge)

    def linkedids(self) -> set[str]:
        """Return the Linkedids of every listed channel."""
        return set(self.by_linkedid)

    def channel(self, linkedid: str, uniqueid: str) -> ListedChannel | None:
        """Return the row of one channel of a call, or None when it was not listed."""
        for row in self.by_linkedid.get(linkedid, ()):
            if row.uniqueid == uniqueid:
                return row
        return None

    def bridge_peers(self, row: ListedChannel) -> list[ListedChannel]:
        """Return the other channels in the same bridge as `row`, whatever their Linkedid.

        Peers are matched by bridge alone because an attended transfer may bridge the
        caller with a channel of the transferer's second call, which has its own Linkedid.
        """
        if not row.bridge_id:
            return []
        members = self.by_bridge.get(row.bridge_id, ())
        return [peer for peer in members if peer.uniqueid != row.uniqueid]


def _row(message: AmiMessage) -> ListedChannel:
    return ListedChannel(
        uniqueid=message.get("Uniqueid") or "",
        linkedid=message.get("Linkedid") or "",
        name=message.get("Channel") or "",
        context=message.get("Context") or "",
        up=(message.get("ChannelState") or "").strip() == STATE_UP,
        bridge_id=(message.get("BridgeId") or "").strip(),
    )
