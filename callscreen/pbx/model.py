"""Plain data the PBX layer hands to the rest of callscreen.

Nothing outside `callscreen.pbx` sees AMI messages or AGI lines; it sees these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CallerName:
    """A caller-ID name as Asterisk sent it: decoded text plus the raw bytes for audit.

    `encoding` is "utf-8", "gb18030" (the fallback for names that are not UTF-8) or ""
    when the name is missing or a placeholder.
    """

    text: str
    raw: bytes = b""
    encoding: str = "utf-8"


@dataclass(frozen=True, slots=True)
class AgiRequest:
    """One FastAGI session's environment, as read from the `agi_*` block."""

    script: str  # agi_network_script up to "?", e.g. "screen"
    query: dict[str, str]  # the query string of agi_network_script
    args: tuple[str, ...]  # agi_arg_1, agi_arg_2, ...
    channel: str
    uniqueid: str
    callerid: str  # "" when Asterisk sent "unknown"
    calleridname: CallerName
    callingpres: int
    dnid: str  # "" when Asterisk sent "unknown"
    context: str
    extension: str
    env: dict[str, str] = field(default_factory=dict)  # every agi_* key, decoded

    @property
    def did(self) -> str:
        """Return the dialled number: query `did`, else the second argument, else agi_dnid."""
        if self.query.get("did"):
            return self.query["did"]
        if len(self.args) >= 2 and self.args[1] not in ("", "s"):
            return self.args[1]
        return self.dnid


@dataclass(slots=True)
class CallRecord:
    """One inbound call as followed over AMI, keyed by Linkedid.

    Times are timezone-aware UTC. Fields stay empty when the events never said.
    """

    linkedid: str
    uniqueid: str  # of the inbound (first) channel
    channel: str
    started_at: datetime
    caller_raw: str = ""
    caller_name: CallerName = field(default_factory=lambda: CallerName(""))
    did: str = ""
    answered_at: datetime | None = None
    # True when the answer happened while AMI was down: answered_at is then the time the
    # reconnect noticed it, a late bound. Not stored in the call log.
    answered_at_observed: bool = False
    ended_at: datetime | None = None
    answered_by: str = ""  # extension or channel that answered
    transferred_to: str = ""
    talk_seconds: int = 0
    hangup_cause: int | None = None
    hangup_cause_text: str = ""
    agi_status: str = ""
    bridged_seconds_by_party: dict[str, int] = field(default_factory=dict)
