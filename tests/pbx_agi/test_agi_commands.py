"""Which variables share one EXEC MSet, and that Asterisk's parsing gives them back intact.

The parsing side is the fake PBX's model of res_agi and `__ast_app_separate_args`
(callscreen/pbx/fake/app_args.py), so these tests check that the two sides agree and that
the model follows what the Asterisk source does with quotes, brackets and backslashes.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callscreen.pbx.agi_commands import (
    MAX_MSET_LINE,
    fits_mset,
    plan_commands,
    set_variable_line,
)
from callscreen.pbx.fake.agi_client import split_arguments
from callscreen.pbx.fake.app_args import mset_pairs, separate_args


def _asterisk_reads(line: bytes) -> dict[str, str]:
    words = split_arguments(line.decode().rstrip("\n"))
    if words[:2] == ["EXEC", "MSet"]:
        return dict(mset_pairs(words[2]))
    assert words[:2] == ["SET", "VARIABLE"]
    return {words[2]: words[3]}


def _all_read(variables: dict[str, str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for command in plan_commands(variables):
        result.update(_asterisk_reads(command.line))
    return result


def test_plain_verdict_is_one_command() -> None:
    variables = {"CALLSCREEN_VERDICT": "flag", "CALLSCREEN_SCORE": "80",
                 "CALLSCREEN_TAG": "[疑似催收]", "CALLSCREEN_CALL_ID": "c20261205-0a1b2c3d"}

    commands = plan_commands(variables)

    assert [command.mset for command in commands] == [True]
    assert commands[0].names == tuple(variables)
    assert _all_read(variables) == variables


@pytest.mark.parametrize("value", [
    "a,b", "two words", " lead", 'say "hi"', "back\\slash", "f(x)", "[open", "close]",
    "][", "a|b", "k=v", "$x", "tab\there", "",
])
def test_values_mset_would_change_get_their_own_command(value: str) -> None:
    variables = {"CALLSCREEN_VERDICT": "allow", "CALLSCREEN_CATEGORY": "normal",
                 "CALLSCREEN_TAG": value}

    commands = plan_commands(variables)

    if value == "":
        # An empty value is "NAME=" in MSet, which sets the variable to "".
        assert [command.mset for command in commands] == [True]
    else:
        assert commands[-1].line == set_variable_line("CALLSCREEN_TAG", value)
    assert _all_read(variables) == variables


def test_one_variable_alone_uses_set_variable() -> None:
    commands = plan_commands({"CALLSCREEN_VERDICT": "allow"})

    assert [command.line for command in commands] == [
        b'SET VARIABLE CALLSCREEN_VERDICT "allow"\n']


def test_mset_skips_functions_and_bad_names() -> None:
    variables = {"CALLERID(name)": "x", "A": "1", "B": "2", "bad name": "3"}

    commands = plan_commands(variables)

    assert commands[0].names == ("A", "B")
    assert [command.names for command in commands[1:]] == [("CALLERID(name)",)]


def test_mset_line_too_long_is_split() -> None:
    variables = {f"V{index}": "x" * 100 for index in range(12)}

    commands = plan_commands(variables)

    assert not any(command.mset for command in commands)
    assert all(len(command.line) < MAX_MSET_LINE for command in commands)


@pytest.mark.parametrize(("text", "delim", "expected"), [
    ("A=1,B=2", ",", ["A=1", "B=2"]),
    ("A=(1,2),B=[3,4]", ",", ["A=(1,2)", "B=[3,4]"]),
    ('A="1,2",B=3', ",", ["A=1,2", "B=3"]),
    ("A=1\\,2,B=3", ",", ["A=1,2", "B=3"]),
    ("A=1,", ",", ["A=1", ""]),
    ("A=[1,B=2", ",", ["A=[1,B=2"]),
    ("A=b=c", "=", ["A", "b=c"]),
    ("", ",", []),
])
def test_separate_args_follows_asterisk(text: str, delim: str, expected: list[str]) -> None:
    slots = 2 if delim == "=" else 99

    assert separate_args(text, delim, slots) == expected


_NAMES = st.from_regex(r"[A-Z_][A-Z0-9_]{0,20}", fullmatch=True)
_VALUES = st.text(st.characters(codec="utf-8", exclude_characters="\x00\n\r"), max_size=30)


@given(st.dictionaries(_NAMES, _VALUES, min_size=1, max_size=8))
def test_every_value_reaches_the_channel_unchanged(variables: dict[str, str]) -> None:
    expected = {name: value for name, value in variables.items()}

    assert _all_read(variables) == expected


@given(_NAMES, _VALUES)
def test_fits_mset_round_trip_exact(name: str, value: str) -> None:
    if fits_mset(name, value):
        line = f"EXEC MSet {name}={value},X=1\n".encode()
        assert _asterisk_reads(line) == {name: value, "X": "1"}


def test_mset_off_sends_set_variable_for_each() -> None:
    variables = {"CALLSCREEN_VERDICT": "flag", "CALLSCREEN_SCORE": "80"}

    commands = plan_commands(variables, mset=False)

    assert [command.line for command in commands] == [
        b'SET VARIABLE CALLSCREEN_VERDICT "flag"\n', b'SET VARIABLE CALLSCREEN_SCORE "80"\n']
