"""Serve a recorded AMI capture to one client, with its TCP segmentation and timing."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import Sequence
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

MAX_CLIENT_BYTES = 65536


class CaptureReplay:
    """An AMI server on 127.0.0.1 that sends recorded bytes to each client that connects.

    Chunks are written one by one with TCP_NODELAY, so the client sees the recorded segment
    boundaries unless its own reads merge them. With `time_scale` > 0 the recorded gaps
    between chunks are kept, multiplied by the scale. Bytes the client sends are read and
    discarded. The socket closes after the last chunk, as the recorded sessions ended.
    """

    def __init__(self, chunks: Sequence[tuple[float, bytes]], time_scale: float = 0.0) -> None:
        self.chunks = list(chunks)
        self.time_scale = time_scale
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on 127.0.0.1 port 0 and return the port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

        return self.port

    async def close(self) -> None:
        """Stop listening and cancel the client drains."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        drain = asyncio.create_task(_discard_input(reader))
        self._tasks.add(drain)
        drain.add_done_callback(self._tasks.discard)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await self._send_chunks(writer)
        except ConnectionError as exc:
            log.info("replay_client_gone", error=str(exc))
        finally:
            writer.close()
            drain.cancel()

    async def _send_chunks(self, writer: asyncio.StreamWriter) -> None:
        previous = self.chunks[0][0] if self.chunks else 0.0
        for offset, data in self.chunks:
            if self.time_scale > 0:
                await asyncio.sleep(max(offset - previous, 0.0) * self.time_scale)
            previous = offset
            writer.write(data)
            await writer.drain()
            # Yield so that each chunk leaves as its own segment.
            await asyncio.sleep(0)


async def _discard_input(reader: asyncio.StreamReader) -> None:
    while await reader.read(MAX_CLIENT_BYTES):
        pass


def load_chunks(path: Path) -> list[tuple[float, bytes]]:
    """Read the `recv` chunks of a `.chunks.jsonl` capture as (seconds, bytes) pairs."""
    chunks: list[tuple[float, bytes]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if record.get("dir") == "recv":
            chunks.append((float(record["t"]), base64.b64decode(record["b64"])))

    return chunks


async def replay_capture(raw_path_or_bytes: str | Path | bytes,
                         chunks: str | Path | Sequence[tuple[float, bytes]] | None = None,
                         *, time_scale: float = 0.0) -> CaptureReplay:
    """Start a server that replays a capture and return it; the caller closes it.

    `raw_path_or_bytes` is the `.raw` file or its bytes, sent as one chunk unless `chunks`
    (a `.chunks.jsonl` path or (seconds, bytes) pairs) gives the recorded segmentation.
    """
    if chunks is None:
        raw = raw_path_or_bytes if isinstance(raw_path_or_bytes, bytes) \
            else await asyncio.to_thread(Path(raw_path_or_bytes).read_bytes)
        pieces: Sequence[tuple[float, bytes]] = [(0.0, raw)]
    elif isinstance(chunks, (str, Path)):
        pieces = await asyncio.to_thread(load_chunks, Path(chunks))
    else:
        pieces = chunks

    replay = CaptureReplay(pieces, time_scale=time_scale)
    await replay.start()

    return replay
