"""Reception subcommands: `directory`, `users` and `phones`.

Account changes go through `callscreen.admin.users`, which audits each one.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callscreen.admin import users
from callscreen.cli import add_config_argument
from callscreen.commands.passwords import add_password_stdin, exit_with
from callscreen.commands.stores import command_store_path
from callscreen.errors import ImportFileError
from callscreen.i18n import both, t
from callscreen.reception import accounts, phones
from callscreen.reception.directory import read_directory_file
from callscreen.store import reception as store
from callscreen.store.db import Database

Handler = Callable[[argparse.Namespace], Awaitable[int]]


@asynccontextmanager
async def _open_store(args: argparse.Namespace, *, may_create: bool = False
                      ) -> AsyncIterator[Database]:
    _config, path = command_store_path(args, may_create=may_create)
    db = await Database.open(path)
    try:
        yield db
    finally:
        await db.close()


def _subcommand(subparsers: Any, name: str, help_text: str, handler: Handler
                ) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help_text)
    add_config_argument(parser)
    parser.set_defaults(handler=handler)
    return parser


def register(subparsers: Any) -> None:
    """Add the `directory`, `users` and `phones` subcommands to the main parser."""
    _register_directory(subparsers.add_parser(
        "directory", help="员工通讯录 / employee directory").add_subparsers(
        dest="directory_command", metavar="ACTION", required=True))
    _register_users(subparsers.add_parser(
        "users", help="控制台账号 / console accounts").add_subparsers(
        dest="users_command", metavar="ACTION", required=True))
    _register_phones(subparsers.add_parser(
        "phones", help="话机屏幕令牌 / desk-phone screen tokens").add_subparsers(
        dest="phones_command", metavar="ACTION", required=True))


def _register_directory(actions: Any) -> None:
    parser = _subcommand(actions, "import", "导入 CSV，替换整个通讯录 / import a CSV, "
                         "replacing the whole directory", directory_import)
    parser.add_argument("file", metavar="FILE.csv", type=Path)
    parser.add_argument("--dry-run", action="store_true",
                        help="只检查，不写入 / check the file only, write nothing")
    parser.add_argument("--allow-empty", action="store_true",
                        help="允许导入没有员工行的文件，即清空通讯录 / accept a file with no "
                        "employee rows, which empties the directory")

    parser = _subcommand(actions, "find", "按姓名、拼音首字母、工号、分机或直线查找 / "
                         "find by name, pinyin initials, employee id, extension or DID",
                         directory_find)
    parser.add_argument("query")


def _register_users(actions: Any) -> None:
    parser = _subcommand(actions, "add", "新建账号 / create an account", users_add)
    parser.add_argument("username")
    parser.add_argument("--role", choices=store.ROLES, required=True)
    add_password_stdin(parser)

    parser = _subcommand(actions, "passwd", "修改密码并解锁 / set a new password and unlock",
                         users_passwd)
    parser.add_argument("username")
    add_password_stdin(parser)

    parser = _subcommand(actions, "disable", "停用账号 / disable an account", users_disable)
    parser.add_argument("username")

    parser = _subcommand(actions, "enable", "启用账号 / enable an account", users_enable)
    parser.add_argument("username")

    parser = _subcommand(actions, "unlock", "解除登录锁定 / end a lockout after failed logins",
                         users_unlock)
    parser.add_argument("username")

    parser = _subcommand(actions, "role", "更改角色 / change an account's role", users_role)
    parser.add_argument("username")
    parser.add_argument("role", choices=store.ROLES)

    _subcommand(actions, "list", "列出账号 / list accounts", users_list)


def _register_phones(actions: Any) -> None:
    parser = _subcommand(actions, "add", "登记话机并显示新令牌 / register a phone and print "
                         "its new token", phones_add)
    parser.add_argument("extension", metavar="EXT")
    parser.add_argument("--model", choices=store.PHONE_MODELS, required=True)


def read_password(args: argparse.Namespace) -> str:
    """Read a new password from stdin (--password-stdin) or ask twice on the terminal.

    Exits with code 2 when there is no terminal to ask on or the prompt gets end of input
    (Ctrl-D), because getpass would otherwise echo a warning and end in a traceback.
    """
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")

    if not sys.stdin.isatty():
        exit_with(both("auth.password_no_terminal"))
    try:
        first = getpass.getpass(t("auth.password_prompt"))
        second = getpass.getpass(t("auth.password_repeat"))
    except EOFError:
        print(file=sys.stderr)
        exit_with(both("auth.password_cancelled"))
    if first != second:
        raise SystemExit(both("auth.password_mismatch"))
    return first


def _check_password(password: str) -> None:
    try:
        accounts.check_password_rules(password)
    except ValueError:
        raise SystemExit(both("auth.password_empty", length=accounts.MIN_PASSWORD_CHARS)
                         ) from None


async def directory_import(args: argparse.Namespace) -> int:
    """Import a directory CSV in one transaction; print every bad line on failure.

    Returns 1 for a bad file and 2 for a file without employee rows unless --allow-empty.
    """
    try:
        parsed = read_directory_file(args.file)
    except ImportFileError as exc:
        print(both("directory.import_failed", path=exc.path), file=sys.stderr)
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1

    # An export with a wrong filter can leave only the header. Importing that would
    # silently empty the whole directory, so it needs an explicit flag.
    if not parsed.employees and not args.allow_empty:
        print(both("directory.empty_file", path=args.file), file=sys.stderr)
        return 2

    if args.dry_run:
        print(both("directory.dry_run", count=len(parsed.employees), encoding=parsed.encoding))
        return 0
    async with _open_store(args, may_create=True) as db:
        count = await store.replace_employees(db, parsed.employees, now=datetime.now(UTC))

    print(both("directory.imported", count=count, encoding=parsed.encoding))
    return 0


async def directory_find(args: argparse.Namespace) -> int:
    """Print matching employees, one per line; exit 1 when none matches."""
    async with _open_store(args) as db:
        found = await store.find_employees(db, args.query)

    if not found:
        print(both("directory.not_found", query=args.query))
        return 1
    for employee in found:
        print("\t".join([employee.employee_id, employee.name, employee.department,
                         employee.extension, employee.did, employee.initials]))
    return 0


async def users_add(args: argparse.Namespace) -> int:
    """Create a console account; the change is audited as "cli:<login name>"."""
    password = read_password(args)
    _check_password(password)

    async with _open_store(args, may_create=True) as db:
        try:
            await users.add_user(db, users.AdminActor.cli(), args.username, password,
                                 args.role)
        except users.UserChangeError as exc:
            print(exc, file=sys.stderr)
            return 1

    print(both("auth.user_added", username=args.username.strip(), role=args.role))
    return 0


async def users_passwd(args: argparse.Namespace) -> int:
    """Set a new password; this also unlocks the account and ends its sessions."""
    password = read_password(args)
    _check_password(password)

    async def change(db: Database, actor: users.AdminActor, username: str) -> None:
        await users.reset_password(db, actor, username, password)

    return await _change_user(args, change, "auth.password_changed")


async def users_disable(args: argparse.Namespace) -> int:
    """Disable an account and end its sessions."""
    return await _change_user(args, users.disable_user, "auth.user_disabled")


async def users_enable(args: argparse.Namespace) -> int:
    """Enable a disabled account."""
    return await _change_user(args, users.enable_user, "auth.user_enabled")


async def users_unlock(args: argparse.Namespace) -> int:
    """End a lockout after too many failed logins; an account not locked is left alone."""
    async with _open_store(args) as db:
        try:
            unlocked = await users.unlock_user(db, users.AdminActor.cli(), args.username)
        except users.UserChangeError as exc:
            print(exc, file=sys.stderr)
            return 1

    message_id = "auth.user_unlocked" if unlocked else "auth.user_not_locked"
    print(both(message_id, username=args.username))
    return 0


async def users_role(args: argparse.Namespace) -> int:
    """Give an account another role; its sessions end."""
    async with _open_store(args) as db:
        try:
            await users.change_role(db, users.AdminActor.cli(), args.username, args.role)
        except users.UserChangeError as exc:
            print(exc, file=sys.stderr)
            return 1

    print(both("auth.user_role_changed", username=args.username, role=args.role))
    return 0


async def _change_user(args: argparse.Namespace,
                       change: Callable[[Database, users.AdminActor, str], Awaitable[None]],
                       done_message_id: str) -> int:
    async with _open_store(args) as db:
        try:
            await change(db, users.AdminActor.cli(), args.username)
        except users.UserChangeError as exc:
            print(exc, file=sys.stderr)
            return 1

    print(both(done_message_id, username=args.username))
    return 0


async def users_list(args: argparse.Namespace) -> int:
    """Print username, role, state (active, locked or disabled) and last login of each account.

    The last login is ISO 8601 in this machine's time zone with its UTC offset, or "-" when
    the account never logged in.
    """
    async with _open_store(args) as db:
        accounts_found = await users.list_accounts(db)

    for account in accounts_found:
        last_login = "-"
        if account.last_login_at is not None:
            last_login = account.last_login_at.astimezone().isoformat(timespec="minutes")
        print(f"{account.username}\t{account.role}\t{account.state}\t{last_login}")
    return 0


async def phones_add(args: argparse.Namespace) -> int:
    """Register a desk phone and print its token once."""
    async with _open_store(args, may_create=True) as db:
        try:
            token = await phones.add_phone(db, args.extension, args.model)
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 2

    print(both("phone.added", extension=args.extension, model=args.model, token=token))
    return 0
