"""Table and property tests for caller-ID normalisation."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callscreen.classifier import History, classify
from callscreen.config.model import RulesConfig
from callscreen.numbers.model import NumberKind
from callscreen.numbers.normalise import MAX_RAW_LENGTH, normalise

MOBILE = NumberKind.MOBILE
LANDLINE = NumberKind.LANDLINE
TOLL_FREE = NumberKind.TOLL_FREE
SERVICE = NumberKind.SERVICE
SMS_GATEWAY = NumberKind.SMS_GATEWAY
VIRTUAL = NumberKind.VIRTUAL_OPERATOR
INTERNATIONAL = NumberKind.INTERNATIONAL
ANONYMOUS = NumberKind.ANONYMOUS
INVALID = NumberKind.INVALID

CZ_MOBILE = "+8613912345678"  # a Changzhou (江苏省常州市) China Mobile number
CZ_BLOCK = "+861391234"
SH_LANDLINE = "+862161234567"  # a Shanghai landline, area code 21
SH_BLOCK = "+86216123"
SH_LOCAL = "+862184664163"  # local number 84664163 behind the PBX's area code 21
SH_LOCAL_BLOCK = "+86218466"
US_NUMBER = "+14155552671"


class Case(NamedTuple):
    raw: str
    area_code: str
    kind: NumberKind
    e164: str | None
    key: str
    block: str
    province: str
    city: str


def no_number(raw: str, kind: NumberKind, area_code: str = "") -> Case:
    return Case(raw, area_code, kind, None, "", "", "", "")


def service(raw: str, code: str) -> Case:
    return Case(raw, "", SERVICE, None, f"svc:{code}", "", "", "")


def changzhou_mobile(raw: str) -> Case:
    return Case(raw, "", MOBILE, CZ_MOBILE, CZ_MOBILE, CZ_BLOCK, "江苏省", "常州市")


CASES = [
    # Mobiles in every prefix form Chinese trunks deliver.
    changzhou_mobile("13912345678"),
    changzhou_mobile("+8613912345678"),
    changzhou_mobile("013912345678"),
    changzhou_mobile("8613912345678"),
    changzhou_mobile("008613912345678"),
    changzhou_mobile("+86 139 1234 5678"),
    changzhou_mobile("139-1234-5678"),
    changzhou_mobile("tel:+8613912345678"),
    changzhou_mobile("sip:013912345678@127.0.0.1;user=phone"),
    changzhou_mobile("<sip:13912345678@127.0.0.1>"),
    changzhou_mobile("13912345678;cpc=ordinary"),
    changzhou_mobile("１３９１２３４５６７８"),
    Case(
        "13800138000", "", MOBILE, "+8613800138000", "+8613800138000", "+861380013",
        "北京市", "北京市",
    ),
    Case("19152005807", "", MOBILE, "+8619152005807", "+8619152005807", "+861915200", "", ""),
    Case("19938009001", "", MOBILE, "+8619938009001", "+8619938009001", "+861993800", "", ""),
    Case("+8619152005807", "", MOBILE, "+8619152005807", "+8619152005807", "+861915200", "", ""),
    # Mobile-shaped numbers in ranges that are not allocated are invalid but keep E.164.
    Case("14012345678", "", INVALID, "+8614012345678", "+8614012345678", "+861401234", "", ""),
    Case("+8615412345678", "", INVALID, "+8615412345678", "+8615412345678", "+861541234", "", ""),
    Case("8619412345678", "", INVALID, "+8619412345678", "+8619412345678", "+861941234", "", ""),
    # Landlines with an area code, with and without the trunk 0, and with a country code.
    Case("02161234567", "", LANDLINE, SH_LANDLINE, SH_LANDLINE, SH_BLOCK, "上海市", "上海市"),
    Case("2161234567", "", LANDLINE, SH_LANDLINE, SH_LANDLINE, SH_BLOCK, "上海市", "上海市"),
    Case("+862161234567", "", LANDLINE, SH_LANDLINE, SH_LANDLINE, SH_BLOCK, "上海市", "上海市"),
    Case("862161234567", "", LANDLINE, SH_LANDLINE, SH_LANDLINE, SH_BLOCK, "上海市", "上海市"),
    Case("+86 021 6123 4567", "", LANDLINE, SH_LANDLINE, SH_LANDLINE, SH_BLOCK, "上海市", "上海市"),
    Case("(021) 6123-4567", "", LANDLINE, SH_LANDLINE, SH_LANDLINE, SH_BLOCK, "上海市", "上海市"),
    Case(
        "075512345678", "", LANDLINE, "+8675512345678", "+8675512345678", "+867551234",
        "广东省", "深圳市",
    ),
    Case(
        "0755-1234-5678", "", LANDLINE, "+8675512345678", "+8675512345678", "+867551234",
        "广东省", "深圳市",
    ),
    Case(
        "04716123456", "", LANDLINE, "+864716123456", "+864716123456", "+86471612",
        "内蒙古自治区", "呼和浩特市",
    ),
    Case(
        "0991-1234567", "", LANDLINE, "+869911234567", "+869911234567", "+86991123",
        "新疆维吾尔自治区", "乌鲁木齐市",
    ),
    # Local numbers without an area code take the PBX's own, given with or without the 0.
    Case("84664163", "021", LANDLINE, SH_LOCAL, SH_LOCAL, SH_LOCAL_BLOCK, "上海市", "上海市"),
    Case("84664163", "21", LANDLINE, SH_LOCAL, SH_LOCAL, SH_LOCAL_BLOCK, "上海市", "上海市"),
    no_number("84664163", INVALID),
    # An 8 digit local number starting with 86 keeps its 86.
    Case(
        "86123456", "21", LANDLINE, "+862186123456", "+862186123456", "+86218612",
        "上海市", "上海市",
    ),
    # 010 + 69012345 is a Beijing landline. Only the bare 106 form is an SMS gateway.
    Case(
        "01069012345", "", LANDLINE, "+861069012345", "+861069012345", "+86106901",
        "北京市", "北京市",
    ),
    Case(
        "+861069012345", "", LANDLINE, "+861069012345", "+861069012345", "+86106901",
        "北京市", "北京市",
    ),
    Case("1069012345", "", SMS_GATEWAY, "+861069012345", "+861069012345", "+86106901", "", ""),
    Case("10690123456789", "", SMS_GATEWAY, None, "svc:10690123456789", "", "", ""),
    # 400 and 800 numbers.
    Case("4008001234", "", TOLL_FREE, "+864008001234", "+864008001234", "+86400800", "", ""),
    Case("400-800-1234", "", TOLL_FREE, "+864008001234", "+864008001234", "+86400800", "", ""),
    Case("+864008001234", "", TOLL_FREE, "+864008001234", "+864008001234", "+86400800", "", ""),
    Case("8008301234", "", TOLL_FREE, "+868008301234", "+868008301234", "+86800830", "", ""),
    # Bank and service short codes, alone, after an area code and after a country code.
    service("95588", "95588"),
    service("95508", "95508"),
    service("950618", "950618"),
    service("02095508", "95508"),
    service("020-95508", "95508"),
    service("075595588", "95588"),
    service("+8695588", "95588"),
    service("10086", "10086"),
    service("12315", "12315"),
    service("96110", "96110"),
    Case("9501234567", "", SERVICE, "+869501234567", "+869501234567", "", "", ""),
    # 95 followed by 6 digits is neither a short code nor a full number, with or without an
    # area code configured.
    no_number("95123456", INVALID),
    no_number("95123456", INVALID, area_code="021"),
    # Virtual-operator ranges.
    Case("16212345678", "", VIRTUAL, "+8616212345678", "+8616212345678", "+861621234", "", ""),
    Case("16512345678", "", VIRTUAL, "+8616512345678", "+8616512345678", "+861651234", "", ""),
    Case("16712345678", "", VIRTUAL, "+8616712345678", "+8616712345678", "+861671234", "", ""),
    Case("17012345678", "", VIRTUAL, "+8617012345678", "+8617012345678", "+861701234", "", ""),
    Case("17112345678", "", VIRTUAL, "+8617112345678", "+8617112345678", "+861711234", "", ""),
    Case("017112345678", "", VIRTUAL, "+8617112345678", "+8617112345678", "+861711234", "", ""),
    # International numbers, by + and by 00.
    Case("+14155552671", "", INTERNATIONAL, US_NUMBER, US_NUMBER, "+1415555", "美国", ""),
    Case("0014155552671", "", INTERNATIONAL, US_NUMBER, US_NUMBER, "+1415555", "美国", ""),
    Case("+85221234567", "", INTERNATIONAL, "+85221234567", "+85221234567", "+8522123", "香港", ""),
    # No usable caller ID.
    no_number("", ANONYMOUS),
    no_number("   ", ANONYMOUS),
    no_number("<unknown>", ANONYMOUS),
    no_number("unknown", ANONYMOUS),
    no_number("Unknown", ANONYMOUS),
    no_number("anonymous", ANONYMOUS),
    no_number("Anonymous", ANONYMOUS),
    no_number("<null>", ANONYMOUS),
    no_number("WITHHELD", ANONYMOUS),
    no_number("Restricted", ANONYMOUS),
    no_number("PRIVATE", ANONYMOUS),
    no_number("INTERNATIONAL", ANONYMOUS),
    no_number("0000000000", ANONYMOUS),
    no_number("LLBT2", ANONYMOUS),
    no_number("sip:anonymous@anonymous.invalid", ANONYMOUS),
    # Not a phone number.
    no_number("1391234567", INVALID),
    no_number("139123456789", INVALID),
    no_number("#31#13912345678", INVALID),
    no_number("13912345678\x00", INVALID),
    no_number("+", INVALID),
    no_number("+999123456", INVALID),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.raw!r}@{c.area_code}" for c in CASES])
def test_normalise_table(case: Case) -> None:
    facts = normalise(case.raw, area_code=case.area_code)

    assert facts.kind is case.kind
    assert facts.e164 == case.e164
    assert facts.key == case.key
    assert facts.block == case.block
    assert facts.province == case.province
    assert facts.city == case.city
    assert facts.raw == case.raw


def test_normalise_trunk_zero_mobile_acceptance() -> None:
    facts = normalise("013912345678")

    assert facts.kind is MOBILE
    assert facts.e164 == "+8613912345678"
    assert facts.national == "13912345678"
    assert facts.country_code == 86
    assert facts.region == "江苏省常州市"
    assert facts.carrier == "中国移动"
    assert facts.masked == "+86139****5678"


def test_normalise_landline_national_has_no_trunk_zero() -> None:
    facts = normalise("02161234567")

    assert facts.national == "2161234567"
    assert facts.region == "上海市"


def test_normalise_one_key_for_every_mobile_form() -> None:
    forms = ["+8613912345678", "13912345678", "013912345678", "8613912345678", "008613912345678"]

    keys = {normalise(form).key for form in forms}

    assert keys == {"+8613912345678"}


# The 1[3-9]x prefixes that phonenumbers 9.0.43 lists as no mobile range.
UNALLOCATED_MOBILE_PREFIXES = frozenset({
    "140", "141", "142", "143", "144", "146", "148", "149", "154", "160", "161", "163", "164",
    "168", "169", "174", "179", "194",
})


@pytest.mark.parametrize("prefix", [str(p) for p in range(130, 200)])
def test_normalise_mobile_with_inner_double_zero(prefix: str) -> None:
    # Digits 6 and 7 are "00", which old parser data mistook for an international prefix.
    numbers = [f"{prefix}{middle}00{tail}" for middle, tail in [("52", "5807"), ("38", "9001")]]
    expected = (INVALID,) if prefix in UNALLOCATED_MOBILE_PREFIXES else (MOBILE, VIRTUAL)

    for number in numbers:
        for form in (number, f"0{number}", f"+86{number}", f"86{number}"):
            facts = normalise(form)

            assert facts.kind in expected, form
            assert facts.e164 == f"+86{number}", form


@pytest.mark.parametrize("prefix", sorted(UNALLOCATED_MOBILE_PREFIXES))
def test_unallocated_mobile_range_is_invalid(prefix: str) -> None:
    facts = normalise(f"{prefix}12345678")

    assert facts.kind is INVALID
    assert facts.key == f"+86{prefix}12345678"
    assert facts.carrier == ""


@pytest.mark.parametrize("prefix", sorted(UNALLOCATED_MOBILE_PREFIXES))
def test_unallocated_mobile_range_scores_invalid(prefix: str) -> None:
    rules = RulesConfig()

    decision = classify(normalise(f"{prefix}12345678"), History(), rules)

    assert [reason.rule for reason in decision.reasons] == ["kind.invalid"]
    assert decision.score == rules.kind_scores["invalid"]


def test_normalise_service_code_has_no_e164() -> None:
    facts = normalise("95588")

    assert facts.e164 is None
    assert facts.national == "95588"
    assert facts.country_code == 86
    assert facts.masked == "95***"


def test_normalise_sms_gateway_has_no_city() -> None:
    facts = normalise("1069012345")

    assert facts.region == ""
    assert facts.carrier == ""


def test_normalise_virtual_operator_without_carrier_data() -> None:
    facts = normalise("16212345678")

    assert facts.carrier == ""


def test_normalise_international_country_code() -> None:
    facts = normalise("0014155552671")

    assert facts.country_code == 1
    assert facts.national == "4155552671"


def test_normalise_invalid_area_code_is_ignored() -> None:
    facts = normalise("84664163", area_code="shanghai")

    assert facts.kind is INVALID


def test_normalise_other_region_sees_cn_as_international() -> None:
    facts = normalise("+8613912345678", region="US")

    assert facts.kind is INTERNATIONAL
    assert facts.key == "+8613912345678"


def test_normalise_other_region_national_number() -> None:
    facts = normalise("(415) 555-2671", region="US")

    assert facts.kind is LANDLINE
    assert facts.e164 == "+14155552671"


def test_normalise_unknown_region_is_invalid() -> None:
    facts = normalise("13912345678", region="XX")

    assert facts.kind is INVALID


def test_normalise_over_long_input_is_invalid_and_truncated() -> None:
    raw = "1" * 10_000

    facts = normalise(raw)

    assert facts.kind is INVALID
    assert facts.raw == raw[:MAX_RAW_LENGTH]
    assert facts.masked.count("*") <= 8


def test_normalise_over_long_valid_number_is_invalid() -> None:
    raw = " " * MAX_RAW_LENGTH + "13912345678"

    facts = normalise(raw)

    assert facts.kind is INVALID


def test_normalise_caches_result() -> None:
    first = normalise("13912345678", area_code="021")

    second = normalise("13912345678", area_code="021")

    assert second is first


@given(st.text())
def test_normalise_never_raises(raw: str) -> None:
    facts = normalise(raw, area_code="021")

    assert isinstance(facts.kind, NumberKind)


@given(st.text(alphabet="0123456789+-() ;", max_size=40))
def test_normalise_key_and_block_consistent(raw: str) -> None:
    facts = normalise(raw, area_code="021")

    # Every usable number has a key. An unallocated mobile-shaped number is INVALID yet
    # keeps its E.164 key, so that lists and history can still name it.
    if facts.kind not in (ANONYMOUS, INVALID):
        assert facts.key != ""
    if facts.kind is ANONYMOUS:
        assert facts.key == ""
    if facts.kind is INVALID and facts.key:
        assert facts.key == facts.e164
        assert facts.key.startswith("+861")
    assert facts.block == "" or facts.key.startswith(facts.block)
    assert facts.e164 is None or facts.key == facts.e164
