"""The FastAGI wire format: the environment block, command replies, and line reading.

Parsing is pure. The two readers take an `asyncio.StreamReader` and enforce a maximum
line length, EOF handling and a timeout. Asterisk 22.10.1 ends every line with a bare
"\\n" in both directions. An environment block looks like::

    agi_network: yes
    agi_network_script: screen?trunk=cn-mobile&did=02188886666
    agi_channel: Local/02188886666@from-trunk-qs-00000000;2
    agi_uniqueid: callscreen-pbx-1796412813.1
    agi_callerid: 95588
    agi_calleridname: unknown
    ...
    agi_arg_1: 95588
    agi_arg_2: 02188886666
    (empty line)

and replies look like "200 result=1 (trunk)", "200 result=-1 endpos=0",
"510 Invalid or unknown command", or a "520-" line, usage text, then "520 End of proper usage.".
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs

from callscreen.errors import (
    AgiHangupError,
    CallscreenError,
    FrameTooLargeError,
    ProtocolError,
)
from callscreen.pbx.model import AgiRequest
from callscreen.pbx.names import decode_name, decode_text

MANDATORY_KEYS = ("agi_network_script", "agi_channel", "agi_uniqueid")

# FastAGI writes "unknown" where the dialplan value is empty (agi_dnid is "unknown" even
# when the DID is known, because Local and IAX2 channels carry no DNID).
_UNKNOWN_MEANS_EMPTY = frozenset({"agi_callerid", "agi_dnid", "agi_rdnis"})

# 18 digits fit any C int that res_agi prints and stay far below Python's int-parsing limit.
_REPLY_HEAD = re.compile(rb"([1-5][0-9]{2})([ -])")
_RESULT = re.compile(rb"result=(-?[0-9]{1,18})")
_EXTRA_FIELD = re.compile(rb"([A-Za-z_][A-Za-z0-9_]*)=(\S*)")
_ARG_KEY = re.compile(r"agi_arg_([0-9]{1,4})")
_INTEGER = re.compile(rb"-?[0-9]{1,9}")

_HANGUP_LINE = b"HANGUP"
# The replies to a successful SET VARIABLE and EXEC, recognised without the general grammar.
_SET_VARIABLE_DONE = b"200 result=1"
_EXEC_DONE = b"200 result=0"
# The usage text of a multi-line 520 reply is about 10 lines for the longest res_agi command.
_MAX_CONTINUATION_LINES = 200


class AgiTimeoutError(CallscreenError, TimeoutError):
    """Asterisk sent no complete environment block or reply within the timeout."""

    def __init__(self, message: str, *, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class AgiReply:
    """One reply of Asterisk to a FastAGI command.

    `value` is the text in brackets after the result, e.g. "trunk" in "200 result=1 (trunk)",
    and `extra` contains trailing fields such as {"endpos": "0"}. `message` is the text of
    replies without a result (510, 511, 520), with the usage lines of a multi-line 520
    joined by "\\n". `hangup_seen` is true when a HANGUP line arrived before this reply.
    """

    code: int
    result: int | None = None
    value: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    message: str = ""
    continued: bool = False
    hangup_seen: bool = False
    raw: bytes = b""


def parse_environment(lines: list[bytes]) -> AgiRequest:
    """Parse the `agi_*: value` lines of a FastAGI environment block into an AgiRequest.

    Lines may keep their "\\n". Blank lines and unknown `agi_*` keys are allowed. Raises
    ProtocolError for a line that is not `agi_<key>: value`, a missing mandatory key
    (agi_network_script, agi_channel, agi_uniqueid) or a non-integer agi_callingpres.
    """
    raw_env = _split_environment(lines)
    _check_mandatory(raw_env)

    env = {key: decode_text(value)[0] for key, value in raw_env.items()}
    script, _, query_string = env["agi_network_script"].partition("?")

    return AgiRequest(
        script=script.strip("/"),
        query=_parse_query(query_string),
        args=_collect_args(env),
        channel=env["agi_channel"],
        uniqueid=env["agi_uniqueid"],
        callerid=_known(env, "agi_callerid"),
        calleridname=decode_name(raw_env.get("agi_calleridname", b"")),
        callingpres=_parse_callingpres(raw_env.get("agi_callingpres", b"0")),
        dnid=_known(env, "agi_dnid"),
        context=env.get("agi_context", ""),
        extension=env.get("agi_extension", ""),
        env=env,
    )


def _split_environment(lines: list[bytes]) -> dict[str, bytes]:
    raw_env: dict[str, bytes] = {}
    for line in lines:
        stripped = line.rstrip(b"\r\n")
        if not stripped:
            continue

        key, separator, value = stripped.partition(b":")
        if not separator or not key.startswith(b"agi_") or not key.isascii():
            raise ProtocolError("line in the AGI environment is not 'agi_<key>: value'",
                                data=stripped)

        # The format is "key: value" with one space, so an empty value is "key: ".
        raw_env[key.decode("ascii")] = value.removeprefix(b" ")

    return raw_env


def _check_mandatory(raw_env: dict[str, bytes]) -> None:
    for key in MANDATORY_KEYS:
        if not raw_env.get(key, b"").strip():
            raise ProtocolError(f"AGI environment is missing {key}")


def _parse_query(query_string: str) -> dict[str, str]:
    parsed = parse_qs(query_string, keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


def _collect_args(env: dict[str, str]) -> tuple[str, ...]:
    numbered: list[tuple[int, str]] = []
    for key, value in env.items():
        match = _ARG_KEY.fullmatch(key) if key.startswith("agi_arg_") else None
        if match:
            numbered.append((int(match.group(1)), value))

    numbered.sort()
    return tuple(value for _, value in numbered)


def _known(env: dict[str, str], key: str) -> str:
    value = env.get(key, "")
    if key in _UNKNOWN_MEANS_EMPTY and value == "unknown":
        return ""

    return value


def _parse_callingpres(raw: bytes) -> int:
    if not _INTEGER.fullmatch(raw.strip()):
        raise ProtocolError("agi_callingpres is not an integer", data=raw)

    return int(raw.strip())


def parse_reply(line: bytes) -> AgiReply:
    """Parse one reply line such as b"200 result=1 (trunk)" or b"510 Invalid or unknown command".

    A line like b"520-Invalid command syntax..." returns `continued=True`: the caller must
    read further lines up to the one that starts with "520 ". Raises ProtocolError for
    anything else, including the unprompted b"HANGUP" line, which `read_reply` handles.
    """
    stripped = line.rstrip(b"\r\n")
    if stripped == _SET_VARIABLE_DONE:
        return AgiReply(200, 1, raw=stripped)
    if stripped == _EXEC_DONE:
        return AgiReply(200, 0, raw=stripped)

    head = _REPLY_HEAD.match(stripped)
    if head is None:
        raise ProtocolError("AGI reply does not start with a 3-digit code", data=stripped)

    code = int(head.group(1))
    continued = head.group(2) == b"-"
    rest = stripped[head.end():]
    result = _RESULT.match(rest)

    if continued or result is None:
        return AgiReply(code, message=decode_text(rest)[0], continued=continued, raw=stripped)

    return _parse_result_reply(code, result, rest[result.end():], stripped)


def _parse_result_reply(code: int, result: re.Match[bytes], tail: bytes,
                        line: bytes) -> AgiReply:
    value = b""
    if tail.startswith(b" ("):
        # The value may itself contain ")", as in `("" <13800138000>)`, so take the last one.
        close = tail.rfind(b")")
        if close < 0:
            raise ProtocolError("AGI reply value has no closing bracket", data=line)
        value, tail = tail[2:close], tail[close + 1:]

    if code != 200:
        # "100 result=0 Trying..." and "503 result=-2 Memory allocation failure" carry text.
        return AgiReply(code, int(result.group(1)), message=decode_text(tail.strip())[0],
                        raw=line)

    return AgiReply(code, int(result.group(1)), decode_text(value)[0],
                    _parse_extra(tail, line), raw=line)


def _parse_extra(tail: bytes, line: bytes) -> dict[str, str]:
    extra: dict[str, str] = {}
    for token in tail.split(b" "):
        if not token:
            continue

        match = _EXTRA_FIELD.fullmatch(token)
        if match is None:
            raise ProtocolError("AGI reply has a trailing field that is not key=value",
                                data=line)
        extra[match.group(1).decode("ascii")] = decode_text(match.group(2))[0]

    return extra


async def read_line(reader: asyncio.StreamReader, *, max_line: int) -> bytes | None:
    """Read one "\\n"-terminated line without its terminator; return None on a clean EOF.

    Raises FrameTooLargeError when the line exceeds `max_line` bytes and ProtocolError
    when the connection closes in the middle of a line.
    """
    line = await _read_raw_line(reader, max_line=max_line)

    return None if line is None else line.rstrip(b"\r\n")


async def _read_raw_line(reader: asyncio.StreamReader, *, max_line: int) -> bytes | None:
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("connection closed in the middle of an AGI line",
                            data=exc.partial) from exc
    except asyncio.LimitOverrunError as exc:
        raise FrameTooLargeError(f"AGI line exceeds the stream limit of {max_line} bytes"
                                 ) from exc

    _check_line_length(line, max_line)
    return line


def _check_line_length(line: bytes, max_line: int) -> None:
    if len(line) > max_line:
        raise FrameTooLargeError(f"AGI line of {len(line)} bytes exceeds {max_line} bytes",
                                 data=line)


# The timeout is a parameter, not left to callers, so that no read can be made without one.
async def read_environment(reader: asyncio.StreamReader, *,
                           timeout: float,  # noqa: ASYNC109
                           max_line: int, max_lines: int) -> list[bytes]:
    """Read the environment block up to its terminating empty line.

    Blank lines before the first `agi_` line are skipped but count towards `max_lines`.
    Raises AgiTimeoutError when the whole block takes longer than `timeout` seconds,
    FrameTooLargeError for too many or too long lines, and ProtocolError on EOF.
    """
    try:
        async with asyncio.timeout(timeout):
            return await _read_environment_lines(reader, max_line=max_line,
                                                 max_lines=max_lines)
    except TimeoutError as exc:
        raise AgiTimeoutError(f"no complete AGI environment within {timeout} s",
                              timeout_s=timeout) from exc


async def _read_environment_lines(reader: asyncio.StreamReader, *, max_line: int,
                                  max_lines: int) -> list[bytes]:
    block = _EnvironmentBlock(max_line=max_line, max_lines=max_lines)
    first = await _read_raw_line(reader, max_line=max_line)
    if first is not None and _sent_by_res_agi(first):
        # One read for the other lines instead of one per line, about 24 of them.
        try:
            rest = await reader.readuntil(b"\n\n")
        except asyncio.IncompleteReadError as exc:
            return block.add_chunk(first + exc.partial, at_eof=True)
        except asyncio.LimitOverrunError:
            # Longer than the stream allows: go on line by line, which names the fault.
            pass
        else:
            return block.add_chunk(first + rest, at_eof=False)

    block.add(first)
    while not block.complete:
        block.make_room()
        block.add(await _read_raw_line(reader, max_line=max_line))

    return block.lines


def _sent_by_res_agi(first_line: bytes) -> bool:
    # res_agi starts with an `agi_` line and ends lines with a bare "\n". Anything else (a
    # blank line first, "\r\n", garbage) is read line by line.
    return first_line.startswith(b"agi_") and not first_line.endswith(b"\r\n")


class _EnvironmentBlock:
    """The lines of an environment block read so far, and the rules for the next one."""

    def __init__(self, *, max_line: int, max_lines: int) -> None:
        self.lines: list[bytes] = []
        self.complete = False
        self._max_line = max_line
        self._max_lines = max_lines
        self._read = 1  # the first line is always read

    def make_room(self) -> None:
        """Raise FrameTooLargeError when reading one more line would pass `max_lines`."""
        if self._read >= self._max_lines:
            raise FrameTooLargeError(f"AGI environment has more than {self._max_lines} lines")
        self._read += 1

    def add(self, raw: bytes | None) -> None:
        """Take one line as read, terminator included. None means a clean EOF."""
        if raw is None:
            raise ProtocolError("connection closed before the end of the AGI environment",
                                data=b"\n".join(self.lines))

        line = raw.rstrip(b"\r\n")
        if not line and self.lines:
            self.complete = True
        elif line:
            self.lines.append(line)

    def add_chunk(self, chunk: bytes, *, at_eof: bool) -> list[bytes]:
        """Take several lines read at once, as `add` would take them one by one.

        Without `at_eof`, the chunk ends with the block's blank line. With it, the
        connection closed after the chunk, which may end inside a line.
        """
        *whole, tail = chunk.split(b"\n")
        if not at_eof and self._plain_block(whole):
            # What res_agi sends: every line checked at once instead of one by one.
            self.lines = whole[:-1]
            self.complete = True
            return self.lines

        for index, line in enumerate(whole):
            if index:
                self.make_room()
            _check_line_length(line + b"\n", self._max_line)
            if self.complete:
                # Only a "\r" line can end the block before "\n\n", and res_agi sends none.
                raise ProtocolError("AGI environment goes on after its empty line",
                                    data=b"\n".join(self.lines))
            self.add(line + b"\n")

        if at_eof:
            self.make_room()
            if tail:
                raise ProtocolError("connection closed in the middle of an AGI line",
                                    data=tail)
            self.add(None)
        return self.lines

    def _plain_block(self, whole: list[bytes]) -> bool:
        """Return whether `whole` is non-empty lines then one empty line, within the limits."""
        if not self.lines and len(whole) >= 2 and len(whole) <= self._max_lines:
            lines = whole[:-1]
            return (whole[-1] == b"" and all(lines) and not any(b"\r" in line for line in lines)
                    and max(map(len, lines)) < self._max_line)

        return False


async def read_reply(reader: asyncio.StreamReader, *,
                     timeout: float | None,  # noqa: ASYNC109
                     max_line: int) -> AgiReply:
    """Read the reply to one command, skipping what res_agi sends unprompted.

    Skips HANGUP lines (and sets `hangup_seen`), "100 result=0 Trying..." lines and blank
    lines, and reads a multi-line 520 reply through its "520 " line. Raises AgiHangupError
    on a 511 reply or on EOF after HANGUP, AgiTimeoutError after `timeout` seconds,
    FrameTooLargeError for a line over `max_line` bytes and ProtocolError otherwise.
    `timeout=None` means the caller already runs the read under a deadline of its own
    (the server keeps one for all the commands of a session).
    """
    if timeout is None:
        return await _read_reply_lines(reader, max_line=max_line)

    try:
        async with asyncio.timeout(timeout):
            return await _read_reply_lines(reader, max_line=max_line)
    except TimeoutError as exc:
        raise AgiTimeoutError(f"no AGI reply within {timeout} s", timeout_s=timeout) from exc


async def _read_reply_lines(reader: asyncio.StreamReader, *, max_line: int) -> AgiReply:
    hangup_seen = False
    while True:
        line = await read_line(reader, max_line=max_line)
        if line is None and hangup_seen:
            raise AgiHangupError("Asterisk closed the AGI connection after HANGUP")
        if line is None:
            raise ProtocolError("Asterisk closed the AGI connection before replying")
        if line == _HANGUP_LINE:
            hangup_seen = True
            continue
        if not line:
            continue

        reply = parse_reply(line)
        if reply.code == 100:
            continue
        if reply.continued:
            reply = await _read_continuation(reader, reply, max_line=max_line)
        if reply.code == 511:
            raise AgiHangupError(f"channel is dead: {reply.message}")

        # replace() is slow for a frozen dataclass, and nearly every reply has no HANGUP.
        return replace(reply, hangup_seen=True) if hangup_seen else reply


async def _read_continuation(reader: asyncio.StreamReader, first: AgiReply, *,
                             max_line: int) -> AgiReply:
    terminator = b"%d " % first.code
    raw_lines = [first.raw]
    usage = [first.message]
    for _ in range(_MAX_CONTINUATION_LINES):
        line = await read_line(reader, max_line=max_line)
        if line is None:
            raise ProtocolError(f"connection closed inside a multi-line {first.code} reply")

        raw_lines.append(line)
        if line.startswith(terminator):
            usage.append(decode_text(line[len(terminator):])[0])
            return replace(first, message="\n".join(usage), continued=False,
                           raw=b"\n".join(raw_lines))
        usage.append(decode_text(line)[0])

    raise FrameTooLargeError(f"multi-line {first.code} reply exceeds "
                             f"{_MAX_CONTINUATION_LINES} lines")
