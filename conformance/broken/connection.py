"""Breaks of the connection family: HTTP/1.1 persistence and pipelining broken on the wire.

Each is a TCP proxy in front of a real server that breaks one promise of RFC 9112 §9
(persistence, pipelining, tear-down) or §6.1 the way a server has: a ``Connection: close``
request option ignored, a close withheld from the client, no keep-alive at all, pipelined
responses sent in the order they were ready, an HTTP/1.0 request treated as HTTP/1.1.
:data:`BREAKS` says which cases catch each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Final

from . import Break
from .wire import (
    Head,
    Stop,
    _chunked as chunked_body,
    _sized as sized_body,
    both,
    half_close,
    read_head,
    relay,
    requests,
    responses,
)

__all__ = [
    "BREAKS",
    "close_ignored",
    "close_withheld",
    "http10_as_http11",
    "keep_alive_refused",
    "responses_reordered",
]


def _head(start: tuple[bytes, ...], headers: list[tuple[bytes, bytes]]) -> Head:
    """A message head from its start line and header fields."""
    raw = b" ".join(start) + b"\r\n"
    raw += b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n"
    return Head(raw, start, tuple(headers))


async def _rewritten_requests(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rewrite: Callable[[Head], Head]
) -> None:
    """Relay the client's requests, each head rewritten, bodies untouched."""
    while (head := await read_head(reader)) is not None:
        writer.write(rewrite(head).raw)
        pieces = chunked_body(reader) if head.chunked else sized_body(reader, head.length or 0)
        async for raw, _ in pieces:
            writer.write(raw)
            await writer.drain()
        await writer.drain()
    await relay(reader, writer)


def _without_close(head: Head) -> Head:
    headers = []
    for name, value in head.headers:
        if name == b"connection":
            tokens = [t.strip() for t in value.split(b",") if t.strip().lower() != b"close"]
            if not tokens:
                continue
            value = b", ".join(tokens)
        headers.append((name, value))
    return _head(head.start, headers)


async def close_ignored(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: the ``close`` option of a request's Connection header never reaches the server,
    which keeps the connection and answers what is pipelined after it."""
    await both(
        _rewritten_requests(client_reader, server, _without_close), relay(server_reader, client)
    )


async def close_withheld(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: when the server closes the connection, the client's stays open (until the
    client closes it): a server that says ``close`` and never closes."""

    async def up() -> None:
        while data := await client_reader.read(65536):
            with contextlib.suppress(ConnectionError):
                server.write(data)
                await server.drain()

    async def down() -> None:
        while data := await server_reader.read(65536):
            client.write(data)
            await client.drain()

    await both(up(), down())


async def keep_alive_refused(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: every response says ``Connection: close`` and the connection closes after it,
    as a server without keep-alive."""
    methods: asyncio.Queue[bytes] = asyncio.Queue()

    async def down() -> None:
        async for response in responses(server_reader, methods):
            headers = [(n, v) for n, v in response.head.headers if n != b"connection"]
            client.write(_head(response.head.start, [*headers, (b"connection", b"close")]).raw)
            async for raw, _ in response.body():
                client.write(raw)
                await client.drain()
            if response.status >= 200:
                raise Stop
        await half_close(client)

    await both(requests(client_reader, server, methods), down())


async def responses_reordered(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: of two pipelined requests' responses, the second goes out first (a server
    that answers pipelined requests in the order they complete)."""
    methods: asyncio.Queue[bytes] = asyncio.Queue()

    async def down() -> None:
        held = b""
        async for response in responses(server_reader, methods):
            raw = bytearray(response.head.raw)
            async for piece, _ in response.body():
                raw += piece
            if not held and not methods.empty():
                held = bytes(raw)  # another request waits: its response goes first
                continue
            client.write(bytes(raw) + held)
            held = b""
            await client.drain()
        client.write(held)
        await half_close(client)

    await both(requests(client_reader, server, methods), down())


def _as_http11(head: Head) -> Head:
    if head.start[-1:] != (b"HTTP/1.0",):
        return head
    return _head((*head.start[:-1], b"HTTP/1.1"), list(head.headers))


async def http10_as_http11(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: HTTP/1.0 requests reach the server as HTTP/1.1 (a server that ignores the
    request's version): chunked responses, connections kept."""
    await both(_rewritten_requests(client_reader, server, _as_http11), relay(server_reader, client))


_TEARDOWN = 'RFC 9112 §9.6: after a request with "close" the server closes the connection'

BREAKS: Final = (
    Break(
        name="close-ignored",
        promise=f"{_TEARDOWN} and processes nothing after it. The request's close option never "
        "reaches the server, like a server that ignores it.",
        catches=frozenset({"connection/close-after-body", "connection/pipelined-after-close"}),
        says=r"kept the connection open|answered too|was processed",
        proxy="conformance.broken.connection:close_ignored",
    ),
    Break(
        name="close-withheld",
        promise=f"{_TEARDOWN}; RFC 9112 §9.3: an HTTP/1.0 connection closes after its response. "
        "The server's close never reaches the client, like a server that says close and keeps "
        "the connection.",
        catches=frozenset(
            {
                "connection/close-after-body",
                "connection/pipelined-after-close",
                "connection/http10-close",
                "connection/http10-keep-alive",
            }
        ),
        says=r"kept (the connection|it)\b.* open",
        proxy="conformance.broken.connection:close_withheld",
    ),
    Break(
        name="keep-alive-refused",
        promise="RFC 9112 §9.3: HTTP/1.1 connections persist. Closes every connection after "
        "its first response, like a server without keep-alive.",
        catches=frozenset({"connection/keep-alive", "connection/pipelined-in-order"}),
        says=r"closed the connection after the first response|ConnectionError|closed",
        proxy="conformance.broken.connection:keep_alive_refused",
    ),
    Break(
        name="responses-reordered",
        promise='RFC 9112 §9.3.2: a server "MUST send the corresponding responses in the same '
        'order that the requests were received". Sends the response to a later pipelined '
        "request first.",
        catches=frozenset({"connection/pipelined-in-order"}),
        says=r"were answered with",
        proxy="conformance.broken.connection:responses_reordered",
    ),
    Break(
        name="http10-as-http11",
        promise="RFC 9112 §6.1: no Transfer-Encoding in a response to an HTTP/1.0 request; "
        "§9.3: its connection closes after the response. Treats HTTP/1.0 requests as HTTP/1.1.",
        catches=frozenset({"connection/http10-close", "connection/http10-not-chunked"}),
        says=r"Transfer-Encoding|kept the connection",
        proxy="conformance.broken.connection:http10_as_http11",
    ),
)
