"""`callscreen replay`: re-classify stored calls with candidate rules, writing nothing.

One pass over the calls in started_at order rebuilds each call's history as it was when the
call rang (see replay_history), classifies it with the candidate config and compares the
result with the stored verdict. The store is opened read-only (`mode=ro`).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from callscreen.admin.replay_history import (
    BlockWindows,
    CallWindows,
    ListIndex,
    StoredTag,
    TagTimeline,
    history_at,
)
from callscreen.classifier import Decision, classify
from callscreen.config import Config
from callscreen.errors import CallscreenError, StoreError
from callscreen.numbers.model import NumberFacts, NumberKind
from callscreen.numbers.normalise import normalise
from callscreen.screening import config_list_entries
from callscreen.store.admin import load_all_entries, require_tables
from callscreen.store.db import to_db_time
from callscreen.store.tags import TagKind

EXAMPLES_PER_TRANSITION = 3
# Parsed facts and rule lists are cached by their JSON text because callers repeat; the
# caches are emptied at this size to bound memory on long histories.
MAX_CACHED_TEXTS = 200_000
NO_VERDICT = "none"
T = TypeVar("T")
SINCE_FORM = re.compile(r"^(\d{1,5})([mhdw])$")
SINCE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

CALLS_SQL = (
    "SELECT call_id, started_at, caller_raw, verdict, score, reasons_json, facts_json"
    " FROM calls WHERE started_at >= ? AND started_at < ? ORDER BY started_at"
)
TAGS_SQL = (
    "SELECT created_at, caller_key, caller_block, tag FROM tags"
    " WHERE created_at >= ? AND created_at < ? ORDER BY created_at"
)


class SinceError(CallscreenError, ValueError):
    """A --since value that is neither a duration like 30d nor a date like 2026-01-31."""


@dataclass(slots=True)
class ReplayReport:
    """Verdict counts before and after, the transitions, rule hits and example calls."""

    since: datetime
    until: datetime
    calls: int = 0
    before: Counter[str] = field(default_factory=Counter)
    after: Counter[str] = field(default_factory=Counter)
    transitions: Counter[str] = field(default_factory=Counter)
    hits_before: Counter[str] = field(default_factory=Counter)
    hits_after: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the `replay --json` object."""
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "calls": self.calls,
            "before": dict(sorted(self.before.items())),
            "after": dict(sorted(self.after.items())),
            "transitions": dict(self.transitions.most_common()),
            "rule_hits": {
                rule: {"before": self.hits_before[rule], "after": self.hits_after[rule]}
                for rule in sorted(set(self.hits_before) | set(self.hits_after))
            },
            "examples": self.examples,
        }


def parse_since(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    """Turn "30d", "12h", "2w", "90m" or a local date "2026-01-31" into an aware time.

    Raises SinceError naming the value and the accepted forms.
    """
    value = text.strip()
    duration = SINCE_FORM.match(value)
    if duration:
        amount, unit = int(duration.group(1)), SINCE_UNITS[duration.group(2)]
        return now - timedelta(**{unit: amount})

    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as exc:
        raise SinceError(
            f"--since 格式无效，应为 30d、12h、2w、90m 或 2026-01-31 / invalid --since "
            f"{text!r}; expected 30d, 12h, 2w, 90m or a date like 2026-01-31") from exc

    return datetime.combine(day, time(0), tzinfo=zone)


def replay(connection: sqlite3.Connection, config: Config, *, since: datetime,
           until: datetime, path: str = "") -> ReplayReport:
    """Re-classify every call started in [since, until) with `config` and compare.

    Calls before `since` are read only to fill the repeat windows. Raises StoreError when
    the file lacks the tables or a query fails.
    """
    require_tables(connection, ("calls", "tags", "list_entries"), path)
    rules = config.rules
    window = timedelta(minutes=rules.repeat_window_minutes)
    burst_window = timedelta(minutes=rules.block_burst_window_minutes)
    max_age = timedelta(days=rules.reputation_max_age_days)

    try:
        timeline = TagTimeline(_load_tags(connection, since - max_age, until),
                               half_life_s=rules.reputation_half_life_days * 86_400,
                               max_age_s=max_age.total_seconds())
        lists = ListIndex([*config_list_entries(config), *load_all_entries(connection)])
        report = ReplayReport(since=since, until=until)
        windows = CallWindows(window.total_seconds())
        blocks = BlockWindows(burst_window.total_seconds())
        rows = connection.execute(
            CALLS_SQL, (to_db_time(since - max(window, burst_window)), to_db_time(until)))
        _replay_rows(rows, config, report, since.timestamp(), windows, blocks, timeline, lists)
    except sqlite3.Error as exc:
        raise StoreError(f"回放读取数据库失败 / replay cannot read {path}: {exc}") from exc

    return report


def _load_tags(connection: sqlite3.Connection, since: datetime,
               until: datetime) -> list[StoredTag]:
    rows = connection.execute(TAGS_SQL, (to_db_time(since), to_db_time(until)))

    return [
        StoredTag(at=_timestamp(row[0]), caller_key=row[1], caller_block=row[2],
                  tag=TagKind(row[3]))
        for row in rows
    ]


# NOTE: over 1,000,000 generated calls (bench/history_gen.py, CPython 3.11, a shared 2-core
# VM) this loop used 15 s of CPU time, about 66,000 calls/s; wall-clock rates were 27,000 to
# 37,000 calls/s at load averages of 2 to 6. classify() takes about 40 % of the time and
# history_at about 25 %. No single step dominates.
def _replay_rows(rows: Iterator[sqlite3.Row], config: Config, report: ReplayReport,
                 since_s: float, windows: CallWindows, blocks: BlockWindows,
                 timeline: TagTimeline, lists: ListIndex) -> None:
    facts_cache: dict[str, NumberFacts | None] = {}
    rules_cache: dict[str, list[str]] = {}
    for call_id, started_at, caller_raw, verdict, score, reasons_json, facts_json in rows:
        moment = datetime.fromisoformat(started_at)
        moment_s = moment.timestamp()
        facts = _cached(facts_cache, facts_json or "", _stored_facts) \
            or _fresh_facts(caller_raw, config)
        if moment_s < since_s:
            # Only fills the repeat and burst windows of the calls being replayed.
            windows.count_then_add(facts.key, moment_s)
            blocks.count_then_add(facts.block, facts.key, moment_s)
            continue

        history = history_at(facts, moment, moment_s, windows, blocks, timeline, lists)
        decision = classify(facts, history, config.rules)
        _record(report, call_id, moment, facts, verdict or NO_VERDICT, score,
                _cached(rules_cache, reasons_json, _stored_rules), decision)


def _cached(cache: dict[str, T], text: str, parse: Callable[[str], T]) -> T:
    value = cache.get(text)
    if value is None:
        if len(cache) >= MAX_CACHED_TEXTS:
            cache.clear()
        value = cache[text] = parse(text)
    return value


def _record(report: ReplayReport, call_id: str, moment: datetime, facts: NumberFacts,
            before: str, score: int | None, rules_before: list[str], decision: Decision) -> None:
    after = decision.verdict.value
    rules_after = [reason.rule for reason in decision.reasons]
    report.calls += 1
    report.before[before] += 1
    report.after[after] += 1
    # A plain loop: Counter.update costs more than the one or two rules a call has.
    for rule in rules_before:
        report.hits_before[rule] += 1
    for rule in rules_after:
        report.hits_after[rule] += 1
    if before == after:
        return

    transition = f"{before}→{after}"
    report.transitions[transition] += 1
    examples = report.examples.setdefault(transition, [])
    if len(examples) < EXAMPLES_PER_TRANSITION:
        examples.append({
            "call_id": call_id, "started_at": moment.isoformat(), "caller": facts.masked,
            "score_before": score, "score_after": decision.score,
            "rules_before": rules_before, "rules_after": rules_after,
        })


def _timestamp(text: str) -> float:
    # fromisoformat reads the stored "...Z" form (Python 3.11+) many times faster than strptime.
    return datetime.fromisoformat(text).timestamp()


def _stored_facts(text: str) -> NumberFacts | None:
    if not text:
        return None
    try:
        fields = json.loads(text)
        return NumberFacts(**{**fields, "kind": NumberKind(fields["kind"])})
    except (ValueError, TypeError, KeyError):
        return None


def _fresh_facts(caller_raw: str, config: Config) -> NumberFacts:
    numbers = config.numbers
    return normalise(caller_raw, region=numbers.default_region, area_code=numbers.area_code)


def _stored_rules(text: str) -> list[str]:
    try:
        return [str(item["rule"]) for item in json.loads(text)]
    except (ValueError, TypeError, KeyError):
        return []

