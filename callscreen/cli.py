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
from callscreen.logs import (
    COMMAND_LOG_LEVEL_ENV,
    DEFAULT_COMMAND_LOG_LEVEL,
    LEVELS,
    VERBOSE_COMMAND_LOG_LEVEL,
    configure_command_logging,
    set_command_log_level,
)

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
    _add_verbose_option(parser, top_level=True)
    return parser


def _add_verbose_option(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """Add `--verbose` to `parser` and to every subcommand below it.

    Subcommand parsers default to SUPPRESS, because argparse copies a subparser's defaults
    over the top-level namespace and would reset a `--verbose` given before the command.
    """
    parser.add_argument("--verbose", action="store_true",
                        default=False if top_level else argparse.SUPPRESS,
                        help=f"在终端显示 {VERBOSE_COMMAND_LOG_LEVEL} 及以上级别的日志"
                             f"（默认只显示 error；也可设 {COMMAND_LOG_LEVEL_ENV}） / "
                             f"show log lines of level {VERBOSE_COMMAND_LOG_LEVEL} and above "
                             f"(default: error only; or set {COMMAND_LOG_LEVEL_ENV})")

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in dict.fromkeys(action.choices.values()):
                _add_verbose_option(subparser)


def command_log_level(args: argparse.Namespace) -> str:
    """Return the log level for this command: `--verbose`, CALLSCREEN_LOG_LEVEL or ERROR.

    Raises ConfigError naming the value when CALLSCREEN_LOG_LEVEL is not a level.
    """
    if getattr(args, "verbose", False):
        return VERBOSE_COMMAND_LOG_LEVEL

    level = os.environ.get(COMMAND_LOG_LEVEL_ENV, "").strip().lower()
    if not level:
        return DEFAULT_COMMAND_LOG_LEVEL
    if level not in LEVELS:
        problem = both("cli.bad_log_level", variable=COMMAND_LOG_LEVEL_ENV, value=level[:40],
                       allowed=", ".join(LEVELS))
        raise ConfigError(COMMAND_LOG_LEVEL_ENV, [problem])
    return level


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

    try:
        # Commands print their results on stdout; logs go to stderr, errors only unless
        # asked for more, until `run` configures logging from its config file.
        set_command_log_level(command_log_level(args))
        configure_command_logging("console")

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
