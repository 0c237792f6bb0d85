"""Reading passwords at the terminal or from standard input, for commands that need one."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import NoReturn

from callscreen.i18n import both, t


def add_password_stdin(parser: argparse.ArgumentParser) -> None:
    """Add `--password-stdin`, for scripts that cannot answer a terminal prompt."""
    parser.add_argument("--password-stdin", action="store_true",
                        help="从标准输入读取一行作为密码 / read the password as one line "
                        "from standard input")


def read_current_password(args: argparse.Namespace, username: str) -> str:
    """Read the password of `username` once, from stdin (--password-stdin) or the terminal.

    Exits with code 2 when there is no terminal to ask on or the prompt gets end of input
    (Ctrl-D), because getpass would otherwise echo a warning and end in a traceback.
    """
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")

    if not sys.stdin.isatty():
        exit_with(both("auth.password_no_terminal"))
    try:
        return getpass.getpass(t("auth.current_password_prompt", user=username))
    except EOFError:
        print(file=sys.stderr)
        exit_with(both("auth.password_cancelled"))


def exit_with(message: str) -> NoReturn:
    """Print `message` on stderr and exit with code 2."""
    print(message, file=sys.stderr)
    raise SystemExit(2)
