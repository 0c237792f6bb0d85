"""What the web app needs from the daemon: config, store, live calls and script rendering."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from callscreen.config import Config
from callscreen.hub import CallHub
from callscreen.reception.scripts import ScriptRenderer
from callscreen.store import Store
from callscreen.store.db import Database

if TYPE_CHECKING:
    from callscreen.admin.reload import ReloadResult


@dataclass(frozen=True)
class AdminHooks:
    """Callbacks into the running daemon, for the admin pages."""

    # Returns the /healthz JSON that `callscreen status` prints.
    health: Callable[[], dict[str, Any]]
    # Reloads the config file at the given path, as SIGHUP does.
    reload: Callable[[str], Awaitable[ReloadResult]]
    # Re-reads the stored lists, so that a change made on the admin pages applies to the next call.
    lists_changed: Callable[[], Awaitable[None]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebContext:
    """Shared objects handed to `create_app`; `renderer` defaults to one built from config.

    `store` may be the daemon's `Store`; its `Database` is used.
    """

    config: Config
    store: Database
    hub: CallHub
    renderer: ScriptRenderer | None = None
    clock: Callable[[], datetime] = field(default=_utc_now)
    # Called after reception feedback is stored, with the call id and the employee asked
    # for; the daemon points it at the HR evaluation.
    on_feedback: Callable[[str, str | None], Awaitable[None]] | None = None
    # None when no daemon runs in this process: the admin pages then show no health and
    # cannot reload.
    admin: AdminHooks | None = None

    def __post_init__(self) -> None:
        if isinstance(self.store, Store):
            self.store = self.store.db
        if self.renderer is None:
            self.renderer = ScriptRenderer(self.config)

    @property
    def scripts(self) -> ScriptRenderer:
        """Return the script renderer (always set after construction)."""
        assert self.renderer is not None
        return self.renderer
