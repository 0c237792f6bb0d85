"""parse_reply and read_reply on reply lines captured from Asterisk 22.10.1."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from callscreen.errors import AgiHangupError, FrameTooLargeError, ProtocolError
from callscreen.pbx.agi_wire import AgiReply, AgiTimeoutError, parse_reply, read_reply

USAGE_520 = (b"520-Invalid command syntax.  Proper usage follows:\n"
             b"Sets a variable to the current channel.\n"
             b"520 End of proper usage.\n")


def _reader(data: bytes, *, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


def _replies_after_environment(agi_kit: Any, transport: str, number: int) -> bytes:
    data = agi_kit.capture_path(transport, number, "from-asterisk.raw").read_bytes()
    return data[len(agi_kit.environment_bytes(transport, number)):]


async def _read_all(reader: asyncio.StreamReader) -> list[AgiReply | str]:
    """Read replies until the session ends; a 511 reply is recorded as "511"."""
    replies: list[AgiReply | str] = []
    while True:
        try:
            replies.append(await read_reply(reader, timeout=5, max_line=8192))
        except AgiHangupError:
            # EOF after HANGUP ends the session; a 511 leaves later replies in the buffer.
            if reader.at_eof():
                return replies
            replies.append("511")


@pytest.mark.parametrize(("line", "code", "result", "value"), [
    (b"200 result=1 (trunk)", 200, 1, "trunk"),
    (b"200 result=1 ()", 200, 1, ""),
    (b"200 result=0", 200, 0, ""),
    (b"200 result=4", 200, 4, ""),
    ("200 result=1 (张三)".encode(), 200, 1, "张三"),
    (b'200 result=1 ("" <13800138000>)', 200, 1, '"" <13800138000>'),
    (b"200 result=1 (a) b)", 200, 1, "a) b"),
])
def test_result_reply_fields(line: bytes, code: int, result: int, value: str) -> None:
    reply = parse_reply(line)

    assert reply.code == code
    assert reply.result == result
    assert reply.value == value
    assert reply.extra == {}


def test_endpos_goes_to_extra() -> None:
    reply = parse_reply(b"200 result=-1 endpos=0\n")

    assert reply.result == -1
    assert reply.extra == {"endpos": "0"}


def test_value_then_extra_field() -> None:
    reply = parse_reply(b"200 result=0 (timeout) endpos=12345")

    assert reply.value == "timeout"
    assert reply.extra == {"endpos": "12345"}


def test_gbk_value_is_decoded() -> None:
    reply = parse_reply(b"200 result=1 (\xd5\xc5\xce\xb0)")

    assert reply.value == "张伟"
    assert reply.raw == b"200 result=1 (\xd5\xc5\xce\xb0)"


@pytest.mark.parametrize(("line", "code"), [
    (b"510 Invalid or unknown command", 510),
    (b"511 Command Not Permitted on a dead channel or intercept routine", 511),
    (b"520 Invalid command syntax.  Proper usage not available.", 520),
])
def test_error_reply_keeps_message(line: bytes, code: int) -> None:
    reply = parse_reply(line)

    assert reply.code == code
    assert reply.result is None
    assert reply.message == line[4:].decode()


def test_520_dash_starts_continuation() -> None:
    reply = parse_reply(b"520-Invalid command syntax.  Proper usage follows:")

    assert reply.continued is True
    assert reply.code == 520


def test_100_trying_parses_with_message() -> None:
    reply = parse_reply(b"100 result=0 Trying...")

    assert reply.code == 100
    assert reply.message == "Trying..."


@pytest.mark.parametrize("line", [
    b"HANGUP", b"", b"200", b"200result=1", b"ok", b"200 result=1 (unclosed",
    b"200 result=1 junk", b"200 result=99999999999999999999999", b"600 result=1",
])
def test_malformed_reply_raises_protocol_error(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_reply(line)


async def test_read_reply_skips_hangup_and_flags_it() -> None:
    reader = _reader(b"HANGUP\n200 result=-1\n")

    reply = await read_reply(reader, timeout=5, max_line=8192)

    assert reply.result == -1
    assert reply.hangup_seen is True


async def test_read_reply_without_hangup_is_not_flagged() -> None:
    reader = _reader(b"200 result=1\n")

    reply = await read_reply(reader, timeout=5, max_line=8192)

    assert reply.hangup_seen is False


async def test_read_reply_skips_trying_and_blank_lines() -> None:
    reader = _reader(b"\n100 result=0 Trying...\n\n200 result=1 (ok)\n")

    reply = await read_reply(reader, timeout=5, max_line=8192)

    assert reply.value == "ok"


async def test_read_reply_reads_multiline_520_to_terminator() -> None:
    reader = _reader(USAGE_520 + b"200 result=1\n")

    first = await read_reply(reader, timeout=5, max_line=8192)
    second = await read_reply(reader, timeout=5, max_line=8192)

    assert first.code == 520
    assert first.continued is False
    assert "Sets a variable to the current channel." in first.message
    assert second.code == 200


async def test_read_reply_raises_hangup_on_511() -> None:
    reader = _reader(b"511 Command Not Permitted on a dead channel or intercept routine\n")

    with pytest.raises(AgiHangupError):
        await read_reply(reader, timeout=5, max_line=8192)


async def test_read_reply_raises_hangup_on_eof_after_hangup() -> None:
    reader = _reader(b"HANGUP\n")

    with pytest.raises(AgiHangupError):
        await read_reply(reader, timeout=5, max_line=8192)


async def test_read_reply_eof_without_hangup_is_protocol_error() -> None:
    reader = _reader(b"")

    with pytest.raises(ProtocolError):
        await read_reply(reader, timeout=5, max_line=8192)


async def test_read_reply_garbage_is_protocol_error() -> None:
    reader = _reader(b"HTTP/1.1 400 Bad Request\n")

    with pytest.raises(ProtocolError):
        await read_reply(reader, timeout=5, max_line=8192)


async def test_read_reply_line_over_max_raises() -> None:
    reader = _reader(b"200 result=1 (" + b"x" * 200 + b")\n")

    with pytest.raises(FrameTooLargeError):
        await read_reply(reader, timeout=5, max_line=64)


async def test_read_reply_line_over_stream_limit_raises() -> None:
    reader = asyncio.StreamReader(limit=64)
    reader.feed_data(b"2" * 1000 + b"\n")

    with pytest.raises(FrameTooLargeError):
        await read_reply(reader, timeout=5, max_line=64)


async def test_read_reply_times_out_when_silent() -> None:
    reader = _reader(b"", eof=False)

    with pytest.raises(AgiTimeoutError):
        await read_reply(reader, timeout=0.01, max_line=8192)


async def test_read_reply_truncated_520_is_protocol_error() -> None:
    reader = _reader(b"520-Invalid command syntax.  Proper usage follows:\nSets a\n")

    with pytest.raises(ProtocolError):
        await read_reply(reader, timeout=5, max_line=8192)


async def test_replay_of_error_session_stays_in_step(agi_kit: Any) -> None:
    reader = _reader(_replies_after_environment(agi_kit, "local", 4))

    replies = await _read_all(reader)

    codes = [(r.code, r.result) for r in replies if isinstance(r, AgiReply)]
    assert codes == [(200, 1), (510, None), (520, None), (200, -1), (200, 0), (200, 0),
                     (200, 1)]


async def test_replay_of_slow_session_flags_unprompted_hangup(agi_kit: Any) -> None:
    reader = _reader(_replies_after_environment(agi_kit, "local", 5))

    replies = await _read_all(reader)

    assert isinstance(replies[0], AgiReply)
    assert replies[0].hangup_seen is False
    assert isinstance(replies[1], AgiReply)
    assert replies[1].hangup_seen is True
    assert replies[2] == "511"
    assert isinstance(replies[3], AgiReply)
    assert replies[3].value == "trunk"


@pytest.mark.parametrize(("transport", "number"), [
    (transport, number) for transport in ("local", "iax2") for number in range(1, 13)
] + [("extra", 1), ("extra", 2)])
async def test_replay_reads_one_reply_per_command(agi_kit: Any, transport: str,
                                                  number: int) -> None:
    commands = agi_kit.capture_path(transport, number, "to-asterisk.raw").read_bytes()
    reader = _reader(_replies_after_environment(agi_kit, transport, number))

    replies = await _read_all(reader)

    assert len(replies) == commands.count(b"\n")
