"""Window queries use indexes; months follow the local calendar; redaction; office hours."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from callscreen.anomaly.evaluate import RiskLevel, assess
from callscreen.anomaly.hours import OfficeHours, is_after_hours
from callscreen.cases.attendance import attendance_rows, month_range_utc, parse_month
from callscreen.cases.errors import CaseStateError
from callscreen.cases.redact import redact
from callscreen.cases.service import HrContext, on_call_recorded
from callscreen.config.model import AnomalyConfig
from callscreen.store.hr import MONTH_TOTALS_SQL, WINDOW_COUNTS_SQL, WINDOW_REPEAT_SQL

from .conftest import add_call

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _plan(store, sql: str) -> str:
    rows = await store.db.fetch_all(f"EXPLAIN QUERY PLAN {sql}", ("E1", "a", "b")[: sql.count("?")],
                                    action="plan")
    return " | ".join(str(row[3]) for row in rows)


@pytest.mark.parametrize("sql", [WINDOW_COUNTS_SQL, WINDOW_REPEAT_SQL])
async def test_window_queries_search_by_index(store, sql):
    plan = await _plan(store, sql)

    assert ("USING INDEX call_targets_window"
            " (employee_id=? AND suspected=? AND started_at>? AND started_at<?)") in plan
    assert "SCAN call_targets" not in plan


async def test_month_query_searches_by_index(store):
    plan = await _plan(store, MONTH_TOTALS_SQL)

    assert "SEARCH t USING INDEX call_targets_month" in plan


@pytest.mark.parametrize(("month", "first", "following"), [
    ("2026-12", date(2026, 12, 1), date(2027, 1, 1)),
    ("2028-02", date(2028, 2, 1), date(2028, 3, 1)),
    ("2027-01", date(2027, 1, 1), date(2027, 2, 1)),
])
def test_parse_month_bounds(month, first, following):
    assert parse_month(month) == (first, following)


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "12-2026", "", "2026/12"])
def test_parse_month_rejects_bad_text(text):
    with pytest.raises(CaseStateError, match="YYYY-MM"):
        parse_month(text)


def test_month_range_starts_at_local_midnight():
    start, end = month_range_utc(date(2027, 1, 1), date(2027, 2, 1), SHANGHAI)

    assert start.astimezone(UTC) == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2027, 1, 31, 16, 0, tzinfo=UTC)


async def test_attendance_counts_calls_by_local_month(store, config):
    ctx = HrContext(config=config, store=store, clock=lambda: datetime(2028, 3, 2, tzinfo=UTC))
    moments = {
        "feb29-late": datetime(2028, 2, 29, 15, 30, tzinfo=UTC),  # 23:30 on 29 Feb locally
        "mar1-early": datetime(2028, 2, 29, 16, 30, tzinfo=UTC),  # 00:30 on 1 March locally
    }
    for call_id, started in moments.items():
        await add_call(store, call_id, started_at=started, caller="+8617012340001",
                       transferred_to="8101")
        await on_call_recorded(ctx, call_id)

    february = await attendance_rows(store, "2028-02", "Asia/Shanghai")
    march = await attendance_rows(store, "2028-03", "Asia/Shanghai")

    assert [(row.employee_id, row.calls) for row in february] == [("E1001", 1)]
    assert [(row.employee_id, row.calls) for row in march] == [("E1001", 1)]


def test_redact_removes_name_numbers_and_email():
    text = "张伟 接到 13912345678 和 021-6123-0001 的来电，分机 8101，邮箱 zw@example.com"

    redacted = redact(text, names=["张伟", "E1001"])

    assert "张伟" not in redacted
    assert "13912345678" not in redacted
    assert "6123" not in redacted
    assert "8101" not in redacted
    assert "example.com" not in redacted


def test_assess_picks_highest_level_reached():
    config = AnomalyConfig(low={"short_calls": 3}, medium={"short_numbers": 5},
                           high={"long_calls": 20})

    assessment = assess({"short_calls": 9, "short_numbers": 6, "long_calls": 9}, config)

    assert assessment.level is RiskLevel.MEDIUM
    assert [crossing.signal for crossing in assessment.crossings] == ["short_numbers"]


def test_assess_below_every_threshold_has_no_level():
    assessment = assess({"short_calls": 1}, AnomalyConfig())

    assert assessment.level is None
    assert assessment.crossings == ()


@pytest.mark.parametrize(("moment", "after"), [
    (datetime(2026, 12, 2, 2, 0, tzinfo=UTC), False),  # Wednesday 10:00 local
    (datetime(2026, 12, 2, 11, 0, tzinfo=UTC), True),  # Wednesday 19:00 local
    (datetime(2026, 12, 5, 2, 0, tzinfo=UTC), True),  # Saturday 10:00 local
    (datetime(2026, 12, 2, 0, 59, tzinfo=UTC), True),  # Wednesday 08:59 local
])
def test_after_hours_uses_local_time(moment, after):
    hours = OfficeHours.from_config(AnomalyConfig(), "Asia/Shanghai")

    assert is_after_hours(moment, hours) is after
