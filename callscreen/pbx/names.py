"""Decode caller-ID names the way both AMI and FastAGI deliver them: raw bytes.

Asterisk passes name bytes through unchanged (Asterisk 22.10.1 was seen to forward a
GBK-encoded name as raw `d5 c5 ce b0`), so the text may be UTF-8, GB18030/GBK, or neither.
"""

from __future__ import annotations

from callscreen.pbx.model import CallerName

# Words Asterisk and carriers put where no name exists. FastAGI sends "unknown",
# AMI sends "<unknown>". Some trunks replace every unmappable character by "?".
_PLACEHOLDERS = frozenset({"", "unknown", "<unknown>"})


def decode_text(raw: bytes) -> tuple[str, str]:
    """Decode bytes as strict UTF-8, else strict GB18030, else UTF-8 with replacement.

    Returns the text and the encoding used: "utf-8" or "gb18030". Bytes that are valid in
    neither are decoded as UTF-8 with U+FFFD replacements and reported as "utf-8".
    """
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass

    try:
        return raw.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), "utf-8"


def decode_name(raw: bytes) -> CallerName:
    """Decode a caller-ID name, keeping the raw bytes for audit.

    Placeholders ("unknown", "<unknown>", "", or only "?" characters) become an empty
    name with encoding "".
    """
    text, encoding = decode_text(raw)
    text = _without_controls(text).strip()

    if _is_placeholder(text):
        return CallerName("", raw, "")

    return CallerName(text, raw, encoding)


# Bidirectional overrides and isolates reorder what reception sees ("\u202eevil" shows as
# "live"), and other control characters have no place in a name; the raw bytes keep them.
_CONTROLS = dict.fromkeys(
    [*range(0x00, 0x20), 0x7F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F])


def _without_controls(text: str) -> str:
    return text.translate(_CONTROLS)


def _is_placeholder(text: str) -> bool:
    return text.casefold() in _PLACEHOLDERS or set(text) == {"?"}
