"""The FastAGI side of the fake PBX: res_agi's client role, as Asterisk 22.10.1 plays it.

The session sends the 22-line environment block, answers each command line the way res_agi
does, sends `HANGUP` unprompted when the caller hangs up and again when the server closes,
and reports the AGISTATUS the dialplan would see.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from callscreen.pbx.fake.app_args import mset_pairs
from callscreen.pbx.fake.channel import STATE_UP, FakeChannel
from callscreen.pbx.fake.dialplan import expand

log = structlog.get_logger(__name__)

MAX_LINE_BYTES = 8192
# Seen in every session of the capture; the value is a pthread id and means nothing here.
THREAD_ID = "139958421550784"
SET_VARIABLE_USAGE = (
    b"520-Invalid command syntax.  Proper usage follows:\n"
    b"Sets a variable to the current channel.\n"
    b"520 End of proper usage.\n"
)
USAGE_NOT_AVAILABLE = b"520 Invalid command syntax.  Proper usage not available.\n"
UNKNOWN_COMMAND = b"510 Invalid or unknown command\n"
DEAD_CHANNEL = b"511 Command Not Permitted on a dead channel or intercept routine\n"
# Commands the fake still runs after a hangup. The capture shows SET VARIABLE and GET
# VARIABLE working and ANSWER getting 511 on a dead channel.
# NOTE: the rest of this set follows res_agi's documentation, not a capture.
DEAD_ALLOWED = frozenset({
    "SET VARIABLE", "GET VARIABLE", "GET FULL VARIABLE", "VERBOSE", "NOOP",
    "DATABASE PUT", "DATABASE GET", "DATABASE DEL",
})
RESULT_TEXTS = {
    200: "Success", -1: "Failure", 510: "Invalid or unknown command",
    511: "Command Not Permitted on a dead channel or intercept routine", 520: "Usage",
}
VERBS = (
    "GET FULL VARIABLE", "WAIT FOR DIGIT", "SET VARIABLE", "GET VARIABLE", "CHANNEL STATUS",
    "DATABASE PUT", "DATABASE GET", "DATABASE DEL", "STREAM FILE", "ANSWER", "VERBOSE",
    "NOOP", "EXEC", "HANGUP",
)


class AgiHooks(Protocol):
    """Call operations an AGI session uses; the call emits the matching AMI events."""

    channel: FakeChannel

    def exec_start(self, command: str) -> str:
        """Emit AGIExecStart and return its CommandId."""

    def exec_end(self, command_id: str, command: str, code: int) -> None:
        """Emit AGIExecEnd with ResultCode `code`."""

    def set_variable(self, name: str, value: str) -> None:
        """Set a channel variable and emit VarSet."""

    def variables(self) -> dict[str, str]:
        """Return the channel variables and dialplan function values; unset names are absent."""

    def answer(self) -> None:
        """Answer the channel (Newstate Up)."""

    def hang_up_by_agi(self) -> None:
        """Soft-hang-up the channel because the AGI server sent HANGUP (cause 32)."""

    def hang_up_by_caller(self) -> None:
        """Mark the caller's hangup during the session (HangupRequest, cause 16)."""


@dataclass(frozen=True, slots=True)
class AgiTarget:
    """Target of the `AGI()` application: host, port and the script part of the URL."""

    host: str
    port: int
    script: str  # the URL path with its query string, as agi_network_script shows it

    @property
    def url(self) -> str:
        """Return the `agi://` URL as agi_request shows it."""
        return f"agi://{self.host}:{self.port}/{self.script}"


@dataclass(slots=True)
class _SessionState:
    database: dict[tuple[str, str], str]
    failed: bool = False


def build_environment(channel: FakeChannel, target: AgiTarget, args: Sequence[str]) -> list[str]:
    """Build the environment block lines (each ending in LF), the blank line last."""
    no_caller_id = not channel.caller_num and not channel.caller_name
    pairs = [
        ("agi_network", "yes"), ("agi_network_script", target.script),
        ("agi_request", target.url), ("agi_channel", channel.name), ("agi_language", "en"),
        ("agi_type", channel.channel_type), ("agi_uniqueid", channel.uniqueid),
        ("agi_version", "22.10.1"), ("agi_callerid", channel.caller_num or "unknown"),
        ("agi_calleridname", channel.caller_name or "unknown"),
        ("agi_callingpres", "67" if no_caller_id else "0"), ("agi_callingani2", "0"),
        ("agi_callington", "0"), ("agi_callingtns", "0"), ("agi_dnid", "unknown"),
        ("agi_rdnis", "unknown"), ("agi_context", channel.context),
        ("agi_extension", channel.exten), ("agi_priority", str(channel.priority)),
        ("agi_enhanced", "0.0"), ("agi_accountcode", ""), ("agi_threadid", THREAD_ID),
    ]
    pairs += [(f"agi_arg_{index}", arg) for index, arg in enumerate(args, start=1)]

    return [f"{key}: {value}\n" for key, value in pairs] + ["\n"]


def split_arguments(line: str) -> list[str]:
    """Split a command line like res_agi: on blanks, with double quotes and backslashes."""
    words: list[str] = []
    current: list[str] = []
    quoted = escaped = started = False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = started = True
        elif char == '"':
            quoted = not quoted
            started = True
        elif char in " \t" and not quoted:
            if started:
                words.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
            started = True
    if started:
        words.append("".join(current))

    return words


def variables_set_by(line: str) -> dict[str, str] | None:
    """Return what a SET VARIABLE or EXEC MSet command line sets, as Asterisk reads it.

    None means the line is some other command.
    """
    words = split_arguments(line.rstrip("\n"))
    upper = [word.upper() for word in words[:2]]
    if upper == ["SET", "VARIABLE"] and len(words) == 4:
        return {words[2]: words[3]}
    if upper[:1] == ["EXEC"] and len(words) >= 2 and words[1].casefold() == "mset":
        return dict(mset_pairs(words[2] if len(words) > 2 else ""))

    return None


def match_verb(words: Sequence[str]) -> tuple[str, list[str]] | None:
    """Return the command name and its arguments, or None for an unknown command."""
    upper = [word.upper() for word in words]
    for verb in VERBS:
        size = len(verb.split())
        if " ".join(upper[:size]) == verb:
            return verb, list(words[size:])

    return None


class AgiSession:
    """One FastAGI connection from the fake channel to a screening server."""

    def __init__(self, hooks: AgiHooks, target: AgiTarget, args: Sequence[str], *,
                 timeout_s: float = 10.0, caller_hangs_up: bool = False,
                 time_scale: float = 1.0) -> None:
        self.hooks = hooks
        self.target = target
        self.args = list(args)
        self.timeout_s = timeout_s
        self.caller_hangs_up = caller_hangs_up
        self.time_scale = time_scale
        self._state = _SessionState(database={})

    async def run(self) -> str:
        """Run the session and return AGISTATUS: SUCCESS, FAILURE or HANGUP.

        A refused or failed connection is FAILURE with no AGIExec events, as in res_agi.
        """
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.target.host, self.target.port,
                                        limit=MAX_LINE_BYTES),
                timeout=self.timeout_s)
        except (OSError, TimeoutError) as exc:
            log.warning("fake_agi_connect_failed", host=self.target.host,
                        port=self.target.port, error=str(exc))
            return "FAILURE"

        try:
            await asyncio.wait_for(self._converse(reader, writer), timeout=self.timeout_s)
        except TimeoutError:
            log.warning("fake_agi_session_timed_out", host=self.target.host,
                        port=self.target.port, uniqueid=self.hooks.channel.uniqueid)
            self._state.failed = True
        finally:
            writer.close()
            await _wait_closed(writer)

        return self._status()

    def _status(self) -> str:
        if self.hooks.channel.dead:
            return "HANGUP"
        if self._state.failed:
            return "FAILURE"

        return "SUCCESS"

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._send_environment(writer)
        if self.caller_hangs_up:
            self.hooks.hang_up_by_caller()
            self.hooks.channel.dead = True
            writer.write(b"HANGUP\n")

        while True:
            line = await _read_command(reader)
            if line is None:
                break
            reply = await self._execute(line.decode("utf-8", "surrogateescape"), writer)
            writer.write(reply)
            await writer.drain()

        # res_agi sends HANGUP at session end whenever AGISIGHUP is not "no".
        writer.write(b"HANGUP\n")
        await writer.drain()

    async def _send_environment(self, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lines = build_environment(self.hooks.channel, self.target, self.args)

        # Asterisk wrote the block in pieces; the captures split it after agi_context.
        for segment in (lines[:17], lines[17:]):
            writer.write("".join(segment).encode("utf-8", "surrogateescape"))
            await writer.drain()
            await asyncio.sleep(0.001)

    async def _execute(self, line: str, writer: asyncio.StreamWriter) -> bytes:
        command_id = self.hooks.exec_start(line)
        matched = match_verb(split_arguments(line))

        code, reply = await self._dispatch(matched, writer)

        self.hooks.exec_end(command_id, line, code)
        return reply

    async def _dispatch(self, matched: tuple[str, list[str]] | None,
                        writer: asyncio.StreamWriter) -> tuple[int, bytes]:
        if matched is None:
            return 510, UNKNOWN_COMMAND
        verb, args = matched
        if self.hooks.channel.dead and verb not in DEAD_ALLOWED:
            return 511, DEAD_CHANNEL

        if verb == "HANGUP":
            return await self._hang_up(writer)
        if verb == "WAIT FOR DIGIT":
            return await self._wait_for_digit(args)

        return self._answer_simple(verb, args)

    def _answer_simple(self, verb: str, args: list[str]) -> tuple[int, bytes]:
        handlers = {
            "SET VARIABLE": self._set_variable, "GET VARIABLE": self._get_variable,
            "GET FULL VARIABLE": self._get_full_variable, "ANSWER": self._answer,
            "VERBOSE": lambda _args: (200, b"200 result=1\n"),
            "NOOP": lambda _args: (200, b"200 result=0\n"),
            "EXEC": self._exec,
            "CHANNEL STATUS": self._channel_status, "DATABASE PUT": self._database_put,
            "DATABASE GET": self._database_get, "DATABASE DEL": self._database_del,
            "STREAM FILE": self._stream_file,
        }

        return handlers[verb](args)

    def _set_variable(self, args: list[str]) -> tuple[int, bytes]:
        if len(args) != 2:
            return 520, SET_VARIABLE_USAGE

        self.hooks.set_variable(args[0], args[1])

        return 200, b"200 result=1\n"

    def _exec(self, args: list[str]) -> tuple[int, bytes]:
        # res_agi passes only the first word after the application's name to it.
        if not args:
            return 520, USAGE_NOT_AVAILABLE
        if args[0].casefold() == "mset":
            for name, value in mset_pairs(args[1] if len(args) > 1 else ""):
                self.hooks.set_variable(name, value)

        return 200, b"200 result=0\n"

    def _get_variable(self, args: list[str]) -> tuple[int, bytes]:
        if len(args) != 1:
            return 520, USAGE_NOT_AVAILABLE

        value = self.hooks.variables().get(args[0])

        return 200, _value_reply(value)

    def _get_full_variable(self, args: list[str]) -> tuple[int, bytes]:
        if len(args) != 1:
            return 520, USAGE_NOT_AVAILABLE

        value = expand(args[0], self.hooks.variables())

        return 200, _value_reply(value)

    def _answer(self, _args: list[str]) -> tuple[int, bytes]:
        self.hooks.answer()

        return 200, b"200 result=0\n"

    def _channel_status(self, _args: list[str]) -> tuple[int, bytes]:
        state = 6 if self.hooks.channel.state == STATE_UP else 4

        return 200, f"200 result={state}\n".encode()

    def _database_put(self, args: list[str]) -> tuple[int, bytes]:
        if len(args) != 3:
            return 520, USAGE_NOT_AVAILABLE

        self._state.database[(args[0], args[1])] = args[2]

        return 200, b"200 result=1\n"

    def _database_get(self, args: list[str]) -> tuple[int, bytes]:
        if len(args) != 2:
            return 520, USAGE_NOT_AVAILABLE

        value = self._state.database.get((args[0], args[1]))

        return 200, _value_reply(value)

    def _database_del(self, args: list[str]) -> tuple[int, bytes]:
        if len(args) != 2:
            return 520, USAGE_NOT_AVAILABLE

        removed = self._state.database.pop((args[0], args[1]), None)

        return 200, b"200 result=1\n" if removed is not None else b"200 result=0\n"

    def _stream_file(self, _args: list[str]) -> tuple[int, bytes]:
        # The fake has no sound files; res_agi's reply for a missing file, which also makes
        # AGISTATUS FAILURE at the end of the session.
        self._state.failed = True

        return -1, b"200 result=-1 endpos=0\n"

    async def _hang_up(self, writer: asyncio.StreamWriter) -> tuple[int, bytes]:
        self.hooks.hang_up_by_agi()
        self.hooks.channel.dead = True
        writer.write(b"200 result=1\n")
        await writer.drain()

        # Asterisk sent the HANGUP notification about 40 ms after the reply.
        await asyncio.sleep(0.04 * self.time_scale)

        return 200, b"HANGUP\n"

    async def _wait_for_digit(self, args: list[str]) -> tuple[int, bytes]:
        if len(args) != 1 or not args[0].lstrip("-").isdigit():
            return 520, USAGE_NOT_AVAILABLE

        timeout_ms = max(int(args[0]), 0)
        await asyncio.sleep(min(timeout_ms / 1000, self.timeout_s) * self.time_scale)

        return 200, b"200 result=0\n"


def _value_reply(value: str | None) -> bytes:
    if value is None:
        return b"200 result=0\n"

    return f"200 result=1 ({value})\n".encode("utf-8", "surrogateescape")


async def _read_command(reader: asyncio.StreamReader) -> bytes | None:
    """Read one command line; None at EOF. A line over the limit ends the session."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        log.warning("fake_agi_line_too_long", limit=MAX_LINE_BYTES)
        return None

    return line.rstrip(b"\r\n")


async def _wait_closed(writer: asyncio.StreamWriter) -> None:
    try:
        await writer.wait_closed()
    except OSError as exc:
        log.debug("fake_agi_close_failed", error=str(exc))


