"""Notification payload, channel names and the delivery error."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from callscreen.errors import CallscreenError


class Channel(enum.StrEnum):
    """A delivery channel named in `[notify] channels`."""

    PRINT = "print"
    EMAIL = "email"
    WECOM = "wecom"
    DINGTALK = "dingtalk"
    FEISHU = "feishu"
    WEBHOOK = "webhook"


class DeliveryError(CallscreenError, ConnectionError):
    """One delivery attempt failed; the outbox retries it later.

    `target` names the host (never the full URL, which carries the robot's access token).
    """

    def __init__(self, message: str, *, channel: str, target: str = "",
                 status: int | None = None) -> None:
        self.channel = channel
        self.target = target
        self.status = status
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Notification:
    """The facts one notification may carry.

    Chat channels never carry a name or debt details; `employee_name` is filled only for
    email when `[notify] email_include_name` is on.
    """

    event: str  # "opened" or "risk_raised"
    case_no: str
    risk: str  # RiskLevel value
    counts: dict[str, int] = field(default_factory=dict)
    short_window_hours: int = 24
    long_window_hours: int = 168
    link: str = ""
    employee_name: str = ""

    def to_payload(self) -> dict[str, Any]:
        """Return the JSON-ready form stored in the outbox."""
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Notification:
        """Rebuild a notification from its stored form, ignoring unknown keys."""
        known = {name: payload[name] for name in cls.__dataclass_fields__ if name in payload}
        return cls(**known)

    def without_name(self) -> Notification:
        """Return a copy with no employee name, for chat channels."""
        return Notification(**{**asdict(self), "employee_name": ""})
