"""What the normaliser knows about one caller ID."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class NumberKind(enum.StrEnum):
    """The kind of a caller ID, as rules and reply scripts use it."""

    MOBILE = "mobile"
    LANDLINE = "landline"
    TOLL_FREE = "toll_free"  # 400 and 800 numbers
    SERVICE = "service"  # bank and service short codes: 95xxx, 96xxx, 10xxx, 12xxx
    SMS_GATEWAY = "sms_gateway"  # 106 ranges
    VIRTUAL_OPERATOR = "virtual_operator"  # 162, 165, 167, 170, 171 mobile ranges
    INTERNATIONAL = "international"
    ANONYMOUS = "anonymous"  # no usable caller ID: empty, withheld, placeholders
    INVALID = "invalid"  # something that is not a phone number


@dataclass(frozen=True, slots=True)
class NumberFacts:
    """A normalised caller ID and the facts derived from it.

    `e164` is None for anonymous and invalid caller IDs and for service short codes that
    have no E.164 form; `key` is then the value lists and history match on. An invalid
    mobile-shaped number in a range that is not allocated keeps its E.164 form and key.
    """

    raw: str
    kind: NumberKind
    e164: str | None
    national: str  # digits as dialled inside the country, e.g. "013912345678" -> "13912345678"
    key: str  # what lists, tags and history are keyed on: e164, else "svc:95588", else ""
    block: str  # number block: key less its last four digits; "" when there is none
    country_code: int | None
    province: str  # Chinese name, e.g. "江苏省"; "" when unknown
    city: str  # Chinese name, e.g. "常州市"; "" when unknown
    carrier: str  # a hint only: numbers are ported between carriers
    masked: str  # safe for logs, e.g. "+86139****5678"

    @property
    def region(self) -> str:
        """Return province and city joined, as shown to people (e.g. "江苏省常州市")."""
        if self.city and self.city != self.province:
            return f"{self.province}{self.city}"
        return self.province
