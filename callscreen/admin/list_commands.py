"""`callscreen list add|remove|import|export|show`: the allow/block lists from a terminal.

A running daemon re-reads the stored lists every 30 seconds (LIST_REFRESH_INTERVAL in
callscreen.screening), so changes made here apply to calls within that time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from callscreen.admin.lists import (
    MAX_IMPORT_BYTES,
    ParsedImport,
    decode_csv,
    export_csv,
    parse_expiry,
    parse_import,
)
from callscreen.admin.options import configure_command_logging, open_store
from callscreen.admin.patterns import normal_pattern
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

EXPORT_ENCODINGS = ("utf-8-sig", "utf-8", "gb18030")


async def list_add(args: argparse.Namespace) -> int:
    """Add one entry; an identical entry already in force is reported and not added again."""
    configure_command_logging()
    now = datetime.now(UTC)
    async with open_store(args) as (config, store):
        zone = ZoneInfo(config.numbers.time_zone)
        pattern = normal_pattern(args.list, args.match, args.number, config.numbers)
        expires_at = _expiry_argument(args.expires, zone, now)

        existing = await _entries_like(store, args.list, args.match, pattern, now)
        if existing:
            print(both("list.exists", id=existing[0].id, pattern=pattern))
            return 0

        entry = NewListEntry(args.list, args.match, pattern, args.note, expires_at)
        ids = await add_list_entries(store.db, [entry], added_by=args.by, added_at=now,
                                     action="list_add")

    print(both("list.added", id=ids[0], list=args.list, match=args.match, pattern=pattern))
    print(both("list.takes_effect"))
    return 0


def _expiry_argument(text: str | None, zone: ZoneInfo, now: datetime) -> datetime | None:
    expires_at = parse_expiry(text or "", zone)
    if expires_at is not None and expires_at <= now:
        raise InvalidListEntryError(
            f"到期时间已过 / expiry {text!r} is in the past", field="expires", value=text or "")

    return expires_at


async def _entries_like(store: Store, list_name: str | None, match: str, pattern: str,
                        now: datetime) -> list[ListEntry]:
    entries = await list_entries(store.db, now=now, list_name=list_name)

    return [entry for entry in entries if entry.match == match and entry.pattern == pattern]


async def list_remove(args: argparse.Namespace) -> int:
    """Remove entries by id, or every entry in force with the given number and match kind."""
    configure_command_logging()
    now = datetime.now(UTC)
    async with open_store(args) as (config, store):
        ids = list(args.id or [])
        if args.number:
            # The list name only has to be valid here: both lists store the same form.
            pattern = normal_pattern(args.list or "block", args.match, args.number,
                                     config.numbers)
            ids.extend(entry.id for entry in
                       await _entries_like(store, args.list, args.match, pattern, now))
        if not ids:
            print(both("list.not_found"), file=sys.stderr)
            return 1

        removed = await remove_list_entries(store.db, ids, removed_by=args.by,
                                            removed_at=now, reason=args.note)

    if not removed:
        print(both("list.not_found"), file=sys.stderr)
        return 1
    print(both("list.removed", ids=", ".join(f"#{entry_id}" for entry_id in removed)))
    print(both("list.takes_effect"))
    return 0


async def list_import(args: argparse.Namespace) -> int:
    """Import a CSV file: all rows or none, unless --skip-bad imports the valid rows."""
    configure_command_logging()
    now = datetime.now(UTC)
    data = _read_import_file(args.file)
    async with open_store(args) as (config, store):
        text, encoding = decode_csv(data, args.file)
        parsed = parse_import(text, encoding=encoding, default_list=args.list,
                              numbers=config.numbers, now=now)
        for problem in parsed.problems:
            print(f"{args.file}: {problem}", file=sys.stderr)
        if parsed.problems and not args.skip_bad:
            print(both("list.import_rejected", count=len(parsed.problems)), file=sys.stderr)
            return 1

        fresh = await _without_stored(store, parsed, now)
        entries = [entry for _line, entry in fresh]
        if entries:
            await add_list_entries(store.db, entries, added_by=args.by, added_at=now,
                                   action="list_import")

    duplicates = parsed.duplicates + len(parsed.entries) - len(fresh)
    print(both("list.imported", count=len(entries), encoding=encoding,
               duplicates=duplicates, bad=len(parsed.problems)))
    return 0


def _read_import_file(path: str) -> bytes:
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_IMPORT_BYTES + 1)
    except OSError as exc:
        raise ImportFileError(path, [both("list.unreadable", path=path,
                                          error=exc.strerror)]) from exc

    return data


async def _without_stored(store: Store, parsed: ParsedImport,
                          now: datetime) -> list[tuple[int, NewListEntry]]:
    stored = {
        (entry.list_name, entry.match, entry.pattern)
        for entry in await list_entries(store.db, now=now)
    }

    return [
        (line, entry) for line, entry in parsed.entries
        if (entry.list_name, entry.match, entry.pattern) not in stored
    ]


async def list_export(args: argparse.Namespace) -> int:
    """Write the entries in force (or all with --all) as CSV to --output or stdout."""
    configure_command_logging()
    now = datetime.now(UTC)
    async with open_store(args) as (config, store):
        entries = await list_entries(store.db, now=now, include_inactive=args.all,
                                     list_name=args.list)
    text = export_csv(entries, ZoneInfo(config.numbers.time_zone))

    if args.output in (None, "-"):
        sys.stdout.write(text)
        return 0
    await asyncio.to_thread(Path(args.output).write_bytes, text.encode(args.encoding))
    print(both("list.exported", count=len(entries), path=args.output), file=sys.stderr)
    return 0


async def list_show(args: argparse.Namespace) -> int:
    """Print the entries in force (or all with --all) as a table or as JSON."""
    configure_command_logging()
    now = datetime.now(UTC)
    async with open_store(args) as (config, store):
        entries = await list_entries(store.db, now=now, include_inactive=args.all,
                                     list_name=args.list)
    zone = ZoneInfo(config.numbers.time_zone)

    if args.json:
        print(json.dumps([_entry_json(entry, zone) for entry in entries], ensure_ascii=False,
                         indent=2))
        return 0
    if not entries:
        print(both("list.empty"))
        return 0
    for entry in entries:
        print(_entry_line(entry, zone, now))
    return 0


def _entry_json(entry: ListEntry, zone: ZoneInfo) -> dict[str, object]:
    return {
        "id": entry.id, "list": entry.list_name, "match": entry.match,
        "pattern": entry.pattern, "note": entry.note, "added_by": entry.added_by,
        "added_at": entry.added_at.astimezone(zone).isoformat(),
        "expires_at": entry.expires_at.astimezone(zone).isoformat() if entry.expires_at
        else None,
        "removed_at": entry.removed_at.astimezone(zone).isoformat() if entry.removed_at
        else None,
    }


def _entry_line(entry: ListEntry, zone: ZoneInfo, now: datetime) -> str:
    expires = entry.expires_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") \
        if entry.expires_at else "—"
    state = "" if entry.is_active(now) else "  (" + both("list.inactive") + ")"
    added = entry.added_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return (f"#{entry.id:<5} {entry.list_name:<5} {entry.match:<6} {entry.pattern:<18} "
            f"{entry.added_by} {added} → {expires}  {entry.note}{state}")
