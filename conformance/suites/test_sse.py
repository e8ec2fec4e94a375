"""Server-sent events: the event stream as an ``EventSource`` sees it, over every variant.

WHATWG HTML Living Standard, §9.2 "Server-sent events": §9.2.3 (the ``text/event-stream``
response an ``EventSource`` accepts, reconnection with ``Last-Event-ID``), §9.2.5 "Parsing an
event stream", §9.2.6 "Interpreting an event stream", §9.2.7 "Authoring notes" (keep-alive
comments); ASGI HTTP spec 2.5, "Response Start", "Response Body" (flush before ``send()``
returns) and "Disconnect"; RFC 9112 §7.1 (chunked transfer coding); RFC 9113 §8.1 and §6.4
(a client may cancel a stream with RST_STREAM).

The client side of every case parses the body with the project's WHATWG-grade parser,
:class:`conformance.sse.EventStreamParser`, fed the raw bytes as they arrive, never by splitting
on blank lines: a server that merged, split or re-framed events in a way a browser would read
differently is caught where it happens.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Final

import httpx

from conformance.cases import Grade, case
from conformance.client import (
    TIMEOUT,
    H2Session,
    Observer,
    RawHTTP1,
    http_client,
    new_token,
    request_bytes,
)
from conformance.contract.sse import FIELDS
from conformance.sse import Event, EventStreamParser
from reference_app import SSEvent
from servers import Capability, HTTPProtocol, RunningServer

from ._helpers import require_protocol

#: How long headers may take when the case checks that they come before any event: far more
#: than a server that sends them at ``http.response.start`` needs (milliseconds), and short
#: enough that the servers that defer them do not stall the run.
HEADERS_BOUND: Final = TIMEOUT * 0.4

#: A line end of the event stream format (§9.2.5).
_LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")


def _short(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


class EventReader:
    """An ``EventSource``'s view of one response body: raw bytes in, events out, as they come.

    Every byte is fed to one :class:`EventStreamParser` the moment it arrives; nothing waits
    for the end of the body or for a blank line.

    Keep a reference for as long as the response should stay open: once the reader is
    garbage, so is its ``aiter_raw()`` generator, and the event loop's finalizer of that
    generator closes the response (on HTTP/1.1, the connection) behind the case's back.
    """

    def __init__(self, chunks: AsyncIterator[bytes], parser: EventStreamParser | None = None):
        self.parser = parser if parser is not None else EventStreamParser()
        self.raw = bytearray()
        self.ended = False
        self._chunks = chunks

    @classmethod
    def of(cls, response: httpx.Response, parser: EventStreamParser | None = None) -> EventReader:
        """Read ``response``'s body as it arrives (``aiter_raw``: no decoding of any kind)."""
        return cls(response.aiter_raw(), parser)

    async def _next_chunk(self, deadline: float, waiting_for: str) -> list[Event]:
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                chunk = await anext(self._chunks)
        except StopAsyncIteration:
            self.ended = True
            pending = self.parser.pending
            events = self.parser.close()
            if pending:
                raise AssertionError(
                    f"the event stream ended inside an event, which a client discards; "
                    f"tail: {bytes(self.raw[-200:])!r}"
                ) from None
            return events
        except TimeoutError:
            raise AssertionError(
                f"{waiting_for} did not arrive; the client had received {len(self.raw)} bytes, "
                f"ending {bytes(self.raw[-200:])!r}"
            ) from None
        self.raw += chunk
        return self.parser.feed(chunk)

    async def events(self, count: int, timeout: float = TIMEOUT) -> list[Event]:
        """Read until ``count`` more events were dispatched (or the body ended)."""
        deadline = time.monotonic() + timeout
        events: list[Event] = []
        while len(events) < count and not self.ended:
            events += await self._next_chunk(deadline, f"event {len(events) + 1} of {count}")
        return events

    async def comments(self, count: int, timeout: float = TIMEOUT) -> list[Event]:
        """Read until the parser has seen ``count`` comments; return any events on the way."""
        deadline = time.monotonic() + timeout
        events: list[Event] = []
        while len(self.parser.comments) < count and not self.ended:
            events += await self._next_chunk(deadline, f"comment {len(self.parser.comments) + 1}")
        return events

    async def rest(self, timeout: float = TIMEOUT) -> list[Event]:
        """Read to the end of the body; return the events dispatched on the way."""
        deadline = time.monotonic() + timeout
        events: list[Event] = []
        while not self.ended:
            events += await self._next_chunk(deadline, "the end of the event stream")
        return events


def _payload(sent: SSEvent) -> str | None:
    """The data an app meant to send with ``sent``, or None if it sends no data field."""
    if sent.text is not None:
        return sent.text
    if sent.data is not None:
        return sent.data.decode()
    return None


def _expected(sent: Sequence[SSEvent | None]) -> tuple[list[tuple[SSEvent, Event]], list[str]]:
    """What a client must make of ``sent``: (event sent, event due) pairs, and the comments.

    Built from the events' own attributes, not from their bytes, so it judges both the server
    (which must deliver the bytes unchanged) and the framework (which serialises them).
    """
    due: list[tuple[SSEvent, Event]] = []
    comments: list[str] = []
    last_id, retry = "", None
    for item in sent:
        if item is None:
            comments.append("ping")
            continue
        if item.comment is not None:
            comments += _LINE_BREAK.split(item.comment)
        if item.retry is not None:
            retry = item.retry
        if item.id is not None:
            last_id = item.id
        payload = _payload(item)
        if payload is None and not item.has_json:
            continue  # no data field: the block dispatches nothing (§9.2.6)
        data = _LINE_BREAK.sub("\n", payload) if payload is not None else ""
        event = Event(data, item.event or "message", last_id, item.id, retry)
        due.append((item, event))
    return due, comments


@case(
    "sse/fields-as-sent",
    grade=Grade.REQUIRED,
    clause="WHATWG HTML §9.2.6 Interpreting an event stream; ASGI HTTP 2.5, Response Body",
)
async def test_every_field_and_shape_arrives_as_sent(server: RunningServer) -> None:
    """WHATWG §9.2.6: the client dispatches exactly the events, fields and comments sent.

    Multi-line text (LF, CRLF and CR breaks) as several ``data`` lines, JSON, comments (one and
    two lines), ``retry``, ``id`` (set, inherited, reset), ``event``, empty data, a value that
    starts with a space, 2- to 4-byte UTF-8 and a 70 kB event: compared field by field with
    the app's own events.

    Server behaviour judged: the body bytes arrive unchanged and in order, however framed.
    Fails under ``lost-message``.
    """
    due, comments = _expected(FIELDS)
    async with (
        http_client(server) as client,
        client.stream("GET", "/sse/fields") as response,
    ):
        assert response.status_code == 200
        reader = EventReader.of(response)
        got = await reader.rest()
    assert len(got) == len(due), (
        f"the client dispatched {len(got)} events, the app sent {len(due)}: "
        f"{[_short(e.data, 40) for e in got]}"
    )
    for index, ((sent, expected), event) in enumerate(zip(due, got, strict=True)):
        where = f"event {index} (sent as {_short(sent, 80)})"
        if sent.has_json:
            try:
                decoded = json.loads(event.data)
            except ValueError as error:
                raise AssertionError(f"{where}: data is not JSON: {_short(event.data)}") from error
            assert decoded == sent.json, f"{where}: JSON data {decoded!r} != {sent.json!r}"
            event = Event("", event.type, event.last_event_id, event.id, event.retry)
        for name in ("data", "type", "id", "last_event_id", "retry"):
            value, wanted = getattr(event, name), getattr(expected, name)
            assert value == wanted, f"{where}: {name} {_short(value)} != {_short(wanted)}"
    assert reader.parser.comments == comments, (
        f"comments {reader.parser.comments!r} != {comments!r}"
    )


@case(
    "sse/headers",
    grade=Grade.REQUIRED,
    clause="WHATWG HTML §9.2.3: text/event-stream; ASGI HTTP 2.5, Response Start headers",
)
async def test_the_event_stream_headers_arrive_as_sent(server: RunningServer) -> None:
    """WHATWG §9.2.3: ``content-type: text/event-stream``; the app's headers arrive as sent.

    An ``EventSource`` fails the connection for any other content type. The app sends
    ``cache-control: no-cache`` and no ``content-length``: the length of an open stream is
    unknown, so a server that added one would have to buffer the stream (or lie).

    Server behaviour judged: the app's response headers go out as sent, none added. Fails
    under ``content-type-charset``.
    """
    token = new_token()
    async with Observer(server) as observer:
        # Event 0 may be produced at once: some servers hold the headers until the first body.
        await observer.release(token)
        async with (
            http_client(server) as client,
            client.stream("GET", f"/sse/gated/{token}?n=2") as response,
        ):
            assert response.status_code == 200
            headers = response.headers
            assert headers.get_list("content-type") == ["text/event-stream"], (
                f"content-type {headers.get_list('content-type')}"
            )
            assert headers.get_list("cache-control") == ["no-cache"], (
                f"cache-control {headers.get_list('cache-control')}"
            )
            assert "content-length" not in headers, (
                f"the server added content-length: {headers['content-length']}"
            )
            reader = EventReader.of(response)
            events = await reader.events(1)
            assert [e.data for e in events] == ["event 0"]
            await observer.release(token)


@case(
    "sse/http1-chunked",
    grade=Grade.RECOMMENDED,
    clause="RFC 9112 §7.1, §6.3: chunked transfer coding keeps the connection reusable",
)
async def test_an_http1_event_stream_is_chunked_and_keeps_the_connection(
    server: RunningServer,
) -> None:
    """RFC 9112 §6.3/§7.1: an HTTP/1.1 event stream is chunked, so its end is not a close.

    A close-delimited body would be legal, but it would cost the connection and could not be
    told apart from a truncated stream. The next request on the same connection is answered.

    Server behaviour judged: a response of unknown length is chunked on HTTP/1.1. Fails under
    the wire break ``close-delimited``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    async with RawHTTP1(server) as connection:
        await connection.send(request_bytes("GET", "/sse/fields", server.authority))
        response = await connection.response()
        assert response.status == 200
        coding = response.header("transfer-encoding")
        assert (coding or "").lower() == "chunked", (
            f"transfer-encoding {coding!r}, content-length {response.header('content-length')!r}"
        )
        parser = EventStreamParser()
        events = parser.feed(response.body)
        assert not parser.pending, "the chunked body ended inside an event"
        assert len(events) == len(_expected(FIELDS)[0]), f"{len(events)} events"
        await connection.send(request_bytes("GET", "/", server.authority))
        try:
            follow = await connection.response()
        except (ConnectionError, TimeoutError) as error:
            raise AssertionError(
                f"the connection was not reusable after the event stream ended ({error!r})\n"
                f"{connection.transcript.render()}"
            ) from error
        assert (follow.status, follow.body) == (200, b"asgi-conformance contract app")


@case(
    "sse/events-flushed",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, Response Body: the server must flush before send() returns",
)
async def test_each_event_is_dispatched_before_the_next_is_produced(server: RunningServer) -> None:
    """ASGI HTTP 2.5 "Response Body": event k is dispatched while event k+1 does not exist.

    The app emits each event only when the client opens a gate; a server that held an event
    back (for a fuller buffer, or for the next chunk) would never let it be dispatched.

    Server behaviour judged: each event is on its way when ``send()`` returns. Fails under
    ``held-chunks`` and ``lost-message``.
    """
    token = new_token()
    count = 3
    async with Observer(server) as observer:
        # Event 0 may be produced at once: some servers hold the headers until the first body.
        await observer.release(token)
        async with (
            http_client(server) as client,
            client.stream("GET", f"/sse/gated/{token}?n={count}") as response,
        ):
            assert response.status_code == 200
            reader = EventReader.of(response)
            for index in range(count):
                events = await reader.events(1)
                assert [(e.data, e.id) for e in events] == [(f"event {index}", str(index))], (
                    f"event {index}: {events!r}"
                )
                produced = await observer.events(token, "produced")
                assert len(produced) == index + 1, f"the app had produced {len(produced)} events"
                await observer.release(token)
            assert await reader.rest() == []
        await observer.wait(token, "finalized")


@case(
    "sse/keepalive",
    grade=Grade.RECOMMENDED,
    clause='WHATWG HTML §9.2.7 (an authoring note, not a requirement): "authors can include a '
    "comment line (one starting with a ':' character) every 15 seconds or so\"; ASGI HTTP 2.5, "
    "Response Body: flush",
)
async def test_keepalive_comments_arrive_while_the_emitter_is_silent(
    server: RunningServer,
) -> None:
    """WHATWG §9.2.7 keep-alive comments reach the client while the app has nothing to say.

    The app's emitter waits on a gate; the framework sends ``: ping`` every 50 ms meanwhile.
    After two pings the gate opens and the real event still arrives: the emitter was neither
    cancelled nor starved by the pings.

    Server behaviour judged: a few bytes sent while the app has nothing else to say are
    flushed at once, not held for more data. Recommended, not required: keep-alive comments
    are the WHATWG text's advice to authors, and the flush itself is ``sse/events-flushed``'s
    MUST. Fails under a break that holds small body messages back until more data comes.
    """
    token = new_token()
    async with Observer(server) as observer:
        async with (
            http_client(server) as client,
            client.stream("GET", f"/sse/keepalive/{token}?interval=0.05") as response,
        ):
            assert response.status_code == 200
            reader = EventReader.of(response)
            early = await reader.comments(2)
            assert early == [], f"events before the gate opened: {early!r}"
            assert reader.parser.comments[:2] == ["ping", "ping"], reader.parser.comments
            snapshot = await observer.snapshot(token)
            seen = [e["event"] for e in snapshot["events"]]
            assert seen == [], f"the emitter was not waiting on its gate: {seen}"
            await observer.release(token)
            events = await reader.events(1)
            assert [e.data for e in events] == ["after the pings"], events
            assert await reader.rest() == []
            assert set(reader.parser.comments) == {"ping"}, reader.parser.comments
        await observer.wait(token, "finalized")


@case(
    "sse/disconnect-finalizes",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, Disconnect: sent when the HTTP connection has been closed",
)
async def test_a_client_that_leaves_finalizes_a_blocked_emitter(server: RunningServer) -> None:
    """ASGI HTTP 2.5 "Disconnect": the app learns that the client left, even while blocked.

    The emitter sends one event, then waits on something that never happens. The client
    closes its connection (FIN, on HTTP/2 too: httpx does not reset a stream it stops reading);
    the emitter must be finalized within a bound, not kept forever.

    Server behaviour judged: a client that leaves while the app waits (without sending) is
    an ``http.disconnect``. Fails under ``write-noticed-disconnect``.
    """
    token = new_token()
    async with Observer(server) as observer:
        async with (
            http_client(server) as client,
            client.stream("GET", f"/sse/blocked/{token}") as response,
        ):
            reader = EventReader.of(response)
            events = await reader.events(1)
            assert [e.data for e in events] == ["hello"]
            snapshot = await observer.wait(token, "blocked")
            seen = [e["event"] for e in snapshot["events"]]
            assert seen == ["blocked"], f"the emitter ended before the client left: {seen}"
        await observer.wait(token, "finalized", timeout=TIMEOUT)


@case(
    "sse/stream-reset-finalizes",
    grade=Grade.REQUIRED,
    clause="RFC 9113 §6.4, §8.1 RST_STREAM; ASGI HTTP 2.5, Disconnect",
    requires=[Capability.HTTP2],
)
async def test_a_cancelled_stream_finalizes_a_blocked_emitter(server: RunningServer) -> None:
    """RFC 9113 §6.4: an HTTP/2 client leaves one stream with RST_STREAM, keeping the connection.

    That is what a browser does on ``EventSource.close()`` over HTTP/2. Server behaviour
    judged: the RST_STREAM becomes ``http.disconnect`` for the app, whose blocked emitter is
    then finalized within a bound. Fails under a break that never delivers ``http.disconnect``
    (the emitter is never finalized).
    """
    token = new_token()
    async with Observer(server) as observer, H2Session(server) as session:
        stream_id = await session.request(
            "GET", f"/sse/blocked/{token}", [("accept", "text/event-stream")]
        )
        response = await session.response(stream_id)
        assert response.status == 200, session.result.describe()
        reader = EventReader(session.chunks(stream_id))
        events = await reader.events(1)
        assert [e.data for e in events] == ["hello"]
        snapshot = await observer.wait(token, "blocked")
        seen = [e["event"] for e in snapshot["events"]]
        assert seen == ["blocked"], f"the emitter ended before the stream was reset: {seen}"
        await session.reset(stream_id)
        await observer.wait(token, "finalized", timeout=TIMEOUT)


@case(
    "sse/headers-before-first-event",
    grade=Grade.INFORMATIONAL,
    clause="ASGI HTTP 2.5, Response Start: the server may defer the start until the first body",
)
async def test_the_stream_opens_before_the_first_event_exists(server: RunningServer) -> None:
    """ASGI HTTP 2.5 "Response Start" allows deferring; an ``EventSource`` opens on headers.

    ``onopen`` fires when the headers arrive (WHATWG §9.2.3 "announce the connection"). The
    app's emitter waits on a gate, so a server that holds the headers until the first body
    leaves the client unsure whether the stream is open at all.

    Server behaviour judged (informational): whether the head goes out before the first
    body (docs/server-behaviour.md#deferred-response-start). Fails under ``deferred-start``.
    """
    token = new_token()
    async with Observer(server) as observer, http_client(server) as client:
        try:
            async with asyncio.timeout(HEADERS_BOUND):
                async with client.stream("GET", f"/sse/gated/{token}?n=1") as response:
                    produced = await observer.events(token, "produced")
                    assert response.status_code == 200
                    assert produced == [], f"the app had produced {produced}"
        except TimeoutError:
            raise AssertionError(
                f"no response headers within {HEADERS_BOUND} s while no event existed yet: "
                f"the server holds http.response.start back until the first body"
            ) from None
        finally:
            await observer.release(token)
