"""Allow/block list changes shared by `callscreen list` and the admin pages.

Adding, removing and importing go through these functions, which store each change with
its audit row (`callscreen.store.admin`). The entry keeps the name it was added by; the
audit row names the actor: the admin's username on the web, "cli:<login name>" from the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from callscreen.admin.lists import (
    MAX_NOTE_CHARS,
    clean_note,
    decode_csv,
    parse_expiry,
    parse_import,
)
from callscreen.admin.patterns import normal_pattern
from callscreen.admin.users import AdminActor
from callscreen.config.model import NumbersConfig
from callscreen.errors import ImportFileError
from callscreen.i18n import both
from callscreen.store import Store
from callscreen.store.admin import (
    NewListEntry,
    add_list_entries,
    list_entries,
    remove_list_entries,
)
from callscreen.store.lists import InvalidListEntryError, ListEntry


@dataclass(frozen=True, slots=True)
class AddResult:
    """The entry added, or the identical entry already in force (`existed`)."""

    entry_id: int
    pattern: str
    existed: bool


@dataclass(slots=True)
class ImportResult:
    """The outcome of an import: rows stored, rows skipped, and one problem per bad row.

    `rejected` means nothing was stored because of the problems.
    """

    encoding: str
    imported: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)
    rejected: bool = False


def parse_expiry_text(text: str, numbers: NumbersConfig, now: datetime) -> datetime | None:
    """Return the end of the last day in force ("2027-01-31"), or None for no expiry.

    Raises InvalidListEntryError for a malformed date or one already past.
    """
    expires_at = parse_expiry(text, ZoneInfo(numbers.time_zone))
    if expires_at is not None and expires_at <= now:
        raise InvalidListEntryError(
            both("list.expiry_past", value=repr(text)), field="expires", value=text)

    return expires_at


async def find_entries(store: Store, list_name: str | None, match: str, pattern: str,
                       now: datetime) -> list[ListEntry]:
    """Return the entries in force with this match kind and pattern (in either list if None)."""
    entries = await list_entries(store.db, now=now, list_name=list_name)

    return [entry for entry in entries if entry.match == match and entry.pattern == pattern]


async def add_entry(store: Store, numbers: NumbersConfig, actor: AdminActor, *,
                    list_name: str, match: str, number: str, note: str = "",
                    expires: str = "", added_by: str | None = None,
                    now: datetime | None = None) -> AddResult:
    """Add one entry unless an identical one is in force; return its id and pattern.

    Raises InvalidListEntryError naming the bad field and value. The note loses control
    and bidi characters (see `clean_note`) and may have at most `MAX_NOTE_CHARS` characters.
    """
    moment = now or datetime.now(UTC)
    pattern = normal_pattern(list_name, match, number, numbers)
    note = clean_note(note)
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidListEntryError(both("list.note_too_long", length=len(note),
                                         limit=MAX_NOTE_CHARS), field="note", value=note[:40])
    expires_at = parse_expiry_text(expires, numbers, moment)

    existing = await find_entries(store, list_name, match, pattern, moment)
    if existing:
        return AddResult(existing[0].id, pattern, existed=True)

    entry = NewListEntry(list_name, match, pattern, note, expires_at)
    ids = await add_list_entries(store.db, [entry], added_by=added_by or actor.label,
                                 added_at=moment, action="list_add", actor=actor.label)
    return AddResult(ids[0], pattern, existed=False)


async def remove_entries(store: Store, actor: AdminActor, entry_ids: list[int], *,
                         reason: str = "", removed_by: str | None = None,
                         now: datetime | None = None) -> list[int]:
    """Mark entries removed (kept as history); return the ids that were in force."""
    return await remove_list_entries(store.db, entry_ids, removed_by=removed_by or actor.label,
                                     removed_at=now or datetime.now(UTC), reason=reason,
                                     actor=actor.label)


async def import_csv(store: Store, numbers: NumbersConfig, actor: AdminActor, data: bytes,
                     source: str, *, default_list: str | None, skip_bad: bool,
                     added_by: str | None = None, now: datetime | None = None) -> ImportResult:
    """Import CSV bytes (UTF-8, UTF-8 with BOM or GBK): every row or none.

    With `skip_bad` the valid rows are stored and the bad ones reported. Rows already in
    force count as duplicates. Raises ImportFileError when the file is too large, cannot
    be decoded or has no rows; `source` names the file in those messages.
    """
    moment = now or datetime.now(UTC)
    text, encoding = decode_csv(data, source)
    parsed = parse_import(text, encoding=encoding, default_list=default_list,
                          numbers=numbers, now=moment)
    if not parsed.entries and not parsed.problems and not parsed.duplicates:
        raise ImportFileError(source, [both("list.import_empty", path=source)])
    result = ImportResult(encoding=encoding, problems=list(parsed.problems))
    if parsed.problems and not skip_bad:
        result.rejected = True
        return result

    stored = {(entry.list_name, entry.match, entry.pattern)
              for entry in await list_entries(store.db, now=moment)}
    fresh = [entry for _line, entry in parsed.entries
             if (entry.list_name, entry.match, entry.pattern) not in stored]
    if fresh:
        await add_list_entries(store.db, fresh, added_by=added_by or actor.label,
                               added_at=moment, action="list_import", actor=actor.label)

    result.imported = len(fresh)
    result.duplicates = parsed.duplicates + len(parsed.entries) - len(fresh)
    return result
