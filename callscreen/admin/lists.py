"""CSV import and export of allow/block list entries (pure: text in, entries and problems out).

Files come from Excel and WPS as often as from scripts: GBK without a BOM (Chinese Excel's
"CSV"), UTF-8 with a BOM, or plain UTF-8. UTF-16 ("Unicode text") is rejected with the
encodings to save as, because the import page and the directory import accept only these
three. Every cell is read as text and checked, so a number a spreadsheet turned into
"1.39123E+10" is rejected with its line number instead of being imported wrong.

Columns, by header name (English or Chinese) or, without a header, by position:
number, match, note, expires. An optional `list` column overrides `--list` per row.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from callscreen.admin.patterns import normal_pattern
from callscreen.config.model import NumbersConfig
from callscreen.errors import ImportFileError
from callscreen.i18n import both
from callscreen.spreadsheet import safe_cell
from callscreen.store.admin import NewListEntry
from callscreen.store.lists import InvalidListEntryError, ListEntry

# A list of this size is far beyond any reception's needs, and the bound keeps a wrong file
# (a call export, a binary) from filling memory.
MAX_IMPORT_BYTES = 16 * 1024 * 1024
MAX_IMPORT_ROWS = 200_000
# The admin page's note field takes this many characters, and an import is held to the same.
MAX_NOTE_CHARS = 500
# Kept in notes although they are format characters: the zero-width joiner builds emoji.
KEPT_FORMAT_CHARS = frozenset({"\u200d"})

POSITIONAL_COLUMNS = ("number", "match", "note", "expires")
COLUMN_ALIASES = {
    "number": ("number", "pattern", "phone", "号码", "电话", "电话号码"),
    "match": ("match", "type", "匹配", "匹配方式", "类型"),
    "note": ("note", "reason", "why", "备注", "原因", "说明"),
    "expires": ("expires", "expires_at", "expiry", "到期", "到期日", "有效期至", "过期时间"),
    "list": ("list", "名单"),
}
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d")
EXPORT_HEADER = ("list", "match", "pattern", "note", "added_by", "added_at", "expires")


@dataclass(slots=True)
class ParsedImport:
    """The rows of an import file: good entries with their line numbers, and problems."""

    encoding: str
    entries: list[tuple[int, NewListEntry]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    duplicates: int = 0


def decode_csv(data: bytes, path: str) -> tuple[str, str]:
    """Return the text of a CSV file and the encoding it was read with.

    A UTF-8 BOM decides; otherwise strict UTF-8, then GB18030, a superset of GBK. Raises
    ImportFileError when the file is too large, is UTF-16 (a UTF-16 BOM, or NUL bytes,
    which no text in the accepted encodings contains) or neither decoding works.
    """
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFileError(path, [
            f"{path}: 文件过大（上限 {MAX_IMPORT_BYTES} 字节） / file is larger than "
            f"{MAX_IMPORT_BYTES} bytes"])

    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in data:
        raise ImportFileError(path, [both("list.utf16_rejected", path=path)])

    # A BOM fixes the encoding, so bytes that do not decode under it are an error too.
    if data.startswith(codecs.BOM_UTF8):
        candidates = [("utf-8-sig", "utf-8-sig")]
    else:
        candidates = [("utf-8", "utf-8"), ("gb18030", "gb18030")]

    for codec, encoding in candidates:
        try:
            return data.decode(codec, errors="strict"), encoding
        except UnicodeDecodeError:
            continue

    raise ImportFileError(path, [
        f"{path}: 无法识别文件编码，请另存为 UTF-8 或 GBK / cannot decode the file; save it "
        f"as UTF-8 or GBK"])


def parse_import(text: str, *, encoding: str, default_list: str | None,
                 numbers: NumbersConfig, now: datetime) -> ParsedImport:
    """Check every row and return the entries in normal form and one problem per bad row.

    A row that repeats an earlier row (same list, match and pattern) counts as a duplicate,
    not as a problem. Problems read "line N: ..." with the file's line numbers.
    """
    result = ParsedImport(encoding=encoding)
    seen: set[tuple[str, str, str]] = set()
    zone = ZoneInfo(numbers.time_zone)

    for line, cells in _records(text, result.problems):
        try:
            entry = _row_entry(cells, default_list, numbers, zone, now)
        except InvalidListEntryError as exc:
            result.problems.append(f"第 {line} 行 / line {line}: {exc}")
            continue

        identity = (entry.list_name, entry.match, entry.pattern)
        if identity in seen:
            result.duplicates += 1
            continue
        seen.add(identity)
        result.entries.append((line, entry))

    return result


def _records(text: str, problems: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    columns: Sequence[str] = POSITIONAL_COLUMNS
    for index, row in enumerate(reader):
        if index >= MAX_IMPORT_ROWS:
            problems.append(f"第 {reader.line_num} 行 / line {reader.line_num}: "
                            f"超过 {MAX_IMPORT_ROWS} 行上限 / more than {MAX_IMPORT_ROWS} rows")
            return
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if index == 0 and _is_header(cells):
            columns = [_column_name(cell) for cell in cells]
            continue
        yield reader.line_num, dict(zip(columns, cells, strict=False))


def _is_header(cells: list[str]) -> bool:
    return _column_name(cells[0]) != ""


def _column_name(cell: str) -> str:
    label = cell.strip().lstrip("\ufeff").lower()
    for name, aliases in COLUMN_ALIASES.items():
        if label in aliases:
            return name

    return ""


def _row_entry(cells: dict[str, str], default_list: str | None, numbers: NumbersConfig,
               zone: ZoneInfo, now: datetime) -> NewListEntry:
    number = cells.get("number", "")
    if not number:
        raise InvalidListEntryError("缺少号码 / the number cell is empty", field="number",
                                    value="")
    list_name = cells.get("list") or default_list or ""
    if not list_name:
        raise InvalidListEntryError(
            "未指定名单：请给出 --list 或 list 列 / no list given: pass --list or add a "
            "list column", field="list", value="")
    match = (cells.get("match") or "exact").lower()

    pattern = normal_pattern(list_name, match, number, numbers)
    expires_at = parse_expiry(cells.get("expires", ""), zone)
    if expires_at is not None and expires_at <= now:
        raise InvalidListEntryError(
            both("list.expiry_past", value=repr(cells["expires"])),
            field="expires", value=cells["expires"])

    note = clean_note(cells.get("note", ""))
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidListEntryError(both("list.note_too_long", length=len(note),
                                         limit=MAX_NOTE_CHARS), field="note", value=note[:40])

    return NewListEntry(list_name=list_name, match=match, pattern=pattern, note=note,
                        expires_at=expires_at)


def clean_note(note: str) -> str:
    """Return `note` without control and format characters, and stripped.

    Bidi overrides such as U+202E would make the console and exports show a note reversed
    or reordered, so they go. Line breaks and tabs become spaces.
    """
    kept: list[str] = []
    for char in note:
        category = unicodedata.category(char)
        if char in "\t\n\r" or category in ("Zl", "Zp"):
            kept.append(" ")
        elif category in ("Cc", "Cf") and char not in KEPT_FORMAT_CHARS:
            continue
        else:
            kept.append(char)

    return "".join(kept).strip()


def parse_expiry(text: str, zone: ZoneInfo) -> datetime | None:
    """Turn "2027-01-31" into the end of that day in `zone`, or read an ISO date-time.

    An entry with a date stops matching at 00:00 of the next day, local time. Empty text
    means no expiry. Raises InvalidListEntryError for any other form.
    """
    value = text.strip()
    if not value:
        return None

    for form in DATE_FORMATS:
        try:
            day = datetime.strptime(value, form).date()
        except ValueError:
            continue
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)

    return _parse_timestamp(value, zone)


def _parse_timestamp(value: str, zone: ZoneInfo) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidListEntryError(
            both("list.expiry_invalid", value=repr(value)), field="expires",
            value=value) from exc

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def export_csv(entries: Iterable[ListEntry], zone: ZoneInfo) -> str:
    """Render entries as CSV text that `parse_import` reads back (header row included).

    Expiries at local midnight are written as the last day in force, others as ISO times.
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_HEADER)

    for entry in entries:
        writer.writerow((
            entry.list_name, entry.match, entry.pattern, safe_cell(entry.note),
            safe_cell(entry.added_by), entry.added_at.astimezone(zone).isoformat(),
            _expiry_cell(entry.expires_at, zone),
        ))

    return buffer.getvalue()


def _expiry_cell(expires_at: datetime | None, zone: ZoneInfo) -> str:
    if expires_at is None:
        return ""

    last_day = last_day_in_force(expires_at, zone)
    return last_day.isoformat() if last_day else expires_at.astimezone(zone).isoformat()


def last_day_in_force(expires_at: datetime, zone: ZoneInfo) -> date | None:
    """Return the last local day an entry is in force, or None when it ends mid-day.

    An expiry typed as a date (2027-01-31) is stored as the next local midnight, so the
    day the admin typed is the day before it.
    """
    local = expires_at.astimezone(zone)
    if local.time() != time(0):
        return None
    return local.date() - timedelta(days=1)
