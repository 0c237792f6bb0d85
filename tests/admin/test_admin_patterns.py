"""List patterns: what an admin types becomes the form the screener matches on."""

from __future__ import annotations

import pytest

from callscreen.admin.patterns import normal_pattern
from callscreen.config.model import NumbersConfig
from callscreen.store.lists import InvalidListEntryError

NUMBERS = NumbersConfig()


@pytest.mark.parametrize(("match", "text", "expected"), [
    ("exact", "13912345678", "+8613912345678"),
    ("exact", "+8613912345678", "+8613912345678"),
    ("exact", "013912345678", "+8613912345678"),
    ("exact", "0086 139-1234-5678", "+8613912345678"),
    ("exact", "\ufeff13912345678", "+8613912345678"),
    ("exact", "95588", "svc:95588"),
    ("exact", "svc:95588", "svc:95588"),
    ("exact", "021-6123 4567", "+862161234567"),
    ("prefix", "171", "+86171"),
    ("prefix", "0755", "+86755"),
    ("prefix", "+86170", "+86170"),
    ("prefix", "svc:955", "svc:955"),
    ("block", "13912345678", "+861391234"),
    ("block", "1391234", "+861391234"),
    ("block", "+861391234", "+861391234"),
    # Unallocated mobile range: kind invalid, but a spoofed caller ID that can be blocked.
    ("exact", "14012345678", "+8614012345678"),
    ("block", "14012345678", "+861401234"),
])
def test_pattern_normal_form(match: str, text: str, expected: str) -> None:
    pattern = normal_pattern("block", match, text, NUMBERS)

    assert pattern == expected


@pytest.mark.parametrize("text", ["1.39123E+10", "13912345678.0", "1.3912345678e10"])
def test_pattern_rejects_spreadsheet_numbers(text: str) -> None:
    with pytest.raises(InvalidListEntryError) as caught:
        normal_pattern("block", "exact", text, NUMBERS)

    assert "spreadsheet" in str(caught.value)
    assert caught.value.value == text


@pytest.mark.parametrize("text", ["abc", "anonymous", "", "1391234", "999", "+1202555"])
def test_pattern_rejects_non_numbers_for_exact(text: str) -> None:
    with pytest.raises(InvalidListEntryError) as caught:
        normal_pattern("allow", "exact", text, NUMBERS)

    assert caught.value.field == "pattern"


def test_pattern_rejects_unknown_list() -> None:
    with pytest.raises(InvalidListEntryError) as caught:
        normal_pattern("grey", "exact", "13912345678", NUMBERS)

    assert caught.value.field == "list"


def test_pattern_rejects_unknown_match() -> None:
    with pytest.raises(InvalidListEntryError) as caught:
        normal_pattern("allow", "regex", "139", NUMBERS)

    assert caught.value.field == "match"
