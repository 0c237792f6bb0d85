"""Hostile FastAGI clients: garbage, a half environment then EOF, huge lines, slow-loris.

Each must end with the server closing the socket (never setting a variable, by SET VARIABLE
or EXEC MSet, for input that is not AGI), a WARNING naming what went wrong, and the daemon
still screening the next real call.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from structlog.testing import capture_logs

from callscreen.pbx.fake import FakeAsterisk, FakeCall

from .conftest import LOOPBACK, READ_LIMIT_S, Running

ENVIRONMENT = [
    b"agi_network: yes", b"agi_network_script: screen", b"agi_request: agi://127.0.0.1/screen",
    b"agi_channel: IAX2/carrier-1234", b"agi_language: en", b"agi_type: IAX2",
    b"agi_uniqueid: hostile-1.1", b"agi_version: 22.10.1", b"agi_callerid: 13912345678",
    b"agi_calleridname: unknown",
]
ONE_MEGABYTE = 1_048_576
# The FastAGI server's environment timeout (FastAgiServer env_timeout_s) plus margin.
SLOW_LORIS_LIMIT_S = 8.0
MAX_RESPONSE_BYTES = 65536

CASES: dict[str, tuple[str, bytes]] = {
    "http_request": ("HTTP 请求打到 AGI 端口 / an HTTP request on the AGI port",
                     b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    "binary": ("二进制垃圾 / binary garbage", bytes(range(256)) + b"\n\n"),
    "half_environment": ("半个环境块后 EOF / half an environment block, then EOF",
                         b"\n".join(ENVIRONMENT[:5]) + b"\n"),
    "one_megabyte_line": ("1 MB 的一行 / a 1 MB line", b"agi_callerid: " + b"1" * ONE_MEGABYTE
                          + b"\n\n"),
    "no_blank_line": ("200 行无空行 / 200 lines without the closing blank line",
                      b"".join(b"agi_arg_%d: x\n" % index for index in range(200))),
    "unknown_script": ("未知的 AGI 脚本名 / an unknown AGI script name",
                       b"\n".join(line.replace(b"script: screen", b"script: ../../etc/passwd")
                                  for line in ENVIRONMENT) + b"\n\n"),
}
NUL_ENVIRONMENT = b"\n".join(ENVIRONMENT).replace(b"13912345678", b"139\x001234") + b"\n\n"


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Read what the server sends until it closes, bounded in size and time."""
    received = b""
    async with asyncio.timeout(READ_LIMIT_S):
        while chunk := await reader.read(4096):
            received += chunk
            if len(received) > MAX_RESPONSE_BYTES:
                break
    return received


async def send_and_close(port: int, data: bytes) -> bytes:
    """Send `data`, half-close, and return what the server sent before closing."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        writer.write(data)
        await writer.drain()
        writer.write_eof()
        return await read_until_closed(reader)
    except (ConnectionResetError, BrokenPipeError):
        # The server closed while data was still arriving: closed, with nothing sent back.
        return b""
    finally:
        writer.close()
        await asyncio.gather(writer.wait_closed(), return_exceptions=True)


async def next_call_status(port: int) -> str:
    """Place a real call through the fake PBX and return its AGISTATUS."""
    fake = FakeAsterisk(agi_port=port)
    await fake.start()
    try:
        result = await fake.place_call(FakeCall("13912345678", talk_seconds=0.05))
    finally:
        await fake.close()
    return result.agi_status


def _warnings(logs: list[dict[str, Any]]) -> list[str]:
    return [entry["event"] for entry in logs
            if entry["log_level"] == "warning" and str(entry["event"]).startswith("agi_")]


@pytest.mark.parametrize("case", sorted(CASES))
async def test_agi_port_survives_hostile_client(case: str, running: Running,
                                                reliability) -> None:
    fault, data = CASES[case]
    reliability.describe(f"AGI 端口 / AGI port: {fault}",
                         "socket closed without setting a variable, a WARNING logged, next call "
                         "screened")

    with capture_logs() as logs:
        answer = await send_and_close(running.agi_port, data)
    status = await next_call_status(running.agi_port)

    warnings = _warnings(logs)
    reliability.observed = (f"closed after {len(answer)} bytes sent back; logged "
                            f"{', '.join(warnings) or 'nothing'}; next call {status}")
    assert b"SET VARIABLE" not in answer
    assert b"EXEC" not in answer
    assert warnings
    assert status == "SUCCESS"


async def test_agi_slow_loris_is_cut_off(running: Running, reliability) -> None:
    reliability.describe("AGI 端口慢速客户端 (每 0.5 s 一字节) / AGI slow-loris: one byte "
                         "every 0.5 s",
                         "the server closes the socket at its environment timeout and logs "
                         "agi_peer_timeout; calls meanwhile are screened")
    reader, writer = await asyncio.open_connection(LOOPBACK, running.agi_port)
    payload = b"\n".join(ENVIRONMENT)
    loop = asyncio.get_running_loop()
    started = loop.time()
    closed_by_server = False

    with capture_logs() as logs:
        try:
            for byte in payload:
                writer.write(bytes([byte]))
                await writer.drain()
                if await _closed_within(reader, 0.5):
                    closed_by_server = True
                    break
                if loop.time() - started > SLOW_LORIS_LIMIT_S:
                    break
            status = await next_call_status(running.agi_port)
        finally:
            writer.close()
            await asyncio.gather(writer.wait_closed(), return_exceptions=True)

    warnings = _warnings(logs)
    reliability.observed = (f"closed by server: {closed_by_server}; logged "
                            f"{', '.join(warnings) or 'nothing'}; call meanwhile {status}")
    assert closed_by_server
    assert "agi_peer_timeout" in warnings
    assert status == "SUCCESS"


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(4096), seconds)
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return data == b""


async def test_agi_nul_in_caller_id_still_screened(running: Running, reliability) -> None:
    reliability.describe("环境块主叫号码含 NUL 字节 / NUL byte inside agi_callerid",
                         "a well-formed environment: the call is screened (CALLSCREEN_VERDICT "
                         "sent), the number treated as invalid, no crash")

    answer = await send_and_close(running.agi_port, NUL_ENVIRONMENT)
    status = await next_call_status(running.agi_port)

    first_line = answer.split(b"\n", 1)[0].decode("utf-8", "replace")
    reliability.observed = f"first command: {first_line}; next call {status}"
    assert answer.startswith(b"EXEC MSet CALLSCREEN_VERDICT=allow,")
    assert status == "SUCCESS"
