"""The employee directory: reading the CSV that HR exports from Excel or WPS, and pinyin.

Chinese Excel saves "CSV" as GBK without a BOM, "CSV UTF-8" with a BOM, and turns long
digit strings into scientific notation (1.39123E+10) or drops their leading zero. Every
cell is read as text, and a row with such a value is rejected with its line number.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pypinyin import Style, lazy_pinyin

from callscreen.errors import ImportFileError
from callscreen.i18n import both
from callscreen.store.reception import Employee

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ROWS = 100_000
MAX_NAME_CHARS = 100

# Header text (lower case, spaces removed) -> field name.
HEADER_ALIASES: dict[str, str] = {
    "姓名": "name", "name": "name",
    "工号": "employee_id", "员工编号": "employee_id", "employee_id": "employee_id",
    "employeeid": "employee_id",
    "部门": "department", "department": "department",
    "分机": "extension", "分机号": "extension", "extension": "extension", "ext": "extension",
    "直线": "did", "直线号码": "did", "did": "did",
    "拼音": "pinyin", "pinyin": "pinyin",
}
REQUIRED_FIELDS = ("name", "employee_id")
# Field -> the column name a Chinese and an English reader would look for in the header.
FIELD_COLUMNS: dict[str, tuple[str, str]] = {
    "name": ("姓名", "name"), "employee_id": ("工号", "employee_id"),
    "department": ("部门", "department"), "extension": ("分机", "extension"),
    "did": ("直线", "DID"), "pinyin": ("拼音", "pinyin"),
}

SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$")
EMPLOYEE_ID = re.compile(r"^[0-9A-Za-z_.-]{1,32}$")
EXTENSION = re.compile(r"^\d{2,8}$")
PINYIN = re.compile(r"^[a-zü ]{1,200}$")
# Accepted DID forms: with area code (0 + 9..11 digits), mobile, local 7 or 8 digits,
# 400/800 numbers, or international with "+". A landline without its leading 0
# ("2188886666") is what a spreadsheet leaves of "02188886666", so it is rejected.
DID_FORMS = re.compile(r"^(0\d{9,11}|1[3-9]\d{9}|\d{7,8}|[48]00\d{7}|\+\d{8,15})$")
DID_SEPARATORS = re.compile(r"[\s()-]")


@dataclass(frozen=True, slots=True)
class DirectoryFile:
    """A parsed directory CSV: its rows and the encoding it was read with."""

    employees: list[Employee]
    encoding: str


def decode_csv(data: bytes) -> tuple[str, str]:
    """Decode file bytes as UTF-8 (with or without BOM), else GB18030; return (text, encoding).

    GB18030 is a superset of GBK and GB2312, so it reads what Chinese Excel writes. Raises
    ValueError when neither decoding is valid.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig"

    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass

    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise ValueError(f"neither UTF-8 nor GBK/GB18030 (byte {exc.start})") from exc


def name_pinyin(name: str) -> tuple[str, str]:
    """Return (full pinyin, initials) of a Chinese name, lower case without spaces."""
    syllables = [s.lower() for s in lazy_pinyin(name, style=Style.NORMAL, errors="ignore")]
    letters = [s.lower() for s in lazy_pinyin(name, style=Style.FIRST_LETTER, errors="ignore")]

    return "".join(syllables).replace(" ", ""), "".join(letters).replace(" ", "")


def parse_directory(data: bytes, path: str) -> DirectoryFile:
    """Parse a whole directory CSV, or raise ImportFileError listing every bad line.

    `path` only names the file in messages.
    """
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(path, [f"{path}: 文件超过 {MAX_FILE_BYTES} 字节 / "
                                     f"file larger than {MAX_FILE_BYTES} bytes"])
    try:
        text, encoding = decode_csv(data)
    except ValueError as exc:
        raise ImportFileError(path, [f"{path}: 无法识别的文件编码 / unknown encoding: {exc}"]
                              ) from exc

    employees, problems = _parse_rows(text, path)
    if problems:
        raise ImportFileError(path, problems)

    return DirectoryFile(employees=employees, encoding=encoding)


def _parse_rows(text: str, path: str) -> tuple[list[Employee], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        return _parse_reader(reader, path)
    except csv.Error as exc:
        return [], [f"{path}:{reader.line_num}: CSV 格式错误 / malformed CSV: {exc}"]


def _parse_reader(reader: Any, path: str) -> tuple[list[Employee], list[str]]:
    header = next(reader, None)
    if header is None:
        return [], [f"{path}:1: 文件为空 / the file is empty"]

    columns, problems = _header_columns(header, path)
    if problems:
        return [], problems

    employees: list[Employee] = []
    seen: dict[str, int] = {}
    for line, cells in _data_rows(reader):
        if len(employees) + len(problems) >= MAX_ROWS:
            problems.append(f"{path}:{line}: 行数超过 {MAX_ROWS} / more than {MAX_ROWS} rows")
            break
        employee, row_problems = _parse_row(cells, columns, len(header))
        problems.extend(f"{path}:{line}: {problem}" for problem in row_problems)
        if employee is None:
            continue
        if employee.employee_id in seen:
            problems.append(f"{path}:{line}: " + both(
                "directory.duplicate_id", id=repr(employee.employee_id),
                line=seen[employee.employee_id]))
            continue
        seen[employee.employee_id] = line
        employees.append(employee)

    return employees, problems


def _data_rows(reader: Any) -> Iterator[tuple[int, list[str]]]:
    # `reader.line_num` is the physical line where the record ends, as a spreadsheet counts.
    for cells in reader:
        if any(cell.strip() for cell in cells):
            yield reader.line_num, cells


def _header_columns(header: list[str], path: str) -> tuple[dict[str, int], list[str]]:
    columns: dict[str, int] = {}
    problems: list[str] = []
    for index, cell in enumerate(header):
        key = re.sub(r"\s+", "", cell.lstrip("\ufeff")).lower()
        field = HEADER_ALIASES.get(key)
        if field is None:
            problems.append(f"{path}:1: 未知的列名 {cell!r} / unknown column {cell!r}; "
                            "可用 / known: 姓名 name, 工号 employee_id, 部门 department, "
                            "分机 extension, 直线 DID, 拼音 pinyin")
        elif field in columns:
            problems.append(f"{path}:1: " + both("directory.duplicate_column", column=repr(cell)))
        else:
            columns[field] = index

    for field in REQUIRED_FIELDS:
        if field not in columns and not problems:
            problems.append(f"{path}:1: " + both("directory.missing_column",
                                                 **column_names(field)))

    return columns, problems


def column_names(field: str) -> dict[str, str]:
    """Return the Chinese and English column names of `field` as message parameters."""
    chinese, english = FIELD_COLUMNS[field]
    return {"column_zh": chinese, "column_en": english}


def _parse_row(cells: list[str], columns: dict[str, int],
               width: int) -> tuple[Employee | None, list[str]]:
    if len(cells) != width:
        return None, [f"应有 {width} 列，实有 {len(cells)} 列 / expected {width} cells, "
                      f"found {len(cells)}"]

    values = {field: cells[index].strip() for field, index in columns.items()}
    problems = [problem for field, value in values.items()
                if (problem := _check_field(field, value))]
    if problems:
        return None, problems

    full, initials = name_pinyin(values["name"])
    given = values.get("pinyin", "").lower()
    if given:
        full = given.replace(" ", "")
        initials = "".join(word[0] for word in given.split()) if " " in given else initials

    return Employee(
        employee_id=values["employee_id"], name=values["name"],
        department=values.get("department", ""), extension=values.get("extension", ""),
        did=DID_SEPARATORS.sub("", values.get("did", "")), pinyin=full, initials=initials,
    ), []


def _check_field(field: str, value: str) -> str:
    if SCIENTIFIC.match(value):
        return both("directory.scientific", value=repr(value), **column_names(field))

    if field == "name":
        if not value or len(value) > MAX_NAME_CHARS:
            return f"姓名为空或过长 / name is empty or longer than {MAX_NAME_CHARS} characters"
    elif field == "employee_id":
        if not EMPLOYEE_ID.match(value):
            return (f"工号无效 {value!r} / invalid employee id {value!r} "
                    "(1-32 letters, digits, '_', '-', '.')")
    elif field == "extension":
        if value and not EXTENSION.match(value):
            return f"分机号无效 {value!r} / invalid extension {value!r} (2-8 digits)"
    elif field == "did":
        if value and not DID_FORMS.match(DID_SEPARATORS.sub("", value)):
            return (f"直线号码无效 {value!r}（开头的 0 被表格删除了？） / invalid DID {value!r} "
                    "(did the spreadsheet drop a leading 0?)")
    elif field == "pinyin" and value and not PINYIN.match(value.lower()):
        return f"拼音无效 {value!r} / invalid pinyin {value!r} (letters and spaces)"

    return ""


def read_directory_file(path: Path) -> DirectoryFile:
    """Read and parse a directory CSV from disk; raises ImportFileError for any problem."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(str(path), [f"{path}: 无法读取文件 / cannot read file: {exc}"]
                              ) from exc

    return parse_directory(data, str(path))
