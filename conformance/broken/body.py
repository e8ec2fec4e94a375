"""Breaks of the body family: request bodies delivered wrong, held back, or parsed wrong.

Each is a server that breaks one promise of ASGI HTTP 2.5 ("Request", "Disconnect") or RFC
9112 the way a real server has: lost or extra body bytes, a body never ended by
``more_body=False``, a truncated body passed off as complete, a body read whole before the app
is called (daphne), an invalid Content-Length ignored. :data:`BREAKS` says which cases catch
each (found by running the family under each break on its variant).
"""

from __future__ import annotations

import asyncio
from typing import Final

import hpack

from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from . import Break
from .apps import around
from .wire import (
    DATA,
    END_STREAM,
    HEADERS,
    RST_STREAM,
    Frame,
    Hangup,
    Head,
    _chunked as chunked_body,
    _sized as sized_body,
    both,
    h2_relay,
    read_head,
    relay,
)

__all__ = [
    "BREAKS",
    "body_before_app",
    "body_parsed_as_request",
    "extra_body_bytes",
    "h2_content_length_ignored",
    "invalid_length_passed_through",
    "late_data_hangup",
    "lost_body_bytes",
    "no_final_more_body",
    "truncated_body_completes",
]

#: HEADERS frame flags (RFC 9113 §6.2).
_PADDED: Final = 0x8
_PRIORITY: Final = 0x20


def _is_request(message: Message) -> bool:
    return bool(message["type"] == "http.request")


async def _lost_bytes(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    lost = False

    async def losing_receive() -> Message:
        nonlocal lost
        message = await receive()
        body = message.get("body", b"")
        if _is_request(message) and body and not lost:
            lost = True
            message = {**message, "body": body[:-1]}
        return message

    await app(scope, losing_receive, send)


#: Loses the last byte of the first non-empty ``http.request`` message of each request.
lost_body_bytes = around(_lost_bytes)


async def _extra_bytes(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    async def padding_receive() -> Message:
        message = await receive()
        if _is_request(message) and not message.get("more_body", False):
            message = {**message, "body": message.get("body", b"") + b"!"}
        return message

    await app(scope, padding_receive, send)


#: Adds one byte to the body message that ends each request body.
extra_body_bytes = around(_extra_bytes)


async def _no_final(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    ended = False

    async def endless_receive() -> Message:
        nonlocal ended
        if ended:
            # The body is over, but the app was never told: the next message is the client
            # leaving (once it gives up), or, after the response, the usual disconnect.
            return await receive()
        message = await receive()
        if _is_request(message) and not message.get("more_body", False):
            ended = True
            message = {**message, "more_body": True}
        return message

    await app(scope, endless_receive, send)


#: Delivers every body byte, but never ``more_body=False``: the body never ends.
no_final_more_body = around(_no_final)


async def _truncated(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    complete = False

    async def completing_receive() -> Message:
        nonlocal complete
        message = await receive()
        if _is_request(message) and not message.get("more_body", False):
            complete = True
        elif message["type"] == "http.disconnect" and not complete:
            complete = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return message

    await app(scope, completing_receive, send)


#: Ends a body cut short by the client (a FIN or RST_STREAM mid-body) with ``more_body=False``
#: instead of ``http.disconnect``: a truncated upload looks complete.
truncated_body_completes = around(_truncated)


async def _before_app(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    held: list[Message] = []
    while True:
        message = await receive()
        held.append(message)
        if not _is_request(message) or not message.get("more_body", False):
            break

    async def replaying_receive() -> Message:
        if held:
            return held.pop(0)
        return await receive()

    await app(scope, replaying_receive, send)


#: Reads the whole request body before it calls the app, then hands it over (daphne, through
#: Twisted: docs/server-behaviour.md#daphne-no-backpressure).
body_before_app = around(_before_app)


def _valid_length(head: Head) -> bool:
    values = [value for name, value in head.headers if name == b"content-length"]
    return all(value.strip().isdigit() for value in values) and len(set(values)) <= 1


async def invalid_length_passed_through(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: a request with an invalid Content-Length reaches the app, as one with no body.

    The header is renamed ``x-invalid-content-length`` on its way to the server, which then
    sees a request without a body: the server neither answers 400 nor closes the connection.
    """

    async def up() -> None:
        while (head := await read_head(client_reader)) is not None:
            if not _valid_length(head):
                head = head.replace(
                    (b"x-invalid-" + name if name == b"content-length" else name, value)
                    for name, value in head.headers
                )
            server.write(head.raw)
            if head.get(b"upgrade") is not None:
                break
            pieces = chunked_body(client_reader) if head.chunked else None
            if pieces is None:
                pieces = sized_body(client_reader, head.length or 0)
            async for raw, _ in pieces:
                server.write(raw)
                await server.drain()
            await server.drain()
        await relay(client_reader, server)

    await both(up(), relay(server_reader, client))


async def h2_content_length_ignored(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: the server never sees an HTTP/2 request's ``content-length``.

    Each request header block is decoded and re-encoded without the field (one HPACK context
    per direction, kept in step), as a server that takes the body to be whatever DATA comes
    until END_STREAM: it neither refuses DATA past the declared length, nor END_STREAM short
    of it, nor an invalid value.
    """
    decoder, encoder = hpack.Decoder(), hpack.Encoder()

    def upstream(frame: Frame) -> list[Frame]:
        if frame.type != HEADERS:
            return [frame]
        payload = frame.payload
        if frame.flags & _PADDED:
            payload = payload[1 : len(payload) - payload[0]]
        priority = payload[:5] if frame.flags & _PRIORITY else b""
        block = decoder.decode(payload[len(priority) :], raw=True)
        kept = [(name, value) for name, value in block if bytes(name) != b"content-length"]
        flags = frame.flags & ~_PADDED
        return [Frame(HEADERS, flags, frame.stream_id, priority + encoder.encode(kept))]

    await h2_relay(client_reader, client, server_reader, server, upstream=upstream)


async def late_data_hangup(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: a DATA frame for a stream whose response has ended drops the connection.

    As hypercorn does (https://github.com/pgjones/hypercorn/issues/329): the response ends
    with END_STREAM and no RST_STREAM (a server's RST_STREAM with NO_ERROR after the end is
    withheld, so the client goes on sending the body it declared), and the late DATA kills
    the connection.
    """
    ended: set[int] = set()

    def downstream(frame: Frame) -> list[Frame]:
        if frame.type in (DATA, HEADERS) and frame.flags & END_STREAM:
            ended.add(frame.stream_id)
        if frame.type == RST_STREAM and frame.stream_id in ended and not any(frame.payload):
            return []  # RST_STREAM(NO_ERROR) after the end: "stop sending", withheld
        return [frame]

    def upstream(frame: Frame) -> list[Frame]:
        if frame.type == DATA and frame.stream_id in ended:
            raise Hangup(f"DATA on stream {frame.stream_id}, whose response has ended")
        return [frame]

    await h2_relay(
        client_reader, client, server_reader, server, upstream=upstream, downstream=downstream
    )


async def body_parsed_as_request(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: the server takes every request to have no body, and parses the body as the next
    request (a "CL.0" desync: a server that ignores Content-Length where it reads no body)."""

    async def up() -> None:
        while (head := await read_head(client_reader)) is not None:
            if head.chunked or not head.length or head.get(b"upgrade") is not None:
                server.write(head.raw)
                pieces = chunked_body(client_reader) if head.chunked else None
                async for raw, _ in pieces or sized_body(client_reader, head.length or 0):
                    server.write(raw)
                await server.drain()
                continue
            fields = [(n, b"0" if n == b"content-length" else v) for n, v in head.headers]
            server.write(head.replace(fields).raw)  # the body bytes follow as they are
            await server.drain()
        await relay(client_reader, server)

    await both(up(), relay(server_reader, client))


_REQUEST = (
    "ASGI HTTP 2.5, Request: the body is the concatenation of the http.request messages, the "
    "last of them with more_body=False"
)
_DISCONNECT = (
    "ASGI HTTP 2.5, Disconnect: a client that leaves mid-body is an http.disconnect, never "
    "a complete body"
)

BREAKS: Final = (
    Break(
        name="lost-body-bytes",
        promise=f"{_REQUEST}. Loses the last byte of each body's first message, like a "
        "parser off by one at a buffer boundary.",
        catches=frozenset(
            {
                "body/read-bounded",
                "body/more-than-declared",
                "body/less-than-declared",
                "body/chunked-dechunked",
                "body/chunked-raw",
                "body/chunks-streamed",
                "body/large-upload-bounded-memory",
            }
        ),
        says=r"delivered \d+ body bytes|other bytes|got nothing",
        app="conformance.broken.body:lost_body_bytes",
    ),
    Break(
        name="extra-body-bytes",
        promise=f"{_REQUEST}. Adds a byte to each body, like a parser that hands the app the "
        "first byte past the body.",
        catches=frozenset(
            {
                "body/read-bounded",
                "body/more-than-declared",
                "body/less-than-declared",
                "body/chunked-dechunked",
                "body/chunked-raw",
                "body/chunks-streamed",
                "body/large-upload-bounded-memory",
            }
        ),
        says=r"delivered \d+ body bytes|other bytes",
        app="conformance.broken.body:extra_body_bytes",
    ),
    Break(
        name="no-final-more-body",
        promise=f"{_REQUEST}. Delivers every byte of a body but never more_body=False: the app "
        "waits for the rest of a body that has ended.",
        catches=frozenset(
            {
                "body/read-bounded",
                "body/chunked-dechunked",
                "body/chunked-raw",
                "body/chunks-streamed",
                "body/large-upload-bounded-memory",
            }
        ),
        says=r"never ended the body with more_body=False|ReadTimeout|TimeoutError"
        r"|did not finish within",
        app="conformance.broken.body:no_final_more_body",
    ),
    Break(
        name="truncated-body-completes",
        promise=f"{_DISCONNECT}. Ends a body the client cut short with more_body=False, so a "
        "truncated upload looks complete.",
        catches=frozenset({"body/less-than-declared"}),
        says=r"ended with more_body=False",
        app="conformance.broken.body:truncated_body_completes",
    ),
    Break(
        name="truncated-body-completes-h2",
        promise=f"{_DISCONNECT}. Over HTTP/2: ends a body cancelled by RST_STREAM with "
        "more_body=False.",
        catches=frozenset({"body/less-than-declared-h2"}),
        says=r"ended with more_body=False|body-error",
        app="conformance.broken.body:truncated_body_completes",
        variant="granian-h2c",
    ),
    Break(
        name="body-before-app",
        promise="ASGI HTTP 2.5, Request: the body is streamed to the app in http.request "
        "messages. Reads the whole body before it calls the app, as daphne does, so the app "
        "can neither refuse a body from its headers nor see its first bytes early.",
        catches=frozenset(
            {
                "body/chunks-streamed",
                "body/limit-413-before-body",
                "body/expect-100-refused",
                "body/large-upload-bounded-memory",
            }
        ),
        says=r"holds the body back|no response to the headers alone|no final response"
        r"|grew by",
        app="conformance.broken.body:body_before_app",
    ),
    Break(
        name="body-before-app-h2",
        promise="ASGI HTTP 2.5, Request: the body is streamed to the app. Over HTTP/2: reads "
        "the whole body before it calls the app.",
        catches=frozenset(
            {
                "body/chunks-streamed",
                "body/limit-413-before-body-h2",
                "body/expect-100-refused-h2",
                "body/large-upload-bounded-memory",
            }
        ),
        says=r"holds the body back|no response to the HEADERS alone|no final response"
        r"|grew by",
        app="conformance.broken.body:body_before_app",
        variant="granian-h2c",
    ),
    Break(
        name="h2-content-length-ignored",
        promise="RFC 9113 §8.1.1: a request whose DATA does not add up to its content-length, "
        "or whose content-length is invalid, is malformed (PROTOCOL_ERROR). Ignores the "
        "field, taking the body to be whatever DATA comes until END_STREAM.",
        catches=frozenset(
            {
                "body/more-than-declared-h2",
                "body/short-end-stream-h2",
                "body/invalid-content-length-h2",
                "body/limit-413-before-body-h2",
                "body/expect-100-refused-h2",
            }
        ),
        says=r"answered 200|no PROTOCOL_ERROR|completed a body|refused|no response to the "
        r"HEADERS alone|no final response",
        proxy="conformance.broken.body:h2_content_length_ignored",
        variant="granian-h2c",
    ),
    Break(
        name="late-data-hangup-body",
        promise="RFC 9113 §8.1 and §5.1: a response may complete before the request, and a "
        "half-closed (local) stream can receive any frame. Drops the connection on a DATA "
        "frame for a stream whose response has ended (ended without RST_STREAM), as hypercorn "
        "does (https://github.com/pgjones/hypercorn/issues/329).",
        catches=frozenset({"body/data-after-early-response-h2"}),
        says=r"the next request on the connection was not answered",
        proxy="conformance.broken.body:late_data_hangup",
        variant="granian-h2c",
    ),
    Break(
        name="body-parsed-as-request",
        promise="RFC 9112 §6.3 and §9.3: Content-Length delimits the body, which the server "
        "must read or discard. Takes every request to have no body and parses the body as the "
        "next request, as a server that ignores Content-Length where it reads no body (a CL.0 "
        "request-smuggling desync).",
        catches=frozenset(
            {
                "body/unread-body-not-a-request",
                "body/read-bounded",
                "body/more-than-declared",
                "body/less-than-declared",
                "body/limit-413-before-body",
                "body/expect-100-refused",
            }
        ),
        says=r"the unread body was run as a request|delivered 0 body bytes|got 200, not 413",
        proxy="conformance.broken.body:body_parsed_as_request",
    ),
    Break(
        name="invalid-length-passed-through",
        promise="RFC 9112 §6.3: an invalid Content-Length MUST be answered 400 and the "
        "connection closed. Passes the request on as one without a body, as a lenient parser "
        "does (the request smuggling of a front end and a back end that disagree).",
        catches=frozenset({"body/invalid-content-length", "body/invalid-content-length-server"}),
        says=r"answered 200|passed the request to the app",
        proxy="conformance.broken.body:invalid_length_passed_through",
    ),
)
