"""Guard for CSV cells that a spreadsheet would run as a formula."""

from __future__ import annotations

# Excel and LibreOffice run a cell starting with = + - @ as a formula, and skip a leading
# tab or carriage return before deciding, so "\t=cmd()" runs too (OWASP "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """Return `text` with a leading apostrophe when a spreadsheet would run it as a formula.

    The apostrophe makes the spreadsheet show the cell as text.
    """
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
