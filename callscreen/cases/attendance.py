"""Monthly time accounting (考勤辅助) per employee, and its CSV for the attendance system.

Months are calendar months in the configured time zone; the store keeps UTC, so a month
is turned into a UTC range first (a call at 00:30 on 1 March in Shanghai is a March call
even though it is still February in UTC).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from callscreen.cases.errors import CaseStateError
from callscreen.cases.model import AttendanceRow, LeaveMark
from callscreen.i18n import both, t
from callscreen.spreadsheet import safe_cell
from callscreen.store import Store
from callscreen.store import hr as queries
from callscreen.store import hr_cases as case_queries

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$", re.ASCII)
# The bounds keep date() and the "next month" arithmetic away from year 0 and year 10000,
# where they raise ValueError. No data of this daemon can fall outside them.
FIRST_YEAR = 2000
LAST_YEAR = 2100
COLUMNS = ("employee_id", "name", "department", "month", "calls", "reception_minutes",
           "employee_minutes", "leave_days", "leave_category")
BOM = "\ufeff"


def parse_month(text: str) -> tuple[date, date]:
    """Return the first day of `text` ("2026-12") and the first day of the next month.

    Raises CaseStateError for anything but YYYY-MM with a year from 2000 to 2100.
    """
    match = MONTH.match(text.strip())
    if match is None:
        raise CaseStateError(both("report.bad_month", month=text))

    year, month = int(match.group(1)), int(match.group(2))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise CaseStateError(both("report.month_out_of_range", month=text, first=FIRST_YEAR,
                                  last=LAST_YEAR))
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)

    return first, following


def month_range_utc(first: date, following: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the aware start and end of local days [first, following) in `zone`."""
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)

    return start, end


async def attendance_rows(store: Store, month: str, time_zone: str) -> list[AttendanceRow]:
    """Return one row per employee with suspected calls or leave marks in the month."""
    first, following = parse_month(month)
    start, end = month_range_utc(first, following, ZoneInfo(time_zone))
    rows = {row.employee_id: row for row in await queries.month_totals(store.db, start, end)}
    marks = await case_queries.leave_marks(store.db, first_day=first,
                                           last_day=following - timedelta(days=1))

    for employee_id, days in _leave_days(marks, first, following).items():
        row = rows.get(employee_id) or AttendanceRow(
            employee_id=employee_id, name=await queries.employee_name(store.db, employee_id),
            department="", calls=0, reception_seconds=0, employee_seconds=0, leave_days=0)
        rows[employee_id] = replace(row, leave_days=days)

    return [rows[key] for key in sorted(rows)]


def _leave_days(marks: list[LeaveMark], first: date, following: date) -> dict[str, int]:
    days: dict[str, set[date]] = {}
    for mark in marks:
        day = max(mark.start_date, first)
        while day <= mark.end_date and day < following:
            days.setdefault(mark.employee_id, set()).add(day)
            day += timedelta(days=1)

    return {employee_id: len(found) for employee_id, found in days.items()}


def attendance_csv(rows: list[AttendanceRow], month: str, leave_category: str, *,
                   delimiter: str = ",", bom: bool = True) -> str:
    """Return the report as CSV text with Chinese column headers, by default with a BOM.

    The BOM makes Excel and WPS open the file as UTF-8; minutes are rounded to one decimal.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow([t(f"report.column.{column}") for column in COLUMNS])
    for row in rows:
        writer.writerow([
            safe_cell(row.employee_id), safe_cell(row.name), safe_cell(row.department), month,
            row.calls,
            f"{row.reception_seconds / 60:.1f}", f"{row.employee_seconds / 60:.1f}",
            row.leave_days, safe_cell(leave_category) if row.leave_days else "",
        ])

    return (BOM if bom else "") + buffer.getvalue()
