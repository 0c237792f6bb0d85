"""Tests for masking phone numbers in logs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callscreen.numbers.normalise import mask_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+8613912345678", "+86139****5678"),
        ("13912345678", "139****5678"),
        ("013912345678", "013*****5678"),
        ("+862161234567", "+86216****567"),
        ("84664163", "846****3"),
        ("1234567", "123****"),
        ("95588", "95***"),
        ("950618", "95****"),
        ("+14155552671", "+141****2671"),
        ("", ""),
        ("   ", ""),
        ("anonymous", ""),
    ],
)
def test_mask_number_examples(text: str, expected: str) -> None:
    masked = mask_number(text)

    assert masked == expected


def test_mask_number_caps_stars_for_long_input() -> None:
    masked = mask_number("1" * 1000)

    assert masked == "111********1111"


def count_digits(text: str) -> int:
    return sum(char.isdecimal() for char in text)


@given(st.text())
def test_mask_number_reveals_at_most_seven_digits(text: str) -> None:
    masked = mask_number(text)

    assert count_digits(masked.removeprefix("+86")) <= 7


@given(st.from_regex(r"\+?[0-9]{0,30}", fullmatch=True))
def test_mask_number_digit_strings_reveal_at_most_seven(text: str) -> None:
    masked = mask_number(text)

    assert count_digits(masked.removeprefix("+86")) <= 7
