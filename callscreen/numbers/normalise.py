"""Turn a raw caller ID into NumberFacts, with the quirks of Chinese carrier trunks.

Conventions (the rest of callscreen relies on them):

- `national` is the national significant number, without the trunk prefix 0: "13912345678" for a
  mobile and "2161234567" for a Shanghai landline (area code 21, local number 61234567).
- `key` is the E.164 form when there is one; a service short code has the key "svc:95588".
  Anonymous and invalid caller IDs have the key "".
- `block` is the key less its last four digits ("+861391234"). Service numbers have no block,
  because banks and utilities do not rotate through number ranges.
- A caller ID with no usable number is ANONYMOUS: empty, a placeholder word ("<unknown>",
  "anonymous", "WITHHELD", ...), a letters-and-digits token where the number belongs ("LLBT2",
  a name) or all zeros ("0000000000"). Anything else that is not a number is INVALID:
  punctuation, control characters, digits that no numbering plan accepts, input over 64 characters.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import NamedTuple

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType, carrier, geocoder, shortnumberinfo

from callscreen.numbers.geo import split_region
from callscreen.numbers.model import NumberFacts, NumberKind
from callscreen.numbers.placeholders import is_name_token, is_placeholder

# Caller IDs are at most a few dozen characters, so longer input is rejected before parsing.
# This bounds the parse cost and keeps huge strings out of the cache.
MAX_RAW_LENGTH = 64

# An uncached call takes about 45 µs on average: best of 3 passes over
# bench.callers.caller_pool(20000, seed=7) with area code 21, CPython 3.11.7, phonenumbers
# 9.0.43, 2-core Intel Xeon VM. A full cache of 8192 entries takes about 5 MB (tracemalloc).
_CACHE_SIZE = 8192

_CN_REGION = "CN"
_CN_COUNTRY_CODE = 86

# Mobile virtual network operator (MVNO) ranges, often used for bulk calling.
_VIRTUAL_OPERATOR_PREFIXES = ("162", "165", "167", "170", "171")

# Short-code families a caller may send after an area code, e.g. "020" + "95508".
_SERVICE_PREFIXES = ("95", "96", "10", "12")

# A local subscriber number starts with 2-8 and has 7 or 8 digits. Numbers starting with 0, 1
# and 9 are trunk prefixes, mobiles and service codes, so they are never local numbers.
_LOCAL_NUMBER = re.compile(r"[2-8]\d{6,7}")

# The shape of a Chinese mobile number: 11 digits starting 1[3-9]. "86" + this shape is read
# as a country code and a national number even in a range phonenumbers does not list.
_MOBILE_SHAPE = re.compile(r"1[3-9]\d{9}")

# E.164 allows at most 15 digits, so "+86" leaves 13 for the national number.
_MAX_CN_NATIONAL_LENGTH = 13

_SEPARATORS = str.maketrans("", "", " \t-().\u00a0\u3000")

# Deletes every ASCII character except the digits 0-9, for text already known to be ASCII.
_ASCII_NON_DIGITS = str.maketrans(
    "", "", "".join(char for char in map(chr, range(128)) if not char.isdigit())
)

# The types carrier.name_for_number looks up (phonenumbers 9.0.43, carrier._is_mobile).
_CARRIER_TYPES = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.PAGER}
)

_KIND_BY_TYPE = {
    PhoneNumberType.MOBILE: NumberKind.MOBILE,
    PhoneNumberType.FIXED_LINE: NumberKind.LANDLINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberKind.LANDLINE,
    PhoneNumberType.TOLL_FREE: NumberKind.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: NumberKind.SERVICE,
}


def normalise(raw: str, *, region: str = _CN_REGION, area_code: str = "") -> NumberFacts:
    """Normalise a caller ID as Asterisk delivers it and derive its facts.

    `region` is the ISO country of the PBX. `area_code` is the PBX's own area code ("21" or
    "021"), which is put in front of a 7 or 8 digit local number. Without it such a number is
    INVALID. Never raises for a str `raw` (a property test checks this), and caches results
    by (raw, region, area_code).
    """
    if len(raw) > MAX_RAW_LENGTH:
        return _no_number(raw[:MAX_RAW_LENGTH], NumberKind.INVALID)

    return _normalise_cached(raw, region, area_code)


def mask_number(text: str) -> str:
    """Mask a phone number for logs: "+8613912345678" becomes "+86139****5678".

    Keeps the first 3 and last 4 digits of numbers with 11 or more digits, and hides at least
    4 digits of shorter ones. A short code of up to 6 digits keeps its first 2 ("95***").
    Characters other than digits are dropped, so text without digits masks to "".
    """
    compact = text.strip()
    digits = _ascii_digits(compact)
    if not digits:
        return ""

    prefix = ""
    if compact.startswith("+"):
        prefix = "+"
        if digits.startswith("86"):
            prefix, digits = "+86", digits[2:]

    return prefix + _mask_digits(digits)


def _ascii_digits(text: str) -> str:
    """Return the decimal digits in `text` as ASCII digits, dropping every other character."""
    if text.isascii():
        return text.translate(_ASCII_NON_DIGITS)

    return "".join(str(unicodedata.decimal(char)) for char in text if char.isdecimal())


def _mask_digits(digits: str) -> str:
    length = len(digits)
    if length <= 6:
        return digits[:2] + "*" * (length - 2)

    head = 3
    tail = 4 if length >= 11 else length - 7
    hidden = length - head - tail

    return digits[:head] + "*" * min(hidden, 8) + digits[length - tail:]


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _normalise_cached(raw: str, region: str, area_code: str) -> NumberFacts:
    token = _clean(raw)
    if is_placeholder(token) or is_name_token(token):
        return _no_number(raw, NumberKind.ANONYMOUS)

    split = _split_digits(token)
    if split is None:
        return _no_number(raw, NumberKind.INVALID)

    plus, digits = split
    if not digits.strip("0"):
        return _no_number(raw, NumberKind.ANONYMOUS)

    if region.upper() != _CN_REGION:
        return _normalise_other_region(raw, plus, digits, region)

    return _normalise_cn(raw, plus, digits, _area_digits(area_code))


def _clean(raw: str) -> str:
    """Strip URI wrappers ("<sip:user@host>", "tel:"), SIP parameters and separators."""
    text = raw.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()

    scheme, colon, rest = text.partition(":")
    if colon and scheme.casefold() in {"sip", "sips", "tel"}:
        text = rest.split("@", 1)[0]
    text = text.split(";", 1)[0]

    return text.translate(_SEPARATORS)


def _split_digits(token: str) -> tuple[bool, str] | None:
    """Split "+8613912345678" into (True, "8613912345678"); None when not only digits."""
    plus = token.startswith("+")
    body = token[1:] if plus else token
    if not body.isdecimal():
        return None

    # Full-width and other Unicode digits become ASCII digits.
    return plus, _ascii_digits(body)


def _area_digits(area_code: str) -> str:
    """Return the area code without its trunk 0 ("021" -> "21"), or "" when it is unusable."""
    digits = area_code.strip().removeprefix("0")
    if not (digits.isascii() and digits.isdigit() and 2 <= len(digits) <= 3):
        return ""

    return digits


def _normalise_cn(raw: str, plus: bool, digits: str, area: str) -> NumberFacts:
    if plus:
        return _from_international(raw, digits)
    if digits.startswith("00"):
        return _from_international(raw, digits[2:])
    if digits.startswith("0"):
        return _classify_cn(raw, digits[1:], bare=False)

    stripped = _strip_bare_country_code(digits)
    if stripped is not None:
        national, parsed = stripped
        return _classify_cn(raw, national, bare=False, parsed=parsed)

    if _LOCAL_NUMBER.fullmatch(digits):
        if not area:
            return _no_number(raw, NumberKind.INVALID)
        return _classify_cn(raw, area + digits, bare=False)

    return _classify_cn(raw, digits, bare=True)


def _strip_bare_country_code(digits: str) -> tuple[str, _ParsedCn] | None:
    """Return the national number of "86" + a full national number, e.g. "8613912345678".

    The national number comes with its parsed form, so that it is not parsed again. At least
    12 digits are required: every Chinese full number has 10 or 11 digits, while an 8 digit
    local number such as "86123456" must keep its leading 86.
    """
    if not digits.startswith("86") or len(digits) < 12:
        return None

    national = digits[2:].removeprefix("0")
    parsed = _parse_cn(national)
    if parsed is None:
        return None
    if not (parsed.is_valid or _MOBILE_SHAPE.fullmatch(national)):
        return None

    return national, parsed


def _from_international(raw: str, digits: str) -> NumberFacts:
    number = _parse("+" + digits)
    if number is None:
        return _no_number(raw, NumberKind.INVALID)

    if number.country_code == _CN_COUNTRY_CODE:
        # Some trunks send the trunk 0 after the country code: "+86 021 6123 4567".
        national = digits[2:].removeprefix("0")

        # Without that 0, "+" + digits is the very text _classify_cn would parse.
        parsed = _ParsedCn.from_number(number) if digits == "86" + national else None
        return _classify_cn(raw, national, bare=False, parsed=parsed)

    return _international_facts(raw, number, phonenumbers.number_type(number))


def _classify_cn(
    raw: str, national: str, *, bare: bool, parsed: _ParsedCn | None = None
) -> NumberFacts:
    """Classify a Chinese national number; `bare` means it came with no 0, 00 or 86 prefix.

    `parsed` is `national` already parsed by _parse_cn, when the caller has it.
    """
    service = _service_code(national, bare=bare)
    if service is not None:
        return _short_code_facts(raw, service)

    # SMS gateway numbers ("1069012345") parse as Beijing landlines (area code 10). A caller
    # ID with a trunk 0 or a country code ("01069012345") is a Beijing landline.
    if bare and national.startswith("106") and 8 <= len(national) <= 20:
        return _sms_gateway_facts(raw, national)

    if parsed is None:
        parsed = _parse_cn(national)
    kind = None if parsed is None else _cn_kind(parsed, national)
    if parsed is None or kind is None:
        return _no_number(raw, NumberKind.INVALID)

    return _cn_facts(raw, parsed, kind)


def _service_code(national: str, *, bare: bool) -> str | None:
    """Return the service short code in "95588", or in "2095508" (area code 20 + "95508")."""
    if len(national) <= 6:
        return national if _is_short_code(national) else None
    if bare or not 7 <= len(national) <= 9:
        return None

    # Area codes 10 and 2x have two digits; every other area code has three.
    area_length = 2 if national.startswith(("10", "2")) else 3
    local = national[area_length:]
    if national.startswith("1") and area_length == 3:
        return None
    if not local.startswith(_SERVICE_PREFIXES) or not _is_short_code(local):
        return None

    return local


def _is_short_code(code: str) -> bool:
    number = _parse("+86" + code)
    if number is None:
        return False

    return shortnumberinfo.is_valid_short_number_for_region(number, _CN_REGION)


class _ParsedCn(NamedTuple):
    """A parsed number with country code 86 and its phonenumbers type.

    Computing the type is the slow part of phonenumbers' checks, and is_valid_number,
    number_type, geocoder.description_for_number and carrier.name_for_number each compute it
    again. So it is computed once here and passed on.
    """

    number: PhoneNumber
    number_type: int

    @classmethod
    def from_number(cls, number: PhoneNumber) -> _ParsedCn:
        return cls(number, phonenumbers.number_type(number))

    @property
    def is_valid(self) -> bool:
        # Country code 86 has the single region CN, so phonenumbers' is_valid_number(number)
        # is number_type(number) != UNKNOWN on the same CN metadata (phonenumbers 9.0.43).
        return self.number_type != PhoneNumberType.UNKNOWN


def _parse_cn(national: str) -> _ParsedCn | None:
    number = _parse("+86" + national)
    if number is None:
        return None

    return _ParsedCn.from_number(number)


def _cn_kind(parsed: _ParsedCn, national: str) -> NumberKind | None:
    if parsed.is_valid:
        kind = _type_kind(parsed.number_type, national)
    elif _MOBILE_SHAPE.fullmatch(national):
        # A mobile-shaped number in a range that is not allocated (140-144, 154, 174, 194
        # and others in phonenumbers 9.0) is a made-up caller ID. It keeps its E.164 form,
        # so lists and history still match it.
        # NOTE: a range allocated after the installed phonenumbers release is also read as
        # invalid (kind_scores.invalid) until phonenumbers is upgraded.
        return NumberKind.INVALID
    else:
        return None

    if kind is NumberKind.MOBILE and national.startswith(_VIRTUAL_OPERATOR_PREFIXES):
        return NumberKind.VIRTUAL_OPERATOR

    return kind


def _type_kind(number_type: int, national: str) -> NumberKind:
    if number_type == PhoneNumberType.SHARED_COST:
        # 400 numbers are shared-cost hotlines that people treat as toll-free. The rest of the
        # shared-cost plan (950xxxxxxx, 1010xxxx, 1096xxx) is carrier and service lines.
        return NumberKind.TOLL_FREE if national.startswith("400") else NumberKind.SERVICE

    return _KIND_BY_TYPE.get(number_type, NumberKind.LANDLINE)


def _parse(text: str, region: str | None = None) -> PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _cn_facts(raw: str, parsed: _ParsedCn, kind: NumberKind) -> NumberFacts:
    number = parsed.number
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    province, city = split_region(_cn_description(parsed))

    # Both kinds come from the type MOBILE only, which carrier.name_for_number would look up.
    has_carrier = kind in (NumberKind.MOBILE, NumberKind.VIRTUAL_OPERATOR)

    return NumberFacts(
        raw=raw,
        kind=kind,
        e164=e164,
        national=phonenumbers.national_significant_number(number),
        key=e164,
        block="" if kind is NumberKind.SERVICE else e164[:-4],
        country_code=_CN_COUNTRY_CODE,
        province=province,
        city=city,
        carrier=carrier.name_for_valid_number(number, "zh") if has_carrier else "",
        masked=mask_number(e164),
    )


def _cn_description(parsed: _ParsedCn) -> str:
    """Return what geocoder.description_for_number(number, "zh") returns, with the known type.

    The steps are those of phonenumbers 9.0.43's description_for_number.
    """
    number_type = parsed.number_type
    if number_type == PhoneNumberType.UNKNOWN:
        return ""
    if not phonenumbers.is_number_type_geographical(number_type, _CN_COUNTRY_CODE):
        return geocoder.country_name_for_number(parsed.number, "zh")

    return geocoder.description_for_valid_number(parsed.number, "zh")


def _short_code_facts(raw: str, code: str) -> NumberFacts:
    return NumberFacts(
        raw=raw,
        kind=NumberKind.SERVICE,
        e164=None,
        national=code,
        key=f"svc:{code}",
        block="",
        country_code=_CN_COUNTRY_CODE,
        province="",
        city="",
        carrier="",
        masked=mask_number(code),
    )


def _sms_gateway_facts(raw: str, national: str) -> NumberFacts:
    # TODO: gateway numbers longer than 13 digits have no E.164 form, so they share the "svc:"
    # keys with short codes. Give them their own key prefix if rules must tell them apart.
    e164 = f"+86{national}" if len(national) <= _MAX_CN_NATIONAL_LENGTH else None
    key = e164 if e164 is not None else f"svc:{national}"

    return NumberFacts(
        raw=raw,
        kind=NumberKind.SMS_GATEWAY,
        e164=e164,
        national=national,
        key=key,
        block=e164[:-4] if e164 is not None else "",
        country_code=_CN_COUNTRY_CODE,
        province="",
        city="",
        carrier="",
        masked=mask_number(key),
    )


def _international_facts(raw: str, number: PhoneNumber, number_type: int) -> NumberFacts:
    """Facts of a foreign number; `province` is the country name in Chinese ("美国").

    `number_type` is phonenumbers.number_type(number). A number is valid exactly when its type
    is not UNKNOWN, because is_valid_number and number_type both use the metadata of
    region_code_for_number(number), and both fail when it has no region (phonenumbers 9.0.43).
    """
    is_valid = number_type != PhoneNumberType.UNKNOWN
    if not (is_valid or phonenumbers.is_possible_number(number)):
        return _no_number(raw, NumberKind.INVALID)

    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    return NumberFacts(
        raw=raw,
        kind=NumberKind.INTERNATIONAL,
        e164=e164,
        national=phonenumbers.national_significant_number(number),
        key=e164,
        block=e164[:-4],
        country_code=number.country_code,
        province=geocoder.country_name_for_number(number, "zh"),
        city="",
        carrier=_carrier_name(number, number_type),
        masked=mask_number(e164),
    )


def _carrier_name(number: PhoneNumber, number_type: int) -> str:
    """Return what carrier.name_for_number(number, "zh") returns, with the known type."""
    if number_type not in _CARRIER_TYPES:
        return ""

    return carrier.name_for_valid_number(number, "zh")


def _normalise_other_region(raw: str, plus: bool, digits: str, region: str) -> NumberFacts:
    # TODO: only plain phonenumbers rules apply outside China. Trunk quirks, short codes and
    # province/city names are handled for region "CN" only.
    number = _parse(("+" if plus else "") + digits, region.upper())
    number_type = PhoneNumberType.UNKNOWN if number is None else phonenumbers.number_type(number)
    if number is None or number_type == PhoneNumberType.UNKNOWN:
        # UNKNOWN is exactly what phonenumbers.is_valid_number rejects, see _international_facts.
        return _no_number(raw, NumberKind.INVALID)

    if number.country_code != phonenumbers.country_code_for_region(region.upper()):
        return _international_facts(raw, number, number_type)

    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    kind = _KIND_BY_TYPE.get(number_type, NumberKind.LANDLINE)

    return NumberFacts(
        raw=raw,
        kind=kind,
        e164=e164,
        national=phonenumbers.national_significant_number(number),
        key=e164,
        block="" if kind is NumberKind.SERVICE else e164[:-4],
        country_code=number.country_code,
        province="",
        city="",
        carrier=_carrier_name(number, number_type),
        masked=mask_number(e164),
    )


def _no_number(raw: str, kind: NumberKind) -> NumberFacts:
    return NumberFacts(
        raw=raw,
        kind=kind,
        e164=None,
        national="",
        key="",
        block="",
        country_code=None,
        province="",
        city="",
        carrier="",
        masked=mask_number(raw),
    )
