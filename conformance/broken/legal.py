"""Legal variations: what a correct server may do, which no case may fail.

Each app below is a server exercising one freedom the specs give it; :data:`LEGAL` lists them
with the clause that allows it. A case that fails under one of them judges the server by
something the spec leaves open; only an informational case that records whether a server
uses that very freedom may (``shown_by``).
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from typing import Final

from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from . import Legal
from .apps import around, is_final_body
from .wire import both, relay

__all__ = [
    "BYTEWISE_PREFIX",
    "LEGAL",
    "body_bytewise",
    "body_random_split",
    "deferred_start",
    "disconnect_repeated",
    "empty_body_messages",
    "extra_scope_keys",
    "slow_receive",
    "tcp_resegmented",
]

#: How many bytes of each request body :data:`body_bytewise` delivers one byte at a time.
BYTEWISE_PREFIX: Final = 64 * 1024
#: The seed of the random splits (``ASGI_CONFORMANCE_LEGAL_SEED`` overrides it).
SEED: Final = int(os.environ.get("ASGI_CONFORMANCE_LEGAL_SEED", "20261130"))
_random = random.Random(SEED)

#: Chooses the size of the next piece: ``(offset in the body, bytes left in the message)``.
Sizer = Callable[[int, int], int]


def _splitting(size: Sizer) -> ASGIApp:
    """A server that delivers each request body in pieces of ``size``'s choosing."""

    async def layer(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        view = memoryview(b"")
        position = offset = 0
        more = False

        async def split_receive() -> Message:
            nonlocal view, position, offset, more
            if position >= len(view):
                message = await receive()
                body = message.get("body", b"")
                if message["type"] != "http.request" or not body:
                    return message
                view, position, more = memoryview(body), 0, bool(message.get("more_body"))
            count = max(1, min(size(offset, len(view) - position), len(view) - position))
            piece = bytes(view[position : position + count])
            position += count
            offset += count
            last = position >= len(view)
            return {"type": "http.request", "body": piece, "more_body": more or not last}

        await app(scope, split_receive, send)

    return around(layer)


#: The first :data:`BYTEWISE_PREFIX` bytes of each body one byte per message, then as they come.
body_bytewise = _splitting(lambda offset, left: 1 if offset < BYTEWISE_PREFIX else left)
#: Each body message split at random points (pieces of 1 byte to 16 KiB).
body_random_split = _splitting(lambda offset, left: _random.randint(1, 16 * 1024))


async def _empty_messages(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    pending: list[Message] = []

    async def padded_receive() -> Message:
        if pending:
            return pending.pop()
        message = await receive()
        if message["type"] == "http.request":
            pending.append(message)
            return {"type": "http.request", "body": b"", "more_body": True}
        return message

    await app(scope, padded_receive, send)


#: An empty ``http.request`` with ``more_body=True`` before every body message.
empty_body_messages = around(_empty_messages)


async def _extra_keys(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    scope = dict(scope)
    scope["x_asgi_conformance_extra"] = {"legal": True}
    scope["asgi"] = {**scope.get("asgi", {}), "x_extra": "1"}
    if scope.get("extensions") is not None:
        scope["extensions"] = {**scope["extensions"], "x.asgi-conformance.extra": {}}
    await app(scope, receive, send)


#: Scope keys, ``asgi`` keys and an extension no app knows.
extra_scope_keys = around(_extra_keys)


async def _disconnect_repeated(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    gone = False

    async def receive_once_gone() -> Message:
        nonlocal gone
        if gone:
            return {"type": "http.disconnect"}
        message = await receive()
        gone = message["type"] == "http.disconnect"
        return message

    async def noting_send(message: Message) -> None:
        nonlocal gone
        await send(message)
        gone = gone or is_final_body(message)

    await app(scope, receive_once_gone, noting_send)


#: ``http.disconnect`` at once for every receive() after one, or after the response was sent.
disconnect_repeated = around(_disconnect_repeated)


def _well_formed_start(message: Message) -> bool:
    """Whether a server would accept this start (it validates at send(), deferring or not)."""
    status, headers = message.get("status"), message.get("headers", [])
    if not isinstance(status, int) or not 100 <= status <= 599:
        return False
    try:
        return all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in headers)
    except (TypeError, ValueError):
        return False


async def _deferred_start(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    held: Message | None = None
    started = False

    async def deferring_send(message: Message) -> None:
        nonlocal held, started
        if held is not None:
            start, held = held, None
            await send(start)
        if message["type"] == "http.response.start" and not started:
            started = True
            if _well_formed_start(message):
                held = message
                return
        await send(message)  # a second start reaches the server, which refuses it

    await app(scope, receive, deferring_send)
    if held is not None:
        await send(held)


#: ``http.response.start`` is sent with the next message (the first body, or a push); a start
#: the server would refuse is sent at once, as a deferring server validates it at send().
deferred_start = around(_deferred_start)


async def _slow_receive(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    delayed = 0

    async def slow() -> Message:
        nonlocal delayed
        message = await receive()
        if message["type"] == "http.request" and delayed < 10:
            delayed += 1
            await asyncio.sleep(0.1 if delayed == 1 else 0.02)
        return message

    await app(scope, slow, send)


#: The first body message 100 ms late, the next nine 20 ms each.
slow_receive = around(_slow_receive)


def _resegment(data: bytes) -> list[bytes]:
    cuts = sorted(_random.sample(range(1, len(data)), min(3, len(data) - 1)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


async def tcp_resegmented(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: every read goes on in up to four writes, both ways (TCP keeps no boundaries)."""
    await both(relay(client_reader, server, _resegment), relay(server_reader, client, _resegment))


#: What an HTTP-only middleware (:func:`conformance.broken.apps.around`) cannot change.
_HTTP_ONLY: Final = frozenset({"websocket"})

_BODY = (
    "ASGI HTTP 2.5, Request: the body is the concatenation of the http.request messages; "
    "a server may split it into any number of them"
)

LEGAL: Final = (
    Legal(
        name="body-bytewise",
        freedom=f"{_BODY} (here one byte each, for the first 64 KiB of every body)",
        spares=_HTTP_ONLY,
        app="conformance.broken.legal:body_bytewise",
    ),
    Legal(
        name="body-random-split",
        freedom=f"{_BODY} (here at random points)",
        spares=_HTTP_ONLY,
        app="conformance.broken.legal:body_random_split",
    ),
    Legal(
        name="empty-body-messages",
        freedom="ASGI HTTP 2.5, Request: body is optional (default b''), more_body says "
        "whether more follows: an empty http.request with more_body=True says nothing; "
        "hypercorn and granian send them over HTTP/2",
        spares=_HTTP_ONLY,
        app="conformance.broken.legal:empty_body_messages",
    ),
    Legal(
        name="extra-scope-keys",
        freedom="ASGI 3.0: applications should ignore scope keys they do not understand; "
        "extensions: a server lists whichever it supports",
        spares=_HTTP_ONLY,
        app="conformance.broken.legal:extra_scope_keys",
    ),
    Legal(
        name="disconnect-repeated",
        freedom="ASGI HTTP 2.5, Disconnect: sent if receive is called after a response has "
        "been sent or after the connection has been closed (and on every later call)",
        spares=_HTTP_ONLY,
        app="conformance.broken.legal:disconnect_repeated",
    ),
    Legal(
        name="deferred-start",
        freedom="ASGI HTTP 2.5, Response Start: the server may hold the start until the "
        "first body message (daphne and granian do)",
        spares=_HTTP_ONLY,
        app="conformance.broken.legal:deferred_start",
        shown_by=frozenset({"streaming/headers-before-body", "sse/headers-before-first-event"}),
    ),
    Legal(
        name="slow-receive",
        freedom="ASGI HTTP 2.5, Request: receive() returns when the server has body to give; "
        "nothing bounds when",
        spares=_HTTP_ONLY,
        app="conformance.broken.legal:slow_receive",
    ),
    Legal(
        name="tcp-resegmented",
        freedom="RFC 9293 §3.8: TCP is a byte stream; a server's writes need not arrive in "
        "the pieces they were made in, nor a client's",
        proxy="conformance.broken.legal:tcp_resegmented",
        # WebSocket frames cross it too, but the websocket family's raw clients read frames
        # by length already; its heavy cases would double the proof's time. Behind a proxy
        # the server's own address is not the one the client connected to.
        spares=frozenset({"websocket", "scope/client-and-server"}),
    ),
)
