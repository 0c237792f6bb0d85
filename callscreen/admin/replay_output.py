"""The `callscreen replay` command and its terminal report."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from callscreen.admin.replay import ReplayReport, parse_since, replay
from callscreen.config import load_config
from callscreen.i18n import both
from callscreen.logs import configure_command_logging
from callscreen.store.admin import open_read_only

VERDICT_ORDER = ("none", "allow", "flag", "block")


def replay_command(args: argparse.Namespace) -> int:
    """Replay stored calls with the candidate config and print the comparison."""
    configure_command_logging()
    config = load_config(args.config)
    path = args.store or config.store.path
    zone = ZoneInfo(config.numbers.time_zone)
    now = datetime.now(UTC)
    since = parse_since(args.since, now, zone)

    connection = open_read_only(path)
    try:
        report = replay(connection, config, since=since, until=now, path=path)
    finally:
        connection.close()

    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(format_report(report, zone, args.config))
    return 0


def format_report(report: ReplayReport, zone: ZoneInfo, candidate: str) -> str:
    """Render the replay report for a terminal, Chinese first with English beside it."""
    lines = [both("replay.header", calls=report.calls, candidate=candidate,
                  since=report.since.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                  until=report.until.astimezone(zone).strftime("%Y-%m-%d %H:%M")), ""]
    lines.extend(_verdict_table(report))
    lines.append("")
    lines.extend(_transition_lines(report, zone))
    lines.append("")
    lines.extend(_hit_lines(report))

    return "\n".join(lines)


def _verdict_table(report: ReplayReport) -> list[str]:
    lines = [f"{both('replay.verdict'):<24}{both('replay.before'):>16}{both('replay.after'):>16}"]
    verdicts = [v for v in VERDICT_ORDER if report.before[v] or report.after[v]]
    lines.extend(f"{verdict:<24}{report.before[verdict]:>16}{report.after[verdict]:>16}"
                 for verdict in verdicts)

    return lines


def _transition_lines(report: ReplayReport, zone: ZoneInfo) -> list[str]:
    if not report.transitions:
        return [both("replay.no_transitions")]

    lines = [both("replay.transitions") + ":"]
    for transition, count in report.transitions.most_common():
        lines.append(f"  {transition:<14}{count:>8}")
        for example in report.examples.get(transition, []):
            started = datetime.fromisoformat(example["started_at"]).astimezone(zone)
            rules = ", ".join(example["rules_after"]) or "—"
            lines.append(f"      {example['call_id']}  {started:%Y-%m-%d %H:%M}  "
                         f"{example['caller'] or '—'}  {example['score_before']} → "
                         f"{example['score_after']}  [{rules}]")

    return lines


def _hit_lines(report: ReplayReport) -> list[str]:
    rules = sorted(set(report.hits_before) | set(report.hits_after))
    if not rules:
        return [both("replay.no_hits")]

    lines = [both("replay.rule_hits") + ":",
             f"  {'':<28}{both('replay.before'):>16}{both('replay.after'):>16}"]
    lines.extend(f"  {rule:<28}{report.hits_before[rule]:>16}{report.hits_after[rule]:>16}"
                 for rule in rules)
    return lines
