"""Breaks of the streaming family: flushing, backpressure, disconnects, HEAD, HTTP/2 streams.

Each app below is a server that breaks one promise of ASGI HTTP 2.5 ("Response Body",
"Disconnect") or RFC 9110/9112/9113 the way a real server has; :data:`BREAKS` says which
cases catch each.
"""

from __future__ import annotations

import asyncio
from typing import Final

from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from . import Break
from .apps import around, is_final_body
from .wire import (
    DATA,
    END_STREAM,
    HEADERS,
    RST_STREAM,
    Frame,
    Hangup,
    both,
    h2_relay,
    half_close,
    requests,
    responses,
)

__all__ = [
    "BIG_BUFFER",
    "BREAKS",
    "big_write_buffer",
    "head_body_leaked",
    "held_chunks",
    "late_data_hangup",
    "lost_message",
    "no_backpressure",
    "no_disconnect",
    "phantom_disconnect",
    "write_noticed_disconnect",
]

#: How much :data:`big_write_buffer` keeps before it writes (bytes).
BIG_BUFFER: Final = 48 * 1024 * 1024


async def _held_chunks(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    held: list[Message] = []

    async def holding_send(message: Message) -> None:
        if message["type"] != "http.response.body":
            await send(message)
            return
        held.append(message)
        if is_final_body(message):
            for body in held:
                await send(body)
            held.clear()

    await app(scope, receive, holding_send)


#: Sends no body message before the final one, then all of them at once.
held_chunks = around(_held_chunks)


async def _big_write_buffer(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    held: list[bytes] = []
    size = 0

    async def buffering_send(message: Message) -> None:
        nonlocal size
        if message["type"] != "http.response.body":
            await send(message)
            return
        body = bytes(bytearray(message.get("body", b"")))  # the server's own copy
        held.append(body)
        size += len(body)
        more = bool(message.get("more_body", False))
        if size >= BIG_BUFFER or not more:
            for piece in held:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            held.clear()
            size = 0
            if not more:
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    await app(scope, receive, buffering_send)


#: Copies the body into a write buffer it flushes only at :data:`BIG_BUFFER` or at the end.
big_write_buffer = around(_big_write_buffer)


async def _no_backpressure(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    queue: asyncio.Queue[Message | None] = asyncio.Queue()

    async def writer() -> None:
        while (message := await queue.get()) is not None:
            await send(message)

    async def queueing_send(message: Message) -> None:
        queue.put_nowait(message)

    task = asyncio.create_task(writer())
    try:
        await app(scope, receive, queueing_send)
    finally:
        queue.put_nowait(None)
        await task


#: ``send()`` never blocks: every message is queued for a writer task.
no_backpressure = around(_no_backpressure)


async def _lost_message(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    bodies = 0

    async def losing_send(message: Message) -> None:
        nonlocal bodies
        if message["type"] == "http.response.body" and message.get("body"):
            bodies += 1
            if bodies == 2 and message.get("more_body", False):
                return
        await send(message)

    await app(scope, receive, losing_send)


#: Loses the second non-empty body message of a streamed response.
lost_message = around(_lost_message)


async def _no_disconnect(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    async def deaf_receive() -> Message:
        message = await receive()
        if message["type"] == "http.disconnect":
            await asyncio.Event().wait()  # never set: the app waits until it is cancelled
        return message

    await app(scope, deaf_receive, send)


#: Delivers every message but ``http.disconnect``; where it would come, blocks forever.
no_disconnect = around(_no_disconnect)


async def _write_noticed(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    gone = False
    complete = False
    written = asyncio.Event()

    async def late_receive() -> Message:
        nonlocal gone
        message = await receive()
        if message["type"] == "http.disconnect" and not complete:
            gone = True
            await written.wait()
        return message

    async def noticing_send(message: Message) -> None:
        nonlocal complete
        await send(message)
        complete = complete or is_final_body(message)
        if gone or complete:
            written.set()

    await app(scope, late_receive, noticing_send)


#: Notices a closed connection only when the app next sends (or once the response is done).
write_noticed_disconnect = around(_write_noticed)


async def _phantom(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    body_done = False

    async def phantom_receive() -> Message:
        nonlocal body_done
        if body_done:
            return {"type": "http.disconnect"}
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            body_done = True
        return message

    await app(scope, phantom_receive, send)


#: Answers ``receive()`` with ``http.disconnect`` once the request body is complete.
phantom_disconnect = around(_phantom)


#: What :func:`head_body_leaked` sends after the head of a response to HEAD.
LEAKED: Final = b"chunk 1\nchunk 2\n"


async def head_body_leaked(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: after the head of a 200 response to HEAD, send unframed body bytes."""
    methods: asyncio.Queue[bytes] = asyncio.Queue()

    async def down() -> None:
        async for response in responses(server_reader, methods):
            client.write(response.head.raw)
            async for raw, _ in response.body():
                client.write(raw)
                await client.drain()
            if response.method == b"HEAD" and response.status == 200:
                client.write(LEAKED)
            await client.drain()
        await half_close(client)

    await both(requests(client_reader, server, methods), down())


async def late_data_hangup(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: a DATA frame for a stream whose response has ended drops the connection.

    The server's RST_STREAM(NO_ERROR) after such a response ("stop sending", RFC 9113 §8.1)
    is not passed on, so that the client does send the rest of its request (hypercorn sends
    none either).
    """
    ended: set[int] = set()

    def downstream(frame: Frame) -> list[Frame]:
        if frame.type in (DATA, HEADERS) and frame.flags & END_STREAM:
            ended.add(frame.stream_id)
        if frame.type == RST_STREAM and frame.stream_id in ended and not any(frame.payload):
            return []
        return [frame]

    def upstream(frame: Frame) -> list[Frame]:
        if frame.type == DATA and frame.stream_id in ended:
            raise Hangup(f"DATA on stream {frame.stream_id}, whose response has ended")
        return [frame]

    await h2_relay(
        client_reader, client, server_reader, server, upstream=upstream, downstream=downstream
    )


_FLUSH = "ASGI HTTP 2.5, Response Body: the server must flush the data before send() returns"
_DISCONNECT = (
    "ASGI HTTP 2.5, Disconnect: http.disconnect is sent when the connection has been closed "
    "and receive() is called"
)

BREAKS: Final = (
    Break(
        name="held-chunks",
        promise=f"{_FLUSH}. Holds every body message until the final one, like a server (or "
        "WSGI-style adapter) that writes a streamed response only once it is complete.",
        catches=frozenset(
            {
                "streaming/backpressure",
                "streaming/chunks-flushed",
                "streaming/disconnect-finalizes",
                "streaming/large-bounded-memory",
                "sse/disconnect-finalizes",
                "sse/events-flushed",
                "sse/headers",
                "sse/keepalive",
            }
        ),
        says=r"did not arrive|ReadTimeout|had produced|chunks were produced|grew by",
        app="conformance.broken.streaming:held_chunks",
    ),
    Break(
        name="big-write-buffer",
        promise=f"{_FLUSH}. Copies the body into a 48 MiB write buffer and writes it out only "
        "when full or at the end: a server with an oversized output buffer.",
        catches=frozenset(
            {
                "streaming/backpressure",
                "streaming/chunks-flushed",
                "streaming/disconnect-finalizes",
                "streaming/large-bounded-memory",
            }
        ),
        says=r"grew by|ReadTimeout|had produced|chunks were produced",
        app="conformance.broken.streaming:big_write_buffer",
    ),
    Break(
        name="no-backpressure",
        promise="ASGI HTTP 2.5, Response Body: send() completes once the data is in the send "
        "buffer. send() never blocks: messages queue up for a writer task, as on daphne "
        "(docs/server-behaviour.md#daphne-no-backpressure).",
        catches=frozenset({"streaming/backpressure", "streaming/large-bounded-memory"}),
        says=r"chunks were produced|grew by",
        app="conformance.broken.streaming:no_backpressure",
    ),
    Break(
        name="lost-message",
        promise="ASGI HTTP 2.5, Response Body: every body message is sent. Loses the second "
        "chunk of a streamed response, like a writer that overwrites a pending buffer.",
        catches=frozenset(
            {
                "streaming/chunks-flushed",
                "streaming/large-bounded-memory",
                "sse/events-flushed",
                "sse/fields-as-sent",
                "sse/http1-chunked",
            }
        ),
        says=r"ReadTimeout|did not arrive|received \d+ of|!=|==",
        app="conformance.broken.streaming:lost_message",
    ),
    Break(
        name="no-disconnect",
        promise=f"{_DISCONNECT}. Never delivers http.disconnect: the app never learns that "
        "its client left.",
        catches=frozenset({"streaming/disconnect-finalizes"}),
        says=r"did not record '(disconnected|finalized)'",
        app="conformance.broken.streaming:no_disconnect",
    ),
    Break(
        name="write-noticed-disconnect",
        promise=f"{_DISCONNECT}. Notices a closed connection only when the app next sends, "
        "like servers that learn of a disconnect from a failed write: a silent app waits "
        "forever.",
        catches=frozenset({"sse/disconnect-finalizes"}),
        says=r"did not record 'finalized'",
        app="conformance.broken.streaming:write_noticed_disconnect",
    ),
    Break(
        name="phantom-disconnect",
        promise=f"{_DISCONNECT}. Delivers http.disconnect as soon as the request body is "
        "complete, while the client still waits for the response.",
        catches=frozenset({"streaming/chunks-flushed", "streaming/large-bounded-memory"}),
        says=r"ReadTimeout|RemoteProtocolError|had produced|did not arrive",
        app="conformance.broken.streaming:phantom_disconnect",
    ),
    Break(
        name="deferred-start",
        promise="ASGI HTTP 2.5, Response Start: the server may defer the start until the "
        "first body, as daphne and granian do (docs/server-behaviour.md#deferred-response-start). "
        "Legal (see the legal variation of the same "
        "name): it fails only the informational cases that record it.",
        catches=frozenset({"streaming/headers-before-body", "sse/headers-before-first-event"}),
        says=r"no response headers within",
        app="conformance.broken.legal:deferred_start",
    ),
    Break(
        name="head-body-leaked",
        promise="RFC 9110 §9.3.2: the server MUST NOT send content in the response to HEAD. "
        "Sends body bytes, unframed, after the head of a HEAD response, as daphne does with "
        "streamed responses (docs/server-behaviour.md#daphne-head-body-leaked).",
        catches=frozenset({"streaming/head-has-no-body", "streaming/head-body-dropped-by-server"}),
        says=r"the next response did not parse",
        proxy="conformance.broken.streaming:head_body_leaked",
    ),
    Break(
        name="late-data-hangup",
        promise="RFC 9113 §8.1: a server can send a complete response before the request is "
        "complete. Drops the whole connection when a DATA frame arrives for a stream whose "
        "response has ended, as hypercorn does (a KeyError, pgjones/hypercorn#329).",
        catches=frozenset({"streaming/early-response-keeps-connection"}),
        says=r"the connection broke",
        proxy="conformance.broken.streaming:late_data_hangup",
        variant="granian-h2c",
    ),
)
