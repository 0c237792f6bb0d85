"""parse_environment on environment blocks captured from Asterisk 22.10.1."""

from __future__ import annotations

from typing import Any

import pytest

from callscreen.errors import ProtocolError
from callscreen.pbx.agi_wire import parse_environment

SESSIONS = [("local", n) for n in range(1, 13)] + [("iax2", n) for n in range(1, 13)] + [
    ("extra", 1), ("extra", 2)]


def _lines(agi_kit: Any, transport: str, number: int) -> list[bytes]:
    return agi_kit.environment_bytes(transport, number).split(b"\n")


@pytest.mark.parametrize(("transport", "number"), SESSIONS)
def test_every_capture_parses_to_screen(agi_kit: Any, transport: str, number: int) -> None:
    lines = _lines(agi_kit, transport, number)

    request = parse_environment(lines)

    assert request.script == "screen"
    assert request.uniqueid.startswith("callscreen-pbx-")
    assert request.context.startswith("from-trunk")
    assert request.args[1] == "02188886666"
    assert len(request.env) == 24


def test_local_session_fields(agi_kit: Any) -> None:
    lines = _lines(agi_kit, "local", 1)

    request = parse_environment(lines)

    assert request.channel == "Local/02188886666@from-trunk-00000000;2"
    assert request.uniqueid == "callscreen-pbx-1796412314.1"
    assert request.callerid == "13800138000"
    assert request.callingpres == 0
    assert request.extension == "screen"
    assert request.args == ("13800138000", "02188886666")
    assert request.query == {}


def test_iax2_channel_name_is_kept(agi_kit: Any) -> None:
    lines = _lines(agi_kit, "iax2", 1)

    request = parse_environment(lines)

    assert request.channel.startswith("IAX2/carrier-")


def test_unknown_callerid_and_dnid_become_empty(agi_kit: Any) -> None:
    lines = _lines(agi_kit, "local", 7)

    request = parse_environment(lines)

    assert request.callerid == ""
    assert request.dnid == ""
    assert request.calleridname.text == ""
    assert request.callingpres == 67
    assert request.env["agi_callerid"] == "unknown"


def test_empty_argument_stays_empty(agi_kit: Any) -> None:
    lines = _lines(agi_kit, "local", 7)

    request = parse_environment(lines)

    assert request.args == ("", "02188886666")


def test_utf8_caller_name(agi_kit: Any) -> None:
    lines = _lines(agi_kit, "local", 10)

    request = parse_environment(lines)

    assert request.calleridname.text == "张三"
    assert request.calleridname.encoding == "utf-8"


def test_gbk_caller_name_decodes_with_raw_kept(agi_kit: Any) -> None:
    lines = _lines(agi_kit, "extra", 2)

    request = parse_environment(lines)

    assert request.calleridname.text == "张伟"
    assert request.calleridname.raw == b"\xd5\xc5\xce\xb0"
    assert request.calleridname.encoding == "gb18030"


def test_query_string_is_split_from_script(agi_kit: Any) -> None:
    lines = _lines(agi_kit, "extra", 1)

    request = parse_environment(lines)

    assert request.script == "screen"
    assert request.query == {"trunk": "cn-mobile", "did": "02188886666"}
    assert request.did == "02188886666"


def test_empty_value_keeps_key(agi_kit: Any) -> None:
    lines = _lines(agi_kit, "local", 1)

    request = parse_environment(lines)

    assert request.env["agi_accountcode"] == ""


def test_blank_lines_and_unknown_keys_are_tolerated(agi_kit: Any) -> None:
    lines = [b"", b"\n", *_lines(agi_kit, "local", 1), b"agi_future_key: 42", b""]

    request = parse_environment(lines)

    assert request.env["agi_future_key"] == "42"
    assert request.callerid == "13800138000"


def test_lines_with_newlines_parse_like_stripped_lines(agi_kit: Any) -> None:
    stripped = _lines(agi_kit, "local", 2)
    with_newlines = [line + b"\n" for line in stripped]

    request = parse_environment(with_newlines)

    assert request == parse_environment(stripped)


def test_arguments_are_ordered_by_number() -> None:
    lines = [b"agi_network_script: screen", b"agi_channel: IAX2/carrier-1",
             b"agi_uniqueid: 1.1", b"agi_arg_10: ten", b"agi_arg_2: two", b"agi_arg_1: one"]

    request = parse_environment(lines)

    assert request.args == ("one", "two", "ten")


@pytest.mark.parametrize("key", [b"agi_uniqueid", b"agi_channel", b"agi_network_script"])
def test_missing_mandatory_key_is_named(agi_kit: Any, key: bytes) -> None:
    lines = [line for line in _lines(agi_kit, "local", 1) if not line.startswith(key + b":")]

    with pytest.raises(ProtocolError, match=key.decode()):
        parse_environment(lines)


def test_empty_uniqueid_counts_as_missing(agi_kit: Any) -> None:
    lines = [b"agi_uniqueid: " if line.startswith(b"agi_uniqueid:") else line
             for line in _lines(agi_kit, "local", 1)]

    with pytest.raises(ProtocolError, match="agi_uniqueid"):
        parse_environment(lines)


@pytest.mark.parametrize("line", [b"GET / HTTP/1.1", b"Host: example", b"agi_no_colon",
                                  b"\xff\xfe: x"])
def test_line_that_is_not_agi_is_rejected(agi_kit: Any, line: bytes) -> None:
    lines = [line, *_lines(agi_kit, "local", 1)]

    with pytest.raises(ProtocolError):
        parse_environment(lines)


def test_non_integer_callingpres_is_rejected(agi_kit: Any) -> None:
    lines = [b"agi_callingpres: high" if line.startswith(b"agi_callingpres:") else line
             for line in _lines(agi_kit, "local", 1)]

    with pytest.raises(ProtocolError, match="agi_callingpres"):
        parse_environment(lines)
