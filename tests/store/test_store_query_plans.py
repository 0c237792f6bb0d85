"""Ring-time queries are index range scans, so their cost follows the window, not the table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callscreen.store import Store
from callscreen.store.calls import BLOCK_CALLERS_IN_WINDOW_SQL, CALLS_IN_WINDOW_SQL, FIND_CALL_SQL
from callscreen.store.tags import BLOCK_TAGS_SQL, NUMBER_TAGS_SQL

# (name, SQL, index it must search, the bounded range term the plan must show)
RING_TIME_QUERIES = [
    ("calls_in_window", CALLS_IN_WINDOW_SQL, "calls_caller_key_started",
     "caller_key=? AND started_at>? AND started_at<?"),
    ("number_tags", NUMBER_TAGS_SQL, "tags_caller_key_created",
     "caller_key=? AND created_at>? AND created_at<?"),
    ("block_tags", BLOCK_TAGS_SQL, "tags_caller_block_created",
     "caller_block=? AND created_at>? AND created_at<?"),
    ("block_callers_in_window", BLOCK_CALLERS_IN_WINDOW_SQL, "calls_caller_block_started",
     "caller_block=? AND started_at>? AND started_at<?"),
]


async def query_plan(store: Store, sql: str) -> list[str]:
    params = ["x"] * sql.count("?")
    rows = await store.db.fetch_all(f"EXPLAIN QUERY PLAN {sql}", params, action="test")
    return [str(row["detail"]) for row in rows]


async def fill_skewed_rows(store: Store, now) -> None:
    # Many rows for one number and block, then ANALYZE, so that the planner has statistics
    # that make a table scan look tempting.
    for index in range(300):
        await store.add_tag(caller_key="+8613912345678", caller_block="+861391234",
                            tag="collector", author="r", created_at=now - timedelta(hours=index))
    async with store.db.write("analyze") as connection:
        await connection.execute("ANALYZE")


@pytest.mark.parametrize(("name", "sql", "index", "bounds"), RING_TIME_QUERIES)
async def test_ring_time_query_searches_its_index(store: Store, name: str, sql: str,
                                                  index: str, bounds: str) -> None:
    plan = await query_plan(store, sql)

    assert any(f"INDEX {index} ({bounds})" in line for line in plan), plan
    assert not any(line.startswith("SCAN") for line in plan), plan


@pytest.mark.parametrize(("name", "sql", "index", "bounds"), RING_TIME_QUERIES)
async def test_ring_time_query_keeps_index_after_analyze(store: Store, now, name: str,
                                                         sql: str, index: str,
                                                         bounds: str) -> None:
    await fill_skewed_rows(store, now)

    plan = await query_plan(store, sql)

    assert any(f"INDEX {index} ({bounds})" in line for line in plan), plan
    assert not any(line.startswith("SCAN") for line in plan), plan


async def test_call_lookup_uses_uniqueid_and_linkedid_indexes(store: Store) -> None:
    plan = await query_plan(store, FIND_CALL_SQL)

    assert any("INDEX calls_uniqueid (uniqueid=?)" in line for line in plan), plan
    assert any("INDEX calls_linkedid (linkedid=?)" in line for line in plan), plan
    assert not any(line.startswith("SCAN calls") for line in plan), plan
