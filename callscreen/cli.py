"""The `callscreen` command line: run, demo, classify, check-config and the area subcommands."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from callscreen import __version__
from callscreen.config import Config, load_config
from callscreen.errors import CallscreenError, ConfigError
from callscreen.i18n import both
from callscreen.logs import configure_logging

# Areas that add their own subcommands through `register(subparsers)`.
AREA_COMMANDS = (
    "callscreen.commands.core",
    "callscreen.reception.cli",
    "callscreen.cases.cli",
    "callscreen.admin.cli",
)


class BilingualArgumentParser(argparse.ArgumentParser):
    """An argument parser whose usage errors carry the catalogue's bilingual lead-in.

    argparse's own detail ("the following arguments are required: ...") stays English.
    Subcommand parsers use this class too, because add_subparsers copies the parent's class.
    """

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: {both('cli.bad_arguments', detail=message)}\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = BilingualArgumentParser(
        prog="callscreen",
        description="来电筛查守护进程 / ring-time call screening for Asterisk",
    )
    parser.add_argument("--version", action="version", version=f"callscreen {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for module_name in AREA_COMMANDS:
        importlib.import_module(module_name).register(subparsers)
    return parser


def add_config_argument(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    """Add the shared `--config FILE` option to a subcommand."""
    parser.add_argument("--config", "-c", metavar="FILE", required=required,
                        help="配置文件（TOML） / config file (TOML)")


def config_from_args(args: argparse.Namespace) -> Config:
    """Load the config named by --config, or the built-in defaults when none was given."""
    path = getattr(args, "config", None)
    return load_config(path) if path else Config()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Commands print their results on stdout; logs go to stderr, warnings and worse only,
    # until `run` configures logging from its config file.
    configure_logging("warning", "console")

    try:
        result: Any = args.handler(args)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        sys.stdout.flush()
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except CallscreenError as exc:
        print(f"{both('cli.failed')}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`callscreen replay | head`): stop quietly, and point stdout
        # at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return int(result or 0)
