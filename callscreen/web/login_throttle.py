"""A limit on failed logins per remote address, so one client cannot guess without end.

Each address may fail `MAX_FAILURES` times in any `WINDOW_S` seconds. Further attempts
are rejected before the password is checked, until the oldest failure leaves the window.
Memory is bounded: at most `MAX_FAILURES` times per address and `MAX_REMOTES` addresses,
the least recently failing forgotten first.

The address is the client's as `callscreen.web.client_address` finds it: behind a proxy
listed in `[web] trusted_proxies`, the forwarded address, so clients do not share the
proxy's limit.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

MAX_FAILURES = 10
WINDOW_S = 15 * 60.0
MAX_REMOTES = 10_000


@dataclass
class LoginThrottle:
    """Recent login failure times per remote address (monotonic seconds)."""

    max_failures: int = MAX_FAILURES
    window_s: float = WINDOW_S
    max_remotes: int = MAX_REMOTES
    clock: Callable[[], float] = time.monotonic
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def retry_after(self, remote: str) -> int:
        """Return the seconds (rounded up) until `remote` may try again, or 0 when it may now."""
        times = self._recent(remote)
        if len(times) < self.max_failures:
            return 0

        return max(1, math.ceil(times[0] + self.window_s - self.clock()))

    def record_failure(self, remote: str) -> None:
        """Count one failed login from `remote`."""
        times = self._recent(remote)
        times.append(self.clock())
        self._failures[remote] = times
        self._failures.move_to_end(remote)

        while len(self._failures) > self.max_remotes:
            self._failures.popitem(last=False)

    def _recent(self, remote: str) -> deque[float]:
        times = self._failures.get(remote, deque(maxlen=self.max_failures))
        cutoff = self.clock() - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()

        return times


LOGIN_THROTTLE = web.AppKey("callscreen_login_throttle", LoginThrottle)
