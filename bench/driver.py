"""The in-process ASGI driver: calls an app the way a server does, with as little work as possible.

The driver's own cost is part of every figure, the floor's included, so it is kept to what a loop
that calls the app must do, and it is measured (:func:`driver_cost`) and printed beside the
floor. It is the same for every app: ``receive()`` first returns the request (its whole body in
one ``http.request`` message, as servers do for a small body), and any later call blocks until
the response is complete and then returns ``http.disconnect`` (what every server does:
docs/server-behaviour.md#disconnect-after-response); ``send()`` keeps the status, the headers and
the body chunks. A batch reuses one :class:`Exchange` (reset between requests) and hands every
request the same scope object: no app here relies on a fresh one (Starlette adds keys to it,
which it sets again on every request), and the answer of the last request of a batch is what
:func:`run_batch` returns, so the checked path and the timed path are the same code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["ASGIApp", "Exchange", "Result", "call", "driver_cost", "null_app", "run_batch"]

Message = dict[str, Any]
#: Any ASGI 3 callable (loosely typed: each framework spells its scope and messages its way).
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

_DISCONNECT: Final[Message] = {"type": "http.disconnect"}


class Exchange:
    """One request/response at a time through the driver; :meth:`reset` starts the next one."""

    __slots__ = ("_request", "_waiter", "chunks", "done", "headers", "request", "status")

    def __init__(self, request: Message) -> None:
        self.request = request
        self._request: Message | None = request
        self._waiter: asyncio.Future[None] | None = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.done = False

    def reset(self) -> None:
        """Make ready for the next request (the same request message)."""
        self._request = self.request
        self._waiter = None
        self.status = 0
        self.chunks = []
        self.done = False

    async def receive(self) -> Message:
        """The request once, then ``http.disconnect`` as soon as the response is complete."""
        request = self._request
        if request is not None:
            self._request = None
            return request
        if not self.done:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter
        return _DISCONNECT

    async def send(self, message: Message) -> None:
        """Record the response."""
        kind = message["type"]
        if kind == "http.response.body":
            if self.done:
                raise RuntimeError("http.response.body after the response was complete")
            self.chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.done = True
                waiter = self._waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
        elif kind == "http.response.start":
            if self.status:
                raise RuntimeError("http.response.start sent twice")
            self.status = message["status"]
            self.headers = message.get("headers", [])
        else:
            raise RuntimeError(f"unexpected message {kind!r}")

    def result(self) -> Result:
        """What the app answered to the current request."""
        return Result(self.status, list(self.headers), self.chunks, self.done)


@dataclass(frozen=True, slots=True)
class Result:
    """What an app answered."""

    status: int
    headers: list[tuple[bytes, bytes]]
    chunks: list[bytes]
    complete: bool

    @property
    def body(self) -> bytes:
        """The whole body."""
        return b"".join(self.chunks)

    def header(self, name: bytes) -> bytes | None:
        """The first value of a header (``name`` lowercase), or None."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


async def run_batch(app: ASGIApp, scope: dict[str, Any], request: Message, count: int) -> Result:
    """Run ``count`` requests through ``app``, one after the other (the timed loop); return the
    answer to the last one."""
    exchange = Exchange(request)
    receive, send = exchange.receive, exchange.send
    for _ in range(count):
        exchange.reset()
        await app(scope, receive, send)
    return exchange.result()


async def call(app: ASGIApp, scope: dict[str, Any], request: Message) -> Result:
    """Run one request through ``app`` (a scope of its own) and return what it answered."""
    return await run_batch(app, dict(scope), request, 1)


_START: Final[Message] = {"type": "http.response.start", "status": 200, "headers": []}
_BODY: Final[Message] = {"type": "http.response.body", "body": b"", "more_body": False}


async def null_app(scope: Any, receive: Any, send: Any) -> None:
    """The least an ASGI app can do: an empty 200. Its time per request is the driver's own."""
    await send(_START)
    await send(_BODY)


def driver_cost(
    loop: asyncio.AbstractEventLoop,
    scope: dict[str, Any],
    request: Message,
    count: int = 20_000,
    repeats: int = 5,
) -> float:
    """The driver's own µs per request: the best of ``repeats`` batches of :func:`null_app`."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        loop.run_until_complete(run_batch(null_app, scope, request, count))
        best = min(best, (time.perf_counter() - started) / count)
    return best * 1e6
