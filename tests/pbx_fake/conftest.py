"""Loopback peers for the fake PBX tests: a scripted FastAGI server and an AMI reader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "asterisk"
READ_TIMEOUT_S = 10.0


@dataclass
class AgiSessionLog:
    """What one FastAGI session received: the environment block and each reply line."""

    environment: bytes = b""
    replies: list[bytes] = field(default_factory=list)
    trailing: bytes = b""
    closed_early: bool = False


class ScriptedAgiServer:
    """A FastAGI server on 127.0.0.1 port 0 that sends fixed commands and records replies.

    A command of None makes the server wait for one unprompted line (such as `HANGUP`).
    """

    def __init__(self, commands: Sequence[bytes | None]) -> None:
        self.commands = list(commands)
        self.sessions: list[AgiSessionLog] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = AgiSessionLog()
        self.sessions.append(session)
        try:
            await self._run_script(session, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            session.closed_early = True
        finally:
            writer.close()

    async def _run_script(self, session: AgiSessionLog, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        session.environment = await asyncio.wait_for(reader.readuntil(b"\n\n"), READ_TIMEOUT_S)
        for command in self.commands:
            if command is not None:
                writer.write(command)
            session.replies.append(await self._read_reply(reader))
        writer.write_eof()
        session.trailing = await asyncio.wait_for(reader.read(), READ_TIMEOUT_S)

    @staticmethod
    async def _read_reply(reader: asyncio.StreamReader) -> bytes:
        line = await asyncio.wait_for(reader.readuntil(b"\n"), READ_TIMEOUT_S)
        if line.startswith(b"520-"):
            line += await asyncio.wait_for(reader.readuntil(b"520 End of proper usage.\n"),
                                           READ_TIMEOUT_S)
        return line


@pytest.fixture
async def agi_server_factory() -> AsyncIterator[Callable[[Sequence[bytes | None]],
                                                        ScriptedAgiServer]]:
    servers: list[ScriptedAgiServer] = []

    def create(commands: Sequence[bytes | None]) -> ScriptedAgiServer:
        server = ScriptedAgiServer(commands)
        servers.append(server)
        return server

    yield create

    for server in servers:
        await server.close()


def split_messages(raw: bytes) -> list[list[tuple[str, str]]]:
    """Split AMI bytes (banner first) into messages of (key, value) headers."""
    banner, _, rest = raw.partition(b"\r\n")
    assert banner == b"Asterisk Call Manager/11.0.0"
    messages = []
    for block in rest.split(b"\r\n\r\n"):
        if not block:
            continue
        lines = block.decode("utf-8", "surrogateescape").split("\r\n")
        messages.append([tuple(line.split(": ", 1)) for line in lines])  # type: ignore[misc]
    return messages


def header(message: list[tuple[str, str]], key: str) -> str | None:
    """Return the first value of `key` in a parsed message."""
    for name, value in message:
        if name == key:
            return value
    return None


class AmiReader:
    """A raw AMI client for tests: writes actions, reads bytes until a marker appears."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received = b""

    @classmethod
    async def connect(cls, port: int) -> AmiReader:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, text: str | bytes) -> None:
        self.writer.write(text if isinstance(text, bytes) else text.encode())
        await self.writer.drain()

    async def read_until(self, marker: bytes) -> bytes:
        while marker not in self.received:
            await self._read_more(marker)
        return self.received

    async def _read_more(self, marker: bytes) -> None:
        chunk = await asyncio.wait_for(self.reader.read(65536), READ_TIMEOUT_S)
        if not chunk:
            raise EOFError(f"EOF before {marker!r}")
        self.received += chunk

    async def read_message_with(self, marker: bytes) -> bytes:
        """Read until the message containing `marker` is complete; return all bytes so far."""
        await self.read_until(marker)
        start = self.received.index(marker)
        while self.received.find(b"\r\n\r\n", start) == -1:
            await self._read_more(b"\r\n\r\n")
        return self.received

    async def read_to_eof(self) -> bytes:
        while chunk := await asyncio.wait_for(self.reader.read(65536), READ_TIMEOUT_S):
            self.received += chunk
        return self.received

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()
