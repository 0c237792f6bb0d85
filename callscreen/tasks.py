"""A tracked set of background tasks whose failures are logged, never lost."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class TaskSet:
    """Keeps a reference to every task it starts and logs the ones that fail."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, coro: Coroutine[Any, Any, Any], *, name: str,
              **ids: object) -> asyncio.Task[Any]:
        """Start `coro` as a task; `ids` are logged with its failure."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finish(done, ids))
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, grace_s: float) -> None:
        """Wait up to `grace_s` seconds for running tasks, then cancel what is left."""
        if not self._tasks:
            return

        _done, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            log.warning("background_tasks_cancelled", group=self._name, count=len(pending))

    def _finish(self, task: asyncio.Task[Any], ids: dict[str, object]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return

        exc = task.exception()
        if exc is not None:
            log.error("background_task_failed", group=self._name, task=task.get_name(),
                      error=repr(exc), exc_info=exc, **ids)
