"""Incremental AMI framing and parsing, with no sockets.

Asterisk's manager interface sends one banner line, then messages made of
`Key: Value` lines ended by an empty line:

    Asterisk Call Manager/11.0.0\\r\\n
    Event: Newchannel\\r\\n
    Channel: IAX2/carrier-7844\\r\\n
    CallerIDName: 张三\\r\\n
    \\r\\n

`AmiFramer` takes bytes as they come off the socket, in any segmentation, and returns
whole `AmiMessage` objects. It decodes each value only once its message is complete,
because a TCP segment can end inside a multi-byte UTF-8 character.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import structlog

from callscreen.errors import FrameTooLargeError, ProtocolError
from callscreen.pbx.model import CallerName
from callscreen.pbx.names import decode_name, decode_text

log = structlog.get_logger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 65536
BANNER_MAX_BYTES = 256
BANNER_MARKER = b"Call Manager/"

# Asterisk writes these literal texts where a value is absent: `<unknown>` for caller-ID
# fields, `<null>` for some Originate failures. They never mean a real value.
MISSING_VALUES = frozenset({"<unknown>", "<null>"})

# Header names whose value is a caller-ID name. Asterisk passes these bytes through
# unchanged, so they can be GBK; the raw bytes are kept for audit.
_NAME_KEY_SUFFIXES = ("calleridname", "connectedlinename")


class AmiMessage:
    """One AMI event or response: its headers as ordered (key, value) pairs.

    Keys are matched case-insensitively. A key may repeat on purpose (`Variable:` in
    Status, `Output:` in Command, the custom headers of UserEvent), so `get` returns the
    first value and `getall` every value.
    """

    __slots__ = ("_first", "_names", "headers")

    def __init__(
        self,
        headers: Sequence[tuple[str, str]],
        names: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        self.headers: tuple[tuple[str, str], ...] = tuple(headers)
        self._names: tuple[tuple[str, bytes], ...] = tuple(names)
        self._first: dict[str, str] = {}
        for key, value in self.headers:
            self._first.setdefault(key.lower(), value)

    def get(self, key: str, default: str | None = None) -> str | None:
        """Return the first value of `key`, or `default` when the header is absent."""
        return self._first.get(key.lower(), default)

    def getall(self, key: str) -> list[str]:
        """Return every value of `key` in wire order; empty when the header is absent."""
        wanted = key.lower()

        return [value for name, value in self.headers if name.lower() == wanted]

    def known(self, key: str) -> str | None:
        """Return the first value of `key`, or None when absent, `<unknown>` or `<null>`."""
        value = self._first.get(key.lower())
        if value is None or value in MISSING_VALUES:
            return None

        return value

    def caller_name(self, key: str = "CallerIDName") -> CallerName:
        """Return the first caller-ID name header `key` decoded, with its raw bytes kept."""
        wanted = key.lower()
        for name, raw in self._names:
            if name == wanted:
                return decode_name(raw)

        return CallerName("", b"", "")

    @property
    def event(self) -> str:
        """The `Event` header, or "" for a response."""
        return self._first.get("event", "")

    @property
    def response(self) -> str:
        """The `Response` header, or "" for an event."""
        return self._first.get("response", "")

    @property
    def action_id(self) -> str:
        """The `ActionID` header, or "" when the message carries none."""
        return self._first.get("actionid", "")

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._first

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AmiMessage):
            return NotImplemented
        return self.headers == other.headers

    def __hash__(self) -> int:
        return hash(self.headers)

    def __repr__(self) -> str:
        label = self.event or self.response or "?"
        return f"<AmiMessage {label} headers={len(self.headers)}>"


class AmiFramer:
    """Split an AMI byte stream into `AmiMessage` objects.

    Accepts CRLF or bare LF line endings and `Key:Value` without the space. A message
    larger than `max_message_bytes` is dropped up to its closing empty line and a WARNING
    is logged, so the buffer never grows past that limit even on a stream that never
    sends an empty line.
    """

    def __init__(
        self,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        expect_banner: bool = True,
    ) -> None:
        if max_message_bytes < 64:
            raise ValueError(f"max_message_bytes must be at least 64, got {max_message_bytes}")

        self._max = max_message_bytes
        self._expect_banner = expect_banner
        self._buffer = bytearray()
        self._lines: list[bytes] = []
        self._size = 0
        self._skipping = False
        self._skipped_bytes = 0
        self.banner: str | None = None

    @property
    def version(self) -> str | None:
        """The protocol version from the banner, e.g. "11.0.0", or None before it."""
        if self.banner is None:
            return None

        return self.banner.rpartition("/")[2].strip()

    def feed(self, data: bytes) -> list[AmiMessage]:
        """Add bytes from the socket and return every message they complete.

        Raises ProtocolError (FrameTooLargeError for an endless first line) when the
        first line is not an AMI banner and a banner is expected.
        """
        self._buffer += data
        messages: list[AmiMessage] = []

        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end < 0:
                break
            line = bytes(self._buffer[start:end])
            start = end + 1
            message = self._take_line(line[:-1] if line.endswith(b"\r") else line)
            if message is not None:
                messages.append(message)
        del self._buffer[:start]
        self._bound_partial_line()

        return messages

    def _take_line(self, line: bytes) -> AmiMessage | None:
        if self._expect_banner and self.banner is None:
            self._take_banner(line)
            return None

        if not line:
            return self._end_message()

        if self._skipping:
            self._skipped_bytes += len(line) + 2
            return None
        self._size += len(line) + 2
        if self._size > self._max:
            self._start_skipping()
            return None
        self._lines.append(line)
        return None

    def _take_banner(self, line: bytes) -> None:
        if BANNER_MARKER not in line:
            raise ProtocolError("the peer did not send an AMI banner", data=line)

        self.banner = line.decode("ascii", "replace").strip()
        log.debug("ami_banner_received", banner=self.banner)

    def _end_message(self) -> AmiMessage | None:
        if self._skipping:
            log.warning("ami_message_too_large", skipped_bytes=self._skipped_bytes, limit=self._max)
            self._skipping = False
            self._skipped_bytes = 0
            return None
        if not self._lines:
            return None

        lines, self._lines, self._size = self._lines, [], 0

        return parse_message(lines)

    def _start_skipping(self) -> None:
        self._skipping = True
        self._skipped_bytes = self._size
        self._lines = []
        self._size = 0

    def _bound_partial_line(self) -> None:
        # A line still waiting for its LF counts against the limit too; otherwise a peer
        # that never sends LF would grow the buffer without end.
        pending = len(self._buffer)
        if self._expect_banner and self.banner is None:
            if pending > BANNER_MAX_BYTES:
                raise FrameTooLargeError(
                    "the AMI banner line is too long", data=bytes(self._buffer)
                )
            return

        if not self._skipping and self._size + pending > self._max:
            self._start_skipping()
        if self._skipping and pending > 2:
            # Two bytes are enough to tell later whether this line was empty ("" or "\r").
            self._skipped_bytes += pending - 2
            del self._buffer[2:]


def parse_message(lines: Sequence[bytes]) -> AmiMessage:
    """Build an AmiMessage from the raw lines of one message (line endings removed)."""
    headers: list[tuple[str, str]] = []
    names: list[tuple[str, bytes]] = []
    for line in lines:
        key_raw, colon, value_raw = line.partition(b":")
        if not colon:
            log.warning("ami_line_without_colon", line=line[:80].decode("utf-8", "replace"))
            continue
        if value_raw.startswith(b" "):
            value_raw = value_raw[1:]
        key = key_raw.decode("utf-8", "replace").strip()
        headers.append((key, decode_value(value_raw)))
        if key.lower().endswith(_NAME_KEY_SUFFIXES):
            names.append((key.lower(), value_raw))

    return AmiMessage(headers, names)


def decode_value(raw: bytes) -> str:
    """Decode one header value: strict UTF-8, else GB18030, else UTF-8 with replacement.

    Asterisk passes caller-ID bytes through unchanged, and Chinese trunks send GBK.
    """
    return decode_text(raw)[0]


def encode_action(fields: Sequence[tuple[str, str]]) -> bytes:
    """Serialise one action as `Key: Value` CRLF lines plus the closing empty line.

    Raises ProtocolError when a key or value contains CR or LF, because that would let a
    value inject headers or a whole second action.
    """
    out = bytearray()
    for key, value in fields:
        if _has_line_break(key) or _has_line_break(value) or ":" in key:
            raise ProtocolError(f"invalid AMI header {key!r}: it contains a line break or colon")
        out += f"{key}: {value}\r\n".encode()
    out += b"\r\n"

    return bytes(out)


def _has_line_break(text: str) -> bool:
    return "\r" in text or "\n" in text
