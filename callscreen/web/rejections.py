"""Log every web request the console rejects, rate-limited so a scanner cannot flood the log.

`rejection_middleware` logs `web_request_rejected` for each 4xx that a handler, the router
or another middleware produces, and for a request whose session cookie matches no session
(forged, expired or from a wiped store), whatever its final status. aiohttp responds to a
request it cannot parse (a bad request line, a header too large) before any middleware
runs, so `access_logger_class` logs those from the server's access log hook instead.

A line holds the status, method, path (never the query string, which carries phone
tokens), reason, client address (see `callscreen.web.client_address`) and username. It
never holds a cookie, a token or the body. Each client address and status may log
`PER_KEY_LIMIT` lines per window and all of them together `TOTAL_LIMIT`. The rest are
counted and reported in one
`web_request_rejections_suppressed` line, written with the first rejection after the
window or when the app shuts down.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

from callscreen.web.auth import REJECTION_REASON, Handler, current_session
from callscreen.web.client_address import client_address, request_client_address

log = structlog.get_logger(__name__)

WINDOW_S = 60.0
PER_KEY_LIMIT = 5
TOTAL_LIMIT = 100
MAX_PATH_CHARS = 200
# A plain 404 is what every stale bookmark and crawler produces, so it is logged at INFO.
INFO_STATUSES = frozenset({404})
REASON_BY_STATUS = {
    400: "bad_request",
    401: "login_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}
# Set on a request once it was logged, so the access log hook does not log it again.
_LOGGED = web.RequestKey("callscreen_rejection_logged", bool)


@dataclass(slots=True)
class RejectionLimiter:
    """Rejection counts per (remote address, status) in fixed windows of `WINDOW_S`."""

    clock: Callable[[], float] = time.monotonic
    window_started: float | None = None
    logged: Counter[tuple[str, int]] = field(default_factory=Counter)
    suppressed: Counter[tuple[str, int]] = field(default_factory=Counter)

    def admit(self, remote: str, status: int) -> bool:
        """Return True when this rejection may be logged; count it otherwise."""
        now = self.clock()
        if self.window_started is None or now - self.window_started >= WINDOW_S:
            self.flush()
            self.window_started = now

        key = (remote, status)
        if self.logged[key] >= PER_KEY_LIMIT or self.logged.total() >= TOTAL_LIMIT:
            self.suppressed[key] += 1
            return False

        self.logged[key] += 1
        return True

    def flush(self) -> None:
        """Log one summary line for the rejections suppressed in the current window."""
        if self.suppressed:
            by_status = Counter[int]()
            for (_remote, status), count in self.suppressed.items():
                by_status[status] += count
            log.warning("web_request_rejections_suppressed",
                        suppressed=self.suppressed.total(), window_s=WINDOW_S,
                        remotes=len({remote for remote, _status in self.suppressed}),
                        by_status={str(status): count for status, count in by_status.items()})
        self.logged.clear()
        self.suppressed.clear()


LIMITER = web.AppKey("callscreen_rejection_limiter", RejectionLimiter)


def setup_rejection_log(app: web.Application) -> None:
    """Give `app` its limiter and report what is still suppressed when it shuts down."""
    limiter = RejectionLimiter()
    app[LIMITER] = limiter

    async def flush(_app: web.Application) -> None:
        limiter.flush()

    app.on_cleanup.append(flush)


@web.middleware
async def rejection_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log the app's 4xx responses and requests whose session cookie matched no session."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if 400 <= exc.status < 500 or request.get(REJECTION_REASON):
            _log_rejection(request, exc.status)
        raise

    if 400 <= response.status < 500 or request.get(REJECTION_REASON):
        _log_rejection(request, response.status)
    return response


def _log_rejection(request: web.Request, status: int) -> None:
    request[_LOGGED] = True
    limiter = request.app.get(LIMITER)
    remote = request_client_address(request)
    if limiter is not None and not limiter.admit(remote, status):
        return

    session = current_session(request)
    reason = request.get(REJECTION_REASON) or REASON_BY_STATUS.get(status, "client_error")
    emit = log.info if status in INFO_STATUSES and reason == "not_found" else log.warning
    emit("web_request_rejected", status=status, method=request.method,
         path=request.path[:MAX_PATH_CHARS], reason=reason, remote=remote,
         username=session.user.username if session is not None else "")


def access_logger_class(limiter: RejectionLimiter,
                        trusted_proxies: frozenset[str] = frozenset()
                        ) -> type[AbstractAccessLogger]:
    """Return an access logger class that logs the 4xx responses no middleware saw.

    Those are the requests aiohttp could not parse. Such a request is not routed, so
    `request.app` is unavailable and the limiter and the trusted proxies (canonical
    addresses, see `client_address.trusted_set`) are passed in here.
    """

    class UnparsedRequestLog(AbstractAccessLogger):
        def log(self, request: BaseRequest, response: web.StreamResponse,
                time: float) -> None:
            if not 400 <= response.status < 500 or request.get(_LOGGED):
                return

            remote = client_address(request, trusted_proxies)
            if not limiter.admit(remote, response.status):
                return
            log.warning("web_request_rejected", status=response.status,
                        method=request.method, path=request.path[:MAX_PATH_CHARS],
                        reason="unparsable_request",
                        remote=remote, username="")

    return UnparsedRequestLog
