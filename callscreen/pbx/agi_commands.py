"""The FastAGI commands that set channel variables: one EXEC MSet where it is safe.

Every command costs a round trip to Asterisk, and pipelining them is not safe with res_agi
(see the NOTE in fastagi.py), so the variables of a verdict go in as few commands as their
values allow. MSet sets several variables in one command. Its argument is split twice
before the values reach the channel. First res_agi splits the command line on blanks,
double quotes and backslashes. Then MSet (`__ast_app_separate_args` in main/app.c) splits it on
commas, removing quotes and backslashes, and does not split inside parentheses or square
brackets. A value with none of those characters, and with its brackets balanced, reaches
the channel unchanged. Any other value gets a SET VARIABLE of its own, quoted as res_agi
unquotes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# A plain variable or a dialplan function such as CALLERID(name), with no character that
# could split the command line.
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\([A-Za-z0-9_,-]*\))?")
# Names and values that pass through MSet unchanged: plain names (a function's parentheses
# hold commas), and values with no blank, quote, backslash, comma, parenthesis, pipe (a
# separator in res_agi's 1.4 compatibility mode), equals sign, dollar or control character.
# Square brackets are allowed when balanced, because tags such as "[疑似催收]" have them.
# NOTE: these rules come from reading Asterisk's source (res_agi.c, main/app.c, pbx MSet);
# no capture contains an EXEC MSet, and no live Asterisk checked them. With "[compat]
# res_agi = 1.4" in asterisk.conf, EXEC escapes every comma, so MSet sets one variable and
# still answers success; `agi_mset = false` in the config is the way out there.
_MSET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MSET_VALUE = re.compile(r'[^\s,"\\()|=$\x00-\x1f\x7f]*')
# res_agi reads a command into a 2048-byte buffer (AGI_BUF_LEN); stay well inside it.
MAX_MSET_LINE = 1024


@dataclass(frozen=True, slots=True)
class SetCommand:
    """One command line and the variables it sets, in the order given."""

    line: bytes
    names: tuple[str, ...]
    mset: bool


def plan_commands(variables: Mapping[str, str], *, mset: bool = True) -> list[SetCommand]:
    """Return the commands that set `variables`: one MSet for those that fit, then the rest.

    With `mset` false every variable gets a SET VARIABLE. Names that are not valid variable
    names are left out; the caller logs them.
    """
    grouped = [(name, value) for name, value in variables.items()
               if mset and fits_mset(name, value)]
    if len(grouped) < 2 or len(mset_line(grouped)) > MAX_MSET_LINE:
        grouped = []
    in_mset = tuple(name for name, _value in grouped)

    commands = [SetCommand(mset_line(grouped), in_mset, True)] if grouped else []
    commands.extend(SetCommand(set_variable_line(name, value), (name,), False)
                    for name, value in variables.items()
                    if name not in in_mset and VARIABLE_NAME.fullmatch(name))

    return commands


def fits_mset(name: str, value: str) -> bool:
    """Return whether `name=value` passes through one MSet argument unchanged."""
    if not (_MSET_NAME.fullmatch(name) and _MSET_VALUE.fullmatch(value)):
        return False

    if "[" not in value and "]" not in value:
        return True

    return _brackets_balanced(value)


def _brackets_balanced(value: str) -> bool:
    depth = 0
    for char in value:
        if char == "[":
            depth += 1
        elif char == "]":
            if depth == 0:
                return False
            depth -= 1

    return depth == 0


def mset_line(pairs: list[tuple[str, str]]) -> bytes:
    """Return `EXEC MSet A=1,B=2` for pairs that `fits_mset` accepted."""
    joined = ",".join(f"{name}={value}" for name, value in pairs)

    return f"EXEC MSet {joined}\n".encode()


def set_variable_line(name: str, value: str) -> bytes:
    """Return `SET VARIABLE name "value"` with the value quoted for res_agi."""
    return f"SET VARIABLE {name} {quote_value(value)}\n".encode()


def quote_value(value: str) -> str:
    """Quote a SET VARIABLE value the way res_agi's argument parser unquotes it.

    Backslash and double quote are escaped. Line breaks and NUL would end or cut the
    command line, so they become spaces.
    """
    cleaned = value.replace("\r", " ").replace("\n", " ").replace("\0", " ")
    escaped = cleaned.replace("\\", "\\\\").replace('"', '\\"')

    return f'"{escaped}"'
