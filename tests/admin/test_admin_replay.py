"""Replay and explain over a generated call history, read-only."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from callscreen.admin.explain import find_call
from callscreen.admin.replay import replay
from callscreen.config import Config
from callscreen.store import Store
from callscreen.store.admin import open_read_only

from .conftest import ConfigWriter, load, record_calls, run_cli

BASE_RULES = "repeat_count = 3\nrepeat_window_minutes = 120\nrepeat_score = 25\n"
CLIENT = "13812345678"
REPEATER = "13912345678"
VIRTUAL = "17012345678"
TAGGED = "13712340001"
TAGGED_NEIGHBOUR = "13712340002"


def history(now: datetime) -> list[tuple[str, datetime]]:
    start = now - timedelta(days=3)
    minutes = [0, 30, 60, 90]
    calls = [(CLIENT, start + timedelta(hours=5))]
    calls += [(REPEATER, start + timedelta(minutes=m)) for m in minutes]
    calls += [(VIRTUAL, start + timedelta(hours=1, minutes=m)) for m in minutes[:3]]
    calls += [(TAGGED_NEIGHBOUR, start + timedelta(days=1)), (TAGGED, start + timedelta(days=2))]
    calls += [("anonymous", start + timedelta(days=2, hours=1))]
    return sorted(calls, key=lambda call: call[1])


async def build_store(store_path: Path, config: Config, now: datetime) -> None:
    store = await Store.open(store_path)
    try:
        # Reception marked the neighbour of TAGGED as a collector before TAGGED called.
        await store.add_tag(caller_key="+8613712340002", caller_block="+861371234",
                            tag="collector", author="reception",
                            created_at=now - timedelta(days=2))
        await record_calls(store, config, history(now))
    finally:
        await store.close()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_replay(store_path: Path, config: Config, now: datetime):
    connection = open_read_only(store_path)
    try:
        return replay(connection, config, since=now - timedelta(days=30), until=now,
                      path=str(store_path))
    finally:
        connection.close()


async def test_replay_same_rules_reproduces_verdicts(write_config: ConfigWriter,
                                                     store_path: Path, now: datetime) -> None:
    config = load(write_config(rules=BASE_RULES))
    await build_store(store_path, config, now)

    report = run_replay(store_path, config, now)

    assert report.calls == len(history(now))
    assert report.transitions == {}
    assert report.before == report.after
    assert report.hits_before == report.hits_after
    assert report.after["flag"] >= 3


async def test_replay_candidate_reports_transitions(write_config: ConfigWriter,
                                                    store_path: Path, now: datetime) -> None:
    config = load(write_config(rules=BASE_RULES))
    candidate = load(write_config("candidate.toml", rules=BASE_RULES.replace("25", "45")))
    await build_store(store_path, config, now)

    report = run_replay(store_path, candidate, now)

    assert report.transitions == {"allow→flag": 2}
    assert report.hits_after["repeat_caller"] == report.hits_before["repeat_caller"]
    examples = report.examples["allow→flag"]
    assert [example["caller"] for example in examples] == ["+86139****5678"] * 2
    assert all("repeat_caller" in example["rules_after"] for example in examples)


async def test_replay_applies_candidate_list_entries(write_config: ConfigWriter,
                                                     store_path: Path, now: datetime) -> None:
    config = load(write_config(rules=BASE_RULES))
    candidate = load(write_config("candidate.toml",
                                  rules=BASE_RULES + f'allow = ["{VIRTUAL}"]\n'))
    await build_store(store_path, config, now)

    report = run_replay(store_path, candidate, now)

    assert report.transitions["flag→allow"] >= 1
    assert report.hits_after["allow_list"] == 3


async def test_replay_applies_block_burst(write_config: ConfigWriter, store_path: Path,
                                          now: datetime) -> None:
    recorded = load(write_config(rules=BASE_RULES + "block_burst_score = 0\n"))
    candidate = load(write_config("candidate.toml", rules=BASE_RULES))
    start = now - timedelta(hours=5)
    burst = [(f"1705123{index:04d}", start + timedelta(minutes=index)) for index in range(5)]
    store = await Store.open(store_path)
    try:
        await record_calls(store, recorded, burst)
    finally:
        await store.close()

    report = run_replay(store_path, candidate, now)

    assert report.hits_before.get("block_burst", 0) == 0
    assert report.hits_after["block_burst"] == 2
    assert report.transitions == {"allow→flag": 2}


async def test_replay_cli_leaves_store_unchanged(write_config: ConfigWriter, store_path: Path,
                                                 now: datetime) -> None:
    config_path = write_config(rules=BASE_RULES)
    candidate = write_config("candidate.toml", rules=BASE_RULES.replace("25", "45"))
    await build_store(store_path, load(config_path), now)
    digest = file_digest(store_path)

    result = run_cli("replay", "--since", "3650d", "--config", candidate, "--json")

    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["transitions"] == {"allow→flag": 2}
    assert file_digest(store_path) == digest


async def test_replay_read_only_connection_cannot_write(write_config: ConfigWriter,
                                                        store_path: Path, now: datetime) -> None:
    await build_store(store_path, load(write_config(rules=BASE_RULES)), now)
    connection = open_read_only(store_path)

    try:
        with pytest.raises(sqlite3.OperationalError):
            connection.execute("DELETE FROM calls")
    finally:
        connection.close()


async def test_explain_shows_ring_time_facts(write_config: ConfigWriter, store_path: Path,
                                             now: datetime) -> None:
    config_path = write_config(rules=BASE_RULES)
    await build_store(store_path, load(config_path), now)
    flagged = next(call_id for call_id in [f"c{i:05d}" for i in range(12)]
                   if find_call(str(store_path), call_id).verdict == "flag")

    result = run_cli("explain", flagged, "--json", "--config", config_path)
    text = run_cli("explain", "1700000000.0", "--config", config_path)

    assert result.code == 0, result.stderr
    explained = json.loads(result.stdout)
    assert explained["verdict"] == "flag"
    assert explained["facts"]["e164"].startswith("+86")
    assert {reason["rule"] for reason in explained["reasons"]}
    assert text.code == 0, text.stderr
    assert "判定理由" in text.stdout


async def test_explain_unknown_call_fails(write_config: ConfigWriter, store_path: Path,
                                          now: datetime) -> None:
    config_path = write_config(rules=BASE_RULES)
    await build_store(store_path, load(config_path), now)

    result = run_cli("explain", "c-missing", "--config", config_path)

    assert result.code == 1
    assert "c-missing" in result.stderr
