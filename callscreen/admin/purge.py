"""Retention: delete old call rows and tags, anonymise old closed cases, once a day.

Cutoffs come from `[retention]`: calls started more than `call_days` ago, tags created more
than `tag_days` ago and cases closed more than `case_anonymise_days` ago. The audit row is
written before anything is deleted (see `audit_purge`), so every purge is on record.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog

from callscreen.admin.options import config_and_store_path, open_store
from callscreen.cases.retention import anonymise_closed_cases
from callscreen.config import Config
from callscreen.config.model import RetentionConfig
from callscreen.errors import CallscreenError
from callscreen.i18n import both
from callscreen.logs import configure_command_logging
from callscreen.store import Store
from callscreen.store.admin import (
    PurgeCounts,
    PurgeCutoffs,
    audit_purge,
    count_purgeable,
    delete_calls_before,
    delete_tags_before,
    open_read_only,
    require_columns,
    require_tables,
)

log = structlog.get_logger(__name__)

PURGE_ACTOR = "system:retention"


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """The rows a purge deleted, or with `dry_run` the rows it would delete.

    `counts.closed_cases` is the number of cases due for anonymisation when the purge
    started; `cases_anonymised` is the number it anonymised, None in a dry run.
    """

    dry_run: bool
    cutoffs: PurgeCutoffs
    counts: PurgeCounts
    cases_anonymised: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the report as the `purge --json` object."""
        return {
            "dry_run": self.dry_run,
            "cutoffs": {name: value.isoformat() for name, value in asdict(self.cutoffs).items()},
            "counts": asdict(self.counts),
            "cases_anonymised": self.cases_anonymised,
        }


class PurgeTarget(Protocol):
    """The daemon attributes the daily purge reads."""

    config: Config
    store: Store | None


def retention_cutoffs(retention: RetentionConfig, now: datetime) -> PurgeCutoffs:
    """Return the times before which rows are purged."""
    return PurgeCutoffs(
        calls_before=now - timedelta(days=retention.call_days),
        tags_before=now - timedelta(days=retention.tag_days),
        cases_closed_before=now - timedelta(days=retention.case_anonymise_days),
    )


def count_purge(path: str, retention: RetentionConfig, now: datetime) -> PurgeReport:
    """Count what a purge would delete, on a read-only connection (the dry run)."""
    cutoffs = retention_cutoffs(retention, now)
    connection = open_read_only(path)
    try:
        require_tables(connection, ("calls", "tags", "cases"), path)
        require_columns(connection, "cases", ("anonymised_at",), path)
        counts = count_purgeable(connection, cutoffs)
    finally:
        connection.close()

    return PurgeReport(dry_run=True, cutoffs=cutoffs, counts=counts)


async def purge(store: Store, retention: RetentionConfig, *, actor: str,
                now: datetime) -> PurgeReport:
    """Audit, then delete old calls and tags and anonymise old closed cases."""
    cutoffs = retention_cutoffs(retention, now)
    planned = await audit_purge(store.db, cutoffs, actor=actor, at=now)

    calls = await delete_calls_before(store.db, cutoffs.calls_before)
    tags = await delete_tags_before(store.db, cutoffs.tags_before)
    anonymised = await anonymise_closed_cases(store, closed_before=cutoffs.cases_closed_before,
                                              actor=actor, now=now)

    counts = PurgeCounts(calls=calls, tags=tags, closed_cases=planned.closed_cases)
    log.info("retention_purged", calls=calls, tags=tags, cases_anonymised=anonymised,
             actor=actor)
    return PurgeReport(dry_run=False, cutoffs=cutoffs, counts=counts,
                       cases_anonymised=anonymised)


def next_purge_at(now: datetime, hour: int, zone: ZoneInfo) -> datetime:
    """Return the next time after `now` when the local clock in `zone` reads `hour`:00."""
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), time(hour), tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), time(hour), tzinfo=zone)

    return candidate.astimezone(UTC)


async def purge_loop(daemon: PurgeTarget) -> None:
    """Purge once a day at `[retention] purge_hour`, local time, until cancelled.

    Reads the daemon's config at each run, so a reload changes the next purge. A failed
    purge is logged at ERROR and tried again the next day.
    """
    while True:
        config = daemon.config
        now = datetime.now(UTC)
        due = next_purge_at(now, config.retention.purge_hour, ZoneInfo(config.numbers.time_zone))
        log.info("retention_purge_scheduled", at=due.isoformat())
        await asyncio.sleep((due - now).total_seconds())

        await run_scheduled_purge(daemon)


async def run_scheduled_purge(daemon: PurgeTarget) -> PurgeReport | None:
    """Run one daily purge as `system:retention`; return None when it did not run.

    A failure is logged at ERROR and not raised, so the loop goes on to the next day.
    """
    if daemon.store is None:
        log.warning("retention_purge_skipped", reason="store_closed")
        return None

    try:
        return await purge(daemon.store, daemon.config.retention, actor=PURGE_ACTOR,
                           now=datetime.now(UTC))
    except CallscreenError as exc:
        log.error("retention_purge_failed", error=str(exc))
        return None


async def purge_command(args: argparse.Namespace) -> int:
    """Run the purge now, or with --dry-run only count what it would delete."""
    configure_command_logging()
    now = datetime.now(UTC)
    if args.dry_run:
        config, path = config_and_store_path(args)
        report = await asyncio.to_thread(count_purge, path, config.retention, now)
    else:
        async with open_store(args) as (config, store):
            report = await purge(store, config.retention, actor=args.by, now=now)

    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(format_purge(report, ZoneInfo(config.numbers.time_zone)))
    return 0


def format_purge(report: PurgeReport, zone: ZoneInfo) -> str:
    """Render the purge report for a terminal, Chinese first with English beside it."""
    def local(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    counts, cutoffs = report.counts, report.cutoffs
    header = "purge.dry_run_header" if report.dry_run else "purge.header"
    if report.cases_anonymised is None:
        cases = both("purge.cases", count=counts.closed_cases,
                     before=local(cutoffs.cases_closed_before))
    else:
        cases = both("purge.cases_anonymised", count=report.cases_anonymised,
                     before=local(cutoffs.cases_closed_before))

    lines = [
        both(header),
        "  " + both("purge.calls", count=counts.calls, before=local(cutoffs.calls_before)),
        "  " + both("purge.tags", count=counts.tags, before=local(cutoffs.tags_before)),
        "  " + cases,
    ]
    return "\n".join(lines)
