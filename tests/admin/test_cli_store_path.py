"""Which commands may create the database file, and the error when it is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_cli

DEFAULT_STORE = "callscreen.sqlite3"

# Commands that only read or change an existing store, with their arguments.
EXISTING_STORE_COMMANDS = [
    ("users", "list"),
    ("users", "disable", "hr1"),
    ("directory", "find", "zw"),
    ("list", "show"),
    ("list", "remove", "--id", "1"),
    ("explain", "20260101-0001"),
    ("purge", "--dry-run"),
    ("purge",),
    ("cases", "list", "--as", "hr1"),
    ("audit", "verify"),
]


@pytest.mark.parametrize("command", EXISTING_STORE_COMMANDS, ids=" ".join)
def test_no_config_no_store_fails(tmp_path: Path, command: tuple[str, ...]) -> None:
    result = run_cli(*command, cwd=tmp_path)

    assert result.code == 1
    assert str(tmp_path / DEFAULT_STORE) in result.stderr
    assert "--config" in result.stderr
    assert "不存在" in result.stderr
    assert not (tmp_path / DEFAULT_STORE).exists()


# The commands of EXISTING_STORE_COMMANDS that take --store; the others take only --config.
STORE_OPTION_COMMANDS = {"list", "explain", "purge"}


@pytest.mark.parametrize("command", EXISTING_STORE_COMMANDS, ids=" ".join)
def test_missing_store_advice_matches_options(tmp_path: Path, command: tuple[str, ...]) -> None:
    result = run_cli(*command, cwd=tmp_path)
    accepts_store = "--store" in run_cli(*command, "--help", cwd=tmp_path).stdout

    assert accepts_store is (command[0] in STORE_OPTION_COMMANDS)
    assert ("--store" in result.stderr) is accepts_store


def test_users_add_without_config_creates_nothing(tmp_path: Path) -> None:
    result = run_cli("users", "add", "hr1", "--role", "hr", "--password-stdin",
                     cwd=tmp_path, stdin="a-long-password\n")

    assert result.code == 1
    assert "--config" in result.stderr
    assert not (tmp_path / DEFAULT_STORE).exists()


def test_users_add_with_config_creates_store(tmp_path: Path) -> None:
    store = tmp_path / "data" / "new.sqlite3"
    store.parent.mkdir()
    config = tmp_path / "callscreen.toml"
    config.write_text(f'[store]\npath = "{store}"\n', encoding="utf-8")

    added = run_cli("users", "add", "hr1", "--role", "hr", "--password-stdin",
                    "--config", config, cwd=tmp_path, stdin="a-long-password\n")
    listed = run_cli("users", "list", "--config", config, cwd=tmp_path)

    assert added.code == 0, added.stderr
    assert store.exists()
    assert listed.code == 0, listed.stderr
    assert listed.stdout.startswith("hr1\thr\t")


def test_list_show_with_config_needs_store(tmp_path: Path) -> None:
    store = tmp_path / "typo.sqlite3"
    config = tmp_path / "callscreen.toml"
    config.write_text(f'[store]\npath = "{store}"\n', encoding="utf-8")

    result = run_cli("list", "show", "--config", config, cwd=tmp_path)

    assert result.code == 1
    assert str(store) in result.stderr
    assert "[store] path" in result.stderr
    assert not store.exists()


def test_list_add_with_store_creates_it(tmp_path: Path) -> None:
    store = tmp_path / "lists.sqlite3"

    result = run_cli("list", "add", "13912345678", "--list", "block", "--store", store,
                     cwd=tmp_path)

    assert result.code == 0, result.stderr
    assert store.exists()
