"""Admin subcommands: list, explain, replay, purge, status and reload."""

from __future__ import annotations

import argparse
from typing import Any

from callscreen.admin import list_commands
from callscreen.admin.explain import explain_command
from callscreen.admin.lists import EXPORT_HEADER
from callscreen.admin.options import add_actor_argument, add_store_arguments
from callscreen.admin.purge import purge_command
from callscreen.admin.reload import reload_command
from callscreen.admin.replay_output import replay_command
from callscreen.admin.status import status_command
from callscreen.cli import add_config_argument

LIST_HELP = "名单 / list: allow (白名单) or block (黑名单)"
MATCH_HELP = ("匹配方式 / match kind: exact (号码), prefix (号段前缀) or block "
              "(号码段：去掉末四位) (default exact)")


def register(subparsers: Any) -> None:
    """Add the admin subcommands."""
    _register_list(subparsers)
    _register_explain(subparsers)
    _register_replay(subparsers)
    _register_purge(subparsers)
    _register_status(subparsers)
    _register_reload(subparsers)


def _register_list(subparsers: Any) -> None:
    lists = subparsers.add_parser("list", help="管理黑白名单 / manage the allow and block lists")
    actions = lists.add_subparsers(dest="list_command", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="添加条目 / add an entry")
    add.add_argument("number", help="号码、前缀或号码段 / number, prefix or block")
    _list_options(add, list_required=True)
    add.add_argument("--expires", metavar="DATE",
                     help="最后生效日（本地时间），如 2027-01-31 / last day in force (local), "
                          "e.g. 2027-01-31")
    add.set_defaults(handler=list_commands.list_add)

    remove = actions.add_parser("remove", help="移除条目 / remove entries")
    remove.add_argument("number", nargs="?", help="号码、前缀或号码段 / number, prefix or block")
    remove.add_argument("--id", type=int, action="append", metavar="ID",
                        help="条目编号，可重复 / entry id; may be repeated")
    _list_options(remove, list_required=False)
    remove.set_defaults(handler=list_commands.list_remove)

    _register_list_import(actions)
    _register_list_views(actions)


def _list_options(parser: argparse.ArgumentParser, *, list_required: bool) -> None:
    parser.add_argument("--list", choices=("allow", "block"), required=list_required,
                        help=LIST_HELP)
    parser.add_argument("--match", choices=("exact", "prefix", "block"), default="exact",
                        help=MATCH_HELP)
    parser.add_argument("--note", default="", help="原因 / why (kept with the entry)")
    add_actor_argument(parser)
    add_store_arguments(parser)


def _register_list_import(actions: Any) -> None:
    imp = actions.add_parser(
        "import", help="从 CSV 导入（UTF-8、带 BOM 的 UTF-8 或 GBK） / import a CSV file "
                       "(UTF-8, UTF-8 with BOM or GBK)")
    imp.add_argument("file", help="CSV 文件：号码,匹配方式,备注,到期 / CSV file: number, match, "
                                  "note, expires")
    imp.add_argument("--list", choices=("allow", "block"),
                     help=LIST_HELP + "; a list column in the file overrides it")
    imp.add_argument("--skip-bad", action="store_true",
                     help="跳过错误行，导入其余行 / import the valid rows and skip invalid ones")
    add_actor_argument(imp)
    add_store_arguments(imp)
    imp.set_defaults(handler=list_commands.list_import)


def _register_list_views(actions: Any) -> None:
    export = actions.add_parser(
        "export", help="导出为 CSV / export as CSV (columns: " + ", ".join(EXPORT_HEADER) + ")")
    export.add_argument("--output", "-o", metavar="FILE", help="输出文件，默认标准输出 / "
                                                               "output file (default stdout)")
    export.add_argument("--encoding", choices=list_commands.EXPORT_ENCODINGS,
                        default="utf-8-sig",
                        help="文件编码 / file encoding (default utf-8-sig, which Excel opens)")
    _view_options(export)
    export.set_defaults(handler=list_commands.list_export)

    show = actions.add_parser("show", help="显示条目 / show entries")
    show.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    _view_options(show)
    show.set_defaults(handler=list_commands.list_show)


def _view_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list", choices=("allow", "block"), help=LIST_HELP)
    parser.add_argument("--all", action="store_true",
                        help="包括已移除和已过期的条目 / include removed and expired entries")
    add_store_arguments(parser)


def _register_explain(subparsers: Any) -> None:
    explain = subparsers.add_parser(
        "explain", help="解释一通电话的判定 / explain the stored verdict of one call")
    explain.add_argument("call_id", metavar="CALL_ID",
                         help="通话编号、Uniqueid 或 Linkedid / call id, Uniqueid or Linkedid")
    explain.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    add_store_arguments(explain)
    explain.set_defaults(handler=explain_command)


def _register_replay(subparsers: Any) -> None:
    replay = subparsers.add_parser(
        "replay", help="用候选规则重放历史来电（只读） / re-classify stored calls with "
                       "candidate rules (read-only)")
    replay.add_argument("--since", default="30d",
                        help="起点：30d、12h、2w、90m 或 2026-01-31 / start: 30d, 12h, 2w, 90m "
                             "or a local date (default 30d)")
    add_config_argument(replay, required=True)
    replay.add_argument("--store", metavar="PATH",
                        help="数据库文件 / database file (default: [store] path of --config)")
    replay.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    replay.set_defaults(handler=replay_command)


def _register_purge(subparsers: Any) -> None:
    purge = subparsers.add_parser(
        "purge", help="按保留期限清理数据 / delete data past its retention period")
    purge.add_argument("--dry-run", action="store_true",
                       help="只统计，不删除 / count only, delete nothing")
    purge.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    add_actor_argument(purge)
    add_store_arguments(purge)
    purge.set_defaults(handler=purge_command)


def _register_status(subparsers: Any) -> None:
    status = subparsers.add_parser(
        "status", help="显示运行中守护进程的健康状态 / show the running daemon's health")
    add_config_argument(status)
    status.add_argument("--url", help="健康检查地址 / health URL (default: "
                                      "http://[web] host:port/healthz of the config)")
    status.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    status.set_defaults(handler=status_command)


def _register_reload(subparsers: Any) -> None:
    reload = subparsers.add_parser(
        "reload", help="让运行中的守护进程重新加载配置 / make the running daemon reload "
                       "its config (SIGHUP)")
    reload.add_argument("--pid-file", required=True, metavar="FILE",
                        help="callscreen run --pid-file 写入的文件 / the file written by "
                             "callscreen run --pid-file")
    add_config_argument(reload)
    reload.set_defaults(handler=reload_command)
