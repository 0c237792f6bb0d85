"""Stored time text: fixed width UTC, text order equals time order, strict parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from callscreen.store import from_db_time, to_db_time

SHANGHAI = timezone(timedelta(hours=8))

# Pairs (earlier, later) one microsecond or a zone shift apart across calendar edges.
EDGE_PAIRS = [
    (datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC),
     datetime(2026, 2, 1, 0, 0, 0, tzinfo=UTC)),
    (datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
     datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC)),
    (datetime(2028, 2, 28, 23, 59, 59, 999999, tzinfo=UTC),
     datetime(2028, 2, 29, 0, 0, 0, tzinfo=UTC)),
    (datetime(2028, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
     datetime(2028, 3, 1, 0, 0, 0, tzinfo=UTC)),
    (datetime(2028, 3, 1, 7, 59, 0, tzinfo=SHANGHAI),
     datetime(2028, 2, 29, 23, 59, 30, tzinfo=UTC)),
]


def test_to_db_time_formats_utc_with_microseconds() -> None:
    moment = datetime(2026, 12, 4, 19, 43, 21, 123456, tzinfo=UTC)

    text = to_db_time(moment)

    assert text == "2026-12-04T19:43:21.123456Z"


def test_to_db_time_converts_other_zones_to_utc() -> None:
    moment = datetime(2027, 1, 1, 7, 30, tzinfo=SHANGHAI)

    text = to_db_time(moment)

    assert text == "2026-12-31T23:30:00.000000Z"


def test_to_db_time_pads_small_years() -> None:
    moment = datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)

    text = to_db_time(moment)

    assert text == "0999-01-02T03:04:05.000000Z"


def test_to_db_time_rejects_naive_datetime() -> None:
    naive = datetime(2026, 12, 4, 19, 43, 21)

    with pytest.raises(ValueError, match="naive"):
        to_db_time(naive)


@pytest.mark.parametrize(("earlier", "later"), EDGE_PAIRS)
def test_db_time_text_order_follows_time_order(earlier: datetime, later: datetime) -> None:
    earlier_text, later_text = to_db_time(earlier), to_db_time(later)

    assert len(earlier_text) == len(later_text) == 27
    assert earlier_text < later_text


@pytest.mark.parametrize(("earlier", "later"), EDGE_PAIRS)
def test_db_time_round_trips(earlier: datetime, later: datetime) -> None:
    texts = [to_db_time(earlier), to_db_time(later)]

    parsed = [from_db_time(text) for text in texts]

    assert parsed == [earlier, later]
    assert all(moment.tzinfo is UTC for moment in parsed)


def test_leap_day_parses() -> None:
    text = "2028-02-29T12:00:00.000000Z"

    moment = from_db_time(text)

    assert moment == datetime(2028, 2, 29, 12, tzinfo=UTC)


@pytest.mark.parametrize("garbled", [
    "",
    "2026-12-04 19:43:21",
    "2026-12-04T19:43:21Z",
    "2026-12-04T19:43:21.123456+00:00",
    "2027-02-29T00:00:00.000000Z",
    "02-29T00:00:00.000000Z",
    "2026-13-01T00:00:00.000000Z",
    "20261204T194321.123456Z",
])
def test_from_db_time_rejects_other_forms(garbled: str) -> None:
    with pytest.raises(ValueError):
        from_db_time(garbled)
