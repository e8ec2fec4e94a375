"""The lifespan protocol: startup and shutdown hooks, and the state they share with requests.

ASGI lifespan spec 2.0 (https://asgi.readthedocs.io/en/latest/specs/lifespan.html):

* on ``lifespan.startup`` the startup hooks run in order with the lifespan ``state`` dict; the
  server copies that dict (shallowly) into every request scope as ``scope["state"]``. If a hook
  raises, the app answers ``lifespan.startup.failed`` with ``"ExceptionType: message"`` and logs
  the traceback, and the server exits;
* on ``lifespan.shutdown`` the app first drains pending background jobs (up to
  ``shutdown_timeout``), then runs the shutdown hooks in order; a failure is
  ``lifespan.shutdown.failed`` with the message.

A server without lifespan (daphne) never calls the app with a lifespan scope. Then, so that the
app still works, the first request runs the startup hooks itself (once, behind a lock) and every
request gets a shallow copy of that state; shutdown hooks cannot run there, as nothing tells the
app the server is stopping.

A server may also run lifespan without a ``state`` dict in its scope (the key is optional, and
then the server puts none in request scopes either). The app then keeps the state its startup
hooks filled (:attr:`Lifespan.kept_state`) and every request scope without a ``state`` gets a
shallow copy of it, as a server with state support would give.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from . import spec
from .background import JobRunner
from .types import Message, Receive, Scope, Send

__all__ = ["Hook", "Lifespan"]

logger = logging.getLogger("reference_app")

#: A startup or shutdown hook: an async function of the lifespan state.
Hook = Callable[[dict[str, Any]], Awaitable[None]]


class Lifespan:
    """The startup/shutdown hooks of an app and the state they fill."""

    __slots__ = (
        "_current",
        "_fallback_lock",
        "fallback_state",
        "kept_state",
        "observed",
        "shutdown",
        "startup",
    )

    def __init__(self) -> None:
        self.startup: list[Hook] = []
        self.shutdown: list[Hook] = []
        #: True once a server has called the app with a lifespan scope.
        self.observed = False
        #: The state of a startup run by the first request (servers without lifespan).
        self.fallback_state: dict[str, Any] | None = None
        #: The state of a lifespan whose scope had no ``state`` dict (the app keeps it itself).
        self.kept_state: dict[str, Any] | None = None
        self._fallback_lock: asyncio.Lock | None = None
        # The lifespan scope and event being handled, for Falcon-style middleware hooks.
        self._current: tuple[Scope, Message] = ({"type": spec.LIFESPAN}, {})

    def middleware_hook(self, method: Callable[[Scope, Message], Awaitable[None]]) -> Hook:
        """Adapt a middleware's ``process_startup(scope, event)`` to a hook of the state.

        The method gets the real lifespan scope and event (or, for the startup a first request
        runs on a server without lifespan, a scope with the state and a ``lifespan.startup``
        event).
        """

        async def hook(state: dict[str, Any]) -> None:
            await method(*self._current)

        hook.__qualname__ = getattr(method, "__qualname__", "middleware hook")
        return hook

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, jobs: JobRunner, timeout: float
    ) -> None:
        """Answer the lifespan protocol until shutdown."""
        self.observed = True
        state: dict[str, Any] | None = scope.get("state")
        if state is None:
            # The server has no lifespan state: requests get copies of the app's own.
            state = self.kept_state = {}
        while True:
            message = await receive()
            self._current = (scope, message)
            if message["type"] == spec.LIFESPAN_STARTUP:
                failure = await self._run(self.startup, state, "startup")
                if failure is not None:
                    await send({"type": spec.LIFESPAN_STARTUP_FAILED, "message": failure})
                    return
                await send({"type": spec.LIFESPAN_STARTUP_COMPLETE})
            elif message["type"] == spec.LIFESPAN_SHUTDOWN:
                await jobs.drain(timeout)
                failure = await self._run(self.shutdown, state, "shutdown")
                if failure is not None:
                    await send({"type": spec.LIFESPAN_SHUTDOWN_FAILED, "message": failure})
                else:
                    await send({"type": spec.LIFESPAN_SHUTDOWN_COMPLETE})
                return

    async def fallback_startup(self) -> dict[str, Any]:
        """Run the startup hooks once for a server that never sent lifespan; return the state."""
        if self._fallback_lock is None:
            self._fallback_lock = asyncio.Lock()
        async with self._fallback_lock:
            if self.fallback_state is None:
                state: dict[str, Any] = {}
                logger.info("no lifespan from the server: running startup hooks on first request")
                self._current = (
                    {"type": spec.LIFESPAN, "asgi": {"version": "3.0"}, "state": state},
                    {"type": spec.LIFESPAN_STARTUP},
                )
                for hook in self.startup:
                    await hook(state)
                self.fallback_state = state
        return self.fallback_state

    @staticmethod
    async def _run(hooks: list[Hook], state: dict[str, Any], phase: str) -> str | None:
        for hook in hooks:
            try:
                await hook(state)
            except Exception as error:
                logger.exception(
                    "lifespan %s hook %s failed", phase, getattr(hook, "__qualname__", hook)
                )
                return f"{type(error).__name__}: {error}"
        return None
