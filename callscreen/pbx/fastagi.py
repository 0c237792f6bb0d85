"""A small FastAGI server: read the environment, decide in time, set channel variables.

One connection is one AGI() call in the dialplan. The server never stops a call from
ringing: when the decision fails or is late it sends the fallback variables, and when
the peer misbehaves it closes the connection, which Asterisk reports as AGISTATUS=FAILURE
and the dialplan carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import structlog

from callscreen.errors import AgiHangupError, CallscreenError, ProtocolError
from callscreen.i18n import both
from callscreen.pbx.agi_commands import (
    VARIABLE_NAME,
    SetCommand,
    plan_commands,
    set_variable_line,
)
from callscreen.pbx.agi_wire import (
    AgiReply,
    AgiTimeoutError,
    parse_environment,
    read_environment,
    read_reply,
)
from callscreen.pbx.model import AgiRequest

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A route's result with work left to do once the caller is no longer waiting.

    `after` runs once the variables are sent and the connection is half-closed, so that
    Asterisk goes on with the dialplan first. It also runs when sending them failed.
    """

    variables: Mapping[str, str]
    after: Callable[[], None]


class AgiListenError(CallscreenError, OSError):
    """The FastAGI server could not bind its TCP port."""

Route = Callable[[AgiRequest], Awaitable[Mapping[str, str] | Verdict]]
Fallback = Callable[[AgiRequest | None, BaseException | None], Mapping[str, str]]

SCREEN_SCRIPT = "screen"
# Connections the kernel queues until they are accepted. With asyncio's default of 100, a
# burst of 200 set-ups made the kernel drop about 100 handshakes (TcpExtListenOverflows),
# and those calls then depend on TCP retransmission.
LISTEN_BACKLOG = 1024
MAX_ENVIRONMENT_LINES = 64
# After our half-close res_agi sends one HANGUP line and closes. Reading it lets the socket
# close with FIN rather than RST. The bounds stop a peer that keeps sending from holding us.
_DRAIN_TIMEOUT_S = 1.0
_DRAIN_MAX_BYTES = 65536



class FastAgiServer:
    """Serve the FastAGI script "screen" on one TCP port.

    `route` decides a call and returns the channel variables to set, or a Verdict with
    them. It runs under a deadline of `deadline_ms`. On timeout or error,
    `fallback(request, exc)` supplies the variables instead. `fallback(None, exc)` is
    called when a complete environment block arrives that cannot be parsed. Both return
    the variables that the server then sends. Route's return value is the decision, even
    when the channel hangs up before every variable is set. Asterisk must read the
    environment block within `env_timeout_s` and answer all the commands of a session
    within `reply_timeout_s`.
    """

    def __init__(self, *, host: str, port: int, route: Route, fallback: Fallback,
                 deadline_ms: int, max_line: int = 8192, env_timeout_s: float = 5.0,
                 reply_timeout_s: float = 5.0, use_mset: bool = True) -> None:
        self._host = host
        self._requested_port = port
        self._route = route
        self._fallback = fallback
        self._deadline_s = deadline_ms / 1000
        self._max_line = max_line
        self._env_timeout_s = env_timeout_s
        self._reply_timeout_s = reply_timeout_s
        self._use_mset = use_mset
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """Bound TCP port, which differs from the requested one when that was 0."""
        if self._server is None or not self._server.sockets:
            return self._requested_port

        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connections(self) -> int:
        """Number of FastAGI sessions currently open."""
        return len(self._tasks)

    async def start(self) -> None:
        """Bind the port and start accepting connections."""
        try:
            self._server = await asyncio.start_server(
                self._accept, self._host, self._requested_port, limit=self._max_line,
                backlog=LISTEN_BACKLOG)
        except OSError as exc:
            raise AgiListenError(both("agi.listen_failed", host=self._host,
                                      port=self._requested_port, error=exc)) from exc

        log.info("fastagi_started", host=self._host, port=self.port)

    async def close(self) -> None:
        """Stop accepting, cancel every open session and wait for them to end."""
        if self._server is None:
            return

        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

        log.info("fastagi_stopped", host=self._host)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("fastagi_session_task_failed", exc_info=task.exception())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _format_peer(writer.get_extra_info("peername"))
        try:
            await self._run_session(reader, writer, peer)
        except AgiTimeoutError as exc:
            log.warning("agi_peer_timeout", peer=peer, error=str(exc))
        except ProtocolError as exc:
            # TODO: rate-limit per peer, because a port scan now logs one warning per connection.
            # exc.data stays out of the log: an environment block contains the caller's number.
            log.warning("agi_bad_peer_input", peer=peer, error=str(exc), data_bytes=len(exc.data))
        except OSError as exc:
            log.warning("agi_connection_failed", peer=peer, error=str(exc))
        except Exception:
            # The server outlives any single session; a bug here must not stop screening.
            log.exception("agi_session_failed", peer=peer)
        finally:
            await _close_writer(writer)

    async def _run_session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           peer: str) -> None:
        lines = await read_environment(reader, timeout=self._env_timeout_s,
                                       max_line=self._max_line,
                                       max_lines=MAX_ENVIRONMENT_LINES)
        request = self._parse_or_none(lines, peer)
        if request is not None and request.script != SCREEN_SCRIPT:
            log.warning("agi_script_unknown", peer=peer, script=request.script,
                        uniqueid=request.uniqueid)
            return

        decided = await self._decide(request, lines)
        variables = decided.variables if isinstance(decided, Verdict) else decided
        try:
            await self._set_variables(reader, writer, request, variables)
            closed = _half_close(writer)
        finally:
            if isinstance(decided, Verdict):
                _run_after(decided, request)

        if closed:
            await _read_to_eof(reader)

    def _parse_or_none(self, lines: list[bytes], peer: str) -> AgiRequest | None:
        try:
            return parse_environment(lines)
        except ProtocolError as exc:
            # Only a block that looks like AGI gets the fallback. Anything else is garbage.
            if not all(line.startswith(b"agi_") for line in lines):
                raise
            log.warning("agi_environment_invalid", peer=peer, error=str(exc))
            return None

    async def _decide(self, request: AgiRequest | None,
                      lines: list[bytes]) -> Mapping[str, str] | Verdict:
        if request is None:
            return self._call_fallback(None, ProtocolError("invalid AGI environment",
                                                           data=b"\n".join(lines)))

        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(self._deadline_s) as deadline:
                variables = await self._route(request)
        except TimeoutError as exc:
            if not deadline.expired():
                return self._route_failed(request, exc)
            log.warning("decision_deadline_exceeded", uniqueid=request.uniqueid,
                        deadline_ms=round(self._deadline_s * 1000))
            return self._call_fallback(request, exc)
        except Exception as exc:  # noqa: BLE001 - any route failure must fall back, not drop the call
            return self._route_failed(request, exc)

        _debug_log().debug("decision_made", uniqueid=request.uniqueid,
                           elapsed_ms=round((loop.time() - started) * 1000, 3))
        return variables

    def _route_failed(self, request: AgiRequest, exc: Exception) -> Mapping[str, str]:
        log.error("decision_failed", uniqueid=request.uniqueid, exc_info=exc)
        return self._call_fallback(request, exc)

    def _call_fallback(self, request: AgiRequest | None,
                       exc: BaseException | None) -> Mapping[str, str]:
        try:
            return self._fallback(request, exc)
        except Exception:
            # Sending no variables still lets the call ring: missing variables mean "allow".
            log.exception("decision_fallback_failed",
                          uniqueid=request.uniqueid if request else "")
            return {}

    async def _set_variables(self, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter, request: AgiRequest | None,
                             variables: Mapping[str, str]) -> None:
        uniqueid = request.uniqueid if request else ""
        debug = _debug_log()
        # One deadline for the whole exchange, because a timer per command cost more than
        # the rest of the command's handling. res_agi replies to each within milliseconds.
        try:
            async with asyncio.timeout(self._reply_timeout_s):
                await self._send_each(reader, writer, variables, uniqueid, debug)
        except TimeoutError as exc:
            raise AgiTimeoutError(f"no AGI reply within {self._reply_timeout_s} s",
                                  timeout_s=self._reply_timeout_s) from exc

    async def _send_each(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         variables: Mapping[str, str], uniqueid: str,
                         debug: structlog.typing.FilteringBoundLogger) -> None:
        # NOTE: one command at a time, never pipelined. run_agi() in res_agi.c (read in the
        # Asterisk 1.6 source, not checked against 22.10.1) reads commands with fgets() on a
        # stdio buffer but waits for the socket to become readable before each one. A second
        # command already in that buffer would wait for the next bytes we send.
        for name in variables:
            if not VARIABLE_NAME.fullmatch(name):
                log.error("agi_variable_name_invalid", uniqueid=uniqueid, name=name)

        for command in plan_commands(variables, mset=self._use_mset):
            try:
                reply = await self._send_command(reader, writer, command.line, uniqueid, debug)
                if command.mset and not _exec_succeeded(reply):
                    # An Asterisk without MSet (or one that refused it) still gets every
                    # variable, one SET VARIABLE at a time.
                    log.warning("agi_mset_rejected", uniqueid=uniqueid, code=reply.code,
                                result=reply.result, message=reply.message)
                    reply = await self._set_one_by_one(reader, writer, command, variables,
                                                       uniqueid, debug)
                elif reply.code != 200:
                    log.warning("agi_set_variable_rejected", uniqueid=uniqueid,
                                variable=command.names[0], code=reply.code,
                                message=reply.message)
                hung_up = reply.hangup_seen
            except AgiHangupError:
                hung_up = True
            # NOTE: res_agi still accepts SET VARIABLE on a dead channel, so an `h` extension
            # could read the rest, but we stop here: the dialplan does not continue after HANGUP.
            if hung_up:
                log.info("agi_channel_hung_up", uniqueid=uniqueid, variables=command.names)
                return

    async def _set_one_by_one(self, reader: asyncio.StreamReader,
                              writer: asyncio.StreamWriter, command: SetCommand,
                              variables: Mapping[str, str], uniqueid: str,
                              debug: structlog.typing.FilteringBoundLogger) -> AgiReply:
        reply = AgiReply(200)
        for name in command.names:
            line = set_variable_line(name, variables[name])
            reply = await self._send_command(reader, writer, line, uniqueid, debug)
            if reply.code != 200:
                log.warning("agi_set_variable_rejected", uniqueid=uniqueid, variable=name,
                            code=reply.code, message=reply.message)
            if reply.hangup_seen:
                break

        return reply

    async def _send_command(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            line: bytes, uniqueid: str,
                            debug: structlog.typing.FilteringBoundLogger) -> AgiReply:
        debug.debug("agi_command_sent", uniqueid=uniqueid, command=line)
        writer.write(line)
        await writer.drain()

        reply = await read_reply(reader, timeout=None, max_line=self._max_line)
        debug.debug("agi_reply_received", uniqueid=uniqueid, reply=reply.raw)
        return reply


def _exec_succeeded(reply: AgiReply) -> bool:
    # EXEC replies "200 result=-2" when the application does not exist.
    return reply.code == 200 and (reply.result or 0) >= 0


def _half_close(writer: asyncio.StreamWriter) -> bool:
    """Send EOF, which ends the AGI() application. Return False if the socket cannot."""
    if writer.is_closing() or not writer.can_write_eof():
        return False

    writer.write_eof()
    return True


async def _read_to_eof(reader: asyncio.StreamReader) -> None:
    received = 0
    try:
        async with asyncio.timeout(_DRAIN_TIMEOUT_S):
            while received <= _DRAIN_MAX_BYTES:
                chunk = await reader.read(4096)
                if not chunk:
                    return
                received += len(chunk)
    except TimeoutError:
        return


def _run_after(verdict: Verdict, request: AgiRequest | None) -> None:
    try:
        verdict.after()
    except Exception:
        # The call has its verdict already; losing the bookkeeping must not end the server.
        log.exception("decision_after_failed", uniqueid=request.uniqueid if request else "")


def _debug_log() -> structlog.typing.FilteringBoundLogger:
    # The module logger binds itself again on every call, even for a level that is off: 6 us
    # against 0.5 us for a bound logger (timeit, on the 2-core benchmark machine).
    return log.bind()  # type: ignore[no-any-return]


def _format_peer(peername: object) -> str:
    if isinstance(peername, tuple) and len(peername) >= 2:
        return f"{peername[0]}:{peername[1]}"

    return str(peername)


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    # OSError includes TimeoutError: the peer is gone or stalled, and the socket is closed anyway.
    with contextlib.suppress(OSError):
        await asyncio.wait_for(writer.wait_closed(), _DRAIN_TIMEOUT_S)
