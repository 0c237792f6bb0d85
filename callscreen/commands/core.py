"""Core subcommands: run, demo, classify, check-config."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import sys
from pathlib import Path
from typing import Any

from callscreen.admin.reload import remove_pid_file, write_pid_file
from callscreen.classifier import Decision
from callscreen.cli import add_config_argument, config_from_args
from callscreen.commands.text import display_width
from callscreen.config import Config, load_config
from callscreen.config.checks import check_deployment
from callscreen.i18n import both, t
from callscreen.logs import configure_logging
from callscreen.numbers.model import NumberFacts
from callscreen.reception.scripts import ScriptRenderer
from callscreen.screening import Screener


def register(subparsers: Any) -> None:
    """Add the core subcommands."""
    run = subparsers.add_parser("run", help="运行守护进程 / run the daemon")
    add_config_argument(run, required=True)
    run.add_argument("--pid-file", metavar="FILE",
                     help="写入进程号，供 callscreen reload 使用 / write the process id here, "
                          "for callscreen reload")
    run.set_defaults(handler=run_command)

    demo = subparsers.add_parser("demo",
                                 help="在内置模拟 PBX 上演示 / demo on the built-in fake PBX")
    demo.add_argument("--once", action="store_true",
                      help="打印汇总后退出 / exit after the summary")
    demo.add_argument("--lang", choices=("zh-CN", "en"), default="zh-CN",
                      help="输出语言 / output language (default zh-CN)")
    demo.add_argument("--speed", type=speed_factor, default=1.0,
                      help=f"播放速度倍数，{MIN_SPEED:g} 到 {MAX_SPEED:g} / playback speed "
                           f"factor from {MIN_SPEED:g} to {MAX_SPEED:g} (default 1.0)")
    demo.add_argument("--web-port", type=port_number, default=None, metavar="PORT",
                      help="控制台端口，0 为任意空闲端口；默认 8080，被占用时改用空闲端口 / "
                           "console port, 0 for any free port (default 8080, or a free port "
                           "when 8080 is in use)")
    demo.add_argument("--keep-store", metavar="FILE", type=Path,
                      help="把演示的通话记录写入这个新文件并保留，供 replay/explain 试用 / "
                           "write the demo's call records to this new file and keep it, "
                           "for trying replay and explain")
    demo.set_defaults(handler=demo_command)

    classify = subparsers.add_parser("classify", help="判定一个号码 / classify one number")
    classify.add_argument("number", help="来电号码，原样 / caller ID as delivered")
    classify.add_argument("--did", default="", help="被叫号码 / the dialled number (DID)")
    classify.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    add_config_argument(classify)
    classify.set_defaults(handler=classify_command)

    check = subparsers.add_parser("check-config", help="检查配置文件 / validate a config file")
    check.add_argument("file", help="配置文件 / config file")
    check.set_defaults(handler=check_config_command)


# A slower demo would leave the terminal silent for minutes between calls, and a faster one
# makes the fake PBX's timers shorter than a loopback round trip.
MIN_SPEED = 0.1
MAX_SPEED = 1000.0


def port_number(text: str) -> int:
    """Parse a TCP port for argparse: a whole number from 0 to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(both("cli.invalid_port", value=text))
    return port


def speed_factor(text: str) -> float:
    """Parse the demo's playback speed for argparse: a number from MIN_SPEED to MAX_SPEED."""
    try:
        speed = float(text)
    except ValueError:
        speed = math.nan
    # NaN fails both comparisons, so it is rejected too.
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise argparse.ArgumentTypeError(both("cli.invalid_speed", value=text, low=MIN_SPEED,
                                              high=MAX_SPEED))
    return speed


def check_config_command(args: argparse.Namespace) -> int:
    """Validate a config file and the reply scripts it points to; print every problem.

    Warnings are printed too but do not make the check fail.
    """
    config = load_config(args.file)

    deployment = check_deployment(config)
    problems = deployment.errors + [str(problem) for problem in ScriptRenderer(config).check()]

    for warning in deployment.warnings:
        print(f"{both('config.warning')}: {warning}", file=sys.stderr)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 2
    print(both("config.ok", path=args.file))
    return 0


async def classify_command(args: argparse.Namespace) -> int:
    """Print the normalised number, its facts, the verdict, the score and every reason."""
    config = config_from_args(args)
    store = None
    if args.config and os.path.exists(config.store.path):  # noqa: ASYNC240 -- one stat
        from callscreen.store import Store

        store = await Store.open(config.store.path)
    try:
        screened = await Screener(config, store).screen(args.number)
    finally:
        if store is not None:
            await store.close()

    if args.json:
        print(json.dumps(classification_json(args.number, args.did, screened.facts,
                                             screened.decision), ensure_ascii=False, indent=2))
    else:
        print(format_classification(args.did, screened.facts, screened.decision))
    return 0


def classification_json(raw: str, did: str, facts: NumberFacts,
                        decision: Decision) -> dict[str, Any]:
    """Return the `classify --json` object (its keys are a documented contract)."""
    return {
        "raw": raw,
        "e164": facts.e164,
        "key": facts.key,
        "kind": facts.kind.value,
        "region": facts.region,
        "province": facts.province,
        "city": facts.city,
        "carrier": facts.carrier,
        "block": facts.block,
        "did": did,
        "verdict": decision.verdict.value,
        "category": decision.category.value,
        "score": decision.score,
        "tag": decision.tag,
        "reasons": [{"rule": r.rule, "score": r.score, "text": r.text_zh, "text_en": r.text_en}
                    for r in decision.reasons],
    }


def format_classification(did: str, facts: NumberFacts, decision: Decision) -> str:
    """Render a classification for a terminal, Chinese first with English beside it."""
    unknown = "—"
    rows = [
        (both("classify.raw"), facts.raw or unknown),
        (both("classify.e164"), facts.e164 or unknown),
        (both("classify.kind"), f"{t('kind.' + facts.kind.value)} ({facts.kind.value})"),
        (both("classify.region"), facts.region or unknown),
        (both("classify.carrier"), facts.carrier or unknown),
        (both("classify.block"), facts.block or unknown),
    ]
    if did:
        rows.append((both("classify.did"), did))
    rows.append((both("classify.verdict"),
                 f"{t('verdict.' + decision.verdict.value)} ({decision.verdict.value}), "
                 f"{t('category.' + decision.category.value)}, "
                 + both("classify.score_value", score=decision.score)))

    width = max(display_width(label) for label, _ in rows)
    lines = [f"{label}{' ' * (width - display_width(label))}  {value}" for label, value in rows]
    lines.append(both("classify.reasons") + ":")
    lines.extend(f"  [{r.rule}] {r.score:+d}  {r.text_zh} / {r.text_en}" for r in decision.reasons)
    if not decision.reasons:
        lines.append("  " + both("classify.no_reasons"))
    return "\n".join(lines)


def run_command(args: argparse.Namespace) -> int:
    """Run the daemon until SIGINT or SIGTERM; SIGHUP reloads the config file."""
    config = load_config(args.config)
    configure_logging(config.log.level, config.log.format)
    if args.pid_file:
        write_pid_file(args.pid_file)
    try:
        asyncio.run(_run(config, args.config))
    finally:
        if args.pid_file:
            remove_pid_file(args.pid_file)
    return 0


async def _run(config: Config, path: str) -> None:
    from callscreen.daemon import Daemon, run_until_stopped

    daemon = Daemon(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(
        signal.SIGHUP,
        lambda: daemon.background.start(daemon.reload(path), name="config_reload"))
    await run_until_stopped(daemon, stop)


def demo_command(args: argparse.Namespace) -> int:
    """Run the daemon against the built-in fake PBX and replay a morning at reception."""
    from callscreen.demo import run_demo

    return asyncio.run(run_demo(once=args.once, locale=args.lang, speed=args.speed,
                                web_port=args.web_port, keep_store=args.keep_store))
