"""Caller-ID values that stand for "no usable caller ID"."""

from __future__ import annotations

# Values seen from Asterisk and carrier trunks in the caller-ID number field when the caller
# withheld the number or the trunk did not send one. Asterisk 22 itself shows "<unknown>" over
# AMI and "unknown" over AGI for a call without caller ID. Compared case-insensitively.
PLACEHOLDERS = frozenset(
    {
        "<unknown>",
        "unknown",
        "anonymous",
        "<anonymous>",
        "<null>",
        "null",
        "withheld",
        "restricted",
        "private",
        "unavailable",
        "international",
        "blocked",
        "none",
    }
)


def is_placeholder(value: str) -> bool:
    """Return True when `value` (already stripped) is empty or a known placeholder word."""
    return value == "" or value.casefold() in PLACEHOLDERS


def is_name_token(value: str) -> bool:
    """Return True when `value` is letters, optionally mixed with digits, like "LLBT2" or "张三".

    Trunks put such tokens (a trunk label, a name) in the number field when they have no number.
    """
    if value.isdecimal():
        # Decimal digits are never letters, so a number skips the per-character scan.
        return False

    return value.isalnum() and any(char.isalpha() for char in value)
