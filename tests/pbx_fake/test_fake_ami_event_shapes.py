"""The fake PBX's events for one call have the shapes of the recorded Asterisk 22.10.1 call."""

from __future__ import annotations

from pathlib import Path

from callscreen.pbx.fake import FakeAsterisk, FakeCall

from .conftest import FIXTURES, AmiReader, header, split_messages

IAX2_CAPTURE = FIXTURES / "ami-inbound-calls-iax2.raw"
LOGIN = "Action: Login\r\nActionID: l1\r\nUsername: callscreen\r\nSecret: s3cret\r\n\r\n"
Shape = tuple[str, tuple[str, ...]]


def shapes_of_call(messages: list[list[tuple[str, str]]], caller_channel: str) -> list[Shape]:
    """Return (Event, header names) from the call's Newchannel to its inbound Hangup."""
    start = next(index for index, message in enumerate(messages)
                 if header(message, "Event") == "Newchannel"
                 and header(message, "Channel") == caller_channel)
    end = next(index for index in range(start, len(messages))
               if header(messages[index], "Event") == "Hangup"
               and header(messages[index], "Channel") == caller_channel)
    return [(header(message, "Event") or "", tuple(name for name, _ in message))
            for message in messages[start:end + 1]]


def captured_shapes(call_number: int) -> list[Shape]:
    messages = split_messages(Path(IAX2_CAPTURE).read_bytes())
    inbound = [header(message, "Channel") for message in messages
               if header(message, "Event") == "Newchannel"
               and (header(message, "Channel") or "").startswith("IAX2/")]
    return shapes_of_call(messages, inbound[call_number - 1] or "")


async def fake_call_shapes(agi_port: int, call: FakeCall) -> list[Shape]:
    pbx = FakeAsterisk(agi_port=agi_port, ami_secret="s3cret", dialplan="capture",
                       time_scale=0.001)
    await pbx.start()
    client = await AmiReader.connect(pbx.ami_port)
    try:
        await client.send(LOGIN)
        await client.read_until(b"Event: SuccessfulAuth")
        result = await pbx.place_call(call)
        marker = f"Event: Hangup\r\nPrivilege: call,all\r\nSystemName: callscreen-pbx\r\n" \
                 f"Channel: {result.channel}\r\n".encode()
        raw = await client.read_message_with(marker)
    finally:
        await client.close()
        await pbx.close()
    return shapes_of_call(split_messages(raw), result.channel)


async def test_answered_allow_call_matches_capture_shapes(agi_server_factory):
    server = agi_server_factory([
        b"GET VARIABLE SCREEN_SOURCE\n",
        b"SET VARIABLE SCREEN_NORMALIZED 13912345678\n",
        b"SET VARIABLE SCREEN_RESULT allow\n",
    ])
    await server.start()

    shapes = await fake_call_shapes(server.port, FakeCall(caller="+8613912345678", talk_seconds=0))

    assert [name for name, _ in shapes] == [name for name, _ in captured_shapes(2)]
    assert shapes == captured_shapes(2)


async def test_rejected_call_matches_capture_shapes(agi_server_factory):
    server = agi_server_factory([
        b"GET VARIABLE CALLERID(num)\n",
        b"GET VARIABLE CALLERID(name)\n",
        b"SET VARIABLE SCREEN_RESULT reject\n",
    ])
    await server.start()

    shapes = await fake_call_shapes(server.port, FakeCall(caller=""))

    assert [name for name, _ in shapes] == [name for name, _ in captured_shapes(7)]
    assert shapes == captured_shapes(7)
