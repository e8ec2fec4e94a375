"""Background jobs: work a responder schedules to run after its response has ended.

``resp.schedule(coroutine_function)`` and ``resp.schedule_sync(function)`` queue jobs. Once the
response has ended (its last body message handed to the server, or the client gone mid-stream),
the app starts one task per request that runs that request's jobs one after another, in order:

* the app keeps a strong reference to every task until it finishes (asyncio keeps only weak
  ones, so a fire-and-forget task can be garbage-collected mid-flight);
* a sync job runs in the loop's default executor with a copy of the request's context variables;
* a job that raises is logged with its traceback on the ``reference_app`` logger, and the next
  job still runs;
* the jobs run outside the ASGI call, so a server that cancels the app coroutine some time after
  the response (daphne's ``--application-close-timeout``, see
  docs/server-behaviour.md#daphne-application-close-timeout) does not kill them;
* at lifespan shutdown the app waits for pending jobs up to ``shutdown_timeout`` seconds, then
  cancels what is left and logs a line for each job it cancelled.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from typing import Any

from .response import Job

__all__ = ["JobRunner"]

logger = logging.getLogger("reference_app")


class JobRunner:
    """Runs the jobs of each response in order, keeps them alive, and drains them at shutdown."""

    __slots__ = ("_current", "_tasks")

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._current: dict[asyncio.Task[None], Callable[[], Any]] = {}

    @property
    def pending(self) -> int:
        """How many requests still have jobs running or waiting."""
        return len(self._tasks)

    def start(self, jobs: list[Job]) -> None:
        """Start running ``jobs`` (in order) in a task of their own."""
        task = asyncio.get_running_loop().create_task(self._run(jobs))
        self._tasks.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._current.pop(task, None)

    async def _run(self, jobs: list[Job]) -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for function, is_async in jobs:
            self._current[task] = function
            try:
                if is_async:
                    await function()
                else:
                    await loop.run_in_executor(None, contextvars.copy_context().run, function)
            except Exception:
                logger.exception("background job %s failed", _name(function))

    async def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for pending jobs, then cancel the rest.

        Returns:
            How many requests' jobs had to be cancelled.
        """
        if not self._tasks:
            return 0
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            function = self._current.get(task)
            logger.warning(
                "cancelling background job %s: still running %.1f s after shutdown began",
                _name(function) if function is not None else "(not started)",
                timeout,
            )
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        return len(pending)


def _name(function: Callable[[], Any]) -> str:
    return getattr(function, "__qualname__", None) or repr(function)
