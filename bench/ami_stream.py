"""The AMI event stream for benchmark 2, and a fake AMI server that sends it.

The stream is the real capture `ami-inbound-calls-local.raw` (Asterisk 22.10.1, 12 calls)
repeated until it holds the wanted number of events. Each repetition gets fresh Uniqueids
and Linkedids by rewriting the `callscreen-pbx-` prefix of every id value, so the tracker
sees new calls each time. The server runs in its own process, accepts one client, answers
Login (and CoreShowChannels and Ping), sends the stream with a closing marker event, and
exits when the client disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

CAPTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "asterisk" \
    / "ami-inbound-calls-local.raw"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
END_MARKER_NAME = "BenchStreamEnd"
END_MARKER = (b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: "
              + END_MARKER_NAME.encode() + b"\r\n\r\n")
# Login-time events of the capture; the server sends its own after Login.
SESSION_EVENTS = (b"Event: FullyBooted\r\n", b"Event: SuccessfulAuth\r\n")
ID_PREFIX = b": callscreen-pbx-"
MAX_ACTION_BYTES = 65536
ACTION_TIMEOUT_S = 30.0
SERVE_TIMEOUT_S = 900.0


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """How many events to send and which action starts the stream (None: right after Login)."""

    events: int
    start_after_action: str | None


def capture_events(path: Path = CAPTURE) -> list[bytes]:
    """Return the capture's call events, each with its closing blank line."""
    body = path.read_bytes().removeprefix(BANNER)
    messages = [message + b"\r\n\r\n" for message in body.split(b"\r\n\r\n") if message]

    return [
        message for message in messages
        if message.startswith(b"Event: ") and not message.startswith(SESSION_EVENTS)
    ]


def repetition(events: list[bytes], index: int) -> bytes:
    """Return one pass over the capture with ids unique to repetition `index`."""
    return b"".join(events).replace(ID_PREFIX, b": bench%06d-" % index)


def repetitions_for(total_events: int, per_repetition: int) -> int:
    """Return how many repetitions hold at least `total_events` events (at least one)."""
    return max(1, -(-total_events // per_repetition))


def _response(action_id: bytes | None, lines: list[bytes]) -> bytes:
    head = [b"Response: Success"] + ([b"ActionID: " + action_id] if action_id else [])
    return b"\r\n".join(head + lines) + b"\r\n\r\n"


def _header(action: bytes, name: bytes) -> bytes | None:
    for line in action.split(b"\r\n"):
        key, _, value = line.partition(b": ")
        if key.lower() == name.lower():
            return value
    return None


class _StreamServer:
    def __init__(self, spec: StreamSpec) -> None:
        self.spec = spec
        self.start_stream = asyncio.Event()
        self.finished = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        actions = asyncio.create_task(self._answer_actions(reader, writer))
        try:
            await self.start_stream.wait()
            await self._send_stream(writer)
            await actions
        finally:
            actions.cancel()
            writer.close()
            self.finished.set()

    async def _answer_actions(self, reader: asyncio.StreamReader,
                              writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                action = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                                ACTION_TIMEOUT_S * 10)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            name = (_header(action, b"Action") or b"").lower().decode("ascii", "replace")
            writer.write(self._reply(name, _header(action, b"ActionID")))
            if name == "login" and self.spec.start_after_action is None:
                self.start_stream.set()
            if name == (self.spec.start_after_action or "").lower():
                self.start_stream.set()

    def _reply(self, name: str, action_id: bytes | None) -> bytes:
        if name == "login":
            booted = (b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 9\r\n"
                      b"LastReload: 9\r\nStatus: Fully Booted\r\n\r\n")
            return _response(action_id, [b"Message: Authentication accepted"]) + booted
        if name == "coreshowchannels":
            done = [b"Event: CoreShowChannelsComplete"]
            done += [b"ActionID: " + action_id] if action_id else []
            done += [b"EventList: Complete", b"ListItems: 0"]
            start = _response(action_id, [b"EventList: start",
                                          b"Message: Channels will follow"])
            return start + b"\r\n".join(done) + b"\r\n\r\n"
        return _response(action_id, [b"Ping: Pong", b"Timestamp: 0.000000"])

    async def _send_stream(self, writer: asyncio.StreamWriter) -> None:
        events = capture_events()
        for index in range(repetitions_for(self.spec.events, len(events))):
            writer.write(repetition(events, index))
            await writer.drain()
        writer.write(END_MARKER)
        await writer.drain()


async def _serve_one_client(spec: StreamSpec, conn: Connection) -> None:
    server = _StreamServer(spec)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0, limit=MAX_ACTION_BYTES)
    sock = listener.sockets[0]
    conn.send(int(sock.getsockname()[1]))
    try:
        async with asyncio.timeout(SERVE_TIMEOUT_S):
            await server.finished.wait()
    finally:
        listener.close()


def serve_stream(spec: StreamSpec, conn: Connection) -> None:
    """Serve `spec` to one client and exit (the entry point of the AMI server process)."""
    with contextlib.suppress(TimeoutError), conn:
        asyncio.run(_serve_one_client(spec, conn))
