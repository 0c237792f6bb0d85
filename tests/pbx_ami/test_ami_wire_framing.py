"""AmiFramer against the real Asterisk 22.10.1 captures and hand-made wire variations."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pbx_ami_captures import raw_bytes, recv_chunks, split_every

from callscreen.errors import FrameTooLargeError, ProtocolError
from callscreen.pbx.ami_wire import AmiFramer, AmiMessage, encode_action

CAPTURES = [
    "ami-inbound-calls-local",
    "ami-inbound-calls-iax2",
    "ami-extra-calls",
    "ami-actions",
    "ami-bad-login",
    "ami-unauthenticated",
    "ami-originate-control-local",
]


def feed_all(pieces: list[bytes], framer: AmiFramer | None = None) -> list[AmiMessage]:
    framer = framer or AmiFramer()
    messages: list[AmiMessage] = []
    for piece in pieces:
        messages.extend(framer.feed(piece))
    return messages


def names_in(messages: list[AmiMessage]) -> set[str]:
    return {m.caller_name("CallerIDName").text for m in messages if "CallerIDName" in m}


@pytest.mark.parametrize("base", CAPTURES)
def test_framer_real_chunking_matches_message_count(base: str) -> None:
    data = raw_bytes(base)
    expected = data.count(b"\r\n\r\n")

    messages = feed_all([chunk for _t, chunk in recv_chunks(base)])

    assert len(messages) == expected


@pytest.mark.parametrize("size", [1, 7])
@pytest.mark.parametrize("base", ["ami-inbound-calls-local", "ami-inbound-calls-iax2"])
def test_framer_small_chunks_keep_chinese_names(base: str, size: int) -> None:
    data = raw_bytes(base)

    messages = feed_all(split_every(data, size))

    assert sum(1 for m in messages if m.event) == data.count(b"\r\nEvent: ") + (
        1 if data.startswith(b"Event: ") else 0
    )
    assert "张三" in names_in(messages)
    assert "李四" in names_in(messages)


def test_framer_inbound_local_has_996_events() -> None:
    messages = feed_all(split_every(raw_bytes("ami-inbound-calls-local"), 7))

    events = [m for m in messages if m.event]

    assert len(events) == 996


def test_framer_random_chunks_equal_whole_feed() -> None:
    data = raw_bytes("ami-extra-calls")
    rng = random.Random(20261204)
    pieces: list[bytes] = []
    start = 0
    while start < len(data):
        size = rng.randint(1, 3000)
        pieces.append(data[start : start + size])
        start += size

    chunked = feed_all(pieces)
    whole = feed_all([data])

    assert chunked == whole
    assert len(whole) == data.count(b"\r\n\r\n")


def test_framer_decodes_gbk_name_and_keeps_raw() -> None:
    messages = feed_all(split_every(raw_bytes("ami-extra-calls"), 1))

    names = [m.caller_name("CallerIDName") for m in messages if m.event == "NewCallerid"]
    gbk = [name for name in names if name.raw == b"\xd5\xc5\xce\xb0"]

    assert gbk
    assert gbk[0].text == "张伟"
    assert gbk[0].encoding == "gb18030"


def test_framer_exposes_banner_and_version() -> None:
    framer = AmiFramer()

    messages = framer.feed(b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n\r\n")

    assert framer.banner == "Asterisk Call Manager/11.0.0"
    assert framer.version == "11.0.0"
    assert [m.response for m in messages] == ["Success"]


def test_framer_banner_split_across_chunks() -> None:
    framer = AmiFramer()

    first = framer.feed(b"Asterisk Call Man")
    second = framer.feed(b"ager/11.0.0\r\nEvent: FullyBooted\r\n\r\n")

    assert first == []
    assert [m.event for m in second] == ["FullyBooted"]


def test_framer_rejects_peer_without_banner() -> None:
    framer = AmiFramer()

    with pytest.raises(ProtocolError):
        framer.feed(b"SSH-2.0-OpenSSH_9.2\r\n")


def test_framer_rejects_endless_banner_line() -> None:
    framer = AmiFramer()

    with pytest.raises(FrameTooLargeError):
        framer.feed(b"A" * 10_000)


def test_framer_accepts_lf_only_lines() -> None:
    framer = AmiFramer(expect_banner=False)

    messages = framer.feed(b"Event: Newchannel\nCallerIDNum: 13800000000\n\n")

    assert len(messages) == 1
    assert messages[0].event == "Newchannel"
    assert messages[0].get("CallerIDNum") == "13800000000"


def test_framer_accepts_header_without_space() -> None:
    framer = AmiFramer(expect_banner=False)

    messages = framer.feed(b"Event: Newchannel\r\nCallerIDNum:13600000000\r\n\r\n")

    assert messages[0].get("calleridnum") == "13600000000"


def test_framer_splits_value_on_first_colon_only() -> None:
    framer = AmiFramer(expect_banner=False)

    messages = framer.feed(b"Event: Newexten\r\nAppData: ScreenStart,CallerIDNum: 1380\r\n\r\n")

    assert messages[0].get("AppData") == "ScreenStart,CallerIDNum: 1380"


def test_message_keeps_repeated_keys_in_order() -> None:
    framer = AmiFramer(expect_banner=False)
    wire = (
        b"Event: UserEvent\r\nCallerIDNum: <unknown>\r\nUserEvent: ScreenStart\r\n"
        b"CallerIDNum: \r\n\r\n"
    )

    message = framer.feed(wire)[0]

    assert message.get("CallerIDNum") == "<unknown>"
    assert message.getall("callERIDnum") == ["<unknown>", ""]


def test_message_known_treats_placeholders_as_missing() -> None:
    message = AmiMessage([("Uniqueid", "<null>"), ("CallerIDNum", "<unknown>"), ("Exten", "")])

    assert message.known("Uniqueid") is None
    assert message.known("CallerIDNum") is None
    assert message.known("Absent") is None
    assert message.known("Exten") == ""


def test_may_have_value_rules_out_other_variable() -> None:
    framer = AmiFramer(expect_banner=False)
    wire = b"Event: VarSet\r\nVariable: BRIDGEPEER\r\nValue: AGISTATUS\r\n\r\n"

    message = framer.feed(wire)[0]

    assert not message.may_have_value("Variable", frozenset({"agistatus"}))


def test_may_have_value_finds_variable_in_any_case() -> None:
    framer = AmiFramer(expect_banner=False)
    wire = b"Event: VarSet\nUniqueid: 1.2\nvariable:AgiStatus\nValue: SUCCESS\n\n"

    message = framer.feed(wire)[0]

    assert message.may_have_value("Variable", frozenset({"agistatus"}))
    assert message.get("Variable") == "AgiStatus"


def test_message_reads_headers_after_crlf_and_lf_mix() -> None:
    framer = AmiFramer(expect_banner=False)
    wire = b"\r\nEvent: Hangup\r\nUniqueid: 1.5\nCause: 16\r\n\r\n"

    message = framer.feed(wire)[0]

    assert message.event == "Hangup"
    assert message.headers == (("Event", "Hangup"), ("Uniqueid", "1.5"), ("Cause", "16"))


def test_framer_keeps_empty_value_with_trailing_space() -> None:
    framer = AmiFramer(expect_banner=False)

    message = framer.feed(b"Event: Newchannel\r\nAccountCode: \r\n\r\n")[0]

    assert message.get("AccountCode") == ""


def test_framer_skips_oversize_message_and_recovers() -> None:
    framer = AmiFramer(max_message_bytes=1024, expect_banner=False)
    big = b"Event: Big\r\n" + b"Output: " + b"x" * 5000 + b"\r\n\r\n"
    small = b"Event: Small\r\n\r\n"

    messages = feed_all(split_every(big + small, 100), framer)

    assert [m.event for m in messages] == ["Small"]


def test_framer_bounds_memory_without_blank_line() -> None:
    framer = AmiFramer(max_message_bytes=4096, expect_banner=False)
    line_stream = b"Key: value\r\n" * 100
    no_newline = b"y" * 1000

    for _ in range(500):
        framer.feed(line_stream)
        framer.feed(no_newline)

    assert len(framer._buffer) <= 4096


def test_framer_recovers_after_endless_line_ends() -> None:
    framer = AmiFramer(max_message_bytes=256, expect_banner=False)

    for _ in range(100):
        framer.feed(b"z" * 1000)
    messages = framer.feed(b"\r\n\r\nEvent: After\r\n\r\n")

    assert [m.event for m in messages] == ["After"]


def test_encode_action_rejects_line_break_in_value() -> None:
    with pytest.raises(ProtocolError):
        encode_action([("Action", "Ping\r\nAction: Logoff")])


def test_encode_action_writes_repeated_keys() -> None:
    wire = encode_action([("Action", "Originate"), ("Variable", "A=1"), ("Variable", "B=2")])

    assert wire == b"Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20), st.booleans())
def test_framer_arbitrary_bytes_raise_only_protocol_error(
    pieces: list[bytes], expect_banner: bool
) -> None:
    framer = AmiFramer(max_message_bytes=512, expect_banner=expect_banner)

    try:
        for piece in pieces:
            framer.feed(piece)
    except ProtocolError:
        pass

    assert len(framer._buffer) <= 512
