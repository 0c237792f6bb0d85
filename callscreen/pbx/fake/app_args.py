"""How Asterisk splits a dialplan application's argument, for the fake's EXEC command.

`__ast_app_separate_args` in main/app.c (read in the Asterisk source, not run here) splits
on the delimiter outside parentheses, square brackets and double quotes, and, as every
standard application asks it to, removes the quotes and the backslash before an escaped
character. Once all but the last slot are filled, the rest goes into the last slot as it is.
"""

from __future__ import annotations

# MSet declares 99 slots for name=value pairs.
MSET_SLOTS = 99


def separate_args(text: str, delim: str, slots: int) -> list[str]:
    """Split `text` into at most `slots` arguments as __ast_app_separate_args does."""
    if not text:
        return []

    args: list[str] = []
    current: list[str] = []
    paren = bracket = 0
    quoted = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            # The backslash goes; the character after it is kept and never parsed.
            index += 1
            current.append(text[index:index + 1])
        elif char == '"' and delim != '"':
            quoted = not quoted
        elif char == delim and not (paren or bracket or quoted):
            args.append("".join(current))
            current = []
            if len(args) == slots - 1:
                args.append(text[index + 1:])
                return args
        else:
            paren, bracket = _nesting(char, paren, bracket)
            current.append(char)
        index += 1

    args.append("".join(current))
    return args


def _nesting(char: str, paren: int, bracket: int) -> tuple[int, int]:
    if char == "(":
        return paren + 1, bracket
    if char == ")":
        return max(paren - 1, 0), bracket
    if char == "[":
        return paren, bracket + 1
    if char == "]":
        return paren, max(bracket - 1, 0)

    return paren, bracket


def mset_pairs(argument: str) -> list[tuple[str, str]]:
    """Return the (name, value) pairs that MSet(`argument`) sets, in order.

    An entry with no "=" is skipped, as MSet skips it with a warning.
    """
    pairs = []
    for entry in separate_args(argument, ",", MSET_SLOTS):
        parts = separate_args(entry, "=", 2)
        if len(parts) == 2:
            pairs.append((parts[0], parts[1]))

    return pairs
