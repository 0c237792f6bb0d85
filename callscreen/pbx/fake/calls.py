"""Fake call requests and results, id sources and the context shared by calls of one fake PBX."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from callscreen.pbx.fake.channel import FakeChannel, Header

EventSink = Callable[[list[Header]], None]


@dataclass
class FakeCall:
    """One inbound trunk call to place on the fake PBX.

    `name` may be bytes: bytes that are not UTF-8 (a GBK name) reach AMI and FastAGI raw.
    `answer_by` is the reception extension that answers, or None when the call is not answered.
    """

    caller: str
    name: str | bytes = ""
    did: str = "02188886666"
    answer_by: str | None = "100"
    talk_seconds: float = 2.0
    transfer_to: str | None = None
    caller_hangs_up_during_agi: bool = False

    def name_text(self) -> str:
        """Return the name as text; undecodable bytes stay as surrogate escapes."""
        if isinstance(self.name, bytes):
            return self.name.decode("utf-8", "surrogateescape")

        return self.name


@dataclass
class FakeCallResult:
    """Outcome of a fake call: its ids, the variables the FastAGI server set, and the end."""

    uniqueid: str
    linkedid: str
    channel: str
    variables: dict[str, str] = field(default_factory=dict)
    agi_status: str = ""
    rang: bool = False
    rejected: bool = False
    hangup_cause: int | None = None


class IdSource:
    """Uniqueids, IAX2 call numbers and Local channel sequence numbers, as Asterisk makes them."""

    def __init__(self, system_name: str) -> None:
        self.system_name = system_name
        self._uniqueid_counter = itertools.count()
        self._local_counter = itertools.count()
        self._random = random.SystemRandom()

    def uniqueid(self) -> str:
        """Return the next `<systemname>-<epoch>.<n>` uniqueid."""
        return f"{self.system_name}-{int(time.time())}.{next(self._uniqueid_counter)}"

    def local_suffix(self) -> str:
        """Return the next 8-hex-digit Local channel sequence, e.g. `00000014`."""
        return f"{next(self._local_counter):08x}"

    def iax2_callno(self) -> int:
        """Return a plausible IAX2 call number for `IAX2/carrier-<callno>`."""
        return self._random.randint(2, 16383)

    def command_id(self) -> str:
        """Return an AGIExec CommandId (a random positive int in the capture)."""
        return str(self._random.randint(10_000_000, 2_147_483_647))


@dataclass
class PbxContext:
    """Settings shared by every call on one fake PBX: names, event sink, timing, AGI target."""

    system_name: str
    emit: EventSink
    ids: IdSource
    channels: dict[str, FakeChannel]
    agi_host: str
    agi_port: int
    agi_timeout_s: float = 10.0
    ring_delay_s: float = 0.0
    time_scale: float = 1.0
    dial_timeout_s: float = 20.0
