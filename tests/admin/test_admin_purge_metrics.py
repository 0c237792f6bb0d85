"""Retention purge (dry run and real) and the Prometheus metric families."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from callscreen.admin.purge import count_purge, next_purge_at, purge
from callscreen.config.model import RetentionConfig
from callscreen.metrics import Metrics
from callscreen.pbx.ami import AmiHealth
from callscreen.store import Store

from .conftest import ConfigWriter, load, record_calls, run_cli

RETENTION = RetentionConfig(call_days=30, tag_days=60, case_anonymise_days=365)


async def build_store(store_path: Path, write_config: ConfigWriter, now: datetime) -> None:
    store = await Store.open(store_path)
    try:
        calls = [("13912345678", now - timedelta(days=days)) for days in (40, 31, 29, 1)]
        await record_calls(store, load(write_config()), calls)
        for days in (90, 61, 59):
            await store.add_tag(caller_key="+8613912345678", caller_block="+861391234",
                                tag="collector", author="reception",
                                created_at=now - timedelta(days=days))
    finally:
        await store.close()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def count_rows(store_path: Path, table: str) -> int:
    with sqlite3.connect(store_path) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_purge_dry_run_counts_without_writing(write_config: ConfigWriter,
                                                    store_path: Path, now: datetime) -> None:
    await build_store(store_path, write_config, now)
    digest = file_digest(store_path)

    report = count_purge(str(store_path), RETENTION, now)

    assert (report.counts.calls, report.counts.tags) == (2, 2)
    assert report.dry_run
    assert file_digest(store_path) == digest
    assert count_rows(store_path, "calls") == 4


async def test_purge_deletes_old_rows_and_audits(write_config: ConfigWriter, store_path: Path,
                                                 now: datetime) -> None:
    await build_store(store_path, write_config, now)
    store = await Store.open(store_path)

    try:
        report = await purge(store, RETENTION, actor="it-admin", now=now)
    finally:
        await store.close()

    assert (report.counts.calls, report.counts.tags) == (2, 2)
    assert count_rows(store_path, "calls") == 2
    assert count_rows(store_path, "tags") == 1
    with sqlite3.connect(store_path) as connection:
        actor, action, detail = connection.execute(
            "SELECT actor, action, detail FROM audit_log").fetchone()
    assert (actor, action) == ("it-admin", "retention_purge")
    assert json.loads(detail)["calls"] == 2


async def test_purge_cli_dry_run_json(write_config: ConfigWriter, store_path: Path,
                                      now: datetime) -> None:
    await build_store(store_path, write_config, datetime.now(UTC))
    config = write_config("retention.toml", extra="[retention]\ncall_days = 2\n")

    result = run_cli("purge", "--dry-run", "--json", "--config", config)

    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["calls"] == 3
    assert count_rows(store_path, "calls") == 4


def test_next_purge_is_next_local_hour() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    before = datetime(2026, 2, 28, 18, 30, tzinfo=UTC)  # 02:30 on 1 March in Shanghai
    after = datetime(2026, 2, 28, 19, 30, tzinfo=UTC)  # 03:30 on 1 March in Shanghai

    assert next_purge_at(before, 3, zone) == datetime(2026, 2, 28, 19, 0, tzinfo=UTC)
    assert next_purge_at(after, 3, zone) == datetime(2026, 3, 1, 19, 0, tzinfo=UTC)


def test_metrics_render_contains_every_family() -> None:
    metrics = Metrics()
    metrics.observe_decision("flag", "collector", 0.004)
    metrics.count_event()
    metrics.count_case_opened("high")
    metrics.count_reload(ok=False)
    metrics.bind_ami(lambda: AmiHealth(connected=True, logged_in=True, reconnects=2))
    metrics.bind_outbox_backlog(lambda: 7)

    text = metrics.render().decode()

    assert 'callscreen_calls_total{category="collector",verdict="flag"} 1.0' in text
    assert "callscreen_decision_seconds_bucket{le=\"0.005\"} 1.0" in text
    assert "callscreen_ami_connected 1.0" in text
    assert "callscreen_ami_reconnects_total 2.0" in text
    assert "callscreen_events_processed_total 1.0" in text
    assert "callscreen_outbox_backlog 7.0" in text
    assert 'callscreen_cases_opened_total{risk="high"} 1.0' in text
    assert "callscreen_config_reload_failures_total 1.0" in text


def test_metrics_ami_down_before_client_starts() -> None:
    metrics = Metrics()

    text = metrics.render().decode()

    assert "callscreen_ami_connected 0.0" in text
