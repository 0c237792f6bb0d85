"""`callscreen list ...` as a child process against real sqlite files."""

from __future__ import annotations

import codecs
import json
import sqlite3
from pathlib import Path

import pytest

from .conftest import ConfigWriter, run_cli

GBK_CSV = "号码,匹配方式,备注,到期\n13912345678,exact,催收公司,2099-01-31\n171,prefix,虚拟号段,\n"


def stored_entries(store_path: Path) -> list[tuple[str, str, str, str, str]]:
    with sqlite3.connect(store_path) as connection:
        rows = connection.execute(
            "SELECT list, match, pattern, note, added_by FROM list_entries"
            " WHERE removed_at IS NULL ORDER BY id").fetchall()
    return [tuple(row) for row in rows]


def audit_actions(store_path: Path) -> list[str]:
    with sqlite3.connect(store_path) as connection:
        rows = connection.execute("SELECT action FROM audit_log ORDER BY id").fetchall()
    return [row[0] for row in rows]


def test_list_add_stores_one_normal_form(write_config: ConfigWriter, store_path: Path) -> None:
    config = write_config()

    first = run_cli("list", "add", "13912345678", "--list", "block", "--note", "催收",
                    "--by", "it-admin", "--config", config)
    second = run_cli("list", "add", "+8613912345678", "--list", "block", "--config", config)

    assert first.code == 0, first.stderr
    assert second.code == 0, second.stderr
    assert "#1" in second.stdout
    assert stored_entries(store_path) == [
        ("block", "exact", "+8613912345678", "催收", "it-admin")]
    assert audit_actions(store_path) == ["list_add"]


def test_list_import_gbk_file(write_config: ConfigWriter, store_path: Path,
                              tmp_path: Path) -> None:
    config = write_config()
    csv_path = tmp_path / "block.csv"
    csv_path.write_bytes(GBK_CSV.encode("gbk"))

    result = run_cli("list", "import", csv_path, "--list", "block", "--by", "hr-li",
                     "--config", config)

    assert result.code == 0, result.stderr
    assert "gb18030" in result.stdout
    assert stored_entries(store_path) == [
        ("block", "exact", "+8613912345678", "催收公司", "hr-li"),
        ("block", "prefix", "+86171", "虚拟号段", "hr-li"),
    ]
    assert audit_actions(store_path) == ["list_import"]


def test_list_import_bad_row_imports_nothing(write_config: ConfigWriter, store_path: Path,
                                             tmp_path: Path) -> None:
    config = write_config()
    csv_path = tmp_path / "allow.csv"
    csv_path.write_bytes(codecs.BOM_UTF8 + b"13912345678\n1.39123E+10\n13700001111\n")

    result = run_cli("list", "import", csv_path, "--list", "allow", "--config", config)

    assert result.code == 1
    assert "line 2" in result.stderr
    assert "--skip-bad" in result.stderr
    assert stored_entries(store_path) == []


def test_list_import_skip_bad_imports_valid_rows(write_config: ConfigWriter, store_path: Path,
                                                 tmp_path: Path) -> None:
    config = write_config()
    csv_path = tmp_path / "allow.csv"
    csv_path.write_bytes(codecs.BOM_UTF8 + b"13912345678\n1.39123E+10\n13700001111\n")

    result = run_cli("list", "import", csv_path, "--list", "allow", "--skip-bad",
                     "--config", config)

    assert result.code == 0, result.stderr
    assert "line 2" in result.stderr
    assert [entry[2] for entry in stored_entries(store_path)] == [
        "+8613912345678", "+8613700001111"]


def test_list_export_then_import_round_trip(write_config: ConfigWriter, store_path: Path,
                                            tmp_path: Path) -> None:
    config = write_config()
    csv_path = tmp_path / "in.csv"
    csv_path.write_bytes(GBK_CSV.encode("gbk"))
    run_cli("list", "import", csv_path, "--list", "block", "--config", config)
    exported = tmp_path / "out.csv"
    copy_path = tmp_path / "copy.sqlite3"

    export = run_cli("list", "export", "--output", exported, "--config", config)
    reimport = run_cli("list", "import", exported, "--store", copy_path, "--config", config)

    assert export.code == 0, export.stderr
    assert reimport.code == 0, reimport.stderr
    assert exported.read_bytes().startswith(codecs.BOM_UTF8)
    assert [entry[:4] for entry in stored_entries(copy_path)] == [
        entry[:4] for entry in stored_entries(store_path)]


def test_list_remove_by_number_and_show(write_config: ConfigWriter, store_path: Path) -> None:
    config = write_config()
    run_cli("list", "add", "13912345678", "--list", "block", "--config", config)

    removed = run_cli("list", "remove", "013912345678", "--list", "block", "--note", "误加",
                      "--config", config)
    shown = run_cli("list", "show", "--all", "--json", "--config", config)

    assert removed.code == 0, removed.stderr
    assert stored_entries(store_path) == []
    assert audit_actions(store_path) == ["list_add", "list_remove"]
    assert json.loads(shown.stdout)[0]["removed_at"] is not None


@pytest.mark.parametrize("content", [b"", b"\n\n", "号码,匹配方式,备注,到期\n".encode("gbk")])
def test_list_import_empty_file_fails(write_config: ConfigWriter, store_path: Path,
                                      tmp_path: Path, content: bytes) -> None:
    config = write_config()
    csv_path = tmp_path / "empty.csv"
    csv_path.write_bytes(content)

    result = run_cli("list", "import", csv_path, "--list", "block", "--config", config)

    assert result.code == 1
    assert str(csv_path) in result.stderr
    assert "没有任何条目" in result.stderr
    assert "contains no entries" in result.stderr
    assert "imported" not in result.stdout
    assert audit_actions(store_path) == []


def test_list_import_utf16_names_encodings(write_config: ConfigWriter, store_path: Path,
                                           tmp_path: Path) -> None:
    config = write_config()
    csv_path = tmp_path / "unicode.txt"
    csv_path.write_bytes(GBK_CSV.replace(",", "\t").encode("utf-16"))

    result = run_cli("list", "import", csv_path, "--list", "block", "--config", config)

    assert result.code == 1
    assert str(csv_path) in result.stderr
    assert "UTF-8, UTF-8 with BOM or GBK" in result.stderr
    assert stored_entries(store_path) == []


def test_list_import_long_note_names_line(write_config: ConfigWriter, store_path: Path,
                                          tmp_path: Path) -> None:
    config = write_config()
    csv_path = tmp_path / "long.csv"
    csv_path.write_text(f"号码,备注\n13912345678,ok\n13700001111,{'x' * 501}\n",
                        encoding="utf-8")

    result = run_cli("list", "import", csv_path, "--list", "block", "--config", config)

    assert result.code == 1
    assert "line 3" in result.stderr
    assert "501" in result.stderr
    assert stored_entries(store_path) == []


def test_list_add_strips_bidi_from_note(write_config: ConfigWriter, store_path: Path) -> None:
    config = write_config()

    result = run_cli("list", "add", "13912345678", "--list", "block", "--note",
                     "\u202e司公收催", "--config", config)

    assert result.code == 0, result.stderr
    assert stored_entries(store_path)[0][3] == "司公收催"
