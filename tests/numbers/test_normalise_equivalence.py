"""The faster normaliser returns exactly what the reference copy in normalise_reference.py returns.

The reference is the implementation from before the uncached path was made faster. Each test
compares whole NumberFacts, so a difference in any field fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import phonenumberutil

from bench.callers import caller_pool
from callscreen.numbers import geo, normalise
from tests.numbers import normalise_reference as reference

TESTS_DIR = Path(__file__).resolve().parent.parent

# The benchmark's caller mix and the PBX area code it uses.
POOL_SIZE = 20_000
POOL_AREA_CODE = "21"

AREA_CODES = ("", "21", "021", "0755", "shanghai")
REGIONS = ("CN", "cn", "US", "HK", "XX")

NUMBER_PREFIXES = ("", "0", "86", "860", "+86", "+860", "0086", "00860", "+86 0", "0086-")
MOBILE_HEADS = tuple(str(head) for head in range(130, 200))
VIRTUAL_OPERATOR_HEADS = ("162", "165", "167", "170", "171")
UNALLOCATED_MOBILE_HEADS = ("140", "141", "144", "154", "160", "174", "194")
AREA_CODES_IN_NUMBERS = ("10", "20", "21", "22", "23", "24", "25", "27", "28", "29", "311",
                         "351", "471", "510", "519", "571", "591", "731", "755", "898", "991")
SERVICE_HEADS = ("95", "96", "10", "12", "950", "955")
COUNTRY_CODES = ("1", "7", "33", "44", "49", "61", "81", "82", "852", "853", "886", "800",
                 "808", "870", "882", "883", "979", "999", "0")
DECORATIONS = ("{}", "tel:{}", "<sip:{}@127.0.0.1>", "sip:{}@127.0.0.1;user=phone",
               "{};cpc=ordinary", " {} ", "<{}>")


def assert_same_facts(raw: str, region: str, area_code: str) -> None:
    expected = reference.normalise(raw, region=region, area_code=area_code)

    actual = normalise.normalise(raw, region=region, area_code=area_code)

    assert actual == expected, (raw, region, area_code)


def suite_string_constants() -> list[str]:
    """Return every string constant in the test suite, which covers every table-test input."""
    strings: set[str] = set()
    for path in TESTS_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.add(node.value)

    return sorted(strings)


@pytest.mark.parametrize("seed", [5, 7])
def test_caller_pool_facts_unchanged(seed: int) -> None:
    for raw in caller_pool(POOL_SIZE, seed=seed):
        assert_same_facts(raw, "CN", POOL_AREA_CODE)


def test_suite_strings_facts_unchanged() -> None:
    strings = suite_string_constants()

    assert "13912345678" in strings
    for raw in strings:
        for area_code in AREA_CODES:
            assert_same_facts(raw, "CN", area_code)
        for region in REGIONS:
            assert_same_facts(raw, region, "021")


def test_suite_strings_masks_unchanged() -> None:
    for text in suite_string_constants():
        assert normalise.mask_number(text) == reference.mask_number(text), text


def digits(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    # Drawn as integers, because text() favours runs of "0" that no numbering plan accepts.
    return st.integers(min_size, max_size).flatmap(
        lambda size: st.integers(0, 10**size - 1).map(lambda value: f"{value:0{size}d}")
    )


def headed(heads: tuple[str, ...], min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(heads), digits(min_size, max_size)).map("".join)


NATIONAL_NUMBERS = st.one_of(
    headed(MOBILE_HEADS, 8, 8),
    headed(MOBILE_HEADS, 6, 10),
    headed(VIRTUAL_OPERATOR_HEADS, 8, 8),
    headed(UNALLOCATED_MOBILE_HEADS, 8, 8),
    headed(AREA_CODES_IN_NUMBERS, 7, 8),
    headed(AREA_CODES_IN_NUMBERS, 3, 10),
    headed(("400", "800"), 7, 7),
    headed(("400", "800"), 5, 9),
    headed(SERVICE_HEADS, 1, 8),
    st.tuples(st.sampled_from(AREA_CODES_IN_NUMBERS), headed(SERVICE_HEADS, 2, 4)).map("".join),
    headed(("106",), 3, 19),
    headed(tuple("2345678"), 6, 7),
    digits(1, 17),
)

INTERNATIONAL_NUMBERS = st.tuples(
    st.sampled_from(("+", "00")), st.sampled_from(COUNTRY_CODES), digits(0, 13)
).map("".join)


@st.composite
def chinese_shaped_caller_ids(draw: st.DrawFn) -> str:
    number = draw(st.one_of(
        st.tuples(st.sampled_from(NUMBER_PREFIXES), NATIONAL_NUMBERS).map("".join),
        INTERNATIONAL_NUMBERS,
    ))
    if draw(st.booleans()):
        number = draw(with_separators(number))
    if draw(st.integers(0, 9)) == 0:
        # Full-width digits, as some trunks and web forms send them.
        number = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))

    return draw(st.sampled_from(DECORATIONS)).format(number)


@st.composite
def with_separators(draw: st.DrawFn, number: str) -> str:
    separators = draw(st.lists(st.sampled_from(" -()."), min_size=len(number),
                               max_size=len(number)))
    spaced = "".join(char + separator for char, separator in zip(number, separators, strict=True))

    return spaced.strip()


@settings(max_examples=1500, deadline=None)
@given(chinese_shaped_caller_ids(), st.sampled_from(AREA_CODES), st.sampled_from(REGIONS[:3]))
def test_chinese_shaped_facts_unchanged(raw: str, area_code: str, region: str) -> None:
    assert_same_facts(raw, region, area_code)


@settings(max_examples=500, deadline=None)
@given(st.text(), st.sampled_from(AREA_CODES))
def test_any_text_facts_unchanged(raw: str, area_code: str) -> None:
    assert_same_facts(raw, "CN", area_code)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_mask_number_unchanged(text: str) -> None:
    assert normalise.mask_number(text) == reference.mask_number(text)


PROVINCE_FORMS = [form for official, shorts in geo._PROVINCES for form in (official, *shorts)]


@settings(max_examples=500, deadline=None)
@given(st.tuples(st.sampled_from(["", *PROVINCE_FORMS]), st.text(max_size=8)).map("".join))
def test_split_region_unchanged(description: str) -> None:
    assert geo.split_region(description) == reference.split_region(description)


@pytest.mark.parametrize("raw", ["+8613912345678", "013912345678", "8613912345678",
                                 "0086 21 6123 4567", "4008001234"])
def test_normalise_parses_and_types_once(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # number_type, is_valid_number and the geocoder and carrier lookups each compute the type
    # from scratch, so computing it more than once per number costs several microseconds.
    calls = {"parse": 0, "type": 0}
    parse = phonenumbers.parse
    number_type_helper = phonenumberutil._number_type_helper

    def counting_parse(*args: object, **kwargs: object) -> phonenumbers.PhoneNumber:
        calls["parse"] += 1
        return parse(*args, **kwargs)  # type: ignore[arg-type]

    def counting_type_helper(*args: object) -> int:
        calls["type"] += 1
        return number_type_helper(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(phonenumbers, "parse", counting_parse)
    monkeypatch.setattr(phonenumberutil, "_number_type_helper", counting_type_helper)

    normalise._normalise_cached.__wrapped__(raw, "CN", "")

    assert calls["parse"] == 1
    assert calls["type"] == 1
