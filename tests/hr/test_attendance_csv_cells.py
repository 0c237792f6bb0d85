"""The attendance CSV keeps spreadsheet formulas in names and departments as text."""

from __future__ import annotations

import csv
import io

import pytest

from callscreen.cases.attendance import attendance_csv
from callscreen.cases.model import AttendanceRow


@pytest.mark.parametrize("name", ["=HYPERLINK(\"x\")", "\t=cmd()", "\r=cmd()", "@SUM(A1)"])
def test_attendance_csv_quotes_formula(name: str) -> None:
    row = AttendanceRow(employee_id="E1", name=name, department="\t+財務", calls=1,
                        reception_seconds=60, employee_seconds=0, leave_days=0)

    text = attendance_csv([row], "2026-12", "事假", bom=False)
    cells = list(csv.reader(io.StringIO(text)))[1]

    assert cells[1] == f"'{name}"
    assert cells[2] == "'\t+財務"
