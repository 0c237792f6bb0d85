"""Directory CSV parsing: encodings Excel writes, headers, and rows Excel damages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callscreen.errors import ImportFileError
from callscreen.reception.directory import parse_directory
from callscreen.store.reception import (
    employee_for_number,
    find_employees,
    replace_employees,
)

CHINESE_CSV = ("姓名,工号,部门,分机,直线\n"
               "张伟,E001,销售部,8001,02188886601\n李娜,E002,财务部,8002,\n")
ENGLISH_CSV = "name,employee_id,department,extension,DID,pinyin\nZhang Wei,E001,Sales,8001,,\n"


def problems_of(data: bytes) -> list[str]:
    with pytest.raises(ImportFileError) as caught:
        parse_directory(data, "staff.csv")
    return caught.value.problems


def test_reads_utf8_with_chinese_headers():
    parsed = parse_directory(CHINESE_CSV.encode("utf-8"), "staff.csv")

    assert parsed.encoding == "utf-8"
    assert [e.employee_id for e in parsed.employees] == ["E001", "E002"]
    assert parsed.employees[0].did == "02188886601"


def test_reads_utf8_with_bom_without_gluing_it_to_header():
    parsed = parse_directory(b"\xef\xbb\xbf" + CHINESE_CSV.encode("utf-8"), "staff.csv")

    assert parsed.encoding == "utf-8-sig"
    assert parsed.employees[0].name == "张伟"


def test_reads_gbk_as_chinese_excel_writes_it():
    parsed = parse_directory(CHINESE_CSV.replace("\n", "\r\n").encode("gbk"), "staff.csv")

    assert parsed.encoding == "gb18030"
    assert parsed.employees[1].department == "财务部"


def test_reads_english_headers():
    parsed = parse_directory(ENGLISH_CSV.encode(), "staff.csv")

    assert parsed.employees[0].name == "Zhang Wei"


def test_computes_pinyin_and_initials():
    parsed = parse_directory(CHINESE_CSV.encode(), "staff.csv")

    assert parsed.employees[0].pinyin == "zhangwei"
    assert parsed.employees[0].initials == "zw"


def test_pinyin_column_overrides_computed_reading():
    data = "姓名,工号,拼音\n单田芳,E009,Shan Tian Fang\n".encode()

    parsed = parse_directory(data, "staff.csv")

    assert parsed.employees[0].pinyin == "shantianfang"
    assert parsed.employees[0].initials == "stf"


def test_rejects_scientific_notation_with_line_number():
    data = "姓名,工号,分机,直线\n张伟,E001,8001,\n李娜,E002,8002,2.18889E+10\n".encode()

    problems = problems_of(data)

    assert len(problems) == 1
    assert problems[0].startswith("staff.csv:3:")
    assert "“直线”（DID）列的值 '2.18889E+10' 是科学计数法" in problems[0]
    assert "the DID (直线) value '2.18889E+10' is in scientific notation" in problems[0]


def test_rejects_landline_that_lost_its_leading_zero():
    problems = problems_of("姓名,工号,直线\n张伟,E001,2188886601\n".encode())

    assert problems[0].startswith("staff.csv:2:")
    assert "leading 0" in problems[0]


def test_rejects_duplicate_employee_id():
    problems = problems_of("姓名,工号\n张伟,E001\n李娜,E001\n".encode())

    assert problems == ["staff.csv:3: 工号 'E001' 重复（第 2 行已有） / duplicate employee id "
                        "'E001' (already on line 2)"]


def test_rejects_unknown_column():
    problems = problems_of("姓名,工号,手机\n张伟,E001,13912345678\n".encode())

    assert "unknown column '手机'" in problems[0]


def test_rejects_missing_required_column():
    problems = problems_of("姓名,部门\n张伟,销售部\n".encode())

    assert problems == ["staff.csv:1: 缺少必需的列“工号”（或 employee_id） / missing required "
                        "column employee_id (or 工号)"]


def test_rejects_row_with_wrong_cell_count():
    problems = problems_of("姓名,工号\n张伟,E001,extra\n".encode())

    assert problems[0].startswith("staff.csv:2:")


def test_reports_every_bad_line():
    data = "姓名,工号,分机\n,E001,8001\n李娜,E002,abc\n王芳,E003,8003\n".encode()

    problems = problems_of(data)

    assert [p.split(":")[1] for p in problems] == ["2", "3"]


def test_rejects_bytes_that_are_neither_utf8_nor_gbk():
    problems = problems_of(b"\xff\xfe\xfa\xfb\x81\x30")

    assert "encoding" in problems[0]


def test_skips_blank_rows():
    parsed = parse_directory("姓名,工号\n张伟,E001\n,\n\n".encode(), "staff.csv")

    assert len(parsed.employees) == 1


def test_name_with_punctuation_is_kept():
    parsed = parse_directory('姓名,工号\n"Smith, J. & Co/?",E001\n'.encode(), "staff.csv")

    assert parsed.employees[0].name == "Smith, J. & Co/?"


async def test_find_by_initials_name_id_and_extension(db):
    parsed = parse_directory(CHINESE_CSV.encode(), "staff.csv")
    await replace_employees(db, parsed.employees, datetime.now(UTC))

    by_initials = await find_employees(db, "ZW")
    by_name = await find_employees(db, "李")
    by_id = await find_employees(db, "E002")
    by_extension = await find_employees(db, "8001")

    assert [e.employee_id for e in by_initials] == ["E001"]
    assert [e.employee_id for e in by_name] == ["E002"]
    assert [e.employee_id for e in by_id] == ["E002"]
    assert [e.employee_id for e in by_extension] == ["E001"]


async def test_find_treats_like_wildcards_literally(db):
    parsed = parse_directory(CHINESE_CSV.encode(), "staff.csv")
    await replace_employees(db, parsed.employees, datetime.now(UTC))

    found = await find_employees(db, "%")

    assert found == []


async def test_dialled_did_maps_to_employee(db):
    parsed = parse_directory(CHINESE_CSV.encode(), "staff.csv")
    await replace_employees(db, parsed.employees, datetime.now(UTC))

    employee = await employee_for_number(db, "02188886601")

    assert employee is not None
    assert employee.name == "张伟"


async def test_import_replaces_previous_directory(db):
    first = parse_directory(CHINESE_CSV.encode(), "staff.csv")
    second = parse_directory(ENGLISH_CSV.encode(), "staff.csv")
    await replace_employees(db, first.employees, datetime.now(UTC))

    await replace_employees(db, second.employees, datetime.now(UTC))

    assert await find_employees(db, "李娜") == []
    assert [e.name for e in await find_employees(db, "E001")] == ["Zhang Wei"]
