"""The quick benchmark run still works end to end. It asserts nothing about speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 600


def run_quick_bench(out_dir: Path) -> subprocess.CompletedProcess[str]:
    # A child process, because the benchmark configures logging for the whole process.
    return subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
    )


def test_quick_bench_writes_every_result(tmp_path: Path) -> None:
    completed = run_quick_bench(tmp_path)

    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    table = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert set(results) >= {"agi", "ami", "history", "memory", "machine"}
    assert results["machine"]["cpu_cores"] >= 1
    assert results["agi"]["callscreen"]["closed_50"]["errors"] == 0
    # One EXEC MSet per set-up, plus a SET VARIABLE for a value MSet cannot carry (a
    # CALLSCREEN_REASONS with two rule ids); bare sends six SET VARIABLE per set-up.
    screened = results["agi"]["callscreen"]["closed_50"]["commands"]
    assert screened["EXEC"] == 100
    assert screened.get("SET", 0) < 100
    assert results["agi"]["bare"]["closed_50"]["commands"] == {"SET": 600}
    # 5,000 events are 6 passes over the 12-call capture.
    assert results["ami"]["callscreen"]["call_records"] == 72
    assert results["history"]["replay"]["calls"] == 5_000
    assert "| target | measured | aim | result |" in table
    assert "not run" not in table
