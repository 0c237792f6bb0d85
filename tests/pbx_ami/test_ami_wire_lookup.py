"""AmiMessage.get on an unsplit message finds exactly what the full header index finds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pbx_ami_captures import raw_bytes
from structlog.testing import capture_logs

from callscreen.pbx.ami_wire import AmiFramer, AmiMessage

CAPTURES = ["ami-inbound-calls-local", "ami-inbound-calls-iax2", "ami-extra-calls"]
# Key pieces that overlap as real keys do (Uniqueid in DestUniqueid and BridgeUniqueid,
# Channel in Newchannel and ChannelState), with case variants and non-ASCII letters whose
# lower case is one character ("Ö") or two ("İ").
KEY_PARTS = ["Uniqueid", "UNIQUEID", "uniqueid", "Dest", "Bridge", "Channel", "State",
             "Event", "Exten", "Newexten", "Ö", "İ", "K"]
SPACES = st.sampled_from(["", " ", "\t", "  ", "\x1c", "\r"])
KEYS = st.lists(st.sampled_from(KEY_PARTS), min_size=1, max_size=3).map("".join)
VALUES = st.lists(st.sampled_from([*KEY_PARTS, ":", " ", "张", "x", "1"]),
                  max_size=6).map("".join)


def index_of(message: AmiMessage) -> dict[str, str]:
    """Return the first value of each lowered key, from the fully split headers."""
    first: dict[str, str] = {}
    for key, value in message.headers:
        first.setdefault(key.lower(), value)
    return first


@st.composite
def header_lines(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            lines.append(draw(VALUES).replace(":", ""))  # a line without a colon
            continue
        before, after = draw(SPACES), draw(SPACES)
        key = draw(st.one_of(KEYS, st.just("")))
        lines.append(f"{before}{key}{after}:{draw(SPACES)}{draw(VALUES)}")
    return "\n".join(lines)


@settings(max_examples=400, deadline=None)
@given(header_lines(), st.lists(KEYS, max_size=4))
def test_get_matches_full_index(text: str, requested: list[str]) -> None:
    lookup, split = AmiMessage.from_text(text), AmiMessage.from_text(text)
    index = index_of(split)

    for key in [*requested, "", " ", *(name for name, _value in split.headers)]:
        assert lookup.get(key) == index.get(key.lower()), (text, key)


@pytest.mark.parametrize("base", CAPTURES)
def test_get_matches_full_index_on_captures(base: str) -> None:
    messages = AmiFramer().feed(raw_bytes(base))
    requested = ["Uniqueid", "Linkedid", "Channel", "Context", "Exten", "Timestamp", "Cause",
             "DestUniqueid", "BridgeUniqueid", "CallerIDName", "Variable", "Application"]

    for message in messages:
        index = index_of(AmiMessage(message.headers))
        for key in requested:
            assert message.get(key) == index.get(key.lower())


def test_line_without_colon_is_still_reported() -> None:
    message = AmiMessage.from_text("Event: Hangup\nUniqueid: 1.2\nnoise without colon")

    with capture_logs() as logs:
        uniqueid = message.get("Uniqueid")

    assert uniqueid == "1.2"
    assert [entry["event"] for entry in logs] == ["ami_line_without_colon"]
