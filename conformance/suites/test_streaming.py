"""Streaming responses: flushing, finalization, memory, HEAD, disconnects and backpressure.

ASGI HTTP spec 2.5, "Response Body - send event": the server must flush the body into its send
buffer before ``send()`` returns; "Disconnect - receive event"; RFC 9110 §9.3.2 (HEAD); RFC 9112
§6 (message framing).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
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
from conformance.contract import pattern
from conformance.memory import Growth
from servers import Capability, HTTPProtocol, RunningServer, launch

from ._helpers import require_protocol

MIB: Final = 1024 * 1024
#: The app's chunk size on ``/stream/flood``.
CHUNK: Final = 64 * 1024
#: ``SO_RCVBUF`` of a client that reads nothing (the kernel doubles it).
STOPPED_RECEIVE: Final = 64 * 1024
#: ``SO_RCVBUF`` (over HTTP/2, the flow-control window) of a client that reads slowly.
SLOW_RECEIVE: Final = 256 * 1024
#: What a server may hold in its own write buffer on top of the kernel's send buffer: ample
#: for any buffer of a few chunks (the servers with backpressure hold under 1 MiB).
SERVER_ALLOWANCE: Final = 4 * MIB
#: How long a client that reads nothing waits for the app to run past the bound. Without
#: backpressure an app gets there in milliseconds; a wait that long only passes a server
#: that holds the app back.
WINDOW: Final = TIMEOUT * 0.1
#: How long a server may take to answer what it has (a few ms; only an absence waits it out).
PROMPT: Final = TIMEOUT * 0.4
#: How long the slow reader of ``streaming/large-bounded-memory`` pauses at most: enough for
#: a server without backpressure to take the rest of the stream from the app.
PAUSE: Final = TIMEOUT * 0.2


@case(
    "streaming/chunks-flushed",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, Response Body: the server must flush before send() returns",
)
async def test_each_chunk_reaches_the_client_before_the_next_is_produced(
    server: RunningServer,
) -> None:
    """ASGI HTTP 2.5 "Response Body": chunk k arrives while chunk k+1 does not exist yet.

    The app produces each chunk only when the client opens a gate, so a server (or framework)
    that held a chunk back until the next one existed would never deliver it.

    Server behaviour judged: each body message is on its way when ``send()`` returns. Fails
    under the breaks ``held-chunks`` and ``lost-message``.
    """
    token = new_token()
    async with Observer(server) as observer:
        # Chunk 0 may be produced at once: some servers hold the headers until the first body.
        await observer.release(token)
        async with (
            http_client(server) as client,
            client.stream("GET", f"/stream/gated/{token}?n=3&size=16") as response,
        ):
            assert response.status_code == 200
            chunks = response.aiter_raw()
            for index in range(3):
                received = b""
                while len(received) < 16:
                    received += await anext(chunks)
                assert received == f"{index:016d}".encode()
                produced = await observer.events(token, "produced")
                assert len(produced) == index + 1, f"the app had produced {len(produced)} chunks"
                await observer.release(token)


@case(
    "streaming/headers-before-body",
    grade=Grade.INFORMATIONAL,
    clause="ASGI HTTP 2.5, Response Start: the server may defer the start until the first body",
)
async def test_headers_are_sent_before_the_first_chunk_exists(server: RunningServer) -> None:
    """ASGI HTTP 2.5 "Response Start" allows deferring; clients of long streams want headers.

    An SSE client (EventSource ``onopen``) or a proxy sees the response only once its headers
    arrive: a server that holds them until the first body chunk delays that.

    Server behaviour judged (informational): whether the head goes out at
    ``http.response.start``; daphne and granian wait for the first body
    (docs/server-behaviour.md#deferred-response-start). Fails under ``deferred-start``.
    """
    token = new_token()
    async with http_client(server, timeout=1.0) as client, Observer(server) as observer:
        try:
            async with client.stream("GET", f"/stream/gated/{token}?n=1") as response:
                assert response.status_code == 200
                assert await observer.events(token, "produced") == []
        except httpx.ReadTimeout:
            raise AssertionError(
                "no response headers within 1 s: the server holds them until the first body"
            ) from None
        finally:
            await observer.release(token)


@case(
    "streaming/large-bounded-memory",
    grade=Grade.RECOMMENDED,
    clause="ASGI HTTP 2.5, Response Body: send() returns once the data is flushed into the "
    "send buffer (a bounded one); RFC 9112 §7.1 chunked transfer; RFC 9113 §5.2 flow control",
)
async def test_a_64_mib_stream_to_a_slow_reader_flows_in_bounded_memory(
    server: RunningServer,
) -> None:
    """A 64 MiB stream reaches a client that reads slowly, and the server stays small.

    The client reads from a socket with a small receive buffer (over HTTP/2, it opens the
    flow-control window only by what it has read): 8 MiB, then it stops reading until the app
    has handed the server the whole stream or :data:`PAUSE` has passed, then it reads the
    rest. A server with backpressure keeps the app waiting during the pause; one without it
    takes the whole remaining 56 MiB from the app and holds it in memory. The server's
    resident memory (sampled, and its peak) must grow by less than half the stream, and the
    body must arrive intact. A server that has grown so by the end of the pause has failed:
    the case ends there rather than read the stream it holds (tens of seconds of CPU on a
    server that sends what it holds slowly). Server behaviour judged: what the server
    buffers for a slow client. Fails on daphne and hypercorn's HTTP/2
    (docs/server-behaviour.md), and under a break that acknowledges every ``send()`` at once
    and queues the data.

    On a server of its own: memory that an earlier case made the server allocate and free may
    be kept by its allocator and absorb the growth, so that a server holding the stream would
    pass in some runs; a fresh server's growth is the stream's alone.
    """
    size = 64 * MIB
    bound = size // 2
    token = new_token()
    digest = hashlib.sha256()
    received = 0
    path = f"/stream/bytes?size={size}&token={token}"
    with launch(server.spec, server.app) as fresh:
        memory = Growth(fresh.pid)
        async with Observer(fresh) as observer, _slow_reader(fresh, path) as chunks:
            paused = False
            async for chunk in chunks:
                digest.update(chunk)
                received += len(chunk)
                if received % (8 * MIB) < len(chunk):
                    memory.sample()
                if not paused and received >= 8 * MIB:
                    paused = True
                    # A server without backpressure takes the rest from the app meanwhile.
                    await observer.happened(token, "done", timeout=PAUSE)
                    memory.sample()
                    if memory.largest >= bound:
                        break  # it holds the stream: judged now, the rest need not flow
        growth, described = memory.largest, memory.describe()
    assert growth < bound, (
        f"the server grew by {growth // MIB} MiB streaming 64 MiB to a slow reader ({described})"
    )
    assert received == size, f"the client received {received} of {size} bytes"
    assert digest.digest() == hashlib.sha256(pattern(size)).digest(), "the body is not intact"


@contextlib.asynccontextmanager
async def _slow_reader(server: RunningServer, path: str) -> AsyncIterator[AsyncIterator[bytes]]:
    """GET ``path`` as a client that holds little: its body, as the case reads it."""
    if server.spec.protocol is HTTPProtocol.HTTP1:
        async with RawHTTP1(server, receive_buffer=SLOW_RECEIVE) as connection:
            await connection.send(request_bytes("GET", path, server.authority))
            head = await connection.response_head()
            assert head.status == 200, f"GET {path} answered {head.status}"

            async def body() -> AsyncIterator[bytes]:
                while (chunk := await connection.body()) is not None:
                    yield chunk

            yield body()
        return
    async with H2Session(
        server, auto_acknowledge=False, window=SLOW_RECEIVE, keep_body=False
    ) as session:
        stream_id = await session.request("GET", path)
        response = await session.response(stream_id)
        assert response.status == 200, f"GET {path}: {session.result.describe()}"
        yield session.chunks(stream_id)


@case(
    "streaming/head-has-no-body",
    grade=Grade.REQUIRED,
    clause="RFC 9110 §9.3.2: the server MUST NOT send content in the response to HEAD",
)
async def test_head_on_a_streamed_response_sends_no_body(server: RunningServer) -> None:
    """HEAD of a streamed resource: headers only; the next pipelined response parses cleanly.

    Bytes after the header section would be read as the start of the next response on a
    keep-alive connection (RFC 9112 §6.3).

    Server behaviour judged: no body bytes on the wire for HEAD. Fails under the wire break
    ``head-body-leaked``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    await _head_then_pipelined_get(server, "/stream/bytes?size=30&chunk=10")


@case(
    "streaming/head-body-dropped-by-server",
    grade=Grade.REQUIRED,
    clause="RFC 9110 §9.3.2: the server MUST NOT send content in the response to HEAD",
)
async def test_the_server_drops_a_body_an_app_sends_for_head(server: RunningServer) -> None:
    """RFC 9110 §9.3.2: body chunks an app sends for HEAD never reach the wire.

    Many frameworks answer HEAD with the GET body and rely on the server to drop it; the raw
    endpoint does exactly that. The next pipelined response must parse cleanly.

    Server behaviour judged: the server drops what the app sends for HEAD. Fails on daphne
    (docs/server-behaviour.md#daphne-head-body-leaked) and under ``head-body-leaked``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    await _head_then_pipelined_get(server, "/raw/stream-chunks")


async def _head_then_pipelined_get(server: RunningServer, target: str) -> None:
    """HEAD ``target`` and GET / pipelined on one connection: both responses parse cleanly."""
    async with RawHTTP1(server) as connection:
        await connection.send(
            request_bytes("HEAD", target, server.authority)
            + request_bytes("GET", "/", server.authority)
        )
        head = await connection.response(head=True)
        assert head.status == 200
        assert head.body == b""
        try:
            follow = await connection.response()
        except Exception as error:
            raise AssertionError(
                f"the next response did not parse ({error!r}): the server sent body bytes "
                f"after the header section of the HEAD response\n{connection.transcript.render()}"
            ) from error
        assert (follow.status, follow.body) == (200, b"asgi-conformance contract app")


@case(
    "streaming/disconnect-finalizes",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, Disconnect: sent when receive() is called after the connection closed",
)
async def test_a_client_that_leaves_mid_stream_gets_the_generator_finalized(
    server: RunningServer,
) -> None:
    """A client closing mid-stream: the server delivers http.disconnect, the stream stops.

    The app's generator must be finalized within a bound, not iterated forever.

    Server behaviour judged: the client's close becomes ``http.disconnect``. Fails under
    ``no-disconnect``.
    """
    token = new_token()
    async with Observer(server) as observer:
        async with (
            http_client(server) as client,
            client.stream("GET", f"/stream/forever/{token}?interval=0.005") as response,
        ):
            await anext(response.aiter_raw())
        # The client closed its connection mid-body (httpx does not reset an HTTP/2 stream
        # when a response is closed early, so the whole connection goes).
        await observer.wait(token, "finalized", timeout=TIMEOUT)


@case(
    "streaming/backpressure",
    grade=Grade.RECOMMENDED,
    clause='ASGI HTTP 2.5, Response Body: "Protocol servers must flush any data passed to them '
    'into the send buffer before returning from a send call" (a bounded buffer: send() waits '
    "while it is full)",
)
async def test_a_client_that_stops_reading_holds_back_the_producer(server: RunningServer) -> None:
    """A client that stops reading makes send() wait: the app cannot run far ahead of it.

    The app sends 64 KiB chunks as fast as ``send()`` returns; the client reads the response
    head and then nothing, from a socket with a small receive buffer (over HTTP/2, it never
    opens the flow-control window). What the app may have handed the server by then is what
    the kernel holds for the connection plus a server's own write buffer
    (:func:`backpressure_bound`, about 8 MiB on Linux's defaults): the servers with
    backpressure stop the app at 4 to 5 MiB (hypercorn, uvicorn and granian over HTTP/1.1;
    granian over HTTP/2 at 0.4 MiB). Server behaviour judged: ``send()`` blocks while the
    client does not read. Fails on daphne and on hypercorn's HTTP/2, which take everything the
    app produces (hundreds of MiB) (docs/server-behaviour.md#daphne-no-backpressure,
    docs/server-behaviour.md#hypercorn-h2-no-backpressure), and under a break that
    acknowledges every ``send()`` at once and queues the data.
    """
    token = new_token()
    bound = backpressure_bound()
    count = bound // CHUNK + 1
    path = f"/stream/flood/{token}"
    async with Observer(server) as observer:
        if server.spec.protocol is HTTPProtocol.HTTP1:
            async with RawHTTP1(server, receive_buffer=STOPPED_RECEIVE) as connection:
                await connection.send(request_bytes("GET", path, server.authority))
                head = await connection.response_head()
                assert head.status == 200, f"GET {path} answered {head.status}"
                # Read nothing more. Without backpressure the app gets past the bound in
                # milliseconds (hundreds of MiB in half a second on daphne).
                ran_ahead = await observer.happened(token, "produced", count=count, timeout=WINDOW)
                produced = (await observer.snapshot(token))["counters"].get("produced", 0)
        else:
            async with H2Session(
                server, auto_acknowledge=False, receive_buffer=STOPPED_RECEIVE
            ) as session:
                stream_id = await session.request("GET", path)
                response = await session.response(stream_id)
                assert response.status == 200, f"GET {path}: {session.result.describe()}"
                ran_ahead = await observer.happened(token, "produced", count=count, timeout=WINDOW)
                produced = (await observer.snapshot(token))["counters"].get("produced", 0)
    assert not ran_ahead, (
        f"{produced} chunks were produced ({produced * CHUNK / MIB:.1f} MiB) for a client that "
        f"read nothing: send() never waited, past the {bound / MIB:.1f} MiB the kernel and a "
        f"server's write buffer can hold"
    )


def backpressure_bound() -> int:
    """The most an app may hand the server for a client that reads nothing (bytes).

    The kernel's send buffer of the server's socket (at most ``tcp_wmem``'s maximum, 4 MiB by
    default), plus what the client holds (:data:`STOPPED_RECEIVE`, doubled by the kernel, and
    the stream reader's buffer), plus :data:`SERVER_ALLOWANCE` for a server's own write
    buffer. Measured: the servers with backpressure stop the app at 4 to 5 MiB.
    """
    kernel = 4 * MIB
    with contextlib.suppress(OSError, ValueError, IndexError):
        kernel = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    return kernel + 4 * STOPPED_RECEIVE + SERVER_ALLOWANCE


@case(
    "streaming/early-response-keeps-connection",
    grade=Grade.REQUIRED,
    clause="RFC 9113 §8.1: a server can send a complete response before the request is complete",
    requires=[Capability.HTTP2],
)
async def test_a_response_before_the_end_of_the_request_keeps_the_connection(
    server: RunningServer,
) -> None:
    """RFC 9113 §8.1: a complete response may precede the end of the request.

    The app answers a POST without reading its body; the client's last (empty) DATA frame then
    arrives for a stream the server already finished. That frame must not break the
    connection: a request on another stream of the same connection still gets its answer.

    A server that calls the app only once the whole request has arrived (daphne) never
    answers early: the case then ends the request first, and only judges that the connection
    goes on serving.

    Server behaviour judged: a DATA frame for a finished stream is no connection error.
    Fails on hypercorn (https://github.com/pgjones/hypercorn/issues/329) and under the wire
    break ``late-data-hangup``.
    """
    token = new_token()
    async with H2Session(server) as session:
        early = await session.request("POST", f"/gate/{token}/unused", end_stream=False)
        stream = session.result.streams[early]
        try:
            await session.until_ended(early, timeout=PROMPT)
        except TimeoutError:
            # No answer before the end of the request: nothing can arrive late; end it.
            await session.send_data(early, b"", end_stream=True)
            await session.until_ended(early)
        else:
            if stream.reset is None:
                await session.send_data(early, b"", end_stream=True)
            else:
                # §8.1: the server MAY ask the client to stop sending: RST_STREAM(NO_ERROR).
                assert stream.reset == 0, f"the finished stream was reset: {stream.reset}"
        assert stream.status == 204, session.result.describe()
        try:
            later = await session.request("GET", "/")
            await session.until_ended(later)
        except ConnectionError as error:
            raise AssertionError(
                f"the connection broke after the late end of a request body: {error}"
            ) from error
        assert session.result.streams[later].status == 200
        assert session.result.streams[later].data == b"asgi-conformance contract app"
