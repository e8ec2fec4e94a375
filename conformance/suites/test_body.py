"""Request bodies: bounded by Content-Length, truncated, chunked, refused early, invalid, large.

ASGI HTTP spec 2.5, "Request - receive event" (``body``, ``more_body``; the server handles
chunked transfer encoding) and "Disconnect - receive event"; RFC 9112 §6.3 (message body
length), §7.1 (chunked transfer coding) and §8 (incomplete messages); RFC 9110 §8.6
(Content-Length), §10.1.1 (Expect: 100-continue) and §15.5.14 (413); RFC 9113 §8.1 and §8.1.1
(HTTP/2 request framing, malformed requests).

Every case judges with the client's view (httpx, raw HTTP/1.1 or raw HTTP/2) and the app's view:
the ``body-*`` events of ``/body/digest/{token}`` and ``/body/limited/{token}`` (see
:mod:`conformance.contract.body`), and the message recorder, which logs every ``receive`` and
``send`` message of a request carrying ``x-probe-token``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any, Final

import h2.errors
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
#: The Content-Length the early-refusal cases declare (10 MiB) and never send.
HUGE: Final = 10 * MIB
#: How long a server may take to act on what it already has (hand the app the data it got, or
#: answer from the headers alone): a few ms on a streaming server; only a failure waits it out.
PROMPT: Final = TIMEOUT * 0.4
#: How long a case watches for something that must not happen (the app called with a request
#: the server should have refused) when no event can tell that it never will.
ABSENCE: Final = TIMEOUT * 0.2


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _probe(token: str, *headers: tuple[str, str]) -> list[tuple[str, str]]:
    return [("x-probe-token", token), *headers]


# -- the app's view ----------------------------------------------------------------------------


def _requests(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``http.request`` messages the app received (from the recorder's events)."""
    return [e for e in events if e["event"] == "receive" and e["type"] == "http.request"]


def _delivered(events: Iterable[dict[str, Any]]) -> int:
    """How many body bytes the server handed the app."""
    return sum(e.get("length", 0) for e in _requests(events))


def _sent_statuses(events: Iterable[dict[str, Any]]) -> list[int]:
    """The statuses of the ``http.response.start`` messages the app sent."""
    return [
        e["status"]
        for e in events
        if e["event"] == "send" and e["type"] == "http.response.start" and "status" in e
    ]


def _one(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [e for e in events if e["event"] == name]
    assert len(found) == 1, f"the app recorded {name!r} {len(found)} times: {_names(events)}"
    return found[0]


def _names(events: Iterable[dict[str, Any]]) -> list[str]:
    return [
        f"{e['event']}:{e.get('type', '')}:{e.get('length', '')}:{e.get('more_body', '')}"
        for e in events
    ]


async def _delivered_within(observer: Observer, token: str, total: int, timeout: float) -> bool:
    """Wait until the server has handed the app ``total`` body bytes; False on the deadline."""
    deadline = time.monotonic() + timeout
    count = 1
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if not await observer.happened(token, "receive", count=count, timeout=remaining):
            return False
        events = await observer.events(token, "receive")
        if _delivered(events) >= total:
            return True
        count = len(events) + 1


def _check_whole_body(
    events: list[dict[str, Any]], body: bytes, what: str, *, declared: bool = True
) -> None:
    """The app read exactly ``body``, and the server delivered exactly it.

    A body of unknown length (``declared=False``) must end with one ``more_body=False``
    message. Of a Content-Length body the framework stops receiving once it has the
    declared bytes, so the server's closing empty message (hypercorn, granian) may never
    be received; but no ``more_body=False`` may come before the last message.
    """
    messages = _requests(events)
    assert _delivered(events) == len(body), (
        f"{what}: the server delivered {_delivered(events)} body bytes, {len(body)} were sent: "
        f"{_names(events)}"
    )
    complete = _one(events, "body-complete")
    assert complete["length"] == len(body), (
        f"{what}: the app read {complete['length']} bytes, {len(body)} were sent"
    )
    assert complete["sha256"] == _sha(body), f"{what}: the app read other bytes than were sent"
    ends = [m for m in messages if not m.get("more_body", False)]
    assert len(ends) <= 1 if declared else len(ends) == 1, (
        f"{what}: {len(ends)} messages with more_body=False: {_names(events)}"
    )
    assert not ends or messages[-1] is ends[0], (
        f"{what}: more_body=False before the end of the body: {_names(events)}"
    )


# -- a raw HTTP/2 connection that can lie about its body ---------------------------------------


def _h2(server: RunningServer) -> H2Session:
    """A raw HTTP/2 connection that sends any header block (an invalid content-length too)."""
    return H2Session(server, validate_headers=False)


async def _post(
    connection: H2Session, path: str, headers: Iterable[tuple[str, str]], *, flush: bool = True
) -> int:
    """Send the HEADERS of a POST whose body follows (``flush=False``: with the next frames)."""
    return await connection.request("POST", path, headers, end_stream=False, flush=flush)


# -- reads bounded by Content-Length -----------------------------------------------------------


#: The body sizes of ``body/read-bounded``: none, one byte, several messages' worth.
DECLARED_SIZES: Final = (0, 1, 5_003, 100_003)


@case(
    "body/read-bounded",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, Request: the body is the concatenation of the http.request messages; "
    '"if more_body is True, the consuming application should wait until it gets a chunk with '
    'this set to False"; RFC 9112 §6.3 (Content-Length)',
)
async def test_a_declared_body_arrives_exactly_and_is_ended(server: RunningServer) -> None:
    """ASGI HTTP 2.5 "Request": a Content-Length body arrives exactly, ended by more_body=False.

    Server behaviour judged: the ``http.request`` messages of a body of 0, 1, 5 003 and
    100 003 declared bytes carry exactly those bytes, and the last of them (and only it) says
    ``more_body=False``. The raw receiver (``/raw/body/receive``) calls ``receive()`` until
    that message comes, never stopping at the declared length as a framework does: a server
    that delivers every byte but never ends the body leaves it waiting, and the case says so.
    Any split into messages, and empty messages, are allowed. Fails under the breaks
    ``lost-body-bytes``, ``extra-body-bytes`` and ``no-final-more-body``.
    """
    async with Observer(server) as observer:
        for size in DECLARED_SIZES:
            body = pattern(size)
            token = new_token()
            async with http_client(server, timeout=PROMPT) as client:
                try:
                    response = await client.post(
                        "/raw/body/receive", content=body, headers=_probe(token)
                    )
                except httpx.ReadTimeout:
                    response = None
            events = await observer.events(token)
            what = f"a {size}-byte body"
            ends = [m for m in _requests(events) if not m.get("more_body", False)]
            if response is None:
                assert _delivered(events) != size or ends, (
                    f"{what}: the server delivered all {size} declared bytes but never ended the "
                    f"body with more_body=False: {_names(events)}"
                )
                raise AssertionError(f"{what}: no response within {PROMPT} s: {_names(events)}")
            assert response.status_code == 200, f"{what}: {response.status_code} {response.text}"
            assert _delivered(events) == size, (
                f"{what}: the server delivered {_delivered(events)} body bytes: {_names(events)}"
            )
            complete = _one(events, "body-complete")
            assert (complete["length"], complete["sha256"]) == (size, _sha(body)), (
                f"{what}: the app read other bytes than were sent"
            )
            assert len(ends) == 1, f"{what}: {len(ends)} messages with more_body=False"


@case(
    "body/more-than-declared",
    grade=Grade.REQUIRED,
    clause="RFC 9112 §6.3: Content-Length delimits the request; the rest is the next request",
)
async def test_bytes_past_the_content_length_are_not_body(server: RunningServer) -> None:
    """RFC 9112 §6.3: a client sending 21 bytes under Content-Length 10 has sent a 10-byte body.

    The app must see exactly 10 bytes and its response must reach the client; the 11 extra
    bytes (``GARBAGE``, an empty line) are the start of the next request, which the server
    may refuse with a 4xx or by closing the connection, but never hand to the app.

    Server behaviour judged: Content-Length delimits the body the app gets, and the app's
    response is not replaced. Fails on uvicorn-httptools
    (docs/server-behaviour.md#uvicorn-httptools-extra-bytes-400) and under
    ``lost-body-bytes`` and ``extra-body-bytes``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    token = new_token()
    body, extra = pattern(10), b"GARBAGE\r\n\r\n"
    async with Observer(server) as observer, RawHTTP1(server) as connection:
        await connection.send(
            request_bytes(
                "POST",
                f"/body/digest/{token}",
                server.authority,
                _probe(token, ("content-length", "10")),
                body + extra,
            )
        )
        await observer.wait(token, "body-end")
        events = await observer.events(token)
        _check_whole_body(events, body, "CL 10, 21 bytes sent")
        assert _sent_statuses(events) == [200], f"the app answered {_sent_statuses(events)}"
        first = await connection.response()
        assert first.status == 200, (
            f"the app's 200 to the 10 declared bytes did not reach the client: the server "
            f"answered {first.status} instead\n{connection.transcript.render()}"
        )
        assert json.loads(first.body)["length"] == 10, first.body
        try:
            follow = await connection.response()
        except ConnectionError:
            return  # the server refused the garbage by closing: allowed
        except TimeoutError:
            raise AssertionError(
                f"the server neither refused the extra bytes nor closed the connection\n"
                f"{connection.transcript.render()}"
            ) from None
        assert 400 <= follow.status < 500, (
            f"the extra bytes were answered {follow.status}\n{connection.transcript.render()}"
        )


@case(
    "body/more-than-declared-h2",
    grade=Grade.REQUIRED,
    clause="RFC 9113 §8.1.1: DATA beyond content-length is malformed: stream error PROTOCOL_ERROR",
    requires=[Capability.HTTP2],
)
async def test_h2_data_beyond_the_content_length_is_a_protocol_error(
    server: RunningServer,
) -> None:
    """RFC 9113 §8.1.1: content-length 10 with 20 bytes of DATA is a malformed request.

    The server must treat it as a stream error of type PROTOCOL_ERROR (or, RFC 9113 §5.4.1,
    a connection error): no response, and the app never completes a body from it.

    Server behaviour judged: the server validates DATA against content-length (RFC 9113
    §8.1.1). Fails under the wire break ``h2-content-length-ignored``.
    """
    await _malformed_h2_body(server, declared=10, sent=20)


async def _malformed_h2_body(server: RunningServer, *, declared: int, sent: int) -> None:
    """HEADERS with content-length ``declared`` and ``sent`` bytes of DATA with END_STREAM.

    The frames go in one write, as a client sends a small request, so a server may reject
    the stream before it calls the app. (Waiting for the app before sending the DATA makes
    hypercorn over TLS hang the app task for good in its final send(), and then never stop
    gracefully: see the report of this family; not this case's business.)
    """
    token = new_token()
    async with Observer(server) as observer, _h2(server) as connection:
        sid = await _post(
            connection,
            f"/body/digest/{token}",
            _probe(token, ("content-length", str(declared))),
            flush=False,
        )
        await connection.send_data(sid, pattern(sent), end_stream=True)
        await connection.until(connection.finished(sid))
        stream = connection.streams[sid]
        assert not 200 <= stream.status < 300, (
            f"the malformed request was answered {stream.status}: {connection.result.describe()}"
        )
        protocol_error = h2.errors.ErrorCodes.PROTOCOL_ERROR
        assert protocol_error in (stream.reset, connection.goaway), (
            f"no PROTOCOL_ERROR for the malformed request: {connection.result.describe()}"
        )
        events = await _settled(observer, token)
    assert not [e for e in events if e["event"] == "body-complete"], (
        f"the app completed a body from a malformed request: {_names(events)}"
    )


async def _settled(observer: Observer, token: str) -> list[dict[str, Any]]:
    """The events of ``token`` once every call of the app under it has ended.

    If the app has not been called, a call that may still come is watched for during
    :data:`ABSENCE` (the pass condition is then that none comes).
    """
    await observer.happened(token, "body-start", timeout=ABSENCE)
    starts = len(await observer.events(token, "body-start"))
    if starts:
        await observer.wait(token, "body-end", count=starts)
    return await observer.events(token)


# -- a client that sends less than it declared ----------------------------------------------


@case(
    "body/less-than-declared",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, Disconnect; RFC 9112 §8: an incomplete request is not a request",
)
async def test_a_truncated_body_is_an_error_never_a_short_body(server: RunningServer) -> None:
    """ASGI HTTP 2.5 "Disconnect": 50 of 100 declared bytes, then FIN: the app sees an error.

    A server that calls the app before the body is complete must end it with
    ``http.disconnect`` (the app raises ``ClientDisconnected``), never with
    ``more_body=False`` after 50 bytes. A server that buffers the whole body first (daphne)
    passes only if it never calls the app with the partial body: the case then checks that
    the request never reached the app, and that a complete request of the same shape does
    (so the absence is not the observation channel's).

    Server behaviour judged: a truncated body is an ``http.disconnect``, never a short
    complete body. Fails under ``truncated-body-completes``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    body = pattern(100)
    async with Observer(server) as observer:
        control = new_token()
        async with RawHTTP1(server) as connection:
            await connection.send(
                request_bytes(
                    "POST",
                    f"/body/digest/{control}",
                    server.authority,
                    _probe(control, ("content-length", "100")),
                    body,
                )
            )
            answer = await connection.response()
        _check_whole_body(await observer.events(control), body, "the complete control request")
        assert answer.status == 200, f"the complete control request was answered {answer.status}"

        token = new_token()
        async with RawHTTP1(server) as connection:
            await connection.send(
                request_bytes(
                    "POST",
                    f"/body/digest/{token}",
                    server.authority,
                    _probe(token, ("content-length", "100")),
                    body[:50],
                )
            )
            # A streaming server hands the app the 50 bytes at once: the FIN then comes while
            # the app waits for the rest. A buffering server never calls the app.
            streaming = await _delivered_within(observer, token, 50, PROMPT)
            connection.shutdown_write()
            reply = await _read_until_closed(connection)
        events = await _settled(observer, token)
    assert not [e for e in events if e["event"] == "body-complete"], (
        f"the app completed a truncated body: {_names(events)}"
    )
    if streaming or [e for e in events if e["event"] == "body-start"]:
        ends = [m for m in _requests(events) if not m.get("more_body", False)]
        assert not ends, f"the truncated body was ended with more_body=False: {_names(events)}"
        error = _one(events, "body-error")
        assert error["error"] == "ClientDisconnected", error
        assert error["received"] == _delivered(events), error
        assert not streaming or error["received"] == 50, error
    # Else the server never handed the truncated request to the app (daphne buffers bodies);
    # the control request proved that the app and the recorder would have seen it.
    assert not reply.startswith(b"HTTP/1.1 2"), (
        f"the truncated request was answered with success: {reply[:200]!r}"
    )


async def _read_until_closed(connection: RawHTTP1) -> bytes:
    """What the server sends until it closes, or until :data:`TIMEOUT` if it never does."""
    with contextlib.suppress(TimeoutError):
        return await connection.expect_closed()
    return b"".join(d for _, direction, d in connection.transcript.entries if direction == "in")


@case(
    "body/less-than-declared-h2",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, Disconnect; RFC 9113 §8.1: RST_STREAM cancels the request",
    requires=[Capability.HTTP2],
)
async def test_h2_a_cancelled_body_is_an_error_never_a_short_body(server: RunningServer) -> None:
    """ASGI HTTP 2.5 "Disconnect": 50 of 100 declared bytes, then RST_STREAM(CANCEL).

    The app must see ``http.disconnect`` in the middle of its body (``ClientDisconnected``),
    never a body ended by ``more_body=False`` after 50 bytes. A server that buffers the whole
    body before it calls the app (daphne) passes only if it never calls the app with the
    cancelled one.

    Server behaviour judged: RST_STREAM mid-body is an ``http.disconnect``. Fails under
    ``truncated-body-completes-h2``.
    """
    token = new_token()
    async with Observer(server) as observer, _h2(server) as connection:
        sid = await _post(
            connection, f"/body/digest/{token}", _probe(token, ("content-length", "100"))
        )
        await connection.send_data(sid, pattern(50))
        streaming = await _delivered_within(observer, token, 50, PROMPT)
        await connection.reset(sid)
        events = await _settled(observer, token)
    assert not [e for e in events if e["event"] == "body-complete"], (
        f"the app completed a cancelled body: {_names(events)}"
    )
    if streaming or [e for e in events if e["event"] == "body-start"]:
        ends = [m for m in _requests(events) if not m.get("more_body", False)]
        assert not ends, f"the cancelled body was ended with more_body=False: {_names(events)}"
        error = _one(events, "body-error")
        assert error["error"] == "ClientDisconnected", error
        assert error["received"] == _delivered(events), error
        assert not streaming or error["received"] == 50, error


@case(
    "body/short-end-stream-h2",
    grade=Grade.REQUIRED,
    clause="RFC 9113 §8.1.1: END_STREAM before content-length bytes is malformed: PROTOCOL_ERROR",
    requires=[Capability.HTTP2],
)
async def test_h2_end_stream_before_the_content_length_is_a_protocol_error(
    server: RunningServer,
) -> None:
    """RFC 9113 §8.1.1: content-length 100, 50 bytes of DATA, END_STREAM: a malformed request.

    The server must treat it as a stream error of type PROTOCOL_ERROR (or a connection
    error); the app must never complete a 50-byte body from it.

    Server behaviour judged: the server validates END_STREAM against content-length (RFC
    9113 §8.1.1). Fails under the wire break ``h2-content-length-ignored``.
    """
    await _malformed_h2_body(server, declared=100, sent=50)


# -- chunked uploads ---------------------------------------------------------------------------


@case(
    "body/chunked-dechunked",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, Request: the server handles chunked transfer encoding; RFC 9112 §7.1",
)
async def test_a_body_of_unknown_length_arrives_exactly(server: RunningServer) -> None:
    """ASGI HTTP 2.5: a body without Content-Length (chunked, or HTTP/2 DATA) arrives exactly.

    httpx sends a generator's chunks with ``Transfer-Encoding: chunked`` over HTTP/1.1 and as
    DATA frames over HTTP/2; the app sees the de-chunked bytes, ended by ``more_body=False``.

    Server behaviour judged: de-chunking, and the body's end. Fails under
    ``lost-body-bytes``, ``extra-body-bytes`` and ``no-final-more-body``.
    """
    sizes = (1, 7, 4096, 65536, 100_000, 3)
    body = pattern(sum(sizes))

    async def chunks() -> AsyncIterator[bytes]:
        offset = 0
        for size in sizes:
            yield body[offset : offset + size]
            offset += size

    token = new_token()
    async with http_client(server) as client, Observer(server) as observer:
        response = await client.post(
            f"/body/digest/{token}", content=chunks(), headers=_probe(token)
        )
        _check_whole_body(
            await observer.events(token), body, "a generator's chunks", declared=False
        )
        assert response.status_code == 200, f"{response.status_code} {response.text}"
        assert response.json()["sha256"] == _sha(body), "the app read other bytes than were sent"


@case(
    "body/chunked-raw",
    grade=Grade.REQUIRED,
    clause="RFC 9112 §7.1: chunk sizes in hex, chunk extensions ignored, trailer section",
)
async def test_a_hand_chunked_body_is_dechunked(server: RunningServer) -> None:
    """RFC 9112 §7.1: hex chunk sizes (either case), extensions and a trailer: exact body.

    A recipient must ignore unrecognized chunk extensions (§7.1.1) and may discard trailer
    fields (§7.1.2); the app sees only the chunk data.

    Server behaviour judged: RFC 9112 §7.1 chunk parsing. Fails under ``lost-body-bytes``,
    ``extra-body-bytes`` and ``no-final-more-body``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    body = pattern(300)
    wire = (
        b"1A\r\n"
        + body[:26]
        + b"\r\nff;name=value\r\n"
        + body[26:281]
        + b'\r\n13;quoted="a b"\r\n'
        + body[281:]
        + b"\r\n0\r\nx-checksum: 1\r\n\r\n"
    )
    token = new_token()
    async with Observer(server) as observer, RawHTTP1(server) as connection:
        await connection.send(
            request_bytes(
                "POST",
                f"/body/digest/{token}",
                server.authority,
                _probe(token, ("transfer-encoding", "chunked")),
                wire,
            )
        )
        response = await connection.response()
        assert response.status == 200, f"{response.status} {response.body!r}"
        _check_whole_body(await observer.events(token), body, "a hand-chunked body", declared=False)


@case(
    "body/chunks-streamed",
    grade=Grade.INFORMATIONAL,
    clause='ASGI HTTP 2.5, Request: "the body message serves as a way to stream large incoming '
    'HTTP bodies in chunks" (allowed, not required)',
)
async def test_each_chunk_reaches_the_app_before_the_next_is_sent(server: RunningServer) -> None:
    """ASGI HTTP 2.5 "Request": the first bytes of a body reach the app before the rest is sent.

    The client sends 5, 10 and 20 bytes, each only once the app has received everything
    before it, so a server that holds the body until it is complete never lets the upload
    go on (daphne: docs/server-behaviour.md#daphne-no-backpressure). How the server splits
    the bytes into ``http.request`` messages is its own business (TCP keeps no boundaries, and
    the ASGI spec fixes none): only that they arrived, and the whole body in the end, is
    judged. Informational: the spec lets a server stream the body ("a way to stream large
    incoming HTTP bodies in chunks"), it does not require it. Server behaviour judged: the
    body is streamed to the app. Fails under the break ``body-before-app``.
    """
    body = pattern(35)
    cuts = (0, 5, 15, 35)
    token = new_token()
    async with http_client(server) as client, Observer(server) as observer:

        async def chunks() -> AsyncIterator[bytes]:
            for start, end in itertools.pairwise(cuts):
                yield body[start:end]
                if end < len(body) and not await _delivered_within(observer, token, end, PROMPT):
                    raise AssertionError(
                        f"the app got nothing of the first {end} bytes before the rest was "
                        f"sent: the server holds the body back"
                    )

        response = await client.post(
            f"/body/digest/{token}", content=chunks(), headers=_probe(token)
        )
        assert response.status_code == 200, f"{response.status_code} {response.text}"
        events = await observer.events(token)
    _check_whole_body(events, body, "three chunks", declared=False)


# -- refused before the body is sent -----------------------------------------------------------


@case(
    "body/limit-413-before-body",
    grade=Grade.RECOMMENDED,
    clause="RFC 9110 §15.5.14: 413 may be sent before the content; ASGI HTTP 2.5, Request",
)
async def test_a_body_over_the_limit_is_refused_before_it_is_sent(server: RunningServer) -> None:
    """RFC 9110 §15.5.14: a declared 10 MiB body over a 1 KiB limit gets 413 from headers alone.

    The client sends the headers and no body: the app must be called with the headers, answer
    413 without calling ``receive()`` (no ``http.request`` reaches it), and the client must get
    the 413 without having sent a byte of the body.

    Server behaviour judged: the app is called on the headers, before the body. Fails on
    daphne (docs/server-behaviour.md#daphne-no-backpressure) and under ``body-before-app``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    token = new_token()
    async with Observer(server) as observer, RawHTTP1(server) as connection:
        await connection.send(
            request_bytes(
                "POST",
                f"/body/limited/{token}",
                server.authority,
                _probe(token, ("content-length", str(HUGE))),
            )
        )
        try:
            response = await connection.response(PROMPT)
        except TimeoutError:
            raise AssertionError(
                f"no response to the headers alone within {PROMPT} s: the server waits for the "
                f"{HUGE}-byte body before calling the app\n{connection.transcript.render()}"
            ) from None
        events = await observer.events(token)
    _check_refused(response.status, response.informational, events)


def _check_refused(status: int, informational: list[int], events: list[dict[str, Any]]) -> None:
    assert not informational, f"the server sent {informational} before the final response"
    assert status == 413, f"the client got {status}, not 413"
    assert _sent_statuses(events) == [413], f"the app sent {_sent_statuses(events)}"
    assert not _requests(events), (
        f"the app received {len(_requests(events))} http.request messages "
        f"({_delivered(events)} body bytes) before refusing"
    )


@case(
    "body/limit-413-before-body-h2",
    grade=Grade.RECOMMENDED,
    clause="RFC 9110 §15.5.14; RFC 9113 §8.1: a response may complete before the request",
    requires=[Capability.HTTP2],
)
async def test_h2_a_body_over_the_limit_is_refused_before_it_is_sent(
    server: RunningServer,
) -> None:
    """RFC 9110 §15.5.14: HEADERS declaring 10 MiB, no DATA: the 413 comes from headers alone.

    Server behaviour judged: the app is called on the HEADERS frame, before any DATA. Fails
    under ``body-before-app-h2``.
    """
    await _h2_refused_from_headers(server, (), "no response to the HEADERS alone")


#: RFC 9110 §10.1.1, which lets a server answer Expect: 100-continue either way.
EXPECT_CLAUSE: Final = (
    'RFC 9110 §10.1.1: a server "MUST either send an immediate response with a final status '
    "code, if that status can be determined by examining just the request line and header "
    'fields, or send an immediate 100 (Continue) response": either is conformant'
)


@case(
    "body/expect-100-refused",
    grade=Grade.INFORMATIONAL,
    clause=EXPECT_CLAUSE,
)
async def test_an_expect_continue_request_over_the_limit_gets_413_without_100(
    server: RunningServer,
) -> None:
    """RFC 9110 §10.1.1: ``Expect: 100-continue`` over the limit: 413 and no 100 before it.

    The 100 invites a body the app is about to refuse. A server that sends it only on the
    app's first ``receive()`` (uvicorn, granian) lets the framework, which never calls
    ``receive()`` before answering 413, refuse cleanly; a server that sends an immediate 100
    (hypercorn, daphne) is just as conformant (RFC 9110 §10.1.1 allows either), so this is
    informational: it records which way the server goes. Fails under the break
    ``body-before-app`` (no final response to the headers alone).
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    token = new_token()
    async with Observer(server) as observer, RawHTTP1(server) as connection:
        await connection.send(
            request_bytes(
                "POST",
                f"/body/limited/{token}",
                server.authority,
                _probe(token, ("content-length", str(HUGE)), ("expect", "100-continue")),
            )
        )
        try:
            response = await connection.response(PROMPT)
        except TimeoutError:
            received = b"".join(d for _, w, d in connection.transcript.entries if w == "in")
            continued = b" 100" in received.split(b"\r\n", 1)[0]
            raise AssertionError(
                f"no final response within {PROMPT} s"
                + (" after a 100 Continue" if continued else "")
                + f"\n{connection.transcript.render()}"
            ) from None
        events = await observer.events(token)
    _check_refused(response.status, response.informational, events)


@case(
    "body/expect-100-refused-h2",
    grade=Grade.INFORMATIONAL,
    clause=EXPECT_CLAUSE + "; RFC 9113 §8.1",
    requires=[Capability.HTTP2],
)
async def test_h2_an_expect_continue_request_over_the_limit_gets_413_without_100(
    server: RunningServer,
) -> None:
    """RFC 9110 §10.1.1 over HTTP/2: ``expect: 100-continue`` over the limit: 413, no 100.

    Informational for the same reason as ``body/expect-100-refused``: an immediate 100 is
    allowed. Fails under the break ``body-before-app``.
    """
    await _h2_refused_from_headers(server, [("expect", "100-continue")], "no final response")


async def _h2_refused_from_headers(
    server: RunningServer, extra: Iterable[tuple[str, str]], missing: str
) -> None:
    """HEADERS declaring :data:`HUGE` bytes (plus ``extra``), no DATA: refused at once."""
    token = new_token()
    async with Observer(server) as observer, _h2(server) as connection:
        sid = await _post(
            connection,
            f"/body/limited/{token}",
            _probe(token, ("content-length", str(HUGE)), *extra),
        )
        try:
            await connection.until(connection.finished(sid), PROMPT)
        except TimeoutError:
            raise AssertionError(
                f"{missing} within {PROMPT} s: {connection.result.describe()}"
            ) from None
        stream = connection.streams[sid]
        events = await observer.events(token)
    _check_refused(stream.status, stream.informational, events)


@case(
    "body/unread-body-not-a-request",
    grade=Grade.REQUIRED,
    clause="RFC 9112 §9.3: a server MUST read the entire request body or close the connection",
)
async def test_an_unread_body_is_never_read_as_the_next_request(server: RunningServer) -> None:
    """RFC 9112 §9.3: the body of a request answered 413 unread is not the next request.

    The client pipelines a request declaring 2048 bytes (answered 413 without reading), its
    2048-byte body, which is itself a well-formed request for ``/body/smuggled``, and then
    ``GET /``. The server must discard the body or close the connection: the next answer is
    the index's 200, or none; a 404 for ``/body/smuggled`` means the body was run as a
    request (request smuggling).

    Server behaviour judged: an unread body is discarded (or the connection closed), never
    parsed as a request. Fails under the wire break ``body-parsed-as-request``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    head = b"GET /body/smuggled HTTP/1.1\r\nhost: x\r\nx-pad: "
    smuggled = head + b"a" * (2048 - len(head) - 4) + b"\r\n\r\n"
    token = new_token()
    async with Observer(server) as observer, RawHTTP1(server) as connection:
        await connection.send(
            request_bytes(
                "POST",
                f"/body/limited/{token}",
                server.authority,
                _probe(token, ("content-length", str(len(smuggled)))),
                smuggled,
            )
            + request_bytes("GET", "/", server.authority)
        )
        refused = await connection.response()
        try:
            follow = await connection.response()
        except ConnectionError:
            follow = None  # closed instead of reading the body: allowed
        events = await observer.events(token)
    assert follow is None or (follow.status, follow.body) == (
        200,
        b"asgi-conformance contract app",
    ), (
        f"the unread body was run as a request: the next answer was {follow.status} "
        f"{follow.body[:80]!r}\n{connection.transcript.render()}"
    )
    assert refused.status == 413, f"the limited route answered {refused.status}"
    assert _sent_statuses(events) == [413], f"the app sent {_sent_statuses(events)}"


@case(
    "body/data-after-early-response-h2",
    grade=Grade.REQUIRED,
    clause="RFC 9113 §8.1: a response may precede the end of the request; §5.1 half-closed (local)",
    requires=[Capability.HTTP2],
)
async def test_h2_data_after_an_early_response_leaves_the_connection_usable(
    server: RunningServer,
) -> None:
    """RFC 9113 §8.1 and §5.1: DATA for a stream the server already answered is no error.

    The app answers 413 from the HEADERS alone; the client then sends the body it declared
    (the stream is half-closed (local) on the server, which "can receive any type of frame"),
    unless the server reset the stream. The connection must stay usable: a next request on
    it is answered. A server that answers only once the body has arrived (daphne) has
    nothing come late; the case then sends the body first and judges only the next request.

    Server behaviour judged: DATA for a stream already answered is no connection error.
    Fails on hypercorn (https://github.com/pgjones/hypercorn/issues/329) and under the wire
    break ``late-data-hangup-body`` (the same on granian).
    """
    token = new_token()
    async with Observer(server) as observer, _h2(server) as connection:
        sid = await _post(
            connection, f"/body/limited/{token}", _probe(token, ("content-length", "2048"))
        )
        try:
            await connection.until(connection.finished(sid), PROMPT)
        except TimeoutError:
            # No answer to the HEADERS alone (the server waits for the body before it calls
            # the app, as daphne does): nothing can come late; send the body, then judge
            # only that the connection goes on serving.
            await connection.send_data(sid, pattern(2048), end_stream=True)
            await connection.until(connection.finished(sid))
        else:
            if connection.streams[sid].reset is None:
                await connection.send_data(sid, pattern(2048), end_stream=True)
        assert connection.streams[sid].status == 413, connection.result.describe()
        follow = await connection.request("GET", "/")
        await connection.until(connection.finished(follow))
        answer = connection.streams[follow]
        assert (answer.status, answer.data) == (200, b"asgi-conformance contract app"), (
            f"the next request on the connection was not answered: {connection.result.describe()}"
        )
        assert _sent_statuses(await observer.events(token)) == [413]


# -- invalid Content-Length --------------------------------------------------------------------

INVALID_LENGTHS: Final = ("abc", "-5", "1, 2")


@case(
    "body/invalid-content-length",
    grade=Grade.REQUIRED,
    clause="RFC 9112 §6.3: an invalid Content-Length in a request MUST be answered 400",
)
async def test_an_invalid_content_length_is_answered_400(server: RunningServer) -> None:
    """RFC 9112 §6.3 ¶5: Content-Length ``abc``, ``-5`` or ``1, 2``: the answer is 400.

    Either the server refuses the request, or it passes the header through and the framework
    refuses it (RFC 9110 §8.6: the value is not a non-negative integer); never a 2xx, and the
    app never completes a body.

    Server behaviour judged (with the framework as the last line): an invalid
    Content-Length is never served as a request. Fails under the wire break
    ``invalid-length-passed-through``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    async with Observer(server) as observer:
        for value in INVALID_LENGTHS:
            status, events, _, transcript = await _send_invalid_length(server, observer, value)
            assert status == 400, f"Content-Length {value!r}: answered {status}\n{transcript}"
            assert not [e for e in events if e["event"] == "body-complete"], (
                f"Content-Length {value!r}: the app completed a body: {_names(events)}"
            )


async def _send_invalid_length(
    server: RunningServer, observer: Observer, value: str
) -> tuple[int, list[dict[str, Any]], bool, str]:
    """POST with Content-Length ``value`` and no body.

    Returns the status (0 if none), the token's events, whether the server closed the
    connection within :data:`PROMPT` after its answer, and the wire transcript.
    """
    token = new_token()
    async with RawHTTP1(server) as connection:
        await connection.send(
            request_bytes(
                "POST",
                f"/body/digest/{token}",
                server.authority,
                _probe(token, ("content-length", value)),
            )
        )
        try:
            status = (await connection.response()).status
        except (ConnectionError, TimeoutError):
            status = 0
        closed = True
        if status:
            try:
                await connection.expect_closed(PROMPT)
            except TimeoutError:
                closed = False
        # If the app was called, it recorded so before the client could have an answer.
        events = await observer.events(token)
        return status, events, closed, connection.transcript.render()


@case(
    "body/invalid-content-length-server",
    grade=Grade.REQUIRED,
    clause='RFC 9112 §6.3: with an invalid Content-Length "the message framing is invalid and '
    "the recipient MUST treat it as an unrecoverable error [...] the server MUST respond with a "
    '400 (Bad Request) status code and then close the connection"',
)
async def test_the_server_itself_refuses_an_invalid_content_length(
    server: RunningServer,
) -> None:
    """RFC 9112 §6.3: an invalid Content-Length is the server's to refuse: 400, then close.

    Content-Length ``abc``, ``-5`` and ``1, 2``: the framing is unrecoverable, so the server
    must answer 400 and then close the connection, without calling the app. A server that
    passes the header through leaves the app (here the framework) to refuse it, on a
    connection whose framing nobody can know. Server behaviour judged: the server's own
    refusal. Fails under the wire break ``invalid-length-passed-through``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    async with Observer(server) as observer:
        for value in INVALID_LENGTHS:
            status, events, closed, transcript = await _send_invalid_length(server, observer, value)
            assert status == 400, f"Content-Length {value!r}: answered {status}\n{transcript}"
            assert not [e for e in events if e["event"] == "body-start"], (
                f"Content-Length {value!r}: the server passed the request to the app, which "
                f"answered {_sent_statuses(events)}"
            )
            assert closed, (
                f"Content-Length {value!r}: the connection stayed open after the 400\n{transcript}"
            )


@case(
    "body/invalid-content-length-h2",
    grade=Grade.REQUIRED,
    clause="RFC 9113 §8.1.1 and RFC 9110 §8.6: an invalid content-length is a malformed request",
    requires=[Capability.HTTP2],
)
async def test_h2_an_invalid_content_length_is_refused(server: RunningServer) -> None:
    """RFC 9113 §8.1.1: content-length ``abc``, ``-5`` or ``1, 2`` over HTTP/2 is malformed.

    The request must be refused: a stream or connection error of type PROTOCOL_ERROR, or a
    400; never a 2xx, and the app never completes a body.

    Server behaviour judged: an invalid content-length over HTTP/2 is a malformed request.
    Fails under the wire break ``h2-content-length-ignored``.
    """
    token = new_token()  # one token for the three requests: one watch for a late app call
    async with Observer(server) as observer:
        for value in INVALID_LENGTHS:
            async with _h2(server) as connection:
                sid = await _post(
                    connection, f"/body/digest/{token}", _probe(token, ("content-length", value))
                )
                await connection.send_data(sid, b"", end_stream=True)
                await connection.until(connection.finished(sid))
                stream = connection.streams[sid]
                protocol_error = h2.errors.ErrorCodes.PROTOCOL_ERROR
                refused = stream.status == 400 or protocol_error in (
                    stream.reset,
                    connection.goaway,
                )
                assert refused, (
                    f"content-length {value!r} was not refused (status {stream.status}):\n"
                    f"{connection.result.describe()}"
                )
        events = await _settled(observer, token)
    assert not [e for e in events if e["event"] == "body-complete"], (
        f"the app completed a body from a malformed request: {_names(events)}"
    )


# -- a large upload in bounded memory ----------------------------------------------------------


@case(
    "body/large-upload-bounded-memory",
    grade=Grade.RECOMMENDED,
    clause="ASGI HTTP 2.5, Request: the body is streamed in several http.request messages",
)
async def test_a_64_mib_upload_flows_in_bounded_memory(server: RunningServer) -> None:
    """ASGI HTTP 2.5 "Request": a 64 MiB upload reaches the app while the server stays small.

    The client streams it from a generator (nothing holds 64 MiB), the app digests it by
    iteration. The server's resident memory must grow by less than 32 MiB: sampled every
    4 MiB while uploading and once answered, and read as the peak (``VmHWM``, reset before
    the upload) so that a burst between samples counts too (daphne buffers the whole body,
    then queues it to the app at once: docs/server-behaviour.md#daphne-no-backpressure).

    Server behaviour judged: the server streams an upload to the app instead of holding it.
    Fails under the breaks ``body-before-app`` (as daphne), ``lost-body-bytes`` and
    ``extra-body-bytes``. On a server of its own, whose allocator keeps no memory an earlier
    case freed (memory that could absorb a held body's growth in some runs and not others).
    """
    with launch(server.spec, server.app) as fresh:
        await _upload_in_bounded_memory(fresh)


async def _upload_in_bounded_memory(server: RunningServer) -> None:
    size, piece = 64 * MIB, pattern(64 * 1024)
    sha = hashlib.sha256()
    memory = Growth(server.pid)

    async def upload() -> AsyncIterator[bytes]:
        for index in range(size // len(piece)):
            sha.update(piece)
            yield piece
            if index % 64 == 63:  # every 4 MiB
                memory.sample()

    token = new_token()
    async with http_client(server, timeout=60) as client, Observer(server) as observer:
        response = await client.post(
            f"/body/digest/{token}?mode=iter", content=upload(), headers=_probe(token)
        )
        growth = memory.largest
        assert response.status_code == 200, f"{response.status_code} {response.text}"
        assert response.json()["sha256"] == sha.hexdigest(), (
            f"the app read other bytes than were sent: the server delivered "
            f"{_delivered(await observer.events(token))} body bytes of {size}"
        )
        events = await observer.events(token)
    complete = _one(events, "body-complete")
    assert (complete["length"], complete["sha256"]) == (size, sha.hexdigest())
    assert _delivered(events) == size, f"the server delivered {_delivered(events)} bytes"
    assert growth < 32 * MIB, (
        f"the server grew by {growth // MIB} MiB during a 64 MiB upload ({memory.describe()})"
    )
