"""FastAGI server over loopback against a scripted fake Asterisk."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from structlog.testing import capture_logs

from callscreen.pbx.agi_commands import quote_value
from callscreen.pbx.fastagi import FastAgiServer, Verdict
from callscreen.pbx.model import AgiRequest

VERDICT = {"CALLSCREEN_VERDICT": "flag", "CALLSCREEN_CATEGORY": "collector",
           "CALLSCREEN_SCORE": "80", "CALLSCREEN_TAG": "[疑似催收]"}
FALLBACK = {"CALLSCREEN_VERDICT": "allow", "CALLSCREEN_CATEGORY": "error"}
# Values that MSet cannot carry, so each gets a SET VARIABLE command of its own.
SEPARATE = {"CALLSCREEN_REASONS": "a,b", "CALLSCREEN_TAG": "[疑似", "CALLSCREEN_NOTE": "x y"}
USAGE_520 = (b"520-Invalid command syntax.  Proper usage follows:\n"
             b"Sets a variable to the current channel.\n"
             b"520 End of proper usage.\n")
DEAD_511 = b"511 Command Not Permitted on a dead channel or intercept routine\n"
CLOSE_TIMEOUT_S = 10.0


@dataclass
class Decisions:
    """What the server handed to route and fallback, for assertions in the test body."""

    variables: Mapping[str, str] | Verdict = field(default_factory=lambda: dict(VERDICT))
    delay_s: float = 0.0
    error: Exception | None = None
    requests: list[AgiRequest] = field(default_factory=list)
    fallbacks: list[tuple[AgiRequest | None, BaseException | None]] = field(
        default_factory=list)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    block: bool = False

    async def route(self, request: AgiRequest) -> Mapping[str, str] | Verdict:
        self.requests.append(request)
        self.entered.set()
        if self.block:
            await self.release.wait()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        return self.variables

    def fallback(self, request: AgiRequest | None,
                 exc: BaseException | None) -> Mapping[str, str]:
        self.fallbacks.append((request, exc))
        return FALLBACK


@pytest.fixture
def decisions() -> Decisions:
    return Decisions()


@pytest.fixture
async def server(decisions: Decisions) -> AsyncIterator[FastAgiServer]:
    agi = FastAgiServer(host="127.0.0.1", port=0, route=decisions.route,
                        fallback=decisions.fallback, deadline_ms=200, max_line=8192,
                        env_timeout_s=0.3, reply_timeout_s=2.0)
    await agi.start()
    yield agi
    await agi.close()


async def _wait_idle(server: FastAgiServer) -> None:
    # The server exposes only a count of open sessions, no event to wait on.
    async with asyncio.timeout(CLOSE_TIMEOUT_S):
        while server.connections:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def _levels(logs: list[dict[str, Any]], event: str) -> list[str]:
    return [entry["log_level"] for entry in logs if entry["event"] == event]


async def _send_raw(server: FastAgiServer, data: bytes, *, eof: bool) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(data)
        if eof:
            writer.write_eof()
        return await _read_until_closed(reader)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _read_until_closed(reader: asyncio.StreamReader) -> bytes:
    received = b""
    async with asyncio.timeout(CLOSE_TIMEOUT_S):
        try:
            while chunk := await reader.read(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return received


async def test_verdict_variables_reach_asterisk(server: FastAgiServer, decisions: Decisions,
                                                agi_kit: Any) -> None:
    chunks = agi_kit.environment_chunks("local", 1)

    session = await agi_kit.play_asterisk(server.port, chunks)

    assert session.variables == VERDICT
    assert decisions.requests[0].uniqueid == "callscreen-pbx-1796412314.1"
    assert decisions.fallbacks == []


async def test_verdict_after_runs_once_all_are_set(server: FastAgiServer,
                                                   decisions: Decisions,
                                                   agi_kit: Any) -> None:
    answered: list[bytes] = []
    answered_before_after: list[int] = []

    def answer(command: bytes, index: int) -> bytes:
        answered.append(command)
        return b"200 result=1\n"

    decisions.variables = Verdict(VERDICT, after=lambda: answered_before_after.append(
        len(answered)))
    chunks = agi_kit.environment_chunks("local", 1)

    session = await agi_kit.play_asterisk(server.port, chunks, answer)
    await _wait_idle(server)

    assert session.variables == VERDICT
    assert answered_before_after == [len(session.commands)] == [1]


async def test_verdict_after_runs_when_channel_is_dead(server: FastAgiServer,
                                                       decisions: Decisions,
                                                       agi_kit: Any) -> None:
    after_calls: list[str] = []

    def answer(command: bytes, index: int) -> bytes:
        return DEAD_511

    decisions.variables = Verdict(VERDICT, after=lambda: after_calls.append("after"))
    chunks = agi_kit.environment_chunks("local", 1)

    session = await agi_kit.play_asterisk(server.port, chunks, answer)
    await _wait_idle(server)

    assert len(session.commands) == 1
    assert after_calls == ["after"]


async def test_failing_verdict_after_is_logged(server: FastAgiServer, decisions: Decisions,
                                               agi_kit: Any) -> None:
    def fail() -> None:
        raise RuntimeError("bookkeeping failed")

    decisions.variables = Verdict(VERDICT, after=fail)
    chunks = agi_kit.environment_chunks("local", 1)

    with capture_logs() as logs:
        first = await agi_kit.play_asterisk(server.port, chunks)
        await _wait_idle(server)
    decisions.variables = dict(VERDICT)
    second = await agi_kit.play_asterisk(server.port, chunks)

    assert first.variables == VERDICT
    assert _levels(logs, "decision_after_failed") == ["error"]
    assert second.variables == VERDICT


async def test_environment_in_real_segments_over_iax2(server: FastAgiServer,
                                                      decisions: Decisions,
                                                      agi_kit: Any) -> None:
    chunks = agi_kit.environment_chunks("iax2", 5)

    session = await agi_kit.play_asterisk(server.port, chunks)

    assert len(chunks) > 1
    assert session.variables == VERDICT
    assert decisions.requests[0].callerid == "4008001234"


async def test_verdict_goes_in_one_mset_command(server: FastAgiServer, agi_kit: Any) -> None:
    chunks = agi_kit.environment_chunks("local", 1)

    session = await agi_kit.play_asterisk(server.port, chunks)

    assert session.commands == [
        "EXEC MSet CALLSCREEN_VERDICT=flag,CALLSCREEN_CATEGORY=collector,"
        "CALLSCREEN_SCORE=80,CALLSCREEN_TAG=[疑似催收]\n".encode()]


async def test_unsafe_values_get_set_variable(
        server: FastAgiServer, decisions: Decisions, agi_kit: Any) -> None:
    decisions.variables = {**VERDICT, "CALLSCREEN_REASONS": "kind.virtual,reputation_block",
                           "CALLSCREEN_NOTE": "two words"}
    chunks = agi_kit.environment_chunks("local", 1)

    session = await agi_kit.play_asterisk(server.port, chunks)

    assert session.commands[0].startswith(b"EXEC MSet CALLSCREEN_VERDICT=flag,")
    assert session.commands[1:] == [
        b'SET VARIABLE CALLSCREEN_REASONS "kind.virtual,reputation_block"\n',
        b'SET VARIABLE CALLSCREEN_NOTE "two words"\n']
    assert session.variables == decisions.variables


async def test_server_without_mset_sends_set_variable(decisions: Decisions,
                                                      agi_kit: Any) -> None:
    server = FastAgiServer(host="127.0.0.1", port=0, route=decisions.route,
                           fallback=decisions.fallback, deadline_ms=300, use_mset=False)
    await server.start()
    try:
        session = await agi_kit.play_asterisk(server.port, agi_kit.environment_chunks("local", 1))
    finally:
        await server.close()

    assert len(session.commands) == len(VERDICT)
    assert session.set_variable_values() == VERDICT


async def test_rejected_fallback_variable_is_logged(server: FastAgiServer,
                                                    agi_kit: Any) -> None:
    def answer(command: bytes, index: int) -> bytes:
        if command.startswith(b"EXEC"):
            return b"200 result=-2\n"
        return b"510 Invalid or unknown command\n" if index == 3 else b"200 result=1\n"

    with capture_logs() as logs:
        await agi_kit.play_asterisk(server.port, agi_kit.environment_chunks("local", 1), answer)

    rejected = [entry["variable"] for entry in logs
                if entry["event"] == "agi_set_variable_rejected"]
    assert rejected == ["CALLSCREEN_CATEGORY"]


async def test_missing_mset_falls_back_to_set_variable(server: FastAgiServer,
                                                       decisions: Decisions,
                                                       agi_kit: Any) -> None:
    def answer(command: bytes, index: int) -> bytes:
        # res_agi's EXEC reply when the application is not loaded.
        return b"200 result=-2\n" if command.startswith(b"EXEC") else b"200 result=1\n"

    chunks = agi_kit.environment_chunks("local", 1)

    session = await agi_kit.play_asterisk(server.port, chunks, answer)

    assert len(session.commands) == 1 + len(VERDICT)
    assert all(command.startswith(b"SET VARIABLE ") for command in session.commands[1:])
    assert session.set_variable_values() == VERDICT


async def test_quote_and_backslash_round_trip(server: FastAgiServer, decisions: Decisions,
                                              agi_kit: Any) -> None:
    decisions.variables = {"CALLSCREEN_TAG": 'say "hi" \\ 张三', "CALLERID(name)": "x"}
    chunks = agi_kit.environment_chunks("local", 1)

    session = await agi_kit.play_asterisk(server.port, chunks)

    assert session.variables == {"CALLSCREEN_TAG": 'say "hi" \\ 张三', "CALLERID(name)": "x"}


async def test_newline_in_value_cannot_inject_a_command(server: FastAgiServer,
                                                        decisions: Decisions,
                                                        agi_kit: Any) -> None:
    decisions.variables = {"CALLSCREEN_TAG": "a\nHANGUP\n"}
    chunks = agi_kit.environment_chunks("local", 1)

    session = await agi_kit.play_asterisk(server.port, chunks)

    assert len(session.commands) == 1
    assert session.variables == {"CALLSCREEN_TAG": "a HANGUP "}


async def test_invalid_variable_name_is_skipped(server: FastAgiServer, decisions: Decisions,
                                                agi_kit: Any) -> None:
    decisions.variables = {"BAD NAME": "x", "CALLSCREEN_VERDICT": "allow"}
    chunks = agi_kit.environment_chunks("local", 1)

    session = await agi_kit.play_asterisk(server.port, chunks)

    assert session.variables == {"CALLSCREEN_VERDICT": "allow"}


async def test_route_error_sends_fallback(server: FastAgiServer, decisions: Decisions,
                                          agi_kit: Any) -> None:
    decisions.error = RuntimeError("classifier broke")
    chunks = agi_kit.environment_chunks("local", 2)

    with capture_logs() as logs:
        session = await agi_kit.play_asterisk(server.port, chunks)

    assert session.variables == FALLBACK
    assert decisions.fallbacks[0][0] is decisions.requests[0]
    assert decisions.fallbacks[0][1] is decisions.error
    assert "error" in _levels(logs, "decision_failed")


async def test_slow_route_sends_fallback_after_deadline(server: FastAgiServer,
                                                        decisions: Decisions,
                                                        agi_kit: Any) -> None:
    decisions.delay_s = 30.0
    chunks = agi_kit.environment_chunks("local", 3)

    with capture_logs() as logs:
        session = await agi_kit.play_asterisk(server.port, chunks)

    assert session.variables == FALLBACK
    assert isinstance(decisions.fallbacks[0][1], TimeoutError)
    assert "warning" in _levels(logs, "decision_deadline_exceeded")
    assert [entry["uniqueid"] for entry in logs
            if entry["event"] == "decision_deadline_exceeded"] == [decisions.requests[0].uniqueid]


async def test_timeout_raised_inside_route_is_an_error(server: FastAgiServer,
                                                       decisions: Decisions,
                                                       agi_kit: Any) -> None:
    decisions.error = TimeoutError("database lookup timed out")
    chunks = agi_kit.environment_chunks("local", 3)

    with capture_logs() as logs:
        session = await agi_kit.play_asterisk(server.port, chunks)

    assert session.variables == FALLBACK
    assert not any(entry["event"] == "decision_deadline_exceeded" for entry in logs)


async def test_failing_fallback_sends_nothing(decisions: Decisions, agi_kit: Any) -> None:
    def broken_fallback(request: AgiRequest | None,
                        exc: BaseException | None) -> Mapping[str, str]:
        raise ValueError("fallback broke too")

    decisions.error = RuntimeError("classifier broke")
    agi = FastAgiServer(host="127.0.0.1", port=0, route=decisions.route,
                        fallback=broken_fallback, deadline_ms=200)
    await agi.start()
    chunks = agi_kit.environment_chunks("local", 3)

    with capture_logs() as logs:
        session = await agi_kit.play_asterisk(agi.port, chunks)
    await agi.close()

    assert session.commands == []
    assert "error" in _levels(logs, "decision_fallback_failed")


async def test_hangup_before_first_command_stops_after_it(server: FastAgiServer,
                                                          decisions: Decisions,
                                                          agi_kit: Any) -> None:
    chunks = agi_kit.environment_chunks("local", 5)

    with capture_logs() as logs:
        session = await agi_kit.play_asterisk(server.port, chunks,
                                              after_environment=b"HANGUP\n")

    assert len(session.commands) == 1
    assert len(decisions.requests) == 1
    assert "info" in _levels(logs, "agi_channel_hung_up")


async def test_hangup_after_a_command_stops_session(server: FastAgiServer,
                                                    decisions: Decisions,
                                                    agi_kit: Any) -> None:
    def answer(command: bytes, index: int) -> bytes:
        return b"HANGUP\n200 result=1\n" if index == 2 else b"200 result=1\n"

    decisions.variables = SEPARATE
    chunks = agi_kit.environment_chunks("local", 6)

    session = await agi_kit.play_asterisk(server.port, chunks, answer)

    assert len(session.commands) == 2


async def test_511_reply_stops_session(server: FastAgiServer, agi_kit: Any) -> None:
    def answer(command: bytes, index: int) -> bytes:
        return DEAD_511

    chunks = agi_kit.environment_chunks("local", 6)

    session = await agi_kit.play_asterisk(server.port, chunks, answer)

    assert len(session.commands) == 1


async def test_multiline_520_keeps_replies_in_step(server: FastAgiServer,
                                                   decisions: Decisions,
                                                   agi_kit: Any) -> None:
    def answer(command: bytes, index: int) -> bytes:
        return USAGE_520 if index == 1 else b"200 result=1\n"

    decisions.variables = SEPARATE
    chunks = agi_kit.environment_chunks("local", 4)

    session = await agi_kit.play_asterisk(server.port, chunks, answer)

    assert len(session.commands) == len(SEPARATE)


async def test_gbk_caller_name_arrives_decoded(server: FastAgiServer, decisions: Decisions,
                                               agi_kit: Any) -> None:
    chunks = agi_kit.environment_chunks("extra", 2)

    await agi_kit.play_asterisk(server.port, chunks)

    name = decisions.requests[0].calleridname
    assert name.text == "张伟"
    assert name.raw == b"\xd5\xc5\xce\xb0"


async def test_query_string_script_is_routed(server: FastAgiServer, decisions: Decisions,
                                             agi_kit: Any) -> None:
    chunks = agi_kit.environment_chunks("extra", 1)

    session = await agi_kit.play_asterisk(server.port, chunks)

    assert session.variables == VERDICT
    assert decisions.requests[0].query["trunk"] == "cn-mobile"


async def test_other_script_gets_no_commands(server: FastAgiServer, decisions: Decisions,
                                             agi_kit: Any) -> None:
    environment = agi_kit.environment_bytes("local", 1).replace(
        b"agi_network_script: screen\n", b"agi_network_script: record\n")

    with capture_logs() as logs:
        session = await agi_kit.play_asterisk(server.port, [environment])

    assert session.commands == []
    assert decisions.requests == []
    assert any(entry["event"] == "agi_script_unknown" for entry in logs)


async def test_agi_block_missing_uniqueid_gets_fallback(server: FastAgiServer,
                                                        decisions: Decisions,
                                                        agi_kit: Any) -> None:
    environment = b"".join(
        line for line in agi_kit.environment_bytes("local", 1).splitlines(keepends=True)
        if not line.startswith(b"agi_uniqueid:"))

    session = await agi_kit.play_asterisk(server.port, [environment])

    assert session.variables == FALLBACK
    assert decisions.fallbacks[0][0] is None
    assert decisions.requests == []


async def test_garbage_is_closed_and_logged_with_peer(server: FastAgiServer,
                                                      decisions: Decisions) -> None:
    with capture_logs() as logs:
        received = await _send_raw(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", eof=False)
        await _wait_idle(server)

    assert received == b""
    assert decisions.requests == []
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert warnings[0]["peer"].startswith("127.0.0.1:")


async def test_truncated_environment_then_eof_is_closed(server: FastAgiServer,
                                                        decisions: Decisions,
                                                        agi_kit: Any) -> None:
    environment = agi_kit.environment_bytes("local", 1)

    with capture_logs() as logs:
        received = await _send_raw(server, environment[:200], eof=True)
        await _wait_idle(server)

    assert received == b""
    assert decisions.requests == []
    assert any(entry["event"] == "agi_bad_peer_input" for entry in logs)


async def test_one_megabyte_line_is_closed(server: FastAgiServer, decisions: Decisions) -> None:
    line = b"agi_network: " + b"y" * 1_048_576 + b"\n"

    with capture_logs() as logs:
        received = await _send_raw(server, line, eof=False)
        await _wait_idle(server)

    assert received == b""
    assert decisions.requests == []
    assert any(entry["event"] == "agi_bad_peer_input" for entry in logs)


async def test_too_many_environment_lines_is_closed(server: FastAgiServer,
                                                    decisions: Decisions) -> None:
    lines = b"agi_arg_1: x\n" * 100 + b"\n"

    received = await _send_raw(server, lines, eof=False)

    assert received == b""
    assert decisions.requests == []


async def test_slow_loris_is_closed_after_env_timeout(server: FastAgiServer,
                                                      decisions: Decisions) -> None:
    with capture_logs() as logs:
        received = await _send_raw(server, b"a", eof=False)
        await _wait_idle(server)

    assert received == b""
    assert decisions.requests == []
    assert "warning" in _levels(logs, "agi_peer_timeout")


async def test_server_still_serves_after_bad_peers(server: FastAgiServer, agi_kit: Any) -> None:
    await _send_raw(server, b"\x00\xff garbage\n\n", eof=True)
    await _send_raw(server, b"agi_network: " + b"y" * 100_000 + b"\n", eof=False)
    chunks = agi_kit.environment_chunks("local", 1)

    session = await agi_kit.play_asterisk(server.port, chunks)

    assert session.variables == VERDICT


async def test_connections_counts_open_sessions(server: FastAgiServer, decisions: Decisions,
                                                agi_kit: Any) -> None:
    decisions.block = True
    play = asyncio.create_task(
        agi_kit.play_asterisk(server.port, agi_kit.environment_chunks("local", 1)))
    async with asyncio.timeout(CLOSE_TIMEOUT_S):
        await decisions.entered.wait()

    open_during = server.connections
    decisions.release.set()
    await play
    await _wait_idle(server)

    assert open_during == 1
    assert server.connections == 0


async def test_close_cancels_open_sessions(decisions: Decisions, agi_kit: Any) -> None:
    decisions.block = True
    agi = FastAgiServer(host="127.0.0.1", port=0, route=decisions.route,
                        fallback=decisions.fallback, deadline_ms=60_000)
    await agi.start()
    play = asyncio.create_task(
        agi_kit.play_asterisk(agi.port, agi_kit.environment_chunks("local", 1)))
    async with asyncio.timeout(CLOSE_TIMEOUT_S):
        await decisions.entered.wait()

    await agi.close()
    session = await play

    assert agi.connections == 0
    assert session.commands == []


def test_quote_value_escapes_backslash_then_quote() -> None:
    quoted = quote_value('a\\"b')

    assert quoted == '"a\\\\\\"b"'
