"""Fixtures for reception tests: a real store file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callscreen.store.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "callscreen.sqlite3")
    yield database
    await database.close()
