"""Generate a realistic call history straight into a store file, in one transaction.

Rows come from one INSERT ... SELECT over a recursive CTE, so no Python runs per row. The
call indexes are dropped during the insert and rebuilt afterwards with their own
definitions, because sorting once is far cheaper than 10 million random index inserts.
30 % of the calls come from 1,000 repeat callers (the ones the benchmark screens), the rest
from a pool of N/4 numbers. About 1 % of the calls (every 97th row, so the tags
spread over both groups) carry a reception tag.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from callscreen.store import Store

HOT_CALLERS = 1_000
HISTORY_DAYS = 365
HOT_MOBILE_BASE = 13_800_000_000
OTHER_MOBILE_BASE = 15_000_000_000

INSERT_CALLS_SQL = """
WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < :rows - 1),
numbered AS (
    SELECT i,
           CASE WHEN i % 10 < 3 THEN :hot_base + (i * 7919) % :hot
                ELSE :other_base + (i * 104729) % :pool END AS national,
           :end_s - i * :span_s / :rows AS at_s
    FROM seq
)
INSERT INTO calls (call_id, uniqueid, linkedid, started_at, decided_at, ended_at,
                   caller_raw, caller_key, caller_block, caller_kind, caller_carrier, did,
                   verdict, category, score, reasons_json, facts_json, decision_source,
                   decision_ms, answered_by, talk_seconds, hangup_cause, hangup_cause_text)
SELECT 'h' || i, 'hist-' || i, 'hist-' || i,
       strftime('%Y-%m-%dT%H:%M:%S.000000Z', at_s, 'unixepoch'),
       strftime('%Y-%m-%dT%H:%M:%S.000000Z', at_s, 'unixepoch'),
       strftime('%Y-%m-%dT%H:%M:%S.000000Z', at_s + 60, 'unixepoch'),
       '0' || national, '+86' || national, '+86' || (national / 10000), 'mobile', '中国移动',
       '02188886666',
       CASE WHEN i % 20 = 0 THEN 'flag' ELSE 'allow' END,
       CASE WHEN i % 20 = 0 THEN 'collector' ELSE 'normal' END,
       CASE WHEN i % 20 = 0 THEN 45 ELSE 0 END,
       CASE WHEN i % 20 = 0
            THEN '[{"rule": "repeat", "score": 45, "text_zh": "重复来电",'
                 || ' "text_en": "repeat caller"}]'
            ELSE '[]' END,
       json_object('raw', '0' || national, 'kind', 'mobile', 'e164', '+86' || national,
                   'national', CAST(national AS TEXT), 'key', '+86' || national,
                   'block', '+86' || (national / 10000), 'country_code', 86,
                   'province', '江苏省', 'city', '常州市', 'carrier', '中国移动',
                   'masked', '+86' || substr(national, 1, 3) || '****'
                             || substr(national, -4)),
       'agi', 1.5, CASE WHEN i % 3 = 0 THEN '' ELSE '100' END, i % 300, 16,
       'Normal Clearing'
FROM numbered
"""

INSERT_TAGS_SQL = """
INSERT INTO tags (created_at, call_id, caller_key, caller_block, tag, author)
SELECT started_at, call_id, caller_key, caller_block,
       CASE WHEN rowid % 3 = 0 THEN 'not_collector' ELSE 'collector' END, 'bench'
FROM calls WHERE rowid % 97 = 0
"""


def hot_callers(count: int) -> list[str]:
    """Return caller IDs (as a trunk sends them, 0-prefixed) of numbers with the most history."""
    return [f"0{HOT_MOBILE_BASE + (i * 7919) % HOT_CALLERS}" for i in range(count)]


async def create_store(path: Path) -> None:
    """Create an empty, migrated store file at `path`."""
    store = await Store.open(path)
    await store.close()


def fill_history(path: Path, rows: int, end: datetime) -> float:
    """Insert `rows` calls ending at `end` into the store at `path`; return the seconds taken."""
    started = time.perf_counter()
    if rows <= 0:
        return 0.0

    connection = sqlite3.connect(path, isolation_level=None)
    try:
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'calls'"
            " AND sql IS NOT NULL").fetchall()
        connection.execute("BEGIN IMMEDIATE")
        for name, _sql in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        connection.execute(INSERT_CALLS_SQL, {
            "rows": rows, "hot": HOT_CALLERS, "pool": max(rows // 4, 1),
            "hot_base": HOT_MOBILE_BASE, "other_base": OTHER_MOBILE_BASE,
            "end_s": end.timestamp() - 1, "span_s": HISTORY_DAYS * 86_400,
        })
        for _name, sql in indexes:
            connection.execute(sql)
        connection.execute(INSERT_TAGS_SQL)
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
    finally:
        connection.close()

    return time.perf_counter() - started


def generate_history(path: Path, rows: int) -> float:
    """Create a store at `path` holding `rows` calls up to now; return the seconds taken."""
    asyncio.run(create_store(path))

    return fill_history(path, rows, datetime.now(UTC))
