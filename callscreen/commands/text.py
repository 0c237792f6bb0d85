"""Terminal text layout for command output."""

from __future__ import annotations

import unicodedata


def display_width(text: str) -> int:
    """Return the terminal columns `text` takes: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
