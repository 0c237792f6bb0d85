"""The database file each command works on, and the rule for when a command may create it.

A command without --config would otherwise fall back to the built-in [store] path,
`callscreen.sqlite3` in the current directory, and quietly create an empty database there.
So every command needs the file to exist, except the few that set up a new install: they
add users, phones, list entries or the directory before the first `callscreen run`. Those
create the file only at a path given explicitly with --config or --store.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from callscreen.cli import config_from_args
from callscreen.config import Config
from callscreen.errors import StoreError
from callscreen.i18n import both


class StoreMissingError(StoreError):
    """The database file does not exist and this command may not create it."""


def command_store_path(args: argparse.Namespace, *, may_create: bool = False
                       ) -> tuple[Config, str]:
    """Return the loaded config and the database path for this command.

    The path is --store, or the [store] path of --config. Raises StoreMissingError when the
    file does not exist, unless `may_create` is set and --config or --store was given.
    """
    config = config_from_args(args)
    explicit_store = getattr(args, "store", None)
    path = explicit_store or config.store.path
    if Path(path).exists():
        return config, path

    explicit = bool(getattr(args, "config", None) or explicit_store)
    if may_create and explicit:
        return config, path

    absolute_path = Path(path).resolve()
    # Name --store in the advice only to commands that accept it.
    suffix = "" if hasattr(args, "store") else "_config_only"
    if explicit:
        raise StoreMissingError(both("store.missing" + suffix, path=absolute_path))
    raise StoreMissingError(both("store.missing_no_config" + suffix, path=absolute_path))
