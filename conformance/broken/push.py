"""Breaks of the HTTP/2 server push family, and the pushing server they run on.

hypercorn is the only server that pushes, and it copies its own ``date`` and ``server``
response headers into every promised request (the case
``push/promised-headers-are-request-headers`` fails on it:
docs/server-behaviour.md#hypercorn-push-promise-response-headers). Started without those headers
(:data:`VARIANTS`: ``hypercorn-h2c-bare``) it passes every push case, so the breaks run on it.
"""

from __future__ import annotations

import asyncio
from typing import Final

from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from . import Break, Configured
from .apps import around
from .wire import SETTINGS, Frame, h2_relay

__all__ = [
    "BREAKS",
    "VARIANTS",
    "BareHypercorn",
    "push_despite_disabled",
    "push_dropped",
    "push_path_unsplit",
    "push_response_headers",
]

#: SETTINGS_ENABLE_PUSH (RFC 9113 §6.5.2).
_ENABLE_PUSH: Final = 0x2


class BareHypercorn:
    """hypercorn configuration (``--config python:...``): no ``date``, no ``server`` header."""

    include_date_header = False
    include_server_header = False


async def _push_dropped(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    async def dropping_send(message: Message) -> None:
        if message["type"] != "http.response.push":
            await send(message)

    await app(scope, receive, dropping_send)


#: Advertises push, and returns from every ``http.response.push`` without promising anything.
push_dropped = around(_push_dropped)


async def _unsplit(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    query = bytes(scope.get("query_string", b""))
    if str(scope["path"]).startswith("/pushed/") and query:
        scope = {
            **scope,
            "path": f"{scope['path']}?{query.decode('latin-1')}",
            "raw_path": bytes(scope.get("raw_path") or scope["path"].encode()) + b"?" + query,
            "query_string": b"",
        }
    await app(scope, receive, send)


#: Gives the app a pushed request's path with its query string still in it.
push_path_unsplit = around(_unsplit)


async def _response_headers(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    async def adding_send(message: Message) -> None:
        if message["type"] == "http.response.push":
            extra = [(b"date", b"Mon, 30 Nov 2026 12:00:00 GMT"), (b"server", b"broken")]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    await app(scope, receive, adding_send)


#: Adds the server's own response headers (``date``, ``server``) to every promised request.
push_response_headers = around(_response_headers)


def _enable_push(frame: Frame) -> list[Frame]:
    if frame.type != SETTINGS or frame.flags & 0x1 or frame.stream_id:
        return [frame]
    payload = bytearray(frame.payload)
    for offset in range(0, len(payload) - 5, 6):
        if int.from_bytes(payload[offset : offset + 2], "big") == _ENABLE_PUSH:
            payload[offset + 2 : offset + 6] = (1).to_bytes(4, "big")
    return [Frame(frame.type, frame.flags, frame.stream_id, bytes(payload))]


async def push_despite_disabled(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: the server takes SETTINGS_ENABLE_PUSH = 0 from the client for 1."""
    await h2_relay(client_reader, client, server_reader, server, upstream=_enable_push)


VARIANTS: Final = (
    Configured(
        name="hypercorn-h2c-bare",
        base="hypercorn-h2c",
        options=("--config", "python:conformance.broken.push.BareHypercorn"),
        why="hypercorn without its date and server response headers, which it also copies "
        "into promised requests: the one pushing server that passes every push case",
    ),
)

_PUSH = "ASGI extensions, HTTP/2 Server Push"

BREAKS: Final = (
    Break(
        name="push-dropped",
        promise=f"{_PUSH}: the server should push. Advertises http.response.push, then "
        "drops every push silently: the app cannot tell.",
        catches=frozenset(
            {
                "push/promise-request",
                "push/promised-headers-are-request-headers",
                "push/pushed-responses",
            }
        ),
        says=r"PUSH_PROMISE frames for \[\]",
        app="conformance.broken.push:push_dropped",
        variant="hypercorn-h2c-bare",
    ),
    Break(
        name="push-path-unsplit",
        promise=f"{_PUSH}: the pushed request reaches the app as if the client had made it. "
        "Leaves the query string in the pushed request's path.",
        catches=frozenset({"push/pushed-responses"}),
        says=r"the app got the push",
        app="conformance.broken.push:push_path_unsplit",
        variant="hypercorn-h2c-bare",
    ),
    Break(
        name="push-response-headers",
        promise="RFC 9113 §8.4: a promise carries the request's header fields. Adds the "
        "server's own response headers to every promised request, as hypercorn does "
        "(date, server: docs/server-behaviour.md#hypercorn-push-promise-response-headers).",
        catches=frozenset({"push/promised-headers-are-request-headers"}),
        says=r"header fields the app did not ask for",
        app="conformance.broken.push:push_response_headers",
        variant="hypercorn-h2c-bare",
    ),
    Break(
        name="push-despite-disabled",
        promise="RFC 9113 §6.5.2: a server MUST NOT send PUSH_PROMISE when the client's "
        "SETTINGS_ENABLE_PUSH is 0. Ignores the setting.",
        catches=frozenset({"push/refused-by-client"}),
        says=r"PUSH_PROMISE|closed the HTTP/2 connection",
        proxy="conformance.broken.push:push_despite_disabled",
        variant="hypercorn-h2c-bare",
    ),
)
