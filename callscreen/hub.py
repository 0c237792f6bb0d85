"""In-process publish/subscribe of live call updates, for the console and phone screens.

Publishing never blocks the ring-time path: each subscriber has a bounded queue, and a
subscriber that falls behind loses its oldest updates (it can re-read `active()`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from callscreen.classifier.model import Reason

# Ended calls stay visible this long so reception can still give feedback on them.
ENDED_VISIBLE_FOR = timedelta(minutes=10)
# A call never reported as ended (AMI off or down) is dropped after this long.
UNENDED_VISIBLE_FOR = timedelta(hours=4)
# Old calls are looked for at most this often, so a publish costs the same however many
# calls the console shows.
FORGET_INTERVAL = timedelta(seconds=5)
# The console shows at most this many calls; a flood beyond it drops the oldest, so memory
# stays bounded whatever the call rate.
MAX_CALLS_SHOWN = 500
SUBSCRIBER_QUEUE_SIZE = 256


@dataclass(frozen=True, slots=True)
class CallUpdate:
    """The state of one inbound call as reception sees it. Numbers are masked here."""

    call_id: str
    state: str  # "ringing", "answered" or "ended"
    at: datetime  # UTC
    started_at: datetime  # UTC
    caller_masked: str
    caller_key: str  # normalised number, for feedback; never rendered to reception
    caller_block: str
    caller_name: str
    kind: str
    region: str
    did: str
    verdict: str
    category: str
    score: int
    tag: str
    reasons: tuple[Reason, ...] = ()
    answered_by: str = ""
    transferred_to: str = ""
    extensions: tuple[str, ...] = field(default_factory=tuple)  # phones ringing for this call
    # The organisation the caller named, as reception last typed it for this number.
    caller_org: str = ""


class CallHub:
    """Keeps the active calls and fans updates out to subscribers."""

    def __init__(self) -> None:
        self._calls: dict[str, CallUpdate] = {}
        self._subscribers: set[asyncio.Queue[CallUpdate]] = set()
        self._forgot_at: datetime | None = None

    def publish(self, update: CallUpdate) -> None:
        """Record `update` and hand it to every subscriber without waiting."""
        self._calls[update.call_id] = update
        self._forget_old(update.at)
        while len(self._calls) > MAX_CALLS_SHOWN:
            del self._calls[next(iter(self._calls))]

        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(update)

    def update(self, call_id: str, **changes: object) -> CallUpdate | None:
        """Publish a changed copy of a known call; return None for unknown ids."""
        current = self._calls.get(call_id)
        if current is None:
            return None
        updated = replace(current, **changes)  # type: ignore[arg-type]
        self.publish(updated)
        return updated

    def active(self) -> list[CallUpdate]:
        """Return the calls currently shown, newest first."""
        return sorted(self._calls.values(), key=lambda u: u.started_at, reverse=True)

    def get(self, call_id: str) -> CallUpdate | None:
        """Return one call's latest state."""
        return self._calls.get(call_id)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[CallUpdate]]:
        """Yield a queue that receives every update published while the context is open."""
        queue: asyncio.Queue[CallUpdate] = asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    @property
    def subscriber_count(self) -> int:
        """Return how many subscribers are connected."""
        return len(self._subscribers)

    def _forget_old(self, now: datetime) -> None:
        if self._forgot_at is not None and now - self._forgot_at < FORGET_INTERVAL:
            return
        self._forgot_at = now

        stale = [cid for cid, call in self._calls.items() if _is_stale(call, now)]
        for call_id in stale:
            del self._calls[call_id]


def _is_stale(call: CallUpdate, now: datetime) -> bool:
    if call.state == "ended":
        return now - call.at > ENDED_VISIBLE_FOR
    return now - call.started_at > UNENDED_VISIBLE_FOR
