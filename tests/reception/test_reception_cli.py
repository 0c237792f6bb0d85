"""The directory, users and phones subcommands, run through `callscreen.cli.main`."""

from __future__ import annotations

import io
import sqlite3
import time
from pathlib import Path

import pytest

from callscreen.cli import main


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "callscreen.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "store.sqlite3"}"\n', encoding="utf-8")
    return path


def run(config_file: Path, *argv: str) -> int:
    return main([*argv, "--config", str(config_file)])


def test_directory_import_then_find(config_file, tmp_path, capsys):
    csv_path = tmp_path / "staff.csv"
    csv_path.write_bytes("姓名,工号,分机\n张伟,E001,8001\n".encode("gbk"))

    imported = run(config_file, "directory", "import", str(csv_path))
    found = run(config_file, "directory", "find", "zw")

    output = capsys.readouterr().out
    assert (imported, found) == (0, 0)
    assert "已导入 1 名员工" in output
    assert "E001\t张伟" in output


def test_failed_import_writes_nothing(config_file, tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text("姓名,工号\n张伟,E001\n", encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("姓名,工号,直线\n李娜,E002,\n王芳,E003,2.18889E+10\n", encoding="utf-8")
    run(config_file, "directory", "import", str(good))

    status = run(config_file, "directory", "import", str(bad))
    still_there = run(config_file, "directory", "find", "E001")
    not_added = run(config_file, "directory", "find", "E002")

    errors = capsys.readouterr().err
    assert status == 1
    assert f"{bad}:3:" in errors
    assert (still_there, not_added) == (0, 1)


def test_dry_run_writes_nothing(config_file, tmp_path, capsys):
    csv_path = tmp_path / "staff.csv"
    csv_path.write_text("姓名,工号\n张伟,E001\n", encoding="utf-8")

    status = run(config_file, "directory", "import", str(csv_path), "--dry-run")
    found = run(config_file, "directory", "find", "E001")

    assert (status, found) == (0, 1)


def test_users_add_from_stdin_and_list(config_file, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))

    added = run(config_file, "users", "add", "前台", "--role", "reception", "--password-stdin")
    listed = run(config_file, "users", "list")

    output = capsys.readouterr().out
    assert (added, listed) == (0, 0)
    assert "前台\treception\tactive" in output


def test_users_add_rejects_short_password(config_file, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))

    with pytest.raises(SystemExit, match="at least 8"):
        run(config_file, "users", "add", "前台", "--role", "reception", "--password-stdin")


def test_users_disable_unknown_user_fails(config_file):
    assert run(config_file, "users", "disable", "nobody") == 1


def test_phones_add_prints_token_once(config_file, capsys):
    status = run(config_file, "phones", "add", "8001", "--model", "yealink")

    output = capsys.readouterr().out
    assert status == 0
    assert "8001" in output
    assert "令牌只显示这一次" in output


def test_phones_add_rejects_bad_extension(config_file):
    assert run(config_file, "phones", "add", "80a1", "--model", "cisco") == 2


def test_import_count_reads_for_one(config_file, tmp_path, capsys):
    csv_path = tmp_path / "staff.csv"
    csv_path.write_text("姓名,工号\n张伟,E001\n", encoding="utf-8")

    code = run(config_file, "directory", "import", str(csv_path))

    output = capsys.readouterr().out
    assert code == 0
    assert "employees imported: 1" in output
    assert "1 employees" not in output


def test_users_list_last_login_has_offset(config_file, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    run(config_file, "users", "add", "前台", "--role", "reception", "--password-stdin")
    with sqlite3.connect(config_file.parent / "store.sqlite3") as connection:
        connection.execute("UPDATE users SET last_login_at = '2026-12-04T16:30:00.000000Z'")
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()

    try:
        listed = run(config_file, "users", "list")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()

    assert listed == 0
    assert "2026-12-05T00:30+08:00" in capsys.readouterr().out
