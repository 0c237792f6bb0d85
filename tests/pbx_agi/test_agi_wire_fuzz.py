"""Property tests: arbitrary bytes make the FastAGI parsers raise ProtocolError, nothing else."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from callscreen.errors import AgiHangupError, ProtocolError
from callscreen.pbx.agi_wire import AgiReply, parse_environment, parse_reply, read_reply
from callscreen.pbx.model import AgiRequest

REPLY_WORDS = [b"200", b"510", b"511", b"520", b"520-", b"100", b" ", b"result=", b"-1",
               b"(", b")", b"endpos=0", b"HANGUP", b"\xd5\xc5", b"\n", b"=", b"9" * 30]
ENV_WORDS = [b"agi_uniqueid", b"agi_channel", b"agi_network_script", b"agi_callingpres",
             b"agi_arg_1", b"agi_calleridname", b": ", b":", b"unknown", b"screen?a=1&b",
             b"\xff", b"\xd5\xc5\xce\xb0", b"-7", b"9" * 30, b" "]


def _assembled(words: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.lists(st.sampled_from(words), max_size=12).map(b"".join)


@given(st.one_of(st.binary(max_size=200), _assembled(REPLY_WORDS)))
def test_parse_reply_raises_only_protocol_error(line: bytes) -> None:
    try:
        reply = parse_reply(line)
    except ProtocolError:
        return

    assert isinstance(reply, AgiReply)


@given(st.lists(st.one_of(st.binary(max_size=60), _assembled(ENV_WORDS)), max_size=30))
def test_parse_environment_raises_only_protocol_error(lines: list[bytes]) -> None:
    try:
        request = parse_environment(lines)
    except ProtocolError:
        return

    assert isinstance(request, AgiRequest)


@given(st.one_of(st.binary(max_size=300), _assembled(REPLY_WORDS)))
def test_read_reply_raises_only_protocol_or_hangup_error(data: bytes) -> None:
    async def read() -> AgiReply | None:
        reader = asyncio.StreamReader(limit=128)
        reader.feed_data(data)
        reader.feed_eof()
        try:
            return await read_reply(reader, timeout=5, max_line=128)
        except (ProtocolError, AgiHangupError):
            return None

    reply = asyncio.run(read())

    assert reply is None or isinstance(reply, AgiReply)
