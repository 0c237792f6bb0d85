"""HR subcommands: `cases list|show|close`, `audit verify|export`, `report attendance`.

Every command that reads or changes HR data takes `--as USER`, an enabled hr account, and
asks for that account's password (or reads it with --password-stdin); wrong passwords count
toward the account's lockout as at the console. The command is audited under "USER@cli",
and a refusal is audited too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from callscreen.audit import export
from callscreen.cases import actions, attendance
from callscreen.cases.actions import Actor
from callscreen.cases.model import CaseStatus
from callscreen.cli import add_config_argument
from callscreen.commands.passwords import add_password_stdin, read_current_password
from callscreen.commands.stores import command_store_path
from callscreen.config.model import Config
from callscreen.errors import CallscreenError
from callscreen.i18n import both, t
from callscreen.reception import accounts
from callscreen.store import Store

Handler = Callable[[argparse.Namespace], Awaitable[int]]


@asynccontextmanager
async def _open(args: argparse.Namespace) -> AsyncIterator[tuple[Config, Store]]:
    config, path = command_store_path(args)
    store = await Store.open(path)
    try:
        if getattr(args, "actor", None):
            await _log_in(args, store)
        yield config, store
    finally:
        await store.close()


def _command(actions_parsers: Any, name: str, help_text: str, handler: Handler, *,
             actor: bool = True) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = actions_parsers.add_parser(name, help=help_text)
    add_config_argument(parser)
    if actor:
        parser.add_argument("--as", dest="actor", metavar="USER", required=True,
                            help="以此人事账号操作（需其密码，记入审计） / act as this hr "
                                 "account (asks for its password; audited)")
        add_password_stdin(parser)
    parser.set_defaults(handler=handler)
    return parser


def register(subparsers: Any) -> None:
    """Add the `cases`, `audit` and `report` subcommands to the main parser."""
    cases = subparsers.add_parser("cases", help="人事个案 / HR cases").add_subparsers(
        dest="cases_command", metavar="ACTION", required=True)
    parser = _command(cases, "list", "列出个案 / list cases", cases_list)
    parser.add_argument("--status", action="append", choices=[str(s) for s in CaseStatus],
                        help="只列出此状态（可重复） / only this status (repeatable)")
    parser = _command(cases, "show", "查看个案（需理由） / show a case (reason required)",
                      cases_show)
    parser.add_argument("case", metavar="CASE", help="编号或 ID / case number or id")
    parser.add_argument("--reason", required=True, help="查看理由 / reason for reading")
    parser = _command(cases, "close", "结案 / close a case", cases_close)
    parser.add_argument("case", metavar="CASE")
    parser.add_argument("--summary", required=True, help="结案摘要 / closing summary")
    parser.add_argument("--approach", required=True, help="处理方式 / handling approach")

    _register_audit(subparsers)
    _register_report(subparsers)


def _register_audit(subparsers: Any) -> None:
    audit = subparsers.add_parser("audit", help="审计日志 / audit log").add_subparsers(
        dest="audit_command", metavar="ACTION", required=True)
    parser = _command(audit, "verify", "校验哈希链 / verify the hash chain", audit_verify,
                      actor=False)
    parser.add_argument("--expect-head", default="", metavar="HASH",
                        help="之前 verify 或 export 输出的末条哈希，用于发现末尾被删 / head "
                             "hash printed by an earlier verify or export, to detect rows "
                             "cut from the end")
    parser = _command(audit, "export", "导出为 JSON Lines / export as JSON Lines", audit_export)
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.jsonl")


def _register_report(subparsers: Any) -> None:
    report = subparsers.add_parser("report", help="报表 / reports").add_subparsers(
        dest="report_command", metavar="REPORT", required=True)
    parser = _command(report, "attendance", "考勤辅助月报 / monthly attendance report",
                      report_attendance)
    parser.add_argument("--month", required=True, metavar="YYYY-MM")
    parser.add_argument("--csv", action="store_true",
                        help="输出 CSV（UTF-8 带 BOM） / print CSV (UTF-8 with BOM)")
    parser.add_argument("--out", type=Path, metavar="FILE.csv",
                        help="写入文件而不是标准输出 / write to a file instead of stdout")


async def _log_in(args: argparse.Namespace, store: Store) -> None:
    password = read_current_password(args, args.actor)
    result = await accounts.login(store.db, args.actor, password, datetime.now(UTC),
                                  remote="cli")
    if result.user is None:
        raise CallscreenError(both("auth.cli_login_failed", user=args.actor))


def _actor(args: argparse.Namespace) -> Actor:
    return Actor(username=args.actor, via="cli")


def _case_ref(text: str) -> int | str:
    return int(text) if text.isdigit() else text


async def cases_list(args: argparse.Namespace) -> int:
    """Print the cases, one per line."""
    async with _open(args) as (config, store):
        await actions.authorize(store, _actor(args), "case.list")
        statuses = tuple(CaseStatus(status) for status in args.status or ())
        cases = await actions.list_cases(store, _actor(args), statuses=statuses)

    zone = ZoneInfo(config.numbers.time_zone)
    print(both("case.list_header") if cases else both("case.list_empty"))
    for case in cases:
        print(f"{case.case_no}\t{t(f'case.status.{case.status}')}\t"
              f"{t(f'case.risk.{case.risk}')}\t{case.employee_id}\t"
              f"{case.updated_at.astimezone(zone):%Y-%m-%d %H:%M}")
    return 0


async def cases_show(args: argparse.Namespace) -> int:
    """Print one case and its timeline; the reason is audited."""
    async with _open(args) as (config, store):
        await actions.authorize(store, _actor(args), "case.read")
        detail = await actions.read_case(store, _actor(args), _case_ref(args.case),
                                         reason=args.reason)

    zone = ZoneInfo(config.numbers.time_zone)
    case = detail.case
    print(f"{case.case_no}  {t(f'case.status.{case.status}')}  "
          f"{t('hr.title')}: {detail.employee_name or case.employee_id} ({case.employee_id})  "
          f"{t(f'case.risk.{case.risk}')}")
    for event in detail.events:
        extra = event.call_id or event.body.get("text") or ""
        print(f"  {event.at.astimezone(zone):%Y-%m-%d %H:%M}  "
              f"{t(f'case.event.{event.kind}')}  {event.author}  {extra}")
    return 0


async def cases_close(args: argparse.Namespace) -> int:
    """Close a case with its summary and approach."""
    async with _open(args) as (_config, store):
        await actions.authorize(store, _actor(args), "case.close")
        case = await actions.find_case(store, _case_ref(args.case))
        closed = await actions.close_case(store, _actor(args), case.id, summary=args.summary,
                                          approach=args.approach)

    print(both("case.closed_ok", case=closed.case_no))
    return 0


async def audit_verify(args: argparse.Namespace) -> int:
    """Check the audit chain; exit 1 and list the problems when it was tampered with."""
    async with _open(args) as (_config, store):
        report = await export.verify(store, expected_head=args.expect_head)

    if report.ok:
        print(both("audit.ok", rows=report.rows, head=report.head_hash))
        return 0
    print(both("audit.broken", count=len(report.problems)), file=sys.stderr)
    for problem in report.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


async def audit_export(args: argparse.Namespace) -> int:
    """Write the audit chain to a JSON Lines file; the export itself is audited first."""
    async with _open(args) as (_config, store):
        await actions.authorize(store, _actor(args), "audit.export")
        await actions.audit(store, _actor(args), "audit.export", detail=str(args.out))
        with args.out.open("w", encoding="utf-8") as out:
            report = await export.export_jsonl(store, out)

    print(both("audit.exported", rows=report.rows, path=args.out, head=report.head_hash))
    return 0 if report.ok else 1


async def report_attendance(args: argparse.Namespace) -> int:
    """Print or write the monthly attendance report."""
    async with _open(args) as (config, store):
        await actions.authorize(store, _actor(args), "report.attendance")
        rows = await attendance.attendance_rows(store, args.month, config.numbers.time_zone)
        await actions.audit(store, _actor(args), "report.attendance", detail=args.month)

    text = attendance.attendance_csv(rows, args.month, config.hr.leave_category,
                                     delimiter="," if args.csv else "\t", bom=args.csv)
    if args.out:
        args.out.write_text(text, encoding="utf-8", newline="")
    else:
        sys.stdout.write(text)
    return 0
