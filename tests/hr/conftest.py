"""Shared set-up for the HR tests: a real store file, employees and call rows."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from callscreen.config.model import AnomalyConfig, Config, HrConfig
from callscreen.store import Store
from callscreen.store.db import to_db_time

# A Wednesday at 10:00 in Shanghai (02:00 UTC): inside office hours.
NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)

EMPLOYEES = [
    ("E1001", "张伟", "财务部", "8101", "02161230001"),
    ("E1002", "李娜", "销售部", "8102", ""),
]


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "hr.sqlite3")
    async with opened.db.write("seed_employees") as connection:
        await connection.executemany(
            "INSERT INTO employees (employee_id, name, department, extension, did, imported_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(*row, to_db_time(NOW)) for row in EMPLOYEES],
        )
    yield opened
    await opened.close()


@pytest.fixture
def config() -> Config:
    anomaly = AnomalyConfig(
        low={"short_calls": 3},
        medium={"short_numbers": 5},
        high={"long_numbers": 12},
    )
    return Config(anomaly=anomaly, hr=HrConfig(reception_extensions=["8000"]))


async def add_call(store: Store, call_id: str, *, started_at: datetime, caller: str,
                   did: str = "", category: str = "collector", region: str = "江苏省常州市",
                   answered_by: str = "8000", transferred_to: str = "",
                   bridged: dict[str, int] | None = None) -> None:
    """Insert a finished call row as the screening and AMI parts would leave it."""
    async with store.db.write("seed_call") as connection:
        await connection.execute(
            "INSERT INTO calls (call_id, started_at, caller_raw, caller_key, caller_block,"
            " caller_region, did, verdict, category, score, answered_by, transferred_to,"
            " bridged_json) VALUES (?, ?, ?, ?, ?, ?, ?, 'flag', ?, 60, ?, ?, ?)",
            (call_id, to_db_time(started_at), caller, caller, caller[:-4], region, did,
             category, answered_by, transferred_to, json.dumps(bridged or {})),
        )
