"""Server-sent events: the console's live call list.

On connect the client gets one `snapshot` event with every call card, then one `call`
event per hub update. Each event's data is one JSON line whose `html` is a call card
rendered (and escaped) by the page templates. In the JSON, `<`, `>` and `&` are written as
\\u escapes too, so no caller-supplied markup appears in the stream even as raw text.

The session is looked up again, one indexed query, before each batch of queued updates and
at each keepalive. So a stream ends within `KEEPALIVE_SECONDS` of a logout, a password change
or a disabled account, and sends no update published after its session ended.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from typing import Any

import structlog
from aiohttp import web

from callscreen.hub import CallUpdate
from callscreen.store import reception as store
from callscreen.web.auth import SESSION_COOKIE, context, current_session, require_role, token_hash
from callscreen.web.console import RECEPTION_ROLES, call_view, default_locale
from callscreen.web.render import render_fragment

log = structlog.get_logger(__name__)

KEEPALIVE_SECONDS = 15.0
STREAMS: web.AppKey[set[asyncio.Task[Any]]] = web.AppKey("callscreen_event_streams")

# Rendering a card (its reply script included) costs far more than sending it. Every open
# console gets the same card except for its session's CSRF token, so each update is
# rendered once per locale with this placeholder as the token, and each stream swaps in
# its own token. Rendering per stream starved the FastAGI deadline with 20 consoles open.
# The placeholder and the tokens (secrets.token_urlsafe) need no HTML or JSON escaping.
CSRF_PLACEHOLDER = "callscreen-csrf-token-placeholder"
MAX_CACHED_FRAMES = 256
_FrameKey = tuple[int, str, str, str, str, str, str, str]
_frames: OrderedDict[_FrameKey, bytes] = OrderedDict()

routes = web.RouteTableDef()


def encode_event(event: str, payload: object) -> bytes:
    """Return one SSE frame whose data is `payload` as a single JSON line."""
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    data = data.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")

    return f"event: {event}\ndata: {data}\n\n".encode()


def _card(request: web.Request, call: CallUpdate, locale: str, csrf_token: str) -> str:
    return render_fragment(request, "_call.html", locale,
                           call=call_view(request, call, locale), csrf_token=csrf_token)


@routes.get("/console/events")
@require_role(*RECEPTION_ROLES)
async def console_events(request: web.Request) -> web.StreamResponse:
    """Stream call cards to one console until the browser goes away or the app stops."""
    ctx = context(request)
    session = current_session(request)
    assert session is not None
    locale = default_locale(request)
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",  # nginx would otherwise hold events back in its buffer
    })

    task = asyncio.current_task()
    assert task is not None
    request.app[STREAMS].add(task)
    try:
        async with ctx.hub.subscribe() as queue:
            await response.prepare(request)
            cards = [{"call_id": call.call_id, "html": _card(request, call, locale,
                                                              session.csrf_token)}
                     for call in ctx.hub.active()]
            await response.write(encode_event("snapshot", {"calls": cards}))
            log.info("console_stream_opened", user_id=session.user.id)
            await _forward(request, response, queue, locale, session.csrf_token)
            log.info("console_stream_ended", user_id=session.user.id, reason="session_ended")
    except ConnectionResetError:
        log.info("console_stream_closed", user_id=session.user.id)
    finally:
        request.app[STREAMS].discard(task)

    return response


async def _forward(request: web.Request, response: web.StreamResponse,
                   queue: asyncio.Queue[CallUpdate], locale: str, csrf_token: str) -> None:
    """Write call frames until the session behind the stream is gone."""
    while True:
        try:
            call = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
        except TimeoutError:
            if not await _session_alive(request):
                return
            # A comment line: keeps proxies from closing an idle stream and detects a gone peer.
            await response.write(b": keepalive\n\n")
            continue

        # One session lookup covers every update queued meanwhile.
        calls = [call]
        while not queue.empty():
            calls.append(queue.get_nowait())
        if not await _session_alive(request):
            return

        for call in calls:
            frame = _call_frame(request, call, locale)
            await response.write(frame.replace(CSRF_PLACEHOLDER.encode(), csrf_token.encode()))


async def _session_alive(request: web.Request) -> bool:
    """Return whether the stream's session still exists and may still see the console."""
    ctx = context(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    session = await store.get_session(ctx.store, token_hash(token), ctx.clock())

    return session is not None and session.user.role in RECEPTION_ROLES


def _call_frame(request: web.Request, call: CallUpdate, locale: str) -> bytes:
    """Return the `call` event of one update with CSRF_PLACEHOLDER as the token, cached."""
    key = (id(request.app), call.call_id, call.at.isoformat(), call.state, call.answered_by,
           call.transferred_to, call.caller_org, locale)
    frame = _frames.get(key)
    if frame is None:
        html = _card(request, call, locale, CSRF_PLACEHOLDER)
        frame = encode_event("call", {"call_id": call.call_id, "html": html})
        _frames[key] = frame
        if len(_frames) > MAX_CACHED_FRAMES:
            _frames.popitem(last=False)

    return frame


async def close_streams(app: web.Application) -> None:
    """Cancel open event streams so that shutdown does not wait for browsers to leave."""
    streams: set[asyncio.Task[Any]] = app[STREAMS]
    for task in list(streams):
        task.cancel()
