"""Shared pieces of the FastAGI tests: capture loading and a scripted fake Asterisk.

The fake plays res_agi's side of a FastAGI session over a real loopback socket: it sends
an environment block taken from a capture of Asterisk 22.10.1, replies to each command
with the lines a test scripts, and when the server closes its side it sends "HANGUP"
and closes, as res_agi does at session end.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callscreen.pbx.fake.agi_client import variables_set_by

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk"
ENVIRONMENT_END = b"\n\n"

Answer = Callable[[bytes, int], bytes]


@dataclass
class FakeSession:
    """What the fake Asterisk saw: every command line and the variables they set."""

    commands: list[bytes] = field(default_factory=list)
    received: bytes = b""

    @property
    def variables(self) -> dict[str, str]:
        """Variables of every SET VARIABLE and EXEC MSet command, unquoted as Asterisk does."""
        result: dict[str, str] = {}
        for command in self.commands:
            result.update(variables_set_by(command.decode()) or {})
        return result

    def set_variable_values(self) -> dict[str, str]:
        """Variables of the SET VARIABLE commands alone."""
        return {name: value for command in self.commands
                for name, value in [_set_variable_pair(command)] if name}


def _set_variable_pair(command: bytes) -> tuple[str, str]:
    words = split_agi_arguments(command.decode())
    if words[:2] == ["SET", "VARIABLE"] and len(words) == 4:
        return words[2], words[3]
    return "", ""


def split_agi_arguments(line: str) -> list[str]:
    """Split a command line into words: quotes group, a backslash escapes one character."""
    words: list[str] = []
    current: list[str] = []
    quoted = escaped = in_word = False
    for char in line.rstrip("\n"):
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = in_word = True
        elif char == '"':
            quoted = not quoted
            in_word = True
        elif char == " " and not quoted:
            if in_word:
                words.append("".join(current))
            current, in_word = [], False
        else:
            current.append(char)
            in_word = True
    if in_word:
        words.append("".join(current))
    return words


def capture_path(transport: str, number: int, suffix: str) -> Path:
    """Return the capture file of session `number` in fastagi-<transport>/."""
    matches = sorted((CAPTURES / f"fastagi-{transport}").glob(f"{number:02d}-*.{suffix}"))
    assert len(matches) == 1, f"expected one capture for {transport} {number}: {matches}"
    return matches[0]


def environment_bytes(transport: str, number: int) -> bytes:
    """Return the environment block of one captured session, terminating blank line included."""
    data = capture_path(transport, number, "from-asterisk.raw").read_bytes()
    end = data.index(ENVIRONMENT_END) + len(ENVIRONMENT_END)
    return data[:end]


def environment_chunks(transport: str, number: int) -> list[bytes]:
    """Return the environment block as the TCP segments Asterisk really sent."""
    sessions = (CAPTURES / f"fastagi-{transport}" / "sessions.jsonl").read_text()
    chunks: list[bytes] = []
    for line in sessions.splitlines():
        record = json.loads(line)
        if record["session"] != number or record["dir"] != "asterisk->agi":
            continue
        chunks.append(base64.b64decode(record["b64"]))
        if b"".join(chunks).endswith(ENVIRONMENT_END):
            return chunks
    raise AssertionError(f"no complete environment in session {transport} {number}")


def answer_success(command: bytes, index: int) -> bytes:
    """Reply to any command the way res_agi replies to a successful SET VARIABLE."""
    return b"200 result=1\n"


async def play_asterisk(port: int, chunks: list[bytes], answer: Answer = answer_success, *,
                        after_environment: bytes = b"", timeout_s: float = 10.0) -> FakeSession:
    """Connect to the server, send `chunks` and reply to commands until the server closes."""
    session = FakeSession()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        writer.write(after_environment)

        async with asyncio.timeout(timeout_s):
            while line := await reader.readline():
                session.received += line
                session.commands.append(line)
                writer.write(answer(line, len(session.commands)))

        writer.write(b"HANGUP\n")
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return session


class AgiKit:
    """The helpers above, handed to tests as a fixture because test modules cannot import
    conftest under --import-mode=importlib."""

    CAPTURES = CAPTURES
    FakeSession = FakeSession
    split_agi_arguments = staticmethod(split_agi_arguments)
    capture_path = staticmethod(capture_path)
    environment_bytes = staticmethod(environment_bytes)
    environment_chunks = staticmethod(environment_chunks)
    answer_success = staticmethod(answer_success)
    play_asterisk = staticmethod(play_asterisk)


@pytest.fixture
def agi_kit() -> type[AgiKit]:
    """Return the FastAGI test helpers."""
    return AgiKit
