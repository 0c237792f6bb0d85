"""Allow and block lists: stored entries and the pure matching the classifier runs in memory.

Patterns are stored in the same normal form as NumberFacts.key, so that one normal form is
used on write and on match:
- exact: an E.164 number ("+8613912345678") or a service code ("svc:95588");
- prefix: "+" and leading digits of E.164 ("+86171"), matched only against numbers that are
  not service codes, or "svc:" and leading digits ("svc:955"), matched only against service
  codes. A block prefix "+8695" therefore never swallows the bank line 95588;
- block: a number block, the key less its last four digits ("+861391234").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from callscreen.classifier.model import ListMatch
from callscreen.errors import CallscreenError
from callscreen.numbers.model import NumberFacts, NumberKind
from callscreen.store.db import Database, from_db_time, optional_from_db_time, to_db_time

log = structlog.get_logger(__name__)

LIST_NAMES = ("allow", "block")
SERVICE_PREFIX = "svc:"
PATTERN_FORMS: dict[str, re.Pattern[str]] = {
    "exact": re.compile(r"^(\+[1-9]\d{3,14}|svc:\d{3,8})$"),
    "prefix": re.compile(r"^(\+[1-9]\d{0,14}|svc:\d{1,8})$"),
    "block": re.compile(r"^\+[1-9]\d{1,14}$"),
}
PATTERN_EXAMPLES = {
    "exact": "+8613912345678 或/or svc:95588",
    "prefix": "+86171 或/or svc:955",
    "block": "+861391234",
}
MATCH_ORDER = {"exact": 0, "block": 1, "prefix": 2}


class InvalidListEntryError(CallscreenError, ValueError):
    """A list entry has an unknown list or match kind, or a pattern not in normal form."""

    def __init__(self, message: str, *, field: str, value: str) -> None:
        self.field = field
        self.value = value
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One allow- or block-list entry as stored."""

    id: int
    list_name: str  # "allow" or "block"
    match: str  # "exact", "prefix" or "block"
    pattern: str
    note: str
    added_by: str
    added_at: datetime
    expires_at: datetime | None = None
    removed_at: datetime | None = None

    def is_active(self, now: datetime) -> bool:
        """Return whether the entry is neither removed nor expired at `now`."""
        if self.removed_at is not None and self.removed_at <= now:
            return False

        return self.expires_at is None or self.expires_at > now


def validate_entry(list_name: str, match: str, pattern: str) -> None:
    """Check the list name, match kind and pattern form.

    Raises InvalidListEntryError naming the bad field, its value and the allowed form.
    """
    if list_name not in LIST_NAMES:
        raise InvalidListEntryError(
            f"名单只能是 allow 或 block / list must be 'allow' or 'block', not {list_name!r}",
            field="list", value=list_name,
        )
    if match not in PATTERN_FORMS:
        raise InvalidListEntryError(
            f"匹配方式只能是 exact、prefix 或 block / match must be 'exact', 'prefix' or "
            f"'block', not {match!r}",
            field="match", value=match,
        )
    if not PATTERN_FORMS[match].match(pattern):
        raise InvalidListEntryError(
            f"号码格式无效 / invalid {match} pattern {pattern!r}; "
            f"expected a form like {PATTERN_EXAMPLES[match]}",
            field="pattern", value=pattern,
        )


async def insert_list_entry(db: Database, list_name: str, match: str, pattern: str, *,
                            added_by: str, note: str = "", expires_at: datetime | None = None,
                            added_at: datetime | None = None) -> int:
    """Validate and store a list entry, and return its id."""
    validate_entry(list_name, match, pattern)

    params = (
        list_name, match, pattern, note, added_by, to_db_time(added_at or datetime.now(UTC)),
        None if expires_at is None else to_db_time(expires_at),
    )
    async with db.write("add_list_entry") as connection:
        cursor = await connection.execute(
            "INSERT INTO list_entries (list, match, pattern, note, added_by, added_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            params,
        )
        entry_id = int(cursor.lastrowid or 0)

    log.info("list_entry_added", entry_id=entry_id, list_name=list_name, match=match)
    return entry_id


async def mark_list_entry_removed(db: Database, entry_id: int, *, removed_by: str,
                                  removed_at: datetime | None = None) -> bool:
    """Mark an entry removed, keeping the row for the record.

    Returns False when there is no such entry or it was already removed.
    """
    params = (to_db_time(removed_at or datetime.now(UTC)), removed_by, entry_id)
    async with db.write("remove_list_entry") as connection:
        cursor = await connection.execute(
            "UPDATE list_entries SET removed_at = ?, removed_by = ?"
            " WHERE id = ? AND removed_at IS NULL",
            params,
        )
        removed = cursor.rowcount == 1

    log.info("list_entry_removed", entry_id=entry_id, removed=removed)
    return removed


async def load_active_entries(db: Database, now: datetime) -> list[ListEntry]:
    """Return the entries that are neither removed nor expired at `now`."""
    rows = await db.fetch_all(
        "SELECT id, list, match, pattern, note, added_by, added_at, expires_at, removed_at"
        " FROM list_entries WHERE removed_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
        " ORDER BY id",
        (to_db_time(now),), action="active_list_entries",
    )

    return [
        ListEntry(
            id=row["id"], list_name=row["list"], match=row["match"], pattern=row["pattern"],
            note=row["note"], added_by=row["added_by"], added_at=from_db_time(row["added_at"]),
            expires_at=optional_from_db_time(row["expires_at"]),
            removed_at=optional_from_db_time(row["removed_at"]),
        )
        for row in rows
    ]


def match_lists(entries: Iterable[ListEntry], facts: NumberFacts,
                now: datetime | None = None) -> tuple[ListMatch, ...]:
    """Return the entries that match the caller: exact first, then block, then longer prefixes.

    With `now`, entries removed or expired by then are skipped, so that a cached entry list
    does not outlive an expiry. A caller with no key (anonymous, invalid) matches nothing.
    """
    if not facts.key:
        return ()

    matched = [
        entry for entry in entries
        if (now is None or entry.is_active(now)) and entry_matches(entry, facts)
    ]
    matched.sort(key=lambda entry: (MATCH_ORDER.get(entry.match, 3), -len(entry.pattern)))

    return tuple(
        ListMatch(list_name=entry.list_name, pattern_kind=entry.match, pattern=entry.pattern,
                  note=entry.note)
        for entry in matched
    )


def entry_matches(entry: ListEntry, facts: NumberFacts) -> bool:
    """Return whether one entry matches the caller, by its match kind."""
    if entry.match == "exact":
        return facts.key == entry.pattern
    if entry.match == "block":
        return bool(facts.block) and facts.block == entry.pattern
    if entry.match == "prefix":
        return _prefix_matches(entry.pattern, facts)

    return False


def _prefix_matches(pattern: str, facts: NumberFacts) -> bool:
    is_service = facts.kind is NumberKind.SERVICE or facts.key.startswith(SERVICE_PREFIX)
    if pattern.startswith(SERVICE_PREFIX):
        return is_service and facts.key.startswith(pattern)

    # A "+" prefix covers full numbers only: short codes need an explicit "svc:" prefix.
    if is_service or facts.e164 is None:
        return False

    return facts.e164.startswith(pattern)
