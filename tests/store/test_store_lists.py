"""Allow/block lists: validation, expiry and removal, and the in-memory matching table."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from callscreen.numbers.model import NumberKind
from callscreen.store import InvalidListEntryError, ListEntry, Store, match_lists

MOBILE = {"e164": "+8613912345678"}
VIRTUAL = {"e164": "+8617012345678", "kind": NumberKind.VIRTUAL_OPERATOR}
LANDLINE = {"e164": "+862161234567", "kind": NumberKind.LANDLINE}
BANK = {"e164": "", "kind": NumberKind.SERVICE, "key": "svc:95588", "block": ""}
SIX_DIGIT_SERVICE = {"e164": "", "kind": NumberKind.SERVICE, "key": "svc:950618", "block": ""}
ANONYMOUS = {"e164": "", "kind": NumberKind.ANONYMOUS, "key": "", "block": ""}

# (caller, match kind, pattern, expected to match)
MATCH_TABLE = [
    (MOBILE, "exact", "+8613912345678", True),
    (MOBILE, "exact", "+8613912345679", False),
    (BANK, "exact", "svc:95588", True),
    (BANK, "exact", "svc:9558", False),
    (MOBILE, "prefix", "+86139", True),
    (VIRTUAL, "prefix", "+86170", True),
    (VIRTUAL, "prefix", "+86171", False),
    (LANDLINE, "prefix", "+8621", True),
    (MOBILE, "block", "+861391234", True),
    (MOBILE, "block", "+86139123", False),
    (LANDLINE, "block", "+86216123", True),
    # A "95" prefix written for full numbers never swallows bank and service lines.
    (BANK, "prefix", "+8695", False),
    (BANK, "prefix", "+86", False),
    (SIX_DIGIT_SERVICE, "prefix", "+8695", False),
    # Service prefixes are explicit and match service codes only.
    (BANK, "prefix", "svc:95", True),
    (SIX_DIGIT_SERVICE, "prefix", "svc:9506", True),
    (BANK, "prefix", "svc:96", False),
    (MOBILE, "prefix", "svc:1", False),
    (ANONYMOUS, "exact", "+8613912345678", False),
    (ANONYMOUS, "prefix", "+86", False),
]


def entry(match: str, pattern: str, list_name: str = "block", now: datetime | None = None,
          **changes) -> ListEntry:
    added_at = now or datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    return ListEntry(id=1, list_name=list_name, match=match, pattern=pattern, note="n",
                     added_by="admin", added_at=added_at, **changes)


@pytest.mark.parametrize(("caller", "match", "pattern", "expected"), MATCH_TABLE)
def test_match_lists_table(make_facts, caller: dict, match: str, pattern: str,
                           expected: bool) -> None:
    facts = make_facts(**caller)

    matches = match_lists([entry(match, pattern)], facts)

    assert bool(matches) is expected


def test_match_lists_reports_list_kind_and_pattern(make_facts) -> None:
    facts = make_facts(**BANK)

    matches = match_lists([entry("exact", "svc:95588", list_name="allow")], facts)

    assert len(matches) == 1
    assert matches[0].list_name == "allow"
    assert matches[0].pattern_kind == "exact"
    assert matches[0].pattern == "svc:95588"
    assert matches[0].note == "n"


def test_match_lists_orders_exact_block_then_longer_prefix(make_facts) -> None:
    facts = make_facts(**MOBILE)
    entries = [entry("prefix", "+86139"), entry("prefix", "+8613912"),
               entry("block", "+861391234"), entry("exact", "+8613912345678", "allow")]

    matches = match_lists(entries, facts)

    assert [m.pattern for m in matches] == ["+8613912345678", "+861391234", "+8613912",
                                           "+86139"]


def test_match_lists_skips_expired_and_removed_with_now(make_facts, now: datetime) -> None:
    facts = make_facts(**MOBILE)
    entries = [
        entry("exact", "+8613912345678", expires_at=now - timedelta(seconds=1)),
        entry("block", "+861391234", removed_at=now - timedelta(days=1)),
        entry("prefix", "+86139", expires_at=now + timedelta(days=1)),
    ]

    matches = match_lists(entries, facts, now)

    assert [m.pattern for m in matches] == ["+86139"]


async def test_active_entries_leave_out_expired_and_removed(store: Store, now: datetime) -> None:
    kept = await store.add_list_entry("block", "exact", "+8613912345678", added_by="admin",
                                      expires_at=now + timedelta(days=1))
    forever = await store.add_list_entry("allow", "exact", "svc:95588", added_by="admin")
    await store.add_list_entry("block", "prefix", "+86170", added_by="admin",
                               expires_at=now - timedelta(seconds=1))
    removed = await store.add_list_entry("block", "block", "+861391234", added_by="admin")
    await store.remove_list_entry(removed, removed_by="admin", removed_at=now)

    entries = await store.active_list_entries(now)

    assert [e.id for e in entries] == [kept, forever]


async def test_entry_expiring_exactly_now_is_inactive(store: Store, now: datetime) -> None:
    await store.add_list_entry("block", "exact", "+8613912345678", added_by="admin",
                               expires_at=now)

    entries = await store.active_list_entries(now)

    assert entries == []


async def test_active_entries_round_trip_fields(store: Store, now: datetime) -> None:
    await store.add_list_entry("allow", "prefix", "svc:955", added_by="it-admin",
                               note="银行客服", added_at=now,
                               expires_at=now + timedelta(days=30))

    [stored] = await store.active_list_entries(now)

    assert stored.list_name == "allow"
    assert stored.match == "prefix"
    assert stored.pattern == "svc:955"
    assert stored.note == "银行客服"
    assert stored.added_by == "it-admin"
    assert stored.added_at == now
    assert stored.expires_at == now + timedelta(days=30)


async def test_remove_list_entry_twice_reports_false(store: Store) -> None:
    entry_id = await store.add_list_entry("block", "exact", "+8613912345678", added_by="a")

    first = await store.remove_list_entry(entry_id, removed_by="a")
    second = await store.remove_list_entry(entry_id, removed_by="a")
    missing = await store.remove_list_entry(9999, removed_by="a")

    assert (first, second, missing) == (True, False, False)


@pytest.mark.parametrize(("list_name", "match", "pattern", "field"), [
    ("grey", "exact", "+8613912345678", "list"),
    ("block", "regex", "+8613912345678", "match"),
    ("block", "exact", "13912345678", "pattern"),
    ("block", "exact", "+86 139 1234 5678", "pattern"),
    ("block", "exact", "95588", "pattern"),
    ("block", "prefix", "95", "pattern"),
    ("block", "prefix", "", "pattern"),
    ("block", "block", "svc:955", "pattern"),
    ("allow", "exact", "\ufeff+8613912345678", "pattern"),
])
async def test_add_list_entry_rejects_invalid_input(store: Store, list_name: str, match: str,
                                                    pattern: str, field: str) -> None:
    with pytest.raises(InvalidListEntryError) as caught:
        await store.add_list_entry(list_name, match, pattern, added_by="admin")

    assert caught.value.field == field
    assert caught.value.value == {"list": list_name, "match": match}.get(field, pattern)
