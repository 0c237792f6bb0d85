"""`list show` prints the last day typed, and `list add` rejects service-number prefixes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from .conftest import ConfigWriter, run_cli


def test_list_show_prints_typed_day(write_config: ConfigWriter) -> None:
    config = write_config()
    run_cli("list", "add", "13912345678", "--list", "block", "--expires", "2099-01-31",
            "--config", config)

    listed = run_cli("list", "show", "--config", config)
    exported = run_cli("list", "export", "--config", config)

    assert listed.code == 0, listed.stderr
    assert "至 2099-01-31（含） / through 2099-01-31" in listed.stdout
    assert "2099-02-01" not in listed.stdout
    assert exported.stdout.rstrip().endswith(",2099-01-31")


def test_list_show_without_expiry(write_config: ConfigWriter) -> None:
    config = write_config()
    run_cli("list", "add", "13912345678", "--list", "block", "--config", config)

    listed = run_cli("list", "show", "--config", config)

    assert "长期有效 / no expiry" in listed.stdout


@pytest.mark.parametrize("prefix", ["95", "955", "096", "12"])
def test_service_prefix_rejected(write_config: ConfigWriter, store_path: Path,
                                 prefix: str) -> None:
    config = write_config()

    result = run_cli("list", "add", prefix, "--list", "block", "--match", "prefix",
                     "--config", config)

    national = prefix.removeprefix("0")
    assert result.code == 1
    assert f"+86{national}" in result.stderr
    assert f"svc:{national}" in result.stderr
    with sqlite3.connect(store_path) as connection:
        assert connection.execute("SELECT count(*) FROM list_entries").fetchone() == (0,)


def test_other_prefix_still_accepted(write_config: ConfigWriter, store_path: Path) -> None:
    config = write_config()

    result = run_cli("list", "add", "0755", "--list", "block", "--match", "prefix",
                     "--config", config)

    assert result.code == 0, result.stderr
    assert "+86755" in result.stdout


def test_list_add_names_list_in_chinese(write_config: ConfigWriter) -> None:
    config = write_config()

    result = run_cli("list", "add", "13912345678", "--list", "block", "--config", config)

    assert result.code == 0, result.stderr
    assert "已添加黑名单条目 #1：号码 +8613912345678" in result.stdout
    assert "added block list entry #1" in result.stdout
