"""Sending responses: streams, SSE, push, HEAD, disconnects and errors after the start.

Each test names the flaw of Falcon or bareASGI it proves we do not have, where there is one
(as verified against Falcon 4.4 and bareASGI 4.4.1; ``#NNNN`` is a falconry/falcon issue).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from conformance.sse import parse
from reference_app import App, HTTPError, Request, Response, ResponseAborted, SSEvent
from reference_app.testing import ASGIDriver
from reference_app.types import Message

PUSH: dict[str, Any] = {"http.response.push": {}}


class Probe:
    """What a body source reports about itself."""

    def __init__(self) -> None:
        self.produced = 0
        self.finalized = asyncio.Event()
        self.closed = 0
        self.gate = asyncio.Event()


def route(app: App, template: str, responder: Any, methods: tuple[str, ...] = ("GET",)) -> None:
    app.route(template, methods)(responder)


def gated_stream(probe: Probe, count: int) -> AsyncIterator[bytes]:
    """Yields ``count`` chunks; each one is produced only after the test opens the gate."""

    async def generate() -> AsyncIterator[bytes]:
        try:
            for index in range(count):
                await probe.gate.wait()
                probe.gate.clear()
                probe.produced += 1
                yield f"chunk {index}\n".encode()
        finally:
            probe.finalized.set()

    return generate()


async def test_each_chunk_is_sent_before_the_next_is_produced() -> None:
    """No one-chunk lookahead (bareASGI holds chunk k until chunk k+1 exists)."""
    probe = Probe()
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = gated_stream(probe, 3)

    route(app, "/s", responder)
    async with ASGIDriver(app).stream("GET", "/s") as exchange:
        assert await exchange.start() == 200  # headers go out before any chunk exists
        assert probe.produced == 0
        for index in range(3):
            probe.gate.set()
            assert await exchange.next_chunk() == f"chunk {index}\n".encode()
            # The chunk arrived while the generator is blocked before producing the next one.
            assert probe.produced == index + 1
        assert await exchange.next_chunk() is None
        result = await exchange.finish()
    bodies = result.sent("http.response.body")
    assert [m["more_body"] for m in bodies] == [True, True, True, False]
    assert bodies[-1]["body"] == b""
    assert result.header("content-length") is None
    assert result.header("content-type") == "application/octet-stream"


async def test_a_blocked_generator_is_finalized_when_the_client_disconnects() -> None:
    """Falcon iterates resp.stream to completion after a disconnect (#2015)."""
    probe = Probe()
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = gated_stream(probe, 10)

    route(app, "/s", responder)
    async with ASGIDriver(app).stream("GET", "/s") as exchange:
        probe.gate.set()
        assert await exchange.next_chunk() == b"chunk 0\n"
        exchange.disconnect()  # the generator is blocked on the gate now
        async with asyncio.timeout(1):
            await probe.finalized.wait()
        result = await exchange.finish()
    assert probe.produced == 1
    assert result.disconnected


class ReadStream:
    """An object with awaitable read() and close(), like an aiofiles file."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        self.data = data
        self.position = 0
        self.closed = 0
        self.sizes: list[int] = []
        self.fail_after = fail_after

    async def read(self, size: int = -1) -> bytes:
        self.sizes.append(size)
        if self.fail_after is not None and self.position >= self.fail_after:
            raise OSError("disk on fire")
        chunk = self.data[self.position : self.position + size]
        self.position += len(chunk)
        return chunk

    async def close(self) -> None:
        self.closed += 1


async def test_read_stream_is_sent_in_blocks_and_closed_once() -> None:
    source = ReadStream(b"x" * 150_000)
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.set_stream(source, len(source.data))

    route(app, "/f", responder)
    result = await ASGIDriver(app).get("/f")
    assert result.body == source.data
    assert result.header("content-length") == "150000"
    assert source.closed == 1
    assert all(size > 0 for size in source.sizes)


async def test_close_runs_once_when_the_stream_fails(caplog: pytest.LogCaptureFixture) -> None:
    """Falcon's close() on error was fixed late (#1943); the error must abort, not end cleanly."""
    source = ReadStream(b"y" * 200_000, fail_after=64 * 1024)
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = source
        resp.schedule(noop)

    route(app, "/f", responder)
    with caplog.at_level(logging.WARNING, "reference_app"):
        async with ASGIDriver(app).stream("GET", "/f") as exchange:
            with pytest.raises(ResponseAborted, match="disk on fire"):
                await exchange.finish()
    assert source.closed == 1
    # The client never saw a final body message: the truncation is visible to it.
    assert not exchange.complete
    assert "error while streaming" in caplog.text
    assert "dropping 1 background job" in caplog.text


async def noop() -> None:
    pass


class IteratorWithClose:
    def __init__(self, items: list[Any]) -> None:
        self.items = list(items)
        self.closed = 0

    def __aiter__(self) -> IteratorWithClose:
        return self

    async def __anext__(self) -> Any:
        if not self.items:
            raise StopAsyncIteration
        return self.items.pop(0)

    async def close(self) -> None:
        self.closed += 1


async def test_async_iterator_none_item_ends_the_stream_and_close_is_awaited() -> None:
    source = IteratorWithClose([b"a", b"", bytearray(b"b"), None, b"never"])
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = source

    route(app, "/i", responder)
    result = await ASGIDriver(app).get("/i")
    assert result.body == b"ab"
    assert source.closed == 1
    assert source.items == [b"never"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        pytest.param("text", "yielded str, expected bytes", id="str-item"),
        pytest.param(42, "yielded int, expected bytes", id="int-item"),
    ],
)
async def test_a_non_bytes_item_aborts_the_response(item: object, message: str) -> None:
    source = IteratorWithClose([b"ok", item])
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = source

    route(app, "/i", responder)
    async with ASGIDriver(app).stream("GET", "/i") as exchange:
        with pytest.raises(ResponseAborted, match=message):
            await exchange.finish()
    assert source.closed == 1


async def test_read_returning_non_bytes_aborts() -> None:
    class Bad:
        async def read(self, size: int) -> None:
            return None

    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = Bad()  # type: ignore[assignment]

    route(app, "/b", responder)
    async with ASGIDriver(app).stream("GET", "/b") as exchange:
        with pytest.raises(ResponseAborted, match="returned NoneType"):
            await exchange.finish()


async def test_an_object_that_is_no_stream_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = object()  # type: ignore[assignment]

    route(app, "/o", responder)
    with caplog.at_level(logging.ERROR, "reference_app"):
        result = await ASGIDriver(app).get("/o")
    assert result.status == 500
    assert result.json() == {"title": "Internal Server Error"}
    assert "must be an async iterable" in caplog.text


@pytest.mark.parametrize("kind", ["stream", "sse"])
async def test_head_closes_the_body_source_without_iterating(kind: str) -> None:
    source = IteratorWithClose([b"x"] if kind == "stream" else [SSEvent(text="x")])
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        if kind == "stream":
            resp.set_stream(source, 8)
        else:
            resp.sse = source

    route(app, "/h", responder)
    result = await ASGIDriver(app).request("HEAD", "/h")
    assert (result.status, result.body, source.closed) == (200, b"", 1)
    assert len(source.items) == 1  # never iterated
    if kind == "stream":
        assert result.header("content-length") == "8"
    else:
        assert result.header("content-type") == "text/event-stream"


async def test_head_finalizes_a_started_generator_it_does_not_send() -> None:
    probe = Probe()
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        events = sse_events(probe)
        await events.__anext__()  # the responder started it; HEAD must still finalize it
        resp.sse = events

    route(app, "/h", responder)
    result = await ASGIDriver(app).request("HEAD", "/h")
    assert result.body == b""
    assert probe.finalized.is_set()


async def sse_events(probe: Probe) -> AsyncIterator[SSEvent | None]:
    try:
        probe.produced += 1
        yield SSEvent(text="first")
    finally:
        probe.finalized.set()


async def test_no_body_status_closes_the_stream() -> None:
    source = IteratorWithClose([b"x"])
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.status = 204
        resp.stream = source

    route(app, "/n", responder)
    result = await ASGIDriver(app).get("/n")
    assert (result.status, result.body, source.closed) == (204, b"", 1)
    assert source.items == [b"x"]


async def test_responder_error_closes_an_assigned_stream() -> None:
    source = IteratorWithClose([b"x"])
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = source
        raise HTTPError(409, description="busy")

    route(app, "/e", responder)
    result = await ASGIDriver(app).get("/e")
    assert result.status == 409
    assert result.json() == {"title": "Conflict", "description": "busy"}
    assert source.closed == 1


# -- SSE ------------------------------------------------------------------------------------------


class Serializable:
    def serialize(self) -> bytes:
        return b"event: custom\ndata: own\n\n"


async def test_sse_headers_and_every_kind_of_item() -> None:
    app = App()

    async def emitter() -> AsyncIterator[Any]:
        yield SSEvent(text="one\ntwo", event="greeting", id="1", retry=3000)
        yield None
        yield SSEvent()
        yield SSEvent(json={"k": [1, 2]})
        yield Serializable()

    async def responder(req: Request, resp: Response) -> None:
        resp.sse = emitter()

    route(app, "/events", responder)
    result = await ASGIDriver(app).get("/events")
    assert result.header("content-type") == "text/event-stream"
    assert result.header("cache-control") == "no-cache"
    assert result.header("x-accel-buffering") == "no"
    assert result.header("content-length") is None
    events = parse(result.body)
    assert [(e.type, e.data) for e in events] == [
        ("greeting", "one\ntwo"),
        ("message", '{"k":[1,2]}'),
        ("custom", "own"),
    ]
    assert result.body.count(b": ping\n\n") == 2


async def test_sse_each_event_is_flushed_at_once() -> None:
    """bareASGI delays every event until the next one is yielded (its 'nudge' workaround)."""
    gate = asyncio.Event()
    app = App()

    async def emitter() -> AsyncIterator[SSEvent]:
        for index in range(3):
            yield SSEvent(data=str(index).encode())
            await gate.wait()
            gate.clear()

    async def responder(req: Request, resp: Response) -> None:
        resp.sse = emitter()

    route(app, "/events", responder)
    async with ASGIDriver(app).stream("GET", "/events") as exchange:
        for index in range(3):
            chunk = await exchange.next_chunk()
            assert chunk == f"data: {index}\n\n".encode()
            gate.set()
        assert await exchange.next_chunk() is None


async def test_sse_disconnect_is_detected_while_the_emitter_is_blocked() -> None:
    """Falcon only notices a disconnect after the emitter's next yield."""
    probe = Probe()
    app = App()

    async def emitter() -> AsyncIterator[SSEvent]:
        try:
            yield SSEvent(text="hello")
            await asyncio.Event().wait()  # blocked forever: nothing to say
            yield SSEvent(text="never")
        finally:
            probe.finalized.set()

    async def responder(req: Request, resp: Response) -> None:
        resp.sse = emitter()

    route(app, "/events", responder)
    async with ASGIDriver(app).stream("GET", "/events") as exchange:
        assert await exchange.next_chunk() == b"data: hello\n\n"
        exchange.disconnect()
        async with asyncio.timeout(1):
            await probe.finalized.wait()


async def test_sse_keepalive_pings_without_cancelling_the_emitter() -> None:
    gate = asyncio.Event()
    probe = Probe()
    app = App(sse_keepalive=0.02)

    async def emitter() -> AsyncIterator[SSEvent]:
        try:
            await gate.wait()
            yield SSEvent(text="after pings")
        finally:
            probe.finalized.set()

    async def responder(req: Request, resp: Response) -> None:
        resp.sse = emitter()

    route(app, "/events", responder)
    async with ASGIDriver(app).stream("GET", "/events") as exchange:
        assert await exchange.next_chunk() == b": ping\n\n"
        assert await exchange.next_chunk() == b": ping\n\n"
        assert not probe.finalized.is_set()  # the timeouts did not cancel the generator
        gate.set()
        chunk = await exchange.next_chunk()
        while chunk == b": ping\n\n":
            chunk = await exchange.next_chunk()
        assert chunk == b"data: after pings\n\n"
        assert await exchange.next_chunk() is None
    assert probe.finalized.is_set()


async def test_sse_keepalive_per_response_and_emitter_error() -> None:
    app = App()

    async def emitter() -> AsyncIterator[SSEvent]:
        yield SSEvent(text="a")
        raise RuntimeError("emitter broke")

    async def responder(req: Request, resp: Response) -> None:
        resp.sse = emitter()
        resp.sse_keepalive = 5.0

    route(app, "/events", responder)
    async with ASGIDriver(app).stream("GET", "/events") as exchange:
        assert await exchange.next_chunk() == b"data: a\n\n"
        with pytest.raises(ResponseAborted, match="emitter broke"):
            await exchange.finish()


@pytest.mark.parametrize(
    ("sse", "status"),
    [
        pytest.param(lambda: sse_function, 500, id="generator-function-not-called"),
        pytest.param(lambda: [SSEvent(text="x")], 500, id="sync-iterable"),
    ],
)
async def test_sse_misuse_is_a_500_before_the_response_starts(sse: Any, status: int) -> None:
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.sse = sse()

    route(app, "/events", responder)
    result = await ASGIDriver(app).get("/events")
    assert result.status == status


async def sse_function() -> AsyncIterator[SSEvent]:
    yield SSEvent(text="x")  # pragma: no cover - never iterated


async def test_sse_bad_item_and_bad_serialize_abort() -> None:
    class BadSerialize:
        def serialize(self) -> str:
            return "not bytes"

    for item, message in ((42, "yielded int"), (BadSerialize(), "must return bytes")):
        app = App()

        async def emitter(item: object = item) -> AsyncIterator[object]:
            yield item

        async def responder(req: Request, resp: Response, emitter: Any = emitter) -> None:
            resp.sse = emitter()

        route(app, "/events", responder)
        async with ASGIDriver(app).stream("GET", "/events") as exchange:
            with pytest.raises(ResponseAborted, match=message):
                await exchange.finish()


async def test_sse_keepalive_must_be_positive() -> None:
    app = App(sse_keepalive=0)

    async def emitter() -> AsyncIterator[SSEvent]:
        yield SSEvent(text="x")  # pragma: no cover - never iterated

    async def responder(req: Request, resp: Response) -> None:
        resp.sse = emitter()

    route(app, "/events", responder)
    assert (await ASGIDriver(app).get("/events")).status == 500


# -- push -----------------------------------------------------------------------------------------


async def test_push_is_sent_after_start_and_before_the_body() -> None:
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        assert resp.push("/style.css", {"accept": "text/css"})
        assert resp.push("/app.js?v=2")
        resp.text = "page"

    route(app, "/page", responder)
    driver = ASGIDriver(app, extensions=PUSH)
    result = await driver.get("/page", headers=[("user-agent", "ua/1"), ("x-private", "no")])
    kinds = [m["type"] for m in result.sent()]
    assert kinds == [
        "http.response.start",
        "http.response.push",
        "http.response.push",
        "http.response.body",
    ]
    assert result.pushes[0] == {
        "type": "http.response.push",
        "path": "/style.css",
        "headers": [(b"user-agent", b"ua/1"), (b"accept", b"text/css")],
    }
    assert result.body == b"page"


async def test_push_on_a_streamed_response() -> None:
    app = App()

    async def body() -> AsyncIterator[bytes]:
        yield b"streamed"

    async def responder(req: Request, resp: Response) -> None:
        resp.push("/a.js")
        resp.stream = body()

    route(app, "/page", responder)
    result = await ASGIDriver(app, extensions=PUSH).get("/page")
    assert [m["path"] for m in result.pushes] == ["/a.js"]
    assert result.body == b"streamed"


async def test_push_without_the_extension_sends_nothing_and_reports_it() -> None:
    app = App()
    pushed: list[bool] = []

    async def responder(req: Request, resp: Response) -> None:
        pushed.append(resp.push("/a.js"))
        resp.text = "page"

    route(app, "/page", responder)
    result = await ASGIDriver(app, extensions={}).get("/page")
    assert pushed == [False]
    assert result.pushes == []
    assert result.body == b"page"


# -- full duplex and unread bodies ----------------------------------------------------------------


async def test_full_duplex_echo_streams_while_the_body_arrives() -> None:
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        stream = req.stream

        async def echo() -> AsyncIterator[bytes]:
            async for chunk in stream:
                yield chunk.upper()

        resp.stream = echo()

    route(app, "/echo", responder, ("POST",))
    driver = ASGIDriver(app)
    async with driver.stream("POST", "/echo", body=[b"ab"], body_complete=False) as exchange:
        assert await exchange.next_chunk() == b"AB"
        exchange.send_body(b"cd")
        assert await exchange.next_chunk() == b"CD"
        exchange.send_body(b"ef", more_body=False)
        assert await exchange.next_chunk() == b"EF"
        assert await exchange.next_chunk() is None
        result = await exchange.finish()
    assert result.body == b"ABCDEF"


async def test_full_duplex_client_disconnect_mid_body_ends_quietly() -> None:
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        stream = req.stream

        async def echo() -> AsyncIterator[bytes]:
            async for chunk in stream:
                yield chunk

        resp.stream = echo()

    route(app, "/echo", responder, ("POST",))
    driver = ASGIDriver(app)
    async with driver.stream("POST", "/echo", body=[b"ab"], body_complete=False) as exchange:
        assert await exchange.next_chunk() == b"ab"
        exchange.disconnect()
        result = await exchange.finish()
    assert result.disconnected


async def test_an_unread_body_does_not_hide_a_disconnect_during_a_stream() -> None:
    probe = Probe()
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = gated_stream(probe, 5)

    route(app, "/s", responder, ("POST",))
    driver = ASGIDriver(app)
    async with driver.stream("POST", "/s", body=[b"x" * 10, b"y" * 10], body_complete=False) as ex:
        probe.gate.set()
        assert await ex.next_chunk() == b"chunk 0\n"
        ex.send_body(b"z", more_body=False)
        ex.disconnect()
        async with asyncio.timeout(1):
            await probe.finalized.wait()


async def test_the_server_cancelling_the_app_finalizes_the_stream() -> None:
    """Daphne cancels the app coroutine; the generator must still be finalized."""
    probe = Probe()
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = gated_stream(probe, 5)

    route(app, "/s", responder)
    async with ASGIDriver(app).stream("GET", "/s") as exchange:
        probe.gate.set()
        assert await exchange.next_chunk() == b"chunk 0\n"
        assert exchange.task is not None
        exchange.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await exchange.task
    assert probe.finalized.is_set()


async def test_media_that_cannot_be_serialized_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.media = {"not json": object()}

    route(app, "/m", responder)
    with caplog.at_level(logging.ERROR, "reference_app"):
        result = await ASGIDriver(app).get("/m")
    assert result.status == 500
    assert "not JSON serializable" in caplog.text


async def test_a_producer_that_never_awaits_still_stops_after_a_disconnect() -> None:
    """After a disconnect every server's send() returns without suspending
    (docs/server-behaviour.md#send-after-disconnect-is-a-no-op).

    A generator that never awaits would then spin the event loop forever, starving the task
    that receives ``http.disconnect``; the pump must yield to the loop between chunks.
    """
    probe = Probe()
    app = App()

    async def flood() -> AsyncIterator[bytes]:
        try:
            while True:
                probe.produced += 1
                yield b"x" * 1024
        finally:
            probe.finalized.set()

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = flood()

    route(app, "/flood", responder)
    async with ASGIDriver(app).stream("GET", "/flood") as exchange:
        assert await exchange.next_chunk() == b"x" * 1024
        exchange.disconnect()
        async with asyncio.timeout(2):
            await probe.finalized.wait()
    assert probe.produced < 100_000


@pytest.mark.parametrize("kind", ["stream", "sse", "rendered"])
async def test_send_raising_oserror_after_a_disconnect_is_a_quiet_disconnect(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """ASGI HTTP spec 2.4: send() on a closed connection should raise an OSError subclass.

    The framework treats it as the client leaving: no error is logged, the body source is
    closed, and the app returns normally; an OSError of the app's own stays an error.
    """
    source = IteratorWithClose([b"a", b"b"] if kind == "stream" else [SSEvent(text="a")])
    app = App()
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    async def responder(req: Request, resp: Response) -> None:
        resp.schedule(job)
        if kind == "stream":
            resp.stream = source
        elif kind == "sse":
            resp.sse = source
        else:
            resp.text = "hello"

    route(app, "/x", responder)
    driver = ASGIDriver(app, send_raises_after_disconnect=True)
    with caplog.at_level(logging.WARNING, "reference_app"):
        async with driver.stream("GET", "/x") as exchange:
            exchange.disconnect()  # before the app sends anything
            result = await exchange.finish()
    assert result.disconnected
    assert caplog.records == []
    if kind != "rendered":
        assert source.closed == 1
    async with asyncio.timeout(2):
        await ran.wait()  # the responder succeeded: its jobs run (the response ended)


class SlowClose(IteratorWithClose):
    """A close() that awaits several times, like aiofiles closing in a thread."""

    def __init__(self, items: list[Any]) -> None:
        super().__init__(items)
        self.finished = 0

    async def close(self) -> None:
        self.closed += 1
        for _ in range(3):
            await asyncio.sleep(0)
        self.finished += 1


async def test_close_completes_after_a_normal_end_even_as_the_disconnect_arrives() -> None:
    """After the final body every server delivers http.disconnect at once
    (docs/server-behaviour.md#disconnect-after-response).

    The watcher must not cut short a close() still running for a complete response.
    """
    source = SlowClose([b"a", b"b"])
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = source

    route(app, "/s", responder)
    result = await ASGIDriver(app).get("/s")
    assert result.body == b"ab"
    assert (source.closed, source.finished) == (1, 1)


@pytest.mark.parametrize("winner", ["text", "data", "media", "sse"])
async def test_a_stream_that_loses_to_another_body_is_closed(winner: str) -> None:
    loser = IteratorWithClose([b"never"])
    app = App()

    async def events() -> AsyncIterator[SSEvent]:
        yield SSEvent(text="won")

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = loser
        if winner == "text":
            resp.text = "won"
        elif winner == "data":
            resp.data = b"won"
        elif winner == "media":
            resp.media = "won"
        else:
            resp.sse = events()

    route(app, "/w", responder)
    result = await ASGIDriver(app).get("/w")
    assert b"won" in result.body
    assert (loser.closed, loser.items) == (1, [b"never"])


async def test_304_keeps_the_length_the_app_set_and_sends_no_body() -> None:
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.status = 304
        resp.set_header("content-length", "1234")
        resp.text = "ignored"

    route(app, "/n", responder)
    result = await ASGIDriver(app).get("/n")
    assert (result.status, result.body, result.header_list("content-length")) == (
        304,
        b"",
        ["1234"],
    )


async def test_media_no_handler_can_serialize_is_a_500_not_a_415(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.content_type = "text/html"
        resp.media = {"x": 1}

    route(app, "/m", responder)
    with caplog.at_level(logging.ERROR, "reference_app"):
        result = await ASGIDriver(app).get("/m")
    assert result.status == 500
    assert "no media handler serializes 'text/html'" in caplog.text


# -- a server that refuses what is sent ----------------------------------------------------------


def refusing(app: Any, after: int, error: Exception) -> tuple[Any, list[Message]]:
    """An ASGI wrapper whose send() takes ``after`` messages, then raises ``error`` for good,
    as uvicorn does once it has answered a malformed request itself."""
    sent: list[Message] = []

    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        async def refusing_send(message: Message) -> None:
            if len(sent) >= after:
                raise error
            sent.append(message)
            await send(message)

        await app(scope, receive, refusing_send)

    return wrapper, sent


@pytest.mark.parametrize("kind", ["rendered", "stream", "sse"])
@pytest.mark.parametrize("after", [0, 1], ids=["at-start", "after-start"])
async def test_a_send_that_raises_ends_the_response_with_one_warning_and_no_retry(
    kind: str, after: int, caplog: pytest.LogCaptureFixture
) -> None:
    source = IteratorWithClose([b"a", b"b"] if kind == "stream" else [SSEvent(text="a")])
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        if kind == "stream":
            resp.stream = source
        elif kind == "sse":
            resp.sse = source
        else:
            resp.text = "hello"

    route(app, "/x", responder)
    wrapped, sent = refusing(app, after, RuntimeError("Expected ASGI message 'x', but got 'y'"))
    with caplog.at_level(logging.WARNING, "reference_app"):
        async with ASGIDriver(wrapped).stream("GET", "/x") as exchange:
            assert exchange.task is not None
            async with asyncio.timeout(2):
                await exchange.task  # the app returns: nothing is raised to the server
    assert [m["type"] for m in sent] == ["http.response.start"][:after]  # no 500 tried after
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "the server refused the response (RuntimeError: Expected ASGI message" in (
        record.getMessage()
    )
    if kind != "rendered":
        assert source.closed == 1


async def test_the_outcome_is_an_enum() -> None:
    from reference_app.transmit import Outcome

    assert [outcome.name for outcome in Outcome] == ["COMPLETE", "DISCONNECTED", "REFUSED"]


async def test_a_failed_body_does_not_stop_the_watcher_from_seeing_the_disconnect() -> None:
    """The app read part of a body that then failed (413), caught it and streamed a response:
    the body messages still arriving are dropped, and the disconnect is seen."""
    probe = Probe()
    app = App(max_body_size=4)

    async def responder(req: Request, resp: Response) -> None:
        with contextlib.suppress(HTTPError):
            await req.stream.read()
        resp.stream = gated_stream(probe, 5)

    route(app, "/s", responder, ("POST",))
    driver = ASGIDriver(app)
    async with driver.stream("POST", "/s", body=[b"12345"], body_complete=False) as exchange:
        probe.gate.set()
        assert await exchange.next_chunk() == b"chunk 0\n"
        exchange.send_body(b"more")
        exchange.send_body(b"and more", more_body=False)
        await asyncio.sleep(0.01)
        exchange.disconnect()
        async with asyncio.timeout(2):
            await probe.finalized.wait()
        result = await exchange.finish()
    assert result.disconnected


async def test_a_body_read_first_during_the_stream_is_the_discarded_one() -> None:
    """The watcher's discarding stream is the request's: a producer that reads the body only
    once the response streams gets the documented error, not a second reader of receive()."""
    errors: list[BaseException] = []
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        async def late_reader() -> AsyncIterator[bytes]:
            yield b"first"
            await asyncio.sleep(0.01)  # the watcher starts
            try:
                await req.stream.read()
            except Exception as error:
                errors.append(error)
            yield b"second"

        resp.stream = late_reader()

    route(app, "/late", responder, ("POST",))
    result = await ASGIDriver(app).request("POST", "/late", body=b"unread")
    assert result.body == b"firstsecond"
    (error,) = errors
    assert "the request body was discarded" in str(error)


# -- the watcher's corners ------------------------------------------------------------------------


def slow_sends(app: Any, delay: float) -> Any:
    """An ASGI wrapper whose send() takes ``delay`` seconds, like a server flushing a socket."""

    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        async def slow_send(message: Message) -> None:
            await asyncio.sleep(delay)
            await send(message)

        await app(scope, receive, slow_send)

    return wrapper


@pytest.mark.parametrize("during", ["start", "chunk"])
async def test_a_disconnect_during_a_slow_send_stops_the_pump_when_send_returns(
    during: str,
) -> None:
    """The watcher never cancels the app inside send(): the pump sees the disconnect after it."""
    probe = Probe()
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = gated_stream(probe, 5)

    route(app, "/s", responder)
    async with ASGIDriver(slow_sends(app, 0.05)).stream("GET", "/s") as exchange:
        if during == "chunk":
            probe.gate.set()
            assert await exchange.next_chunk() == b"chunk 0\n"
            probe.gate.set()  # the next chunk is produced and its send() starts
        await asyncio.sleep(0.02)  # inside a send() now
        exchange.disconnect()
        assert exchange.task is not None
        async with asyncio.timeout(2):
            await exchange.task  # no CancelledError: the pump stopped itself
    # (a generator never started has no frame to finalize: then nothing was produced either)
    assert probe.finalized.is_set() or (during, probe.produced) == ("start", 0)
    assert probe.produced == (2 if during == "chunk" else 0)


async def test_a_producer_that_swallows_the_cancellation_is_stopped_anyway() -> None:
    produced: list[int] = []
    app = App()

    async def stubborn() -> AsyncIterator[bytes]:
        for index in range(5):
            with contextlib.suppress(asyncio.CancelledError):  # a producer that should not
                await asyncio.sleep(10)
            produced.append(index)
            yield b"x"

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = stubborn()

    route(app, "/s", responder)
    async with ASGIDriver(app).stream("GET", "/s") as exchange:
        await exchange.start()
        await asyncio.sleep(0.01)
        exchange.disconnect()
        assert exchange.task is not None
        async with asyncio.timeout(2):
            await exchange.task  # returns normally: the cancellation was ours
        assert not exchange.task.cancelled()
    assert produced == [0]  # the item it yielded after swallowing is not sent on


async def test_a_receive_that_fails_while_streaming_aborts_the_response(
    caplog: pytest.LogCaptureFixture,
) -> None:
    probe = Probe()
    app = App()

    async def responder(req: Request, resp: Response) -> None:
        resp.stream = gated_stream(probe, 5)

    route(app, "/s", responder)

    async def broken_receive(scope: Any, receive: Any, send: Any) -> None:
        async def failing() -> Message:
            raise RuntimeError("receive broke")

        await app(scope, failing, send)

    with caplog.at_level(logging.ERROR, "reference_app"):
        async with ASGIDriver(broken_receive).stream("GET", "/s") as exchange:
            with pytest.raises(ResponseAborted, match="receive broke"):
                await exchange.finish()
    assert probe.finalized.is_set()
    assert [r.message["type"] for r in exchange.records if r.direction == "send"] == [
        "http.response.start"
    ]  # aborted: no second response start
