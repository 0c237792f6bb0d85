"""Replay on the demo's history, as a new admin would first try it."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_cli

# The demo's own number settings, and a flag threshold above the demo's 64-point calls.
CANDIDATE = '[numbers]\narea_code = "021"\n\n[rules]\nflag_threshold = 70\n'


def run_demo(store: Path) -> None:
    result = run_cli("demo", "--once", "--speed", "100", "--web-port", "0", "--lang", "en",
                     "--keep-store", store)
    assert result.code == 0, result.stderr
    assert f"kept in {store}" in result.stdout


def test_replay_reports_transitions_on_demo(tmp_path: Path) -> None:
    store = tmp_path / "demo.sqlite3"
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(CANDIDATE, encoding="utf-8")
    run_demo(store)

    result = run_cli("replay", "--store", store, "--config", candidate, "--json")
    report = json.loads(result.stdout)

    assert result.code == 0, result.stderr
    assert report["calls"] == 13
    assert report["before"] == {"allow": 6, "flag": 7}
    assert report["transitions"] == {"flag→allow": 3}
    assert len(report["examples"]["flag→allow"]) == 3
    assert report["after"]["flag"] == 4


def test_replay_text_names_transition(tmp_path: Path) -> None:
    store = tmp_path / "demo.sqlite3"
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(CANDIDATE, encoding="utf-8")
    run_demo(store)

    result = run_cli("replay", "--store", store, "--config", candidate)

    assert result.code == 0, result.stderr
    assert "flag→allow" in result.stdout
    assert "+86170****1201" in result.stdout
    assert "17055661201" not in result.stdout


def test_demo_keep_store_rejects_existing_file(tmp_path: Path) -> None:
    store = tmp_path / "demo.sqlite3"
    store.write_bytes(b"not a demo store")

    result = run_cli("demo", "--once", "--web-port", "0", "--keep-store", store)

    assert result.code == 1
    assert str(store) in result.stderr
    assert "already exists" in result.stderr
    assert store.read_bytes() == b"not a demo store"
