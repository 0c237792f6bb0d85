"""Turn what an admin types or a spreadsheet contains into a list pattern in normal form.

The stored form is the one `callscreen.store.lists` matches on: "13912345678",
"+8613912345678" and "013912345678" all become "+8613912345678", so one number is one entry.
"""

from __future__ import annotations

import re

import phonenumbers

from callscreen.config.model import NumbersConfig
from callscreen.i18n import both
from callscreen.numbers.model import NumberFacts, NumberKind
from callscreen.numbers.normalise import normalise
from callscreen.store.lists import (
    LIST_NAMES,
    PATTERN_FORMS,
    SERVICE_PREFIX,
    InvalidListEntryError,
    validate_entry,
)

# Spreadsheets save long numbers as "1.39123E+10" or "13912345678.0"; both lost digits or
# gained some, so such a cell is rejected instead of guessed.
SPREADSHEET_NUMBER = re.compile(r"^\d+(\.\d*)?[eE][+-]?\d+$|^\d+\.\d*$")
DIGITS = re.compile(r"^\+?\d+$")
# Separators people type inside numbers, and invisible characters that spreadsheets and
# editors leave behind (BOM, zero-width space, no-break spaces).
STRIPPED_CHARACTERS = str.maketrans("", "", " \t-()\u00a0\u3000\ufeff\u200b")
# Chinese numbers starting with these digits are service short codes (95588, 96688, 12315),
# whose key is "svc:95588", so an E.164 prefix such as "+8695" can never match one. "10" is
# left out because "10" is also Beijing's area code.
SERVICE_ONLY_PREFIXES = ("95", "96", "12")


def _has_number(facts: NumberFacts) -> bool:
    # An unallocated mobile-shaped number is kind INVALID but keeps its E.164 key and block,
    # so spoofed caller IDs in such ranges can still be listed.
    return bool(facts.key) and facts.kind is not NumberKind.ANONYMOUS


def normal_pattern(list_name: str, match: str, text: str, numbers: NumbersConfig) -> str:
    """Return the normal form of `text` for the match kind "exact", "prefix" or "block".

    exact: a full number, in any form the caller-ID normaliser reads, or "svc:95588".
    prefix: "+" and leading digits, national leading digits ("0755", "171"), or "svc:955".
    block: a full number (its block is taken) or a block written like a prefix.
    Raises InvalidListEntryError naming the field, the value and the expected form, also for
    an unknown list name or match kind.
    """
    if list_name not in LIST_NAMES or match not in PATTERN_FORMS:
        # Raises on the list or match field, whichever is bad, before the pattern is read.
        validate_entry(list_name, match, "")
    compact = text.translate(STRIPPED_CHARACTERS)
    if SPREADSHEET_NUMBER.match(compact):
        raise InvalidListEntryError(
            both("list.spreadsheet_number", value=repr(text)),
            field="pattern", value=text,
        )

    pattern = _convert(compact, match, numbers)
    validate_entry(list_name, match, pattern)

    return pattern


def _convert(compact: str, match: str, numbers: NumbersConfig) -> str:
    if match == "exact":
        return _exact(compact, numbers)
    if match == "block":
        return _block(compact, numbers)

    return _prefix(compact, numbers)


def _exact(compact: str, numbers: NumbersConfig) -> str:
    if compact.startswith(SERVICE_PREFIX):
        return compact

    facts = normalise(compact, region=numbers.default_region, area_code=numbers.area_code)
    if not _has_number(facts):
        raise InvalidListEntryError(
            both("list.invalid_number", value=repr(compact)),
            field="pattern", value=compact,
        )

    return facts.key


def _block(compact: str, numbers: NumbersConfig) -> str:
    facts = normalise(compact, region=numbers.default_region, area_code=numbers.area_code)
    if _has_number(facts) and facts.block:
        return facts.block

    return _prefix(compact, numbers)


def _prefix(compact: str, numbers: NumbersConfig) -> str:
    if compact.startswith(SERVICE_PREFIX) or not DIGITS.match(compact):
        return compact
    if compact.startswith("+"):
        return compact
    if compact.startswith("00"):
        return "+" + compact[2:]

    # National digits: drop the trunk prefix 0 and put the country code of the PBX in front.
    national = compact.removeprefix("0")
    country_code = phonenumbers.country_code_for_region(numbers.default_region)
    if country_code == 86 and national.startswith(SERVICE_ONLY_PREFIXES):
        raise InvalidListEntryError(both("list.service_prefix", value=compact, national=national),
                                    field="pattern", value=compact)
    return f"+{country_code}{national}"
