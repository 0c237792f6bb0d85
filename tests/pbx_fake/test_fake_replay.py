"""Replaying a recorded AMI capture to a client."""

from __future__ import annotations

import asyncio

from callscreen.pbx.fake import load_chunks, replay_capture

from .conftest import FIXTURES, AmiReader


async def test_replay_sends_capture_bytes_then_eof():
    replay = await replay_capture(FIXTURES / "ami-actions.raw",
                                  FIXTURES / "ami-actions.chunks.jsonl")
    client = await AmiReader.connect(replay.port)

    received = await client.read_to_eof()
    await client.close()
    await replay.close()

    assert received == (FIXTURES / "ami-actions.raw").read_bytes()


async def test_replay_keeps_chunk_boundaries_as_segments():
    chunks = [(0.0, b"Asterisk Call Manager/11.0.0\r\n"), (0.05, b"Response: Success\r\n"),
              (0.10, b"Message: Authentication accepted\r\n\r\n")]
    replay = await replay_capture(b"", chunks, time_scale=1.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", replay.port)

    reads = [await asyncio.wait_for(reader.read(4096), 5) for _ in chunks]
    writer.close()
    await replay.close()

    assert reads == [data for _, data in chunks]


def test_load_chunks_reads_only_received_bytes():
    chunks = load_chunks(FIXTURES / "ami-bad-login.chunks.jsonl")

    assert b"".join(data for _, data in chunks) == (FIXTURES / "ami-bad-login.raw").read_bytes()
