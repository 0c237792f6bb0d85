"""CSV import and export of list entries: encodings, headers, bad rows by line number."""

from __future__ import annotations

import codecs
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from callscreen.admin.lists import decode_csv, export_csv, parse_expiry, parse_import
from callscreen.config.model import NumbersConfig
from callscreen.errors import ImportFileError
from callscreen.store.lists import ListEntry

NUMBERS = NumbersConfig()
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
CHINESE_CSV = (
    "号码,匹配方式,备注,到期\n"
    "13912345678,exact,催收公司,2027-01-31\n"
    "171,prefix,虚拟号段,\n"
)


def parse(text: str, default_list: str | None = "block"):
    return parse_import(text, encoding="utf-8", default_list=default_list, numbers=NUMBERS,
                        now=NOW)


@pytest.mark.parametrize(("data", "encoding"), [
    (CHINESE_CSV.encode("utf-8"), "utf-8"),
    (codecs.BOM_UTF8 + CHINESE_CSV.encode("utf-8"), "utf-8-sig"),
    (CHINESE_CSV.encode("gbk"), "gb18030"),
])
def test_decode_reads_each_encoding(data: bytes, encoding: str) -> None:
    text, found = decode_csv(data, "lists.csv")

    assert found == encoding
    assert text.replace("\t", ",") == CHINESE_CSV


def test_decode_strips_bom_from_first_number() -> None:
    data = codecs.BOM_UTF8 + b"13912345678\n"

    text, _encoding = decode_csv(data, "lists.csv")

    assert text == "13912345678\n"


def test_decode_rejects_undecodable_bytes() -> None:
    with pytest.raises(ImportFileError) as caught:
        decode_csv(b"13912345678,\x80\xff\n", "bad.csv")

    assert "UTF-8" in str(caught.value)


@pytest.mark.parametrize("data", [
    CHINESE_CSV.replace(",", "\t").encode("utf-16"),
    CHINESE_CSV.encode("utf-16-le"),
    CHINESE_CSV.encode("utf-16-be"),
])
def test_decode_rejects_utf16(data: bytes) -> None:
    with pytest.raises(ImportFileError) as caught:
        decode_csv(data, "unicode.txt")

    message = str(caught.value)
    assert "unicode.txt" in message
    assert "UTF-16" in message
    assert "UTF-8, UTF-8 with BOM or GBK" in message


def test_parse_rejects_long_note_by_line() -> None:
    text = f"号码,备注\n13912345678,ok\n13700001111,{'长' * 501}\n13600001111,{'x' * 500}\n"

    parsed = parse(text)

    assert len(parsed.problems) == 1
    assert parsed.problems[0].startswith("第 3 行 / line 3:")
    assert "501" in parsed.problems[0]
    assert "500" in parsed.problems[0]
    assert [line for line, _entry in parsed.entries] == [2, 4]


def test_parse_strips_bidi_and_control_from_note() -> None:
    text = ('号码,备注\n13912345678,"\u202e反向\u202c 文字\u200b\x07"\n'
            '13700001111,"two\nlines"\n')

    parsed = parse(text)

    notes = [entry.note for _line, entry in parsed.entries]
    assert parsed.problems == []
    assert notes == ["反向 文字", "two lines"]


def test_parse_chinese_header_maps_columns() -> None:
    parsed = parse(CHINESE_CSV)

    lines = [line for line, _entry in parsed.entries]
    entries = [entry for _line, entry in parsed.entries]
    assert parsed.problems == []
    assert lines == [2, 3]
    assert [(e.match, e.pattern, e.note) for e in entries] == [
        ("exact", "+8613912345678", "催收公司"), ("prefix", "+86171", "虚拟号段")]
    assert entries[0].expires_at == datetime(2027, 2, 1, tzinfo=SHANGHAI)


def test_parse_without_header_reads_positions() -> None:
    parsed = parse("13912345678\n+8613700001111,exact,供应商\n", default_list="allow")

    assert [(e.list_name, e.pattern, e.note) for _line, e in parsed.entries] == [
        ("allow", "+8613912345678", ""), ("allow", "+8613700001111", "供应商")]


def test_parse_reports_bad_rows_by_line() -> None:
    text = "号码,备注\n13912345678,ok\n1.39123E+10,excel\n\nnot a number,x\n13700001111,ok\n"

    parsed = parse(text)

    assert len(parsed.entries) == 2
    assert len(parsed.problems) == 2
    assert parsed.problems[0].startswith("第 3 行 / line 3:")
    assert "spreadsheet" in parsed.problems[0]
    assert parsed.problems[1].startswith("第 5 行 / line 5:")


def test_parse_counts_repeated_rows_as_duplicates() -> None:
    parsed = parse("13912345678\n+8613912345678\n013912345678\n")

    assert len(parsed.entries) == 1
    assert parsed.duplicates == 2
    assert parsed.problems == []


def test_parse_list_column_overrides_default() -> None:
    parsed = parse("list,number\nallow,13912345678\nblock,13700001111\n", default_list=None)

    assert [e.list_name for _line, e in parsed.entries] == ["allow", "block"]


def test_parse_rejects_row_without_list() -> None:
    parsed = parse("13912345678\n", default_list=None)

    assert parsed.entries == []
    assert "--list" in parsed.problems[0]


def test_parse_rejects_past_expiry() -> None:
    parsed = parse("13912345678,exact,,2025-12-31\n")

    assert parsed.entries == []
    assert "past" in parsed.problems[0]


def test_parse_keeps_punctuation_in_notes() -> None:
    parsed = parse('13912345678,exact,"张三, 李四 & Co./？"\n')

    assert parsed.entries[0][1].note == "张三, 李四 & Co./？"


@pytest.mark.parametrize(("text", "expected"), [
    ("2027-01-31", datetime(2027, 2, 1, tzinfo=SHANGHAI)),
    ("2028/2/29", datetime(2028, 3, 1, tzinfo=SHANGHAI)),
    ("2026-12-31", datetime(2027, 1, 1, tzinfo=SHANGHAI)),
    ("2027-01-31T12:00:00+00:00", datetime(2027, 1, 31, 12, tzinfo=UTC)),
    ("", None),
])
def test_expiry_forms(text: str, expected: datetime | None) -> None:
    assert parse_expiry(text, SHANGHAI) == expected


def test_export_round_trips_through_import() -> None:
    entries = [
        ListEntry(1, "block", "exact", "+8613912345678", "=HYPERLINK(x)", "admin",
                  NOW, datetime(2027, 2, 1, tzinfo=SHANGHAI)),
        ListEntry(2, "allow", "prefix", "svc:955", "银行", "admin", NOW),
    ]

    text = export_csv(entries, SHANGHAI)
    parsed = parse(text, default_list=None)

    assert parsed.problems == []
    assert [(e.list_name, e.match, e.pattern, e.expires_at) for _line, e in parsed.entries] == [
        ("block", "exact", "+8613912345678", datetime(2027, 2, 1, tzinfo=SHANGHAI)),
        ("allow", "prefix", "svc:955", None),
    ]


def test_export_neutralises_formula_notes() -> None:
    entry = ListEntry(1, "block", "exact", "+8613912345678", "=cmd()", "@admin", NOW)

    text = export_csv([entry], SHANGHAI)

    assert ",'=cmd(),'@admin," in text


@pytest.mark.parametrize("note", ["\t=cmd()", "\r=cmd()", "-1+1", "+1"])
def test_export_neutralises_hidden_formula(note: str) -> None:
    entry = ListEntry(1, "block", "exact", "+8613912345678", note, "admin", NOW)

    text = export_csv([entry], SHANGHAI)
    parsed = parse(text, default_list=None)

    # The import turns a tab or line break in a note into a space.
    expected = f"'{note}".replace("\t", " ").replace("\r", " ")
    assert parsed.problems == []
    assert [e.note for _line, e in parsed.entries] == [expected]


def test_import_errors_name_value_in_chinese() -> None:
    text = "list,number,expires\nblock,13912345678,2027-13-45\nblock,1.39123E+10,\n"

    problems = parse(text, default_list=None).problems

    assert "到期日 '2027-13-45' 格式无效" in problems[0]
    assert "号码 '1.39123E+10' 被表格软件改成了数字格式" in problems[1]
