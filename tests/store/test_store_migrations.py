"""Opening the database: pragmas, migrations, re-opening and refusing newer files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from callscreen.errors import StoreError
from callscreen.store import Store
from callscreen.store.db import Migration, load_migrations, migrate, split_statements


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("PRAGMA user_version").fetchone()[0])


def table_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}


def test_packaged_migrations_are_numbered_from_one() -> None:
    migrations = load_migrations()

    assert migrations[0].name == "001_core.sql"
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))


async def test_open_migrates_fresh_file(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"

    store = await Store.open(path)
    await store.close()

    assert user_version(path) == len(load_migrations())
    assert {"calls", "tags", "list_entries"} <= table_names(path)


async def test_reopen_keeps_rows_and_version(tmp_path: Path) -> None:
    path = tmp_path / "reopen.db"
    first = await Store.open(path)
    entry_id = await first.add_list_entry("block", "exact", "+8613912345678", added_by="admin")
    await first.close()

    second = await Store.open(path)
    entries = await second.db.fetch_all("SELECT id FROM list_entries", (), action="test")
    await second.close()

    assert [row[0] for row in entries] == [entry_id]
    assert user_version(path) == len(load_migrations())


async def test_open_sets_wal_and_connection_pragmas(store: Store) -> None:
    journal = await store.db.fetch_one("PRAGMA journal_mode", (), action="test")
    foreign_keys = await store.db.fetch_one("PRAGMA foreign_keys", (), action="test")
    synchronous = await store.db.fetch_one("PRAGMA synchronous", (), action="test")
    busy = await store.db.fetch_one("PRAGMA busy_timeout", (), action="test")

    assert journal is not None and journal[0] == "wal"
    assert foreign_keys is not None and foreign_keys[0] == 1
    assert synchronous is not None and synchronous[0] == 1  # NORMAL
    assert busy is not None and busy[0] > 0


async def test_open_rejects_database_newer_than_code(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 99")

    with pytest.raises(StoreError) as caught:
        await Store.open(path)

    assert str(path) in str(caught.value)
    assert "99" in str(caught.value)


async def test_open_rejects_missing_folder(tmp_path: Path) -> None:
    folder = tmp_path / "missing"

    with pytest.raises(StoreError) as caught:
        await Store.open(folder / "callscreen.db")

    assert str(folder) in str(caught.value)
    assert not folder.exists()


async def test_open_rejects_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is a text file, not sqlite\n" * 64)

    with pytest.raises(StoreError) as caught:
        await Store.open(path)

    assert str(path) in str(caught.value)


async def test_failed_migration_rolls_back_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    broken = Migration(1, "001_broken.sql",
                       "CREATE TABLE half (id INTEGER);\nINSERT INTO nowhere VALUES (1);\n")
    connection = await aiosqlite.connect(path, isolation_level=None)

    try:
        with pytest.raises(StoreError) as caught:
            await migrate(connection, path, [broken])
    finally:
        await connection.close()

    assert "001_broken.sql" in str(caught.value)
    assert user_version(path) == 0
    assert "half" not in table_names(path)


async def test_migrate_applies_only_newer_files(tmp_path: Path) -> None:
    path = tmp_path / "step.db"
    first = Migration(1, "001_a.sql", "CREATE TABLE a (id INTEGER);")
    second = Migration(2, "002_b.sql", "CREATE TABLE b (id INTEGER);")
    connection = await aiosqlite.connect(path, isolation_level=None)

    try:
        await migrate(connection, path, [first])
        version = await migrate(connection, path, [first, second])
    finally:
        await connection.close()

    assert version == 2
    assert {"a", "b"} <= table_names(path)


def test_split_statements_keeps_trigger_body_whole() -> None:
    script = (
        "-- header; with a semicolon\n"
        "CREATE TABLE t (a TEXT DEFAULT ';');\n"
        "CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN\n"
        "  UPDATE t SET a = 'x;y';\n"
        "  DELETE FROM t WHERE a = '';\n"
        "END;\n"
        "-- trailing comment\n"
    )

    statements = split_statements(script, name="003_test.sql")

    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER")
    assert statements[1].endswith("END;")


def test_split_statements_rejects_missing_final_semicolon() -> None:
    script = "CREATE TABLE t (a TEXT);\nCREATE TABLE u (b TEXT)\n"

    with pytest.raises(StoreError, match=r"003_test\.sql"):
        split_statements(script, name="003_test.sql")
