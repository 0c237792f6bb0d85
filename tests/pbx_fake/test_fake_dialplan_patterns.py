"""The fake PBX picks extensions the way Asterisk's pattern matching does."""

from __future__ import annotations

import pytest

from callscreen.pbx.fake.dialplan import (
    FROM_TRUNK_CONTEXT,
    NoExtensionError,
    callscreen_dialplan,
    capture_dialplan,
)
from callscreen.pbx.fake.patterns import best_match, matches

AGI_URL = "agi://127.0.0.1:4573/screen"


@pytest.mark.parametrize(("pattern", "exten", "expected"), [
    ("_X.", "02188886666", True),
    ("_X.", "5", False),
    ("_X.", "+862188886666", False),
    ("_[+0-9].", "+862188886666", True),
    ("_[+0-9].", "5", False),
    ("_X", "5", True),
    ("_X", "55", False),
    ("_[a-zA-Z].", "reception", True),
    ("_[a-zA-Z].", "s", False),
    ("_NXX", "200", True),
    ("_NXX", "100", False),
    ("_9!", "9", True),
    ("s", "s", True),
    ("s", "5", False),
])
def test_pattern_matches(pattern: str, exten: str, expected: bool) -> None:
    assert matches(pattern, exten) is expected


def test_exact_extension_beats_pattern() -> None:
    assert best_match(["_X.", "100"], "100") == "100"


def test_narrower_pattern_wins() -> None:
    assert best_match(["_X.", "_1XX"], "123") == "_1XX"


@pytest.mark.parametrize(("exten", "extension"), [
    ("+862188886666", "_[+0-9]."),
    ("02188886666", "_[+0-9]."),
    ("5", "_X"),
    ("reception", "_[a-zA-Z]."),
    ("s", "s"),
    ("*99", "i"),
    ("a", "i"),
])
def test_from_trunk_catches_every_did(exten: str, extension: str) -> None:
    dialplan = callscreen_dialplan(AGI_URL, freepbx=True)

    assert dialplan.resolve(FROM_TRUNK_CONTEXT, exten) == extension


def test_unmatched_did_fails_without_invalid_handler() -> None:
    dialplan = capture_dialplan(AGI_URL)

    with pytest.raises(NoExtensionError, match="reception"):
        dialplan.steps_for("from-trunk", "reception")
