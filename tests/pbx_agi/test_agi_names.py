"""Caller-name decoding shared by the AMI and FastAGI sides."""

from __future__ import annotations

import pytest

from callscreen.pbx.model import CallerName
from callscreen.pbx.names import decode_name, decode_text


def test_utf8_name_decodes_as_utf8() -> None:
    raw = "张三".encode()

    name = decode_name(raw)

    assert name == CallerName("张三", raw, "utf-8")


def test_gbk_name_falls_back_to_gb18030() -> None:
    raw = b"\xd5\xc5\xce\xb0"

    name = decode_name(raw)

    assert name.text == "张伟"
    assert name.raw == raw
    assert name.encoding == "gb18030"


@pytest.mark.parametrize("raw", [b"", b"unknown", b"<unknown>", b"Unknown", b"??", b"?", b" "])
def test_placeholder_name_becomes_empty(raw: bytes) -> None:
    name = decode_name(raw)

    assert name == CallerName("", raw, "")


def test_anonymous_is_a_name_not_a_placeholder() -> None:
    # The classifier decides what "anonymous" means; the decoder keeps it.
    name = decode_name(b"anonymous")

    assert name.text == "anonymous"


def test_question_marks_inside_a_name_are_kept() -> None:
    name = decode_name("张?".encode())

    assert name.text == "张?"


def test_bytes_invalid_in_both_encodings_are_replaced() -> None:
    text, encoding = decode_text(b"\xff\xfe")

    assert text == "\ufffd\ufffd"
    assert encoding == "utf-8"


def test_bidi_and_control_characters_are_removed_from_name() -> None:
    raw = "\u202eevil\x07".encode()

    name = decode_name(raw)

    assert name.text == "evil"
    assert name.raw == raw
