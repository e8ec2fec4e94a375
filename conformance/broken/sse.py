"""Breaks of the server-sent events family: headers, framing and stream resets.

The flushing and disconnect breaks of :mod:`conformance.broken.streaming` catch SSE cases too
(an event stream is a streamed response); these are the ones only an event stream shows.
"""

from __future__ import annotations

import asyncio
from typing import Final

from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from . import Break
from .apps import around
from .wire import RST_STREAM, Frame, Stop, both, h2_relay, requests, responses

__all__ = ["BREAKS", "close_delimited", "content_type_charset", "rst_stream_ignored"]


async def _charset(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    async def rewriting_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = []
            for name, value in message.get("headers", []):
                if bytes(name).lower() == b"content-type":
                    value = bytes(value)
                    if value.startswith(b"text/") and b"charset" not in value:
                        value += b"; charset=utf-8"
                headers.append((name, value))
            message = {**message, "headers": headers}
        await send(message)

    await app(scope, receive, rewriting_send)


#: Appends ``; charset=utf-8`` to a text content type that has no charset.
content_type_charset = around(_charset)


async def close_delimited(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: a chunked response goes out unframed, delimited by closing the connection."""
    methods: asyncio.Queue[bytes] = asyncio.Queue()

    async def down() -> None:
        async for response in responses(server_reader, methods):
            if not (response.has_body and response.head.chunked):
                client.write(response.head.raw)
                async for raw, _ in response.body():
                    client.write(raw)
                    await client.drain()
                continue
            kept = [
                (name, value)
                for name, value in response.head.headers
                if name not in (b"transfer-encoding", b"connection")
            ]
            client.write(response.head.replace([*kept, (b"connection", b"close")]).raw)
            async for _, data in response.body():
                client.write(data)
                await client.drain()
            raise Stop  # the end of the body is the end of the connection

    await both(requests(client_reader, server, methods), down())


async def rst_stream_ignored(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: the client's RST_STREAM frames never reach the server."""

    def upstream(frame: Frame) -> list[Frame]:
        return [] if frame.type == RST_STREAM else [frame]

    await h2_relay(client_reader, client, server_reader, server, upstream=upstream)


BREAKS: Final = (
    Break(
        name="content-type-charset",
        promise="ASGI HTTP 2.5, Response Start: headers are the app's. Appends a charset to "
        "a text content type that has none, as some servers and gateways normalise media "
        "types.",
        catches=frozenset({"sse/headers"}),
        says=r"content-type",
        app="conformance.broken.sse:content_type_charset",
    ),
    Break(
        name="close-delimited",
        promise="RFC 9112 §7.1, §6.3: a response of unknown length is chunked on a persistent "
        "connection. Sends it unframed and closes the connection to end it, as HTTP/1.0-style "
        "servers do.",
        catches=frozenset({"sse/http1-chunked"}),
        says=r"transfer-encoding",
        proxy="conformance.broken.sse:close_delimited",
    ),
    Break(
        name="rst-stream-ignored",
        promise="RFC 9113 §6.4: RST_STREAM ends a stream; ASGI HTTP 2.5, Disconnect. Never "
        "tells the app that the client reset its stream: only a closed connection counts.",
        catches=frozenset({"sse/stream-reset-finalizes"}),
        says=r"did not record 'finalized'",
        proxy="conformance.broken.sse:rst_stream_ignored",
        variant="hypercorn-h2c",
    ),
)
