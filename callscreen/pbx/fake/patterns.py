"""Asterisk extension matching for the fake PBX's dialplans.

The rules follow the "Pattern Matching" page of the Asterisk documentation. A pattern starts
with "_". X is a digit 0-9, Z is 1-9, N is 2-9 and [...] is one character of a set with
ranges. "." is one or more characters of any kind and "!" is zero or more. Any other
character matches itself. An extension written without "_" matches only itself and wins
over every pattern. Among matching patterns the one with the smallest character class at
the first position where they differ wins.

NOTE: that tie-break, "." matching letters and INVALID_EXTEN being set on the way to "i"
are Asterisk behaviour as remembered, not checked against its source (pbx.c).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Asterisk runs the "i" extension of the context when a channel enters it at an extension
# that does not exist there (for example through Goto), and sets INVALID_EXTEN to that name.
INVALID_EXTENSION = "i"

_CLASSES = {"X": "0-9", "Z": "1-9", "N": "2-9"}
# Rank of a wildcard in the sort: after any character set.
_WILDCARD_RANK = 1000


def _parse(pattern: str) -> list[tuple[str, int]]:
    """Split a pattern (without its "_") into (regex fragment, rank) pairs."""
    parts: list[tuple[str, int]] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        upper = char.upper()
        if upper in _CLASSES:
            span = _CLASSES[upper]
            parts.append((f"[{span}]", int(span[2]) - int(span[0]) + 1))
        elif char == "[":
            end = pattern.index("]", index)
            members = pattern[index + 1:end]
            parts.append((f"[{re.escape(members).replace(chr(92) + '-', '-')}]",
                          _set_size(members)))
            index = end
        elif char == ".":
            parts.append((".+", _WILDCARD_RANK))
        elif char == "!":
            parts.append((".*", _WILDCARD_RANK + 1))
        else:
            parts.append((re.escape(char), 1))
        index += 1

    return parts


def _set_size(members: str) -> int:
    size = 0
    index = 0
    while index < len(members):
        if index + 2 < len(members) and members[index + 1] == "-":
            size += ord(members[index + 2]) - ord(members[index]) + 1
            index += 3
        else:
            size += 1
            index += 1

    return size


def matches(extension: str, exten: str) -> bool:
    """Return whether the dialplan extension `extension` (a name or "_pattern") matches."""
    if not extension.startswith("_"):
        return extension == exten

    regex = "".join(fragment for fragment, _rank in _parse(extension[1:]))

    return re.fullmatch(regex, exten, flags=re.DOTALL) is not None


def best_match(extensions: Iterable[str], exten: str) -> str | None:
    """Return the extension Asterisk would run for `exten`, or None when nothing matches."""
    names = list(extensions)
    if exten in names:
        return exten

    candidates = [name for name in names if name.startswith("_") and matches(name, exten)]
    if not candidates:
        return None

    return min(candidates, key=lambda name: [rank for _fragment, rank in _parse(name[1:])])
