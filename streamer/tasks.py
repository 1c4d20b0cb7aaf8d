"""One owner for background tasks: named, tracked, cancelled with a deadline, failures logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskOwner:
    """Creates tasks, keeps references, and cancels them all on :meth:`aclose`.

    A task that dies with an exception is logged once with its name (never silently lost). ``on_failure`` lets
    the app decide whether a dead task is fatal.
    """

    def __init__(self, name: str, *, on_failure: Any = None) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_failure = on_failure
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self.name}: cannot start {name!r} after shutdown began")
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s failed: %r", task.get_name(), exc, exc_info=exc)
            if self._on_failure is not None:
                self._on_failure(task, exc)

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Cancel every task and wait up to ``timeout_s``; log the names of tasks that refused to die."""
        self._closed = True
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for t in pending:
            log.error("task %s did not stop within %.1f s of cancellation", t.get_name(), timeout_s)
