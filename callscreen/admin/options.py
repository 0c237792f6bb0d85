"""Options shared by the admin subcommands: which store, who acts, which time zone."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from callscreen.cli import add_config_argument
from callscreen.commands.stores import command_store_path
from callscreen.config import Config
from callscreen.store import Store


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --config and --store; --store overrides the config file's [store] path."""
    add_config_argument(parser)
    parser.add_argument("--store", metavar="PATH",
                        help="数据库文件，默认取配置文件的 [store] path / database file "
                             "(default: [store] path of the config)")


def add_actor_argument(parser: argparse.ArgumentParser) -> None:
    """Add --by NAME, recorded as who made the change."""
    parser.add_argument("--by", default=default_actor(), metavar="NAME",
                        help="记录为操作人 / recorded as who made the change "
                             "(default: your login name)")


def default_actor() -> str:
    """Return the login name of the person running the command."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def config_and_store_path(args: argparse.Namespace) -> tuple[Config, str]:
    """Return the loaded config and the path of the existing store the command works on.

    Raises StoreMissingError when the file does not exist.
    """
    return command_store_path(args)


@asynccontextmanager
async def open_store(args: argparse.Namespace, *, may_create: bool = False
                     ) -> AsyncIterator[tuple[Config, Store]]:
    """Open the store for writing (migrating it as needed), close it after.

    Only with `may_create` is a missing file created, and only at an explicit path (see
    callscreen.commands.stores).
    """
    config, path = command_store_path(args, may_create=may_create)
    store = await Store.open(path)
    try:
        yield config, store
    finally:
        await store.close()
