"""`callscreen list add|remove|import|export|show`: the allow/block lists from a terminal.

Changes go through `callscreen.admin.list_service`, which audits them as "cli:<login name>".
A running daemon re-reads the stored lists every few seconds (REFRESH_INTERVAL_S in
callscreen.daemon), so changes made here apply to calls within that time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from callscreen.admin import list_service
from callscreen.admin.lists import MAX_IMPORT_BYTES, export_csv, last_day_in_force
from callscreen.admin.options import open_store
from callscreen.admin.patterns import normal_pattern
from callscreen.admin.users import AdminActor
from callscreen.errors import ImportFileError
from callscreen.i18n import LOCALES, both, t
from callscreen.logs import configure_command_logging
from callscreen.store.admin import list_entries
from callscreen.store.lists import ListEntry

EXPORT_ENCODINGS = ("utf-8-sig", "utf-8", "gb18030")


async def list_add(args: argparse.Namespace) -> int:
    """Add one entry; an identical entry already in force is reported and not added again."""
    configure_command_logging()
    async with open_store(args, may_create=True) as (config, store):
        result = await list_service.add_entry(
            store, config.numbers, AdminActor.cli(), list_name=args.list, match=args.match,
            number=args.number, note=args.note, expires=args.expires or "", added_by=args.by)

    if result.existed:
        print(both("list.exists", id=result.entry_id, pattern=result.pattern))
        return 0
    print(_added_text(args.list, args.match, result.entry_id, result.pattern))
    print(both("list.takes_effect"))
    return 0


def _added_text(list_name: str, match: str, entry_id: int, pattern: str) -> str:
    # The list and match names are words of each language, so both() cannot fill them.
    return " / ".join(
        t("list.added", locale, id=entry_id, pattern=pattern,
          list=t(f"admin.list.{list_name}", locale), match=t(f"admin.match.{match}", locale))
        for locale in LOCALES)


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
            ids.extend(entry.id for entry in await list_service.find_entries(
                store, args.list, args.match, pattern, now))
        if not ids:
            print(both("list.not_found"), file=sys.stderr)
            return 1

        removed = await list_service.remove_entries(store, AdminActor.cli(), ids,
                                                    reason=args.note, removed_by=args.by,
                                                    now=now)

    if not removed:
        print(both("list.not_found"), file=sys.stderr)
        return 1
    print(both("list.removed", ids=", ".join(f"#{entry_id}" for entry_id in removed)))
    print(both("list.takes_effect"))
    return 0


async def list_import(args: argparse.Namespace) -> int:
    """Import a CSV file: all rows or none, unless --skip-bad imports the valid rows."""
    configure_command_logging()
    data = _read_import_file(args.file)
    async with open_store(args, may_create=True) as (config, store):
        result = await list_service.import_csv(
            store, config.numbers, AdminActor.cli(), data, args.file, default_list=args.list,
            skip_bad=args.skip_bad, added_by=args.by)

    for problem in result.problems:
        print(f"{args.file}: {problem}", file=sys.stderr)
    if result.rejected:
        print(both("list.import_rejected", count=len(result.problems)), file=sys.stderr)
        return 1
    print(both("list.imported", count=result.imported, encoding=result.encoding,
               duplicates=result.duplicates, bad=len(result.problems)))
    return 0


def _read_import_file(path: str) -> bytes:
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_IMPORT_BYTES + 1)
    except OSError as exc:
        raise ImportFileError(path, [both("list.unreadable", path=path,
                                          error=exc.strerror)]) from exc

    return data


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
    expires = _expiry_text(entry.expires_at, zone)
    state = "" if entry.is_active(now) else "  (" + both("list.inactive") + ")"
    added = entry.added_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return (f"#{entry.id:<5} {entry.list_name:<5} {entry.match:<6} {entry.pattern:<18} "
            f"{entry.added_by} {added}  {expires}  {entry.note}{state}")


def _expiry_text(expires_at: datetime | None, zone: ZoneInfo) -> str:
    if expires_at is None:
        return both("list.no_expiry")

    last_day = last_day_in_force(expires_at, zone)
    if last_day is not None:
        return both("list.in_force_through", day=last_day.isoformat())
    return both("list.in_force_until",
                moment=expires_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"))
