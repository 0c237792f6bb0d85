"""Office hours in the company's time zone, for the "calls outside office hours" signal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from callscreen.config.model import AnomalyConfig


@dataclass(frozen=True, slots=True)
class OfficeHours:
    """Working days (ISO weekday numbers, 1 = Monday) and the daily opening span."""

    zone: ZoneInfo
    start: time
    end: time  # "24:00" in the config becomes time.max
    weekdays: frozenset[int]

    @classmethod
    def from_config(cls, config: AnomalyConfig, time_zone: str) -> OfficeHours:
        """Build office hours from the validated `[anomaly]` keys and `[numbers] time_zone`."""
        return cls(
            zone=ZoneInfo(time_zone),
            start=_parse_clock(config.office_start),
            end=_parse_clock(config.office_end),
            weekdays=frozenset(int(day) for day in config.office_weekdays),
        )


def _parse_clock(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours == 24:
        return time.max

    return time(hours, minutes)


def is_after_hours(moment: datetime, hours: OfficeHours) -> bool:
    """Return whether an aware `moment` falls outside office hours in the office's zone."""
    local = moment.astimezone(hours.zone)
    if local.isoweekday() not in hours.weekdays:
        return True

    clock = local.time().replace(tzinfo=None)

    return not hours.start <= clock < hours.end
