"""The exceptions callscreen raises.

Every error derives from `CallscreenError` and also from the nearest standard exception,
so callers may catch either. Each carries the structured fields a log line needs.
"""

from __future__ import annotations


class CallscreenError(Exception):
    """Base of every error callscreen raises on purpose."""


class ConfigError(CallscreenError, ValueError):
    """A configuration file is missing, unreadable or invalid.

    `problems` lists one human-readable line per invalid key, each naming the file,
    the key, the bad value and the allowed form.
    """

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(problems))


class ProtocolError(CallscreenError, ValueError):
    """Bytes from Asterisk that do not follow the AMI or FastAGI wire format."""

    def __init__(self, message: str, *, data: bytes = b"") -> None:
        self.data = data[:200]
        super().__init__(message)


class FrameTooLargeError(ProtocolError):
    """A line or message exceeded the configured maximum frame size."""


class AmiError(CallscreenError, ConnectionError):
    """The AMI connection failed, or Asterisk rejected an action."""

    def __init__(self, message: str, *, host: str = "", port: int = 0,
                 action: str = "", action_id: str = "") -> None:
        self.host = host
        self.port = port
        self.action = action
        self.action_id = action_id
        super().__init__(message)


class AmiLoginError(AmiError):
    """Asterisk answered the Login action with `Response: Error`."""


class AmiTimeoutError(AmiError, TimeoutError):
    """An AMI action or ping got no response in time."""


class AgiHangupError(CallscreenError, ConnectionAbortedError):
    """The channel hung up during a FastAGI session (HANGUP line or 511 reply)."""


class StoreError(CallscreenError, OSError):
    """The sqlite store could not be opened, migrated or written."""


class ImportFileError(CallscreenError, ValueError):
    """A CSV import has invalid rows; `problems` lists them by line number."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(problems))
