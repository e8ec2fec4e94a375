"""The in-process ASGI driver: calls an app the way a server does, with as little work as possible.

The driver's own cost is part of every figure, the floor's included, so it is kept to a minimum and
is the same for every app: ``receive()`` first returns the request (its whole body in one
``http.request`` message, as servers do for a small body), and any later call blocks until the
response is complete and then returns ``http.disconnect`` (what every server does:
docs/server-behaviour.md#disconnect-after-response); ``send()`` keeps the status, the headers
and the body chunks. The timed path and the checked path are the same code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["ASGIApp", "Exchange", "Result", "call", "run_batch"]

Message = dict[str, Any]
#: Any ASGI 3 callable (loosely typed: each framework spells its scope and messages its way).
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

_DISCONNECT: Final[Message] = {"type": "http.disconnect"}


class Exchange:
    """One request/response through the driver."""

    __slots__ = ("_request", "_waiter", "chunks", "done", "headers", "status")

    def __init__(self, request: Message) -> None:
        self._request: Message | None = request
        self._waiter: asyncio.Future[None] | None = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
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


async def call(app: ASGIApp, scope: dict[str, Any], request: Message) -> Result:
    """Run one request through ``app`` and return what it answered."""
    exchange = Exchange(request)
    await app(dict(scope), exchange.receive, exchange.send)
    return Result(exchange.status, list(exchange.headers), exchange.chunks, exchange.done)


async def run_batch(app: ASGIApp, scope: dict[str, Any], request: Message, count: int) -> None:
    """Run ``count`` requests through ``app``, one after the other (the timed loop)."""
    for _ in range(count):
        exchange = Exchange(request)
        await app(dict(scope), exchange.receive, exchange.send)
