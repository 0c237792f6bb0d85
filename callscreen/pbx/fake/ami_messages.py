"""AMI message framing for the fake PBX: encoding of responses and events, parsing of actions.

Wire form as Asterisk 22.10.1 sends it: `Key: Value\\r\\n` lines, one space after the colon,
an empty value kept as `Key: ` with the trailing space, and an empty line after each message.
"""

from __future__ import annotations

from collections.abc import Sequence

from callscreen.errors import ProtocolError
from callscreen.pbx.fake.channel import Header

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
UNKNOWN_ACTION_TEXT = (
    "Invalid/unknown command: {action}. Use Action: ListCommands to show available commands."
)


def encode_message(headers: Sequence[Header]) -> bytes:
    """Encode headers as one AMI message; surrogate escapes become their raw bytes again."""
    lines = [f"{key}: {value}\r\n" for key, value in headers]

    return ("".join(lines) + "\r\n").encode("utf-8", "surrogateescape")


def build_event(name: str, privilege: str, system_name: str | None,
                body: Sequence[Header]) -> list[Header]:
    """Build an event's headers: `Event`, `Privilege`, `SystemName` when set, then the body."""
    headers: list[Header] = [("Event", name), ("Privilege", privilege)]
    if system_name is not None:
        headers.append(("SystemName", system_name))

    return headers + list(body)


def build_response(action_id: str | None, response: str, body: Sequence[Header]) -> list[Header]:
    """Build a response; `ActionID` is present only when the action carried one."""
    headers: list[Header] = [("Response", response)]
    if action_id is not None:
        headers.append(("ActionID", action_id))

    return headers + list(body)


def parse_action(raw: bytes) -> list[Header]:
    """Parse one action (without its blank line) into ordered headers; LF-only lines pass too.

    >>> parse_action(b"Action: Ping\\r\\nActionID: 7\\r\\n")
    [('Action', 'Ping'), ('ActionID', '7')]
    """
    text = raw.decode("utf-8", "surrogateescape")
    headers: list[Header] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line:
            continue
        key, separator, value = line.partition(":")
        if not separator:
            raise ProtocolError(f"AMI action line without a colon: {line[:80]!r}", data=raw)
        headers.append((key.strip(), value.strip()))

    return headers


def header_value(headers: Sequence[Header], key: str) -> str | None:
    """Return the first value of `key` (compared case-insensitively, as Asterisk does)."""
    wanted = key.lower()
    for name, value in headers:
        if name.lower() == wanted:
            return value

    return None


def header_values(headers: Sequence[Header], key: str) -> list[str]:
    """Return every value of a repeated header such as `Variable`."""
    wanted = key.lower()

    return [value for name, value in headers if name.lower() == wanted]
