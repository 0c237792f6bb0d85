"""read_environment on captured blocks and on blocks that leave res_agi's format."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from callscreen.errors import FrameTooLargeError, ProtocolError
from callscreen.pbx.agi_wire import read_environment

SESSIONS = [("local", n) for n in range(1, 13)] + [("iax2", n) for n in range(1, 13)] + [
    ("extra", 1), ("extra", 2)]
REPLY = b"200 result=1\n"
BLOCK = b"agi_network: yes\nagi_network_script: screen\nagi_uniqueid: u-1\n\n"
BLOCK_LINES = [b"agi_network: yes", b"agi_network_script: screen", b"agi_uniqueid: u-1"]


def _reader(data: bytes, *, eof: bool, limit: int = 8192) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=limit)
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


async def _read(reader: asyncio.StreamReader, *, max_line: int = 8192,
                max_lines: int = 64) -> list[bytes]:
    return await read_environment(reader, timeout=1.0, max_line=max_line, max_lines=max_lines)


@pytest.mark.parametrize(("transport", "number"), SESSIONS)
async def test_capture_read_up_to_blank_line(agi_kit: Any, transport: str,
                                             number: int) -> None:
    environment = agi_kit.environment_bytes(transport, number)
    reader = _reader(environment + REPLY, eof=True)

    lines = await _read(reader)

    assert lines == environment.rstrip(b"\n").split(b"\n")
    assert await reader.read() == REPLY


async def test_segments_fed_one_by_one() -> None:
    reader = _reader(b"", eof=False)
    reading = asyncio.create_task(_read(reader))
    for start in range(0, len(BLOCK), 7):
        reader.feed_data(BLOCK[start:start + 7])
        await asyncio.sleep(0)

    assert await reading == BLOCK_LINES


async def test_block_longer_than_stream_limit() -> None:
    lines = [b"agi_arg_%d: %s" % (index, b"x" * 80) for index in range(1, 11)]
    reader = _reader(b"\n".join(lines) + b"\n\n" + REPLY, eof=True, limit=256)

    assert await _read(reader, max_line=256) == lines
    assert await reader.read() == REPLY


async def test_crlf_block_ends_at_first_blank_line() -> None:
    block = BLOCK.replace(b"\n", b"\r\n")
    reader = _reader(block + REPLY, eof=True)

    assert await _read(reader) == BLOCK_LINES
    assert await reader.read() == REPLY


async def test_leading_blank_lines_are_skipped() -> None:
    reader = _reader(b"\n\n" + BLOCK, eof=False)

    assert await _read(reader) == BLOCK_LINES


async def test_carriage_return_line_inside_block() -> None:
    reader = _reader(b"agi_network: yes\n\r\nagi_uniqueid: u-1\n\n", eof=False)

    with pytest.raises(ProtocolError, match="after its empty line"):
        await _read(reader)


async def test_eof_inside_a_line() -> None:
    reader = _reader(b"agi_network: yes\nagi_uniq", eof=True)

    with pytest.raises(ProtocolError, match="middle of an AGI line"):
        await _read(reader)


async def test_eof_between_lines() -> None:
    reader = _reader(b"agi_network: yes\nagi_uniqueid: u-1\n", eof=True)

    with pytest.raises(ProtocolError, match="before the end"):
        await _read(reader)


async def test_too_many_lines_in_one_read() -> None:
    reader = _reader(b"agi_arg_1: x\n" * 10 + b"\n", eof=False)

    with pytest.raises(FrameTooLargeError, match="more than 5 lines"):
        await _read(reader, max_lines=5)


async def test_exactly_max_lines_is_accepted() -> None:
    reader = _reader(b"agi_arg_1: x\n" * 4 + b"\n", eof=False)

    assert len(await _read(reader, max_lines=5)) == 4


async def test_line_over_max_line_in_one_read() -> None:
    reader = _reader(b"agi_network: yes\nagi_callerid: " + b"1" * 100 + b"\n\n", eof=False)

    with pytest.raises(FrameTooLargeError, match="exceeds 64 bytes"):
        await _read(reader, max_line=64)


async def test_incomplete_block_times_out() -> None:
    reader = _reader(b"agi_network: yes\n", eof=False)

    with pytest.raises(TimeoutError):
        await read_environment(reader, timeout=0.05, max_line=8192, max_lines=64)
