"""A classifier slower than the FastAGI deadline: the call is answered `allow` in time."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from .conftest import daemon_config, place, query, running_daemon, wait_until

DEADLINE_MS = 100
# Far beyond the deadline, so a late answer could not pass for a fast one.
CLASSIFIER_DELAY_S = 3.0
CALLER = "17012345678"


async def test_slow_classifier_answers_allow(tmp_path: Path, reliability) -> None:
    reliability.describe(
        f"分类器慢于 {DEADLINE_MS} ms 期限 / classifier slower than the {DEADLINE_MS} ms "
        "FastAGI deadline",
        "the deadline fires: CALLSCREEN_VERDICT=allow with reason `error` (a late "
        "classifier answer would carry its own reasons); the call rings, its record is written")
    config = daemon_config(tmp_path, decision_deadline_ms=DEADLINE_MS)

    async with running_daemon(config) as (daemon, fake):
        assert daemon.screener is not None
        _slow_down(daemon.screener)
        result = await place(fake, CALLER)
        call_id = result.variables.get("CALLSCREEN_CALL_ID", "")
        await wait_until(lambda: _ended(config.store.path, call_id), "the call record")

    reliability.observed = (f"verdict={result.variables.get('CALLSCREEN_VERDICT')}, "
                            f"reasons={result.variables.get('CALLSCREEN_REASONS')}, "
                            f"AGISTATUS={result.agi_status}, rang={result.rang}")
    assert result.agi_status == "SUCCESS"
    assert result.variables["CALLSCREEN_VERDICT"] == "allow"
    assert result.variables["CALLSCREEN_REASONS"] == "error"
    assert result.rang


def _slow_down(screener: Any) -> None:
    original = screener.screen

    async def slow_screen(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(CLASSIFIER_DELAY_S)
        return await original(*args, **kwargs)

    screener.screen = slow_screen


def _ended(path: str, call_id: str) -> bool:
    rows = query(path, "SELECT ended_at FROM calls WHERE call_id = ?", (call_id,))
    return bool(rows) and rows[0][0] is not None
