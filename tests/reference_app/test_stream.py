"""The request body stream: bounding, chunking, disconnects, limits (and Falcon 4.4's flaws)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import pytest
from hypothesis import given, settings, strategies as st

from reference_app import (
    App,
    ClientDisconnected,
    HTTPPayloadTooLarge,
    IncompleteBodyError,
    OperationNotAllowed,
    Request,
    Response,
)
from reference_app.stream import BoundedStream
from reference_app.testing import ASGIDriver
from reference_app.types import Message


class FakeServer:
    """Delivers the given messages, then fails the test if receive() is called again."""

    def __init__(self, messages: Iterable[Message]) -> None:
        self.messages = list(messages)
        self.calls = 0

    async def receive(self) -> Message:
        self.calls += 1
        if not self.messages:
            raise AssertionError("receive() called after the last message: this would hang")
        return self.messages.pop(0)


def body(*chunks: bytes, complete: bool = True) -> list[Message]:
    return [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1 or not complete}
        for i, chunk in enumerate(chunks)
    ]


DISCONNECT: Message = {"type": "http.disconnect"}


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=2000),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
    sizes=st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=20),
    declare_length=st.booleans(),
)
def test_read_n_returns_the_body_exactly_under_any_chunking(
    data: bytes, cuts: list[int], sizes: list[int], declare_length: bool
) -> None:
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    server = FakeServer(body(*chunks))
    stream = BoundedStream(server.receive, len(data) if declare_length else None)

    async def read_all() -> bytes:
        out = bytearray()
        index = 0
        while True:
            size = sizes[index % len(sizes)]
            index += 1
            piece = await stream.read(size)
            assert len(piece) <= size  # never more than asked (Falcon's read() can)
            if not piece:
                break
            out += piece
        assert await stream.read(10) == b""  # past the end: b"", without receiving again
        return bytes(out)

    assert asyncio.run(read_all()) == data
    assert stream.eof
    assert stream.tell() == len(data)


async def test_read_never_returns_more_than_n_when_a_message_overshoots_content_length() -> None:
    """Falcon's over-CL accounting lets read(n) return more than n (Falcon 4.4)."""
    server = FakeServer(body(b"0123456789ABCDEF"))
    stream = BoundedStream(server.receive, content_length=10)
    assert await stream.read(4) == b"0123"
    assert await stream.read(100) == b"456789"
    assert await stream.read(1) == b""


async def test_bytes_past_content_length_are_never_returned() -> None:
    server = FakeServer(body(b"hello", b" world, and more", b"!"))
    stream = BoundedStream(server.receive, content_length=8)
    assert await stream.readall() == b"hello wo"
    assert server.calls == 2  # stopped receiving once Content-Length bytes had arrived
    assert await stream.read() == b""


async def test_chunked_body_is_read_until_the_last_message() -> None:
    server = FakeServer(body(b"a", b"", b"bc", b""))
    stream = BoundedStream(server.receive)
    chunks = [chunk async for chunk in stream]
    assert chunks == [b"a", b"bc"]  # empty messages are skipped
    assert stream.eof
    assert [chunk async for chunk in stream] == []  # a finished body yields nothing again


async def test_zero_content_length_never_receives() -> None:
    server = FakeServer([])
    stream = BoundedStream(server.receive, content_length=0)
    assert await stream.read() == b""
    assert await stream.read(5) == b""
    assert server.calls == 0


@pytest.mark.parametrize(
    ("messages", "length", "received"),
    [
        pytest.param([*body(b"abc", complete=False), DISCONNECT], 10, 3, id="declared-length"),
        pytest.param([*body(b"abc", complete=False), DISCONNECT], None, 3, id="chunked"),
        pytest.param([DISCONNECT], 10, 0, id="before-any-byte"),
    ],
)
async def test_disconnect_mid_body_raises_on_every_later_read(
    messages: list[Message], length: int | None, received: int
) -> None:
    """Falcon returns the partial body silently (Falcon 4.4; falconry/falcon#1808)."""
    stream = BoundedStream(FakeServer(messages).receive, length)
    with pytest.raises(ClientDisconnected) as caught:
        await stream.readall()
    assert (caught.value.received, caught.value.expected) == (received, length)
    assert stream.disconnected
    for read in (stream.read, stream.readall, stream.exhaust):
        with pytest.raises(ClientDisconnected):
            await read()


async def test_disconnect_is_raised_by_iteration_too() -> None:
    stream = BoundedStream(FakeServer([*body(b"ab", complete=False), DISCONNECT]).receive, 4)
    seen: list[bytes] = []

    async def consume() -> None:
        async for chunk in stream:
            seen.append(chunk)

    with pytest.raises(ClientDisconnected, match="after 2 of 4"):
        await consume()
    assert seen == [b"ab"]


async def test_a_body_shorter_than_content_length_is_a_400() -> None:
    stream = BoundedStream(FakeServer(body(b"abc")).receive, content_length=5)
    with pytest.raises(IncompleteBodyError) as caught:
        await stream.readall()
    assert caught.value.status == 400
    assert "Content-Length is 5 but the body ended after 3 bytes" in str(caught.value)


async def test_max_size_stops_a_chunked_body_while_it_streams() -> None:
    server = FakeServer(body(b"x" * 6, b"x" * 6, b"x" * 6, b"x" * 6))
    stream = BoundedStream(server.receive, max_size=10)
    assert await stream.read(6) == b"x" * 6
    with pytest.raises(HTTPPayloadTooLarge):
        await stream.read(6)
    assert server.calls == 2  # nothing more was received (memory stays bounded)
    with pytest.raises(HTTPPayloadTooLarge):
        await stream.read(1)


async def test_exhaust_tell_eof_and_close() -> None:
    stream = BoundedStream(FakeServer(body(b"abc", b"def")).receive, 6)
    assert not stream.eof
    assert await stream.read(2) == b"ab"
    assert stream.tell() == 2
    await stream.exhaust()
    assert stream.tell() == 6
    assert stream.eof
    stream.close()
    stream.close()  # idempotent
    assert stream.closed
    with pytest.raises(OperationNotAllowed, match="closed"):
        await stream.read()
    with pytest.raises(OperationNotAllowed):
        stream.__aiter__()


async def test_readall_keeps_what_read_left_in_the_buffer() -> None:
    stream = BoundedStream(FakeServer(body(b"abcdef", b"gh")).receive)
    assert await stream.read(2) == b"ab"
    assert await stream.read(0) == b""
    assert await stream.read(None) == b"cdefgh"


async def test_iteration_starts_with_what_read_left_in_the_buffer() -> None:
    stream = BoundedStream(FakeServer(body(b"abcdef", b"gh")).receive)
    assert await stream.read(2) == b"ab"
    assert [chunk async for chunk in stream] == [b"cdef", b"gh"]


async def test_concurrent_iteration_is_refused() -> None:
    stream = BoundedStream(FakeServer(body(b"a", b"b")).receive)
    iterator = stream.__aiter__()
    assert await iterator.__anext__() == b"a"
    with pytest.raises(OperationNotAllowed, match="already being iterated"):
        stream.__aiter__()
    assert stream.content_length is None


async def test_an_abandoned_body_cannot_be_read() -> None:
    stream = BoundedStream(FakeServer([]).receive)
    stream.abandon()
    with pytest.raises(OperationNotAllowed, match="discarded"):
        await stream.read()


# -- through the app ------------------------------------------------------------------------------


def echo_app(**options: object) -> App:
    app = App(**options)  # type: ignore[arg-type]

    @app.route("/echo", methods={"POST"})
    async def echo(req: Request, resp: Response) -> None:
        resp.data = await req.stream.read()

    @app.route("/count", methods={"POST"})
    async def count(req: Request, resp: Response) -> None:
        total = 0
        async for chunk in req.bounded_stream:
            total += len(chunk)
        resp.media = {"bytes": total}

    return app


async def test_a_chunked_body_crossing_the_limit_is_a_413() -> None:
    driver = ASGIDriver(echo_app(max_body_size=10))
    result = await driver.request("POST", "/echo", body=[b"x" * 6, b"x" * 6, b"x" * 6])
    assert result.status == 413
    assert "larger than the limit of 10 bytes" in result.json()["description"]
    assert len(result.received()) == 2  # the third message was never received


async def test_a_large_body_streams_through_iteration_without_a_limit() -> None:
    app = echo_app(max_body_size=None)
    chunks = [b"z" * 65536] * 64  # 4 MiB in 64 KiB messages
    result = await ASGIDriver(app).request("POST", "/count", body=chunks)
    assert result.json() == {"bytes": 4 * 1024 * 1024}


async def test_client_disconnect_mid_upload_is_never_a_partial_success() -> None:
    app = App()
    outcome: list[str] = []

    @app.route("/upload", methods={"POST"})
    async def upload(req: Request, resp: Response) -> None:
        try:
            await req.stream.readall()
        except ClientDisconnected as error:
            outcome.append(str(error))
            raise
        outcome.append("complete")  # pragma: no cover - must not happen

    driver = ASGIDriver(app)
    headers = [("content-length", "100")]
    async with driver.stream(
        "POST", "/upload", headers=headers, body=[b"x" * 50], body_complete=False
    ) as exchange:
        exchange.disconnect()
        await exchange.finish()
    assert outcome == ["client disconnected after 50 of 100 request body bytes"]


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


# -- the app's reads and the watcher take turns at receive() ------------------------------------


class GatedServer:
    """A receive() that blocks until the test lets the next message through; it records how
    many calls were in flight at once (never more than one may be)."""

    def __init__(self, messages: Iterable[Message]) -> None:
        self.messages = list(messages)
        self.gate = asyncio.Event()
        self.inside = 0
        self.most_inside = 0
        self.calls = 0

    async def receive(self) -> Message:
        self.calls += 1
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        try:
            await self.gate.wait()
            self.gate.clear()
            return self.messages.pop(0)
        finally:
            self.inside -= 1


async def test_the_watcher_waits_while_a_read_is_inside_receive() -> None:
    server = GatedServer([*body(b"ab", b"cd"), DISCONNECT])
    stream = BoundedStream(server.receive, None, None)
    read = asyncio.ensure_future(stream.read(10))
    await asyncio.sleep(0)  # the read is inside receive()
    watcher = asyncio.ensure_future(stream.wait_disconnect())
    await asyncio.sleep(0)
    assert server.calls == 1  # the watcher did not call receive() beside the read
    server.gate.set()
    assert await read == b"ab"
    await asyncio.sleep(0)  # now the watcher receives, and hands the body to the reader
    server.gate.set()
    assert await stream.read(10) == b"cd"
    server.gate.set()
    async with asyncio.timeout(2):
        await watcher
    assert stream.disconnected
    assert server.most_inside == 1


async def test_a_read_waits_while_the_watcher_is_inside_receive_and_gets_its_message() -> None:
    server = GatedServer([*body(b"ab", b"cd"), DISCONNECT])
    stream = BoundedStream(server.receive, None, None)
    assert stream.touched is False
    first = asyncio.ensure_future(stream.read(10))
    await asyncio.sleep(0)
    server.gate.set()
    assert await first == b"ab"  # the app has started reading: the body is wanted
    watcher = asyncio.ensure_future(stream.wait_disconnect())
    await asyncio.sleep(0)  # the watcher is inside receive()
    second = asyncio.ensure_future(stream.read(10))
    await asyncio.sleep(0)
    assert server.calls == 2  # the read waits for the watcher instead of receiving too
    server.gate.set()  # the watcher receives "cd" and hands it over
    assert await second == b"cd"
    server.gate.set()
    async with asyncio.timeout(2):
        await watcher
    assert server.most_inside == 1


async def test_a_waiting_party_that_is_cancelled_leaves_no_trace() -> None:
    server = GatedServer([*body(b"ab"), DISCONNECT])
    stream = BoundedStream(server.receive, None, None)
    reading = asyncio.ensure_future(stream.read(10))
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(stream.wait_disconnect())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    server.gate.set()
    assert await reading == b"ab"
    server.gate.set()
    async with asyncio.timeout(2):
        await stream.wait_disconnect()
    assert stream.disconnected
