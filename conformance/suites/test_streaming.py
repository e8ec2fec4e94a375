"""Streaming responses: flushing, finalization, memory, HEAD, disconnects and backpressure.

ASGI HTTP spec 2.5, "Response Body - send event": the server must flush the body into its send
buffer before ``send()`` returns; "Disconnect - receive event"; RFC 9110 §9.3.2 (HEAD); RFC 9112
§6 (message framing).
"""

from __future__ import annotations

import hashlib

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
from servers import Capability, HTTPProtocol, RunningServer

from ._helpers import require_protocol

MIB = 1024 * 1024


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
    "streaming/read-object-closed-once",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, Response Body: more_body=False completes the response",
)
async def test_a_read_object_is_streamed_whole_and_closed_once(server: RunningServer) -> None:
    """A body from an object with ``read()``/``close()`` arrives whole; close() runs once."""
    token = new_token()
    size = 300_000
    async with http_client(server) as client, Observer(server) as observer:
        response = await client.get(f"/stream/reader/{token}?size={size}")
        assert response.status_code == 200
        assert hashlib.sha256(response.content).digest() == hashlib.sha256(pattern(size)).digest()
        await observer.wait(token, "closed")
        assert len(await observer.events(token, "closed")) == 1


@case(
    "streaming/large-bounded-memory",
    grade=Grade.RECOMMENDED,
    clause="ASGI HTTP 2.5, Response Body: send() flushes; RFC 9112 §7.1 chunked transfer",
)
async def test_a_64_mib_stream_flows_in_bounded_memory(server: RunningServer) -> None:
    """A 64 MiB streamed body arrives intact while neither end holds more than a few MiB."""
    size = 64 * MIB
    memory = Growth(server.pid)
    received, largest = 0, 0
    digest = hashlib.sha256()
    async with (
        http_client(server, timeout=30) as client,
        client.stream("GET", f"/stream/bytes?size={size}") as response,
    ):
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            digest.update(chunk)
            received += len(chunk)
            largest = max(largest, len(chunk))
            if received % (8 * MIB) < len(chunk):
                memory.sample()
    growth = memory.largest
    assert received == size
    assert digest.digest() == hashlib.sha256(pattern(size)).digest()
    assert largest <= 4 * MIB, f"the client got a {largest} byte chunk"
    assert growth < 32 * MIB, f"the server grew by {growth // MIB} MiB ({memory.describe()})"


@case(
    "streaming/head-has-no-body",
    grade=Grade.REQUIRED,
    clause="RFC 9110 §9.3.2: the server MUST NOT send content in the response to HEAD",
)
async def test_head_on_a_streamed_response_sends_no_body(server: RunningServer) -> None:
    """HEAD of a streamed resource: headers only; the next pipelined response parses cleanly.

    Bytes after the header section would be read as the start of the next response on a
    keep-alive connection (RFC 9112 §6.3).
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
    clause="ASGI HTTP 2.5, Response Body: send() completes once the data is in the send buffer",
)
async def test_a_client_that_stops_reading_holds_back_the_producer(server: RunningServer) -> None:
    """A client that stops reading makes send() wait: the producer cannot run 64 MiB ahead.

    Without backpressure the server buffers everything the app produces (unbounded memory).
    """
    token = new_token()
    async with (
        http_client(server) as client,
        Observer(server) as observer,
        client.stream("GET", f"/stream/flood/{token}") as response,
    ):
        assert response.status_code == 200
        # Read nothing more. 1024 chunks of 64 KiB would be 64 MiB queued for this client;
        # without backpressure that takes milliseconds on loopback (daphne queues 400 chunks
        # in 4 ms, servers.md §4.4), so half a second of absence is ample.
        ran_ahead = await observer.happened(token, "produced", count=1024, timeout=0.5)
        snapshot = await observer.snapshot(token)
        produced = snapshot["counters"].get("produced", 0)
    assert not ran_ahead or produced < 1024, f"{produced} chunks were produced"


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
    """
    token = new_token()
    async with H2Session(server) as session:
        early = await session.request("POST", f"/gate/{token}/unused", end_stream=False)
        await session.until_ended(early)
        stream = session.result.streams[early]
        assert stream.status == 204
        if stream.reset is None:
            await session.send_data(early, b"", end_stream=True)
        else:
            # §8.1: the server MAY ask the client to stop sending with RST_STREAM(NO_ERROR).
            assert stream.reset == 0, f"the finished stream was reset with error {stream.reset}"
        try:
            later = await session.request("GET", "/")
            await session.until_ended(later)
        except ConnectionError as error:
            raise AssertionError(
                f"the connection broke after the late end of a request body: {error}"
            ) from error
        assert session.result.streams[later].status == 200
        assert session.result.streams[later].data == b"asgi-conformance contract app"
