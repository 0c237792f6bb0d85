"""The fake PBX's FastAGI client side: environment block, replies, outcomes."""

from __future__ import annotations

import socket

from callscreen.pbx.fake import FakeAsterisk, FakeCall

from .conftest import FIXTURES

CAPTURED_ENV = (FIXTURES / "fastagi-iax2" / "02-num-+8613912345678_name-unknown"
                ".from-asterisk.raw")
GBK_ZHANG_WEI = b"\xd5\xc5\xce\xb0"


def env_keys(block: bytes) -> list[bytes]:
    return [line.split(b": ", 1)[0] for line in block.split(b"\n\n")[0].split(b"\n")]


def env_value(block: bytes, key: bytes) -> bytes:
    for line in block.split(b"\n"):
        name, _, value = line.partition(b": ")
        if name == key:
            return value
    raise KeyError(key)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def place(port: int, call: FakeCall, **options):
    pbx = FakeAsterisk(agi_port=port, time_scale=0.001, **options)
    await pbx.start()
    try:
        return await pbx.place_call(call)
    finally:
        await pbx.close()


async def test_environment_keys_follow_capture_order(agi_server_factory):
    server = agi_server_factory([])
    await server.start()

    await place(server.port, FakeCall(caller="+8613912345678"))

    received = server.sessions[0].environment
    assert env_keys(received) == env_keys(CAPTURED_ENV.read_bytes())
    assert received.endswith(b"agi_arg_1: +8613912345678\nagi_arg_2: 02188886666\n\n")


async def test_variables_set_by_server_are_returned(agi_server_factory):
    server = agi_server_factory([
        b"SET VARIABLE CALLSCREEN_VERDICT flag\n",
        b'SET VARIABLE CALLSCREEN_TAG "[collector] "\n',
    ])
    await server.start()

    result = await place(server.port, FakeCall(caller="13800138000"))

    assert result.variables == {"CALLSCREEN_VERDICT": "flag", "CALLSCREEN_TAG": "[collector] "}
    assert result.agi_status == "SUCCESS"
    assert result.rang is True
    assert server.sessions[0].replies == [b"200 result=1\n", b"200 result=1\n"]
    assert server.sessions[0].trailing == b"HANGUP\n"


async def test_exec_mset_sets_every_pair(agi_server_factory):
    server = agi_server_factory([
        "EXEC MSet CALLSCREEN_VERDICT=flag,CALLSCREEN_TAG=[疑似催收],"
        "CALLSCREEN_REASONS=a\\\\,b\n".encode(),
    ])
    await server.start()

    result = await place(server.port, FakeCall(caller="13800138000"))

    assert result.variables == {"CALLSCREEN_VERDICT": "flag", "CALLSCREEN_TAG": "[疑似催收]",
                                "CALLSCREEN_REASONS": "a,b"}
    assert server.sessions[0].replies == [b"200 result=0\n"]


async def test_refused_connection_fails_and_still_rings():
    port = free_port()

    result = await place(port, FakeCall(caller="13800138000"))

    assert result.agi_status == "FAILURE"
    assert result.rang is True
    assert result.rejected is False


async def test_block_verdict_rejects_with_cause_21(agi_server_factory):
    server = agi_server_factory([b"SET VARIABLE CALLSCREEN_VERDICT block\n"])
    await server.start()

    result = await place(server.port, FakeCall(caller="16500001234"))

    assert result.rejected is True
    assert result.hangup_cause == 21
    assert result.rang is False


async def test_gbk_name_bytes_pass_through_raw(agi_server_factory):
    server = agi_server_factory([b"GET VARIABLE CALLERID(name)\n"])
    await server.start()

    await place(server.port, FakeCall(caller="13800138000", name=GBK_ZHANG_WEI))

    session = server.sessions[0]
    assert env_value(session.environment, b"agi_calleridname") == GBK_ZHANG_WEI
    assert session.replies == [b"200 result=1 (" + GBK_ZHANG_WEI + b")\n"]


async def test_missing_caller_id_reads_unknown_with_pres_67(agi_server_factory):
    server = agi_server_factory([b"GET VARIABLE CALLERID(num)\n"])
    await server.start()

    await place(server.port, FakeCall(caller=""))

    session = server.sessions[0]
    assert env_value(session.environment, b"agi_callerid") == b"unknown"
    assert env_value(session.environment, b"agi_calleridname") == b"unknown"
    assert env_value(session.environment, b"agi_callingpres") == b"67"
    assert env_value(session.environment, b"agi_arg_1") == b""
    assert session.replies == [b"200 result=1 ()\n"]


async def test_caller_hangup_sends_hangup_then_511(agi_server_factory):
    server = agi_server_factory([None, b"SET VARIABLE CALLSCREEN_VERDICT allow\n", b"ANSWER\n"])
    await server.start()

    result = await place(server.port, FakeCall(caller="4008001234",
                                               caller_hangs_up_during_agi=True))

    assert server.sessions[0].replies == [
        b"HANGUP\n",
        b"200 result=1\n",
        b"511 Command Not Permitted on a dead channel or intercept routine\n",
    ]
    assert result.agi_status == "HANGUP"
    assert result.rang is False


async def test_unknown_and_malformed_commands_get_res_agi_errors(agi_server_factory):
    server = agi_server_factory([b"SCREEN THIS CALL\n", b"SET VARIABLE\n",
                                 b"GET VARIABLE NEVER_SET\n"])
    await server.start()

    await place(server.port, FakeCall(caller="02161234567"))

    assert server.sessions[0].replies == [
        b"510 Invalid or unknown command\n",
        b"520-Invalid command syntax.  Proper usage follows:\n"
        b"Sets a variable to the current channel.\n520 End of proper usage.\n",
        b"200 result=0\n",
    ]


async def test_silent_server_times_out_as_failure(agi_server_factory):
    server = agi_server_factory([None])
    await server.start()

    result = await place(server.port, FakeCall(caller="13800138000"), agi_timeout_s=0.2)

    assert result.agi_status == "FAILURE"
    assert result.rang is True
    assert server.sessions[0].closed_early is True
