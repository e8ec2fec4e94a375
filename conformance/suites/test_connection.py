"""HTTP/1.1 connection handling: Connection: close, keep-alive, pipelining, HTTP/1.0 clients.

RFC 9112 §9.3 (persistence: HTTP/1.1 connections persist unless ``close`` is said; an
HTTP/1.0 one persists only when ``keep-alive`` is asked for and honoured), §9.3.2
(pipelining: responses in the order of the requests), §9.6 (tear-down: after a request with
``Connection: close`` the server sends that response, closes, and processes nothing after it),
§6.1 (no Transfer-Encoding in a response to an HTTP/1.0 request) and §6.3 (a response without
Content-Length or chunked framing is delimited by the close).

Every case speaks raw HTTP/1.1 (:class:`conformance.client.RawHTTP1`, a transcript of every
byte) to the framework endpoints of :mod:`conformance.contract.connection`, which record each
request the server hands to the app (``served``, with its name), so a case knows which
requests the app saw, whatever the wire shows. These are HTTP/1.x matters: on HTTP/2 variants
the cases are not applicable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

import h11

from conformance.cases import Grade, case
from conformance.client import TIMEOUT, Observer, RawHTTP1, RawResponse, new_token
from conformance.contract.connection import STREAM_CHUNKS
from servers import HTTPProtocol, RunningServer

from ._helpers import require_protocol

#: How long a server may take to answer or close once it has what it needs: milliseconds on
#: every server; only a failure waits it out.
PROMPT: Final = TIMEOUT * 0.4
#: How long a case watches for something that must not happen (the app handed a request the
#: server must not process, a pipelined request processed in parallel) when no event can say
#: that it never will.
ABSENCE: Final = TIMEOUT * 0.1
#: The request body the cases send.
BODY: Final = b"hello"


def _request(
    method: str,
    target: str,
    authority: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    *,
    version: str = "HTTP/1.1",
) -> bytes:
    """A request written by hand (any version); framing only as ``headers`` say."""
    lines = [f"{method} {target} {version}", f"host: {authority}"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _echo(token: str, name: str) -> str:
    return f"/connection/echo/{token}/{name}"


def _served(events: list[dict[str, Any]]) -> list[str]:
    """The names of the requests the app was handed, in order."""
    return [str(e["name"]) for e in events if e["event"] == "served"]


async def _closed_within(connection: RawHTTP1, bound: float) -> tuple[bool, bytes]:
    """Read until the server closes or ``bound`` passes: (closed, what arrived meanwhile)."""
    received = bytearray()
    deadline = time.monotonic() + bound
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            data = await connection.recv(remaining)
        except TimeoutError:
            break
        except ConnectionError:
            return True, bytes(received)
        if not data:
            return True, bytes(received)
        received += data
    return False, bytes(received)


@dataclass(frozen=True, slots=True)
class Parsed:
    """One response parsed from raw bytes.

    Attributes:
        version: the status line's HTTP version (``"1.0"``, ``"1.1"``).
        status: the status code.
        headers: the header fields, names lowercased, in order.
        body: the body (de-chunked if chunked).
        complete: its end arrived (for a close-delimited body: the close).
    """

    version: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    complete: bool

    def header(self, name: str) -> str | None:
        """The values of header ``name`` joined with ", ", or None."""
        values = [value for key, value in self.headers if key == name]
        return ", ".join(values) if values else None

    def __str__(self) -> str:
        return f"HTTP/{self.version} {self.status} {self.headers} {self.body[:80]!r}"


def _parse(data: bytes, closed: bool) -> tuple[list[Parsed], str]:
    """The responses in ``data`` in order, and what stopped the parsing ("" at a clean end)."""
    parser = h11.Connection(h11.CLIENT)
    parser.receive_data(data)
    if closed:
        parser.receive_data(b"")
    responses: list[Parsed] = []
    current: Parsed | None = None
    body = bytearray()
    while True:
        if parser.our_state is h11.IDLE:
            parser.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
            parser.send(h11.EndOfMessage())
        try:
            event = parser.next_event()
        except h11.RemoteProtocolError as error:
            return responses, f"unparsable bytes: {error}"
        if isinstance(event, h11.Response):
            headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers]
            current = Parsed(event.http_version.decode(), event.status_code, headers, b"", False)
            body.clear()
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage) and current is not None:
            responses.append(
                Parsed(current.version, current.status, current.headers, bytes(body), True)
            )
            current = None
            if parser.their_state is h11.DONE and parser.our_state is h11.DONE:
                parser.start_next_cycle()
            else:
                left, _ = parser.trailing_data
                return responses, f"bytes after the last response: {left[:100]!r}" if left else ""
        else:  # NEED_DATA, ConnectionClosed, PAUSED
            if current is not None:
                responses.append(
                    Parsed(current.version, current.status, current.headers, bytes(body), False)
                )
            return responses, ""


async def _one_response(connection: RawHTTP1) -> tuple[Parsed | None, bool, str]:
    """Read until one whole response arrived, the server closed, or :data:`PROMPT` passed:
    (the response or None, whether the server closed, the parse problem)."""
    data = bytearray()
    deadline = time.monotonic() + PROMPT
    closed = False
    while (remaining := deadline - time.monotonic()) > 0 and not closed:
        try:
            piece = await connection.recv(remaining)
        except TimeoutError:
            break
        except ConnectionError:
            piece = b""
        closed = not piece
        data += piece
        responses, problem = _parse(bytes(data), closed)
        if responses and responses[0].complete:
            return responses[0], closed, problem
    responses, problem = _parse(bytes(data), closed)
    return (responses[0] if responses else None), closed, problem


def _says_close(response: RawResponse | Parsed) -> bool:
    value = response.header("connection") or ""
    return "close" in [token.strip().lower() for token in value.split(",")]


# -- Connection: close ------------------------------------------------------------------------


@case(
    "connection/close-after-body",
    grade=Grade.REQUIRED,
    clause='RFC 9112 §9.6: "A server that receives a "close" connection option MUST initiate '
    "closure of the connection [...] after it sends the final response to the request that "
    'contained the "close" connection option"',
)
async def test_a_request_with_connection_close_gets_its_response_then_the_close(
    server: RunningServer,
) -> None:
    """A POST with a body and ``Connection: close``: the whole response, then the close.

    The app reads the body and answers; the client must get that response, then the server's
    close within :data:`PROMPT` (a client that said ``close`` does not close first: it reads
    to the end). Broken servers: ``close-ignored`` (the request's ``close`` never reaches the
    server, which keeps the connection) and ``close-withheld``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    token = new_token()
    async with RawHTTP1(server) as connection:
        await connection.send(
            _request(
                "POST",
                _echo(token, "one"),
                server.authority,
                [("content-length", str(len(BODY))), ("connection", "close")],
                BODY,
            )
        )
        response = await connection.response(PROMPT)
        closed, extra = await _closed_within(connection, PROMPT)
    assert (response.status, response.body) == (200, b"one 5"), (
        f"the request with Connection: close got {response.status} {response.body!r}, not "
        f"the app's answer\n{connection.transcript.render()}"
    )
    assert not extra, (
        f"{extra[:100]!r} arrived after the response\n{connection.transcript.render()}"
    )
    assert closed, (
        f"the server kept the connection open {PROMPT:.1f} s after answering a request with "
        f"Connection: close\n{connection.transcript.render()}"
    )


@case(
    "connection/pipelined-after-close",
    grade=Grade.REQUIRED,
    clause='RFC 9112 §9.6: after the response to a request with "close" the server closes, '
    'and "The server MUST NOT process any further requests received on that connection"',
)
async def test_a_request_pipelined_after_connection_close_is_not_processed(
    server: RunningServer,
) -> None:
    """A request pipelined behind one with ``Connection: close`` is neither answered nor run.

    Both requests leave in one write. The first must get the app's answer, then the close
    within :data:`PROMPT`; no second response may arrive, and the app must never be handed the
    second request (watched :data:`ABSENCE` s after the close). Fails on hypercorn (the first
    request is answered 400 instead of with the app's response: the bytes after it are taken
    for a protocol error), and under the breaks ``close-ignored`` and ``close-withheld``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    token = new_token()
    async with Observer(server) as observer, RawHTTP1(server) as connection:
        await connection.send(
            _request("GET", _echo(token, "first"), server.authority, [("connection", "close")])
            + _request("GET", _echo(token, "second"), server.authority)
        )
        closed, data = await _closed_within(connection, PROMPT)
        await observer.happened(token, "served", count=2, timeout=ABSENCE)
        served = _served(await observer.events(token))
    responses, problem = _parse(data, closed)
    transcript = connection.transcript.render()
    assert responses, f"no response to the request with Connection: close\n{transcript}"
    first = responses[0]
    assert (first.status, first.body) == (200, b"first 0"), (
        f"the request with Connection: close was answered {first.status} {first.body!r}, not "
        f"with the app's response (the app was handed {served})\n{transcript}"
    )
    assert (len(responses), problem) == (1, ""), (
        f"the request pipelined after Connection: close was answered too ({problem or ''}"
        f"{[str(r) for r in responses[1:]]})\n{transcript}"
    )
    assert closed, (
        f"the server kept the connection open {PROMPT:.1f} s after answering a request with "
        f"Connection: close\n{transcript}"
    )
    assert served == ["first"], (
        f"the app was handed {served}: the request after Connection: close was processed"
    )


# -- persistence and pipelining ----------------------------------------------------------------


@case(
    "connection/keep-alive",
    grade=Grade.RECOMMENDED,
    clause='RFC 9112 §9.3: "HTTP/1.1 defaults to the use of "persistent connections", allowing '
    'multiple requests and responses to be carried over a single connection"',
)
async def test_a_connection_carries_one_request_after_another(server: RunningServer) -> None:
    """Two requests, one after the other, on one connection: both answered on it.

    A POST with a body, then (once its response arrived) a GET. Neither asks to close, so the
    connection persists, and each gets its own answer. A server may close any connection, so
    a server that never keeps one is no protocol violation, only a slow one. Broken server:
    ``keep-alive-refused`` (closes after every response).
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    token = new_token()
    async with RawHTTP1(server) as connection:
        await connection.send(
            _request(
                "POST",
                _echo(token, "first"),
                server.authority,
                [("content-length", str(len(BODY)))],
                BODY,
            )
        )
        first = await connection.response(PROMPT)
        assert (first.status, first.body) == (200, b"first 5"), (
            f"the first request got {first.status} {first.body!r}\n{connection.transcript.render()}"
        )
        await connection.send(_request("GET", _echo(token, "second"), server.authority))
        try:
            second = await connection.response(PROMPT)
        except ConnectionError:
            raise AssertionError(
                f"the server closed the connection after the first response "
                f"({'saying' if _says_close(first) else 'without saying'} Connection: close): "
                f"no keep-alive\n{connection.transcript.render()}"
            ) from None
    assert (second.status, second.body) == (200, b"second 0"), (
        f"the second request on the connection got {second.status} {second.body!r}\n"
        f"{connection.transcript.render()}"
    )


@case(
    "connection/pipelined-in-order",
    grade=Grade.REQUIRED,
    clause='RFC 9112 §9.3.2: a server "MUST send the corresponding responses in the same order '
    'that the requests were received"',
)
async def test_pipelined_requests_are_answered_in_order(server: RunningServer) -> None:
    """Three pipelined requests, the first one slow: the responses come in request order.

    The first request's app waits for a gate; the other two could be answered at once. The
    case gives a server that works in parallel :data:`ABSENCE` s to run them, opens the gate,
    and reads three responses, which must answer the requests in the order sent. Broken
    server: ``responses-reordered``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    token = new_token()
    names = ["slow", "second", "third"]
    async with Observer(server) as observer, RawHTTP1(server) as connection:
        await connection.send(
            _request("GET", f"/connection/gated/{token}/slow", server.authority)
            + _request("GET", _echo(token, "second"), server.authority)
            + _request("GET", _echo(token, "third"), server.authority)
        )
        await observer.wait(token, "waiting", timeout=PROMPT)
        await observer.happened(token, "served", count=2, timeout=ABSENCE)
        await observer.release(token)
        bodies = [(await connection.response(PROMPT)).body for _ in names]
    expected = [b"slow", b"second 0", b"third 0"]
    assert bodies == expected, (
        f"the pipelined requests {names} were answered with {bodies}, in this order\n"
        f"{connection.transcript.render()}"
    )


# -- HTTP/1.0 clients --------------------------------------------------------------------------


async def _http10(
    server: RunningServer, target: str, headers: list[tuple[str, str]] | None = None
) -> tuple[list[Parsed], str, bool, str]:
    """An HTTP/1.0 GET; read to the close: (responses, parse problem, closed, transcript)."""
    async with RawHTTP1(server) as connection:
        await connection.send(
            _request("GET", target, server.authority, headers, version="HTTP/1.0")
        )
        closed, data = await _closed_within(connection, PROMPT)
    responses, problem = _parse(data, closed)
    return responses, problem, closed, connection.transcript.render()


@case(
    "connection/http10-close",
    grade=Grade.REQUIRED,
    clause='RFC 9112 §9.3: for an HTTP/1.0 request without keep-alive "the connection will '
    'close after the current response"; RFC 9112 §2.3: the response is HTTP/1.x',
)
async def test_an_http10_request_is_answered_then_closed(server: RunningServer) -> None:
    """An HTTP/1.0 request (no keep-alive): an HTTP/1.x response, then the server closes.

    The endpoint streams its body without a Content-Length, which an HTTP/1.0 client can only
    read to the close; the server must close within :data:`PROMPT` of the response. Broken
    servers: ``http10-as-http11`` (the request reaches the server as HTTP/1.1) and
    ``close-withheld``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    responses, problem, closed, transcript = await _http10(server, "/raw/connection/stream")
    assert responses, f"no response to an HTTP/1.0 request ({problem})\n{transcript}"
    response = responses[0]
    assert (response.version, response.status) in {("1.0", 200), ("1.1", 200)}, (
        f"an HTTP/1.0 request was answered {response}\n{transcript}"
    )
    assert closed, (
        f"the server kept the connection of an HTTP/1.0 request without keep-alive open "
        f"{PROMPT:.1f} s after its response\n{transcript}"
    )


@case(
    "connection/http10-not-chunked",
    grade=Grade.REQUIRED,
    clause='RFC 9112 §6.1: "A server MUST NOT send a response containing Transfer-Encoding '
    'unless the corresponding request indicates HTTP/1.1 (or later minor revisions)"',
)
async def test_a_response_to_http10_is_never_chunked(server: RunningServer) -> None:
    """A body without Content-Length, to an HTTP/1.0 client: no chunked coding, close-delimited.

    An HTTP/1.0 client knows no transfer coding: it would read the chunk sizes as body. The
    response must carry no Transfer-Encoding, and its body (read to the close) must be exactly
    the app's bytes. Fails on uvicorn-httptools (``Transfer-Encoding: chunked``), and under the
    break ``http10-as-http11``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    responses, problem, _, transcript = await _http10(server, "/raw/connection/stream")
    assert responses, f"no response to an HTTP/1.0 request ({problem})\n{transcript}"
    response = responses[0]
    coding = response.header("transfer-encoding")
    assert coding is None, (
        f"the response to an HTTP/1.0 request carries Transfer-Encoding: {coding}\n{transcript}"
    )
    assert response.complete, f"the response never ended ({problem})\n{transcript}"
    assert response.body == b"".join(STREAM_CHUNKS), (
        f"an HTTP/1.0 client read the body {response.body!r}\n{transcript}"
    )


@case(
    "connection/http10-keep-alive",
    grade=Grade.REQUIRED,
    clause="RFC 9112 §9.3: an HTTP/1.0 connection persists when keep-alive is asked for and "
    "the server honours it, else it closes after the response; RFC 9112 §6.1, §6.3: a "
    "persistent response is delimited by its Content-Length",
)
async def test_an_http10_keep_alive_request_is_kept_or_closed_consistently(
    server: RunningServer,
) -> None:
    """HTTP/1.0 with ``Connection: keep-alive``: kept with a delimited response, or closed.

    The server may honour keep-alive or not. If its response says the connection persists
    (HTTP/1.0 with ``keep-alive``, or HTTP/1.1 without ``close``), the response must be
    delimited by a Content-Length and a second HTTP/1.0 request on the connection must be
    answered; otherwise the server must close after the response, within :data:`PROMPT`.
    Broken server: ``close-withheld`` (says close, keeps the connection open).
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    token = new_token()
    keep = [("connection", "keep-alive")]
    async with RawHTTP1(server) as connection:
        await connection.send(
            _request("GET", _echo(token, "first"), server.authority, keep, version="HTTP/1.0")
        )
        first, closed, problem = await _one_response(connection)
        transcript = connection.transcript.render
        assert first is not None, (
            f"no response to an HTTP/1.0 keep-alive request ({problem})\n{transcript()}"
        )
        assert first.complete, (
            f"no complete response to an HTTP/1.0 keep-alive request ({problem})\n{transcript()}"
        )
        assert first.body == b"first 0", f"the request got {first}\n{transcript()}"
        persists = first.version == "1.1" and not _says_close(first)
        if first.version == "1.0":
            persists = "keep-alive" in (first.header("connection") or "").lower()
        if not persists:
            if not closed:
                closed, _ = await _closed_within(connection, PROMPT)
            assert closed, (
                f"the response ({first}) does not keep the connection, yet the server kept it "
                f"open {PROMPT:.1f} s\n{transcript()}"
            )
            return
        assert first.header("content-length") is not None, (
            f"the response keeps the connection but has no Content-Length: an HTTP/1.0 "
            f"client cannot find its end ({first})\n{transcript()}"
        )
        assert not closed, (
            f"the response ({first}) says the connection persists, but the server closed it\n"
            f"{transcript()}"
        )
        await connection.send(
            _request("GET", _echo(token, "second"), server.authority, keep, version="HTTP/1.0")
        )
        second, closed, problem = await _one_response(connection)
    assert (second.complete, second.body) == (True, b"second 0") if second else False, (
        f"a second HTTP/1.0 request on the kept connection got {second} ({problem})\n{transcript()}"
    )
