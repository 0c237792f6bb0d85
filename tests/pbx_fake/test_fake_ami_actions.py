"""The fake PBX's AMI server: login errors and actions, byte for byte as captured."""

from __future__ import annotations

import asyncio

import pytest

from callscreen.pbx.fake import FakeAsterisk, FakeCall

from .conftest import FIXTURES, AmiReader, split_messages

GOOD_LOGIN = ("Action: Login\r\nActionID: l1\r\nUsername: callscreen\r\nSecret: s3cret\r\n"
              "{events}\r\n")


@pytest.fixture
async def pbx():
    fake = FakeAsterisk(ami_secret="s3cret", login_failure_delay_s=0.01, time_scale=0.001)
    await fake.start()
    yield fake
    await fake.close()


async def test_wrong_secret_fails_like_capture_then_closes(pbx):
    client = await AmiReader.connect(pbx.ami_port)

    await client.send((FIXTURES / "ami-bad-login.sent.raw").read_bytes())
    received = await client.read_to_eof()
    await client.close()

    assert received == (FIXTURES / "ami-bad-login.raw").read_bytes()


async def test_actions_before_login_get_capture_errors(pbx):
    client = await AmiReader.connect(pbx.ami_port)

    await client.send((FIXTURES / "ami-unauthenticated.sent.raw").read_bytes())
    received = await client.read_to_eof()
    await client.close()

    assert received == (FIXTURES / "ami-unauthenticated.raw").read_bytes()


async def test_unknown_action_error_text_matches_capture(pbx):
    client = await AmiReader.connect(pbx.ami_port)
    await client.send(GOOD_LOGIN.format(events="Events: off\r\n"))
    await client.read_until(b"Authentication accepted\r\n\r\n")

    await client.send("Action: FooBarUnknownAction\r\nActionID: act-19-unknown-action\r\n\r\n")
    received = await client.read_until(b"commands.\r\n\r\n")
    await client.close()

    assert received.endswith(
        b"Response: Error\r\nActionID: act-19-unknown-action\r\n"
        b"Message: Invalid/unknown command: FooBarUnknownAction. "
        b"Use Action: ListCommands to show available commands.\r\n\r\n")


async def test_ping_without_action_id_has_no_action_id(pbx):
    client = await AmiReader.connect(pbx.ami_port)
    await client.send(GOOD_LOGIN.format(events="Events: off\r\n"))
    await client.read_until(b"Authentication accepted\r\n\r\n")

    await client.send("Action: Ping\r\n\r\n")
    received = await client.read_message_with(b"Timestamp: ")
    await client.close()

    pong = split_messages(received)[-1]
    assert [name for name, _ in pong] == ["Response", "Ping", "Timestamp"]


async def test_events_on_login_sends_fully_booted_then_auth(pbx):
    client = await AmiReader.connect(pbx.ami_port)

    await client.send(GOOD_LOGIN.format(events=""))
    received = await client.read_message_with(b"Event: SuccessfulAuth")
    await client.close()

    names = [message[0] for message in split_messages(received)]
    assert names == [("Response", "Success"), ("Event", "FullyBooted"),
                     ("Event", "SuccessfulAuth")]


async def test_logoff_says_goodbye_and_closes(pbx):
    client = await AmiReader.connect(pbx.ami_port)
    await client.send(GOOD_LOGIN.format(events="Events: off\r\n"))

    await client.send("Action: Logoff\r\nActionID: act-22-logoff\r\n\r\n")
    received = await client.read_to_eof()
    await client.close()

    assert received.endswith(b"Response: Goodbye\r\nActionID: act-22-logoff\r\n"
                             b"Message: Thanks for all the fish.\r\n\r\n")


async def test_dropped_connections_see_eof(pbx):
    client = await AmiReader.connect(pbx.ami_port)
    await client.send(GOOD_LOGIN.format(events="Events: off\r\n"))
    await client.read_until(b"Authentication accepted\r\n\r\n")

    pbx.drop_ami_connections()
    received = await client.read_to_eof()
    await client.close()

    assert received.endswith(b"Authentication accepted\r\n\r\n")


async def test_core_show_channels_lists_ringing_call(agi_server_factory):
    server = agi_server_factory([None])
    await server.start()
    fake = FakeAsterisk(agi_port=server.port, ami_secret="s3cret", agi_timeout_s=1.0)
    await fake.start()
    client = await AmiReader.connect(fake.ami_port)
    await client.send(GOOD_LOGIN.format(events="Events: off\r\n"))
    await client.read_until(b"Authentication accepted\r\n\r\n")
    call = asyncio.create_task(fake.place_call(FakeCall(caller="13800138000", answer_by=None)))
    for _ in range(500):  # bounded wait for the FastAGI connection, not a speed check
        if server.sessions:
            break
        await asyncio.sleep(0.01)

    await client.send("Action: CoreShowChannels\r\nActionID: c1\r\n\r\n")
    received = await client.read_message_with(b"Event: CoreShowChannelsComplete")
    await client.close()
    call.cancel()
    await fake.close()
    await asyncio.gather(call, return_exceptions=True)

    captured = next(m for m in split_messages((FIXTURES / "ami-actions.raw").read_bytes())
                    if m[0] == ("Event", "CoreShowChannel"))
    listed = [m for m in split_messages(received) if m[0] == ("Event", "CoreShowChannel")]
    assert len(listed) == 1
    assert [name for name, _ in listed[0]] == [name for name, _ in captured]
    assert ("CallerIDNum", "13800138000") in listed[0]
