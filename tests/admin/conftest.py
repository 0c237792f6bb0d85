"""Fixtures for the admin tests: config files, a store path, a call history and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callscreen.config import Config, load_config
from callscreen.pbx.model import CallerName
from callscreen.screening import Screener
from callscreen.store import Store

REPO = Path(__file__).resolve().parents[2]
CLI_TIMEOUT_S = 120

ConfigWriter = Callable[..., Path]


@dataclass(frozen=True)
class CliResult:
    """Exit code and output of one `python -m callscreen` run."""

    code: int
    stdout: str
    stderr: str


def run_cli(*args: str | Path, cwd: Path | None = None) -> CliResult:
    """Run `python -m callscreen ARGS` in a child process and capture its output."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [sys.executable, "-m", "callscreen", *map(str, args)],
        capture_output=True, text=True, encoding="utf-8", timeout=CLI_TIMEOUT_S,
        cwd=cwd or REPO, env=env, check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "callscreen.sqlite3"


@pytest.fixture
def write_config(tmp_path: Path, store_path: Path) -> ConfigWriter:
    """Write a config file with the given [rules] and extra TOML, pointing at store_path."""

    def write(name: str = "callscreen.toml", rules: str = "", extra: str = "") -> Path:
        path = tmp_path / name
        path.write_text(
            f'[store]\npath = "{store_path}"\n\n[rules]\n{rules}\n{extra}\n', encoding="utf-8")
        return path

    return write


async def record_calls(store: Store, config: Config,
                       calls: Sequence[tuple[str, datetime]]) -> list[str]:
    """Screen each (caller, time) with `config` as the daemon would, store it, return ids."""
    screener = Screener(config, store)
    call_ids: list[str] = []
    for index, (caller, started_at) in enumerate(calls):
        screened = await screener.screen(caller, now=started_at)
        call_id = f"c{index:05d}"
        await store.record_decision(
            call_id, uniqueid=f"1700000000.{index}", started_at=started_at, caller_raw=caller,
            caller_name=CallerName(""), did="02188886666", decision=screened.decision,
            source="agi", decision_ms=1.0, decided_at=started_at,
        )
        call_ids.append(call_id)
    return call_ids


def load(path: Path) -> Config:
    """Load a config file written by write_config."""
    return load_config(path)
