"""Header fields: what a server sends of the app's, and what it refuses of the client's.

Response side: ASGI HTTP 2.5 ("Response Start": headers, "order must be preserved"; "HTTP":
``Set-Cookie`` "cannot be concatenated by commas (or anything else)"), RFC 9110 §5.5
(obs-text), §6.4.1, §9.3.2, §15.3.5 and §15.4.5 and RFC 9112 §6.3 (no content in a response to
HEAD or with status 204 or 304, whatever the app sends), RFC 9113 §8.1.1 (over HTTP/2: no DATA
payload for them).

Request side: RFC 9112 §5.1 (whitespace before the colon: 400), §5.2 (obs-fold: 400, or each
fold replaced with SP), §2.2 (a message that does not match the grammar: 400), RFC 9110 §5.5
(CR, LF or NUL in a value: reject, or replace with SP) and §5.4 (header fields larger than the
server wishes to process: a 4xx), RFC 9113 §8.2.1 (over HTTP/2, such a field makes the request
malformed: PROTOCOL_ERROR, or a 4xx). The raw HTTP/1.1 client writes the bytes no polite client
would; the raw HTTP/2 client sends header blocks with h2's validation turned off. Every such
request goes to a raw endpoint (:data:`conformance.contract.headers.SEEN`) that records each call
under the case's token, so the case proves from the app's side whether the server let the
request through; what the app then got must be what the RFC allows.

Each docstring names the break of :mod:`conformance.broken.headers` that fails the case.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import h11

from conformance.cases import Grade, case
from conformance.client import (
    TIMEOUT,
    H2Session,
    Observer,
    RawHTTP1,
    error_name,
    new_token,
    request_bytes,
)
from conformance.contract.headers import (
    FORBIDDEN_BODY,
    OBS_TEXT,
    SEEN,
    SET_COOKIES,
    probe_digest,
)
from servers import Capability, HTTPProtocol, RunningServer

from ._helpers import require_protocol

#: How long a case watches for an app call that must not come (a request the server refused),
#: once every refusal has arrived: no event can tell that it never will.
ABSENCE: Final = TIMEOUT * 0.2
#: The body of ``GET /``, the request pipelined behind the one under test.
INDEX_BODY: Final = b"asgi-conformance contract app"
#: The size of the oversize field: over every server's limit that has one.
OVERSIZE: Final = 1024 * 1024
#: How many fields the many-fields request has.
MANY: Final = 10_000


# -- responses ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Response:
    """A response as the raw client read it: header fields as bytes, body, wire transcript."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    transcript: str

    def values(self, name: bytes) -> list[bytes]:
        """The values of every field called ``name`` (lowercase), in order."""
        return [value for key, value in self.headers if key.lower() == name]


async def _get(server: RunningServer, target: str) -> Response:
    """GET ``target`` in the variant's protocol."""
    if server.spec.protocol is HTTPProtocol.HTTP1:
        async with RawHTTP1(server) as connection:
            await connection.send(request_bytes("GET", target, server.authority))
            response = await connection.response()
            return Response(
                response.status, response.headers, response.body, connection.transcript.render()
            )
    async with H2Session(server) as session:
        stream_id = await session.request("GET", target)
        await session.until_ended(stream_id)
        stream = session.streams[stream_id]
        headers = [(_raw(name), _raw(value)) for name, value in stream.headers]
        return Response(stream.status, headers, stream.data, session.result.describe())


def _raw(text: str) -> bytes:
    """The bytes of a header the raw HTTP/2 client decoded (obs-text kept as surrogates)."""
    return text.encode("utf-8", "surrogateescape")


@case(
    "headers/set-cookie-kept-apart",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, HTTP: Set-Cookie may appear repeatedly, but cannot be concatenated by "
    "commas (or anything else) into a single header field; Response Start: order must be "
    "preserved in the HTTP response",
)
async def test_three_set_cookie_fields_stay_three_in_order(server: RunningServer) -> None:
    """Three ``set-cookie`` fields of the app reach the client as three fields, in order.

    RFC 9110 §5.3: Set-Cookie "cannot be combined into a single field value"; the second cookie
    carries a comma (an ``Expires`` date), so a joined line is ambiguous for every client.
    Another field between the first two must not change their order. Break:
    ``set-cookies-merged``.
    """
    response = await _get(server, "/raw/headers/set-cookie")
    assert response.status == 200, f"{response.status}\n{response.transcript}"
    cookies = response.values(b"set-cookie")
    assert cookies == list(SET_COOKIES), (
        f"the app sent {len(SET_COOKIES)} set-cookie fields {list(SET_COOKIES)}; the client got "
        f"{cookies}"
    )


@case(
    "headers/obs-text-passed-through",
    grade=Grade.RECOMMENDED,
    clause="RFC 9110 §5.5: field-vchar = VCHAR / obs-text; a recipient SHOULD treat obs-text "
    "(%x80-FF) as opaque data; ASGI HTTP 2.5, Response Start: header values are byte strings",
)
async def test_obs_text_in_a_header_value_is_sent_unchanged(server: RunningServer) -> None:
    """A header value with bytes 0x80 to 0xFF reaches the client byte for byte.

    The value mixes Latin-1 text, bytes that are no UTF-8, and UTF-8: a server that decodes
    header values as text (and encodes them again, or replaces what it cannot decode) changes
    them. Break: ``obs-text-replaced``.
    """
    response = await _get(server, "/raw/headers/obs-text")
    assert response.status == 200, f"{response.status}\n{response.transcript}"
    values = response.values(b"x-obs-text")
    assert values == [OBS_TEXT], f"the app sent x-obs-text {OBS_TEXT!r}; the client got {values}"


# -- no content: 204, 304, HEAD -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exchange:
    """Two pipelined HTTP/1.1 responses as parsed from everything the server sent.

    Attributes:
        first: the response under test (status, header fields, body as framed).
        after: the bytes after the first response when the server closed the connection
            instead of answering the second request (b"" when it answered it).
        second: the second response's status and body, or None if it was not answered.
        error: what made the bytes unparseable (None if they parsed).
        data: every byte the server sent.
    """

    first: tuple[int, list[tuple[bytes, bytes]], bytes] | None
    after: bytes
    second: tuple[int, bytes] | None
    error: str | None
    data: bytes

    def head_end(self) -> int:
        """Where the first response's header section ends in :attr:`data`."""
        return self.data.find(b"\r\n\r\n") + 4


def _next(connection: h11.Connection) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
    """The next response from a parser that has every byte (None: closed before one)."""
    status, headers, body = 0, [], bytearray()
    while True:
        event = connection.next_event()
        if isinstance(event, h11.Response):
            status, headers = event.status_code, list(event.headers)
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return status, headers, bytes(body)
        elif isinstance(event, h11.ConnectionClosed) or event is h11.NEED_DATA:
            if status:
                raise h11.RemoteProtocolError("the connection closed mid-response")
            return None


def _parse_pair(data: bytes, method: str) -> Exchange:
    """Parse a response to ``method`` and then one to ``GET /`` from ``data`` (all of it)."""
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method=method, target="/", headers=[("host", "x")]))
    connection.send(h11.EndOfMessage())
    connection.receive_data(data)
    connection.receive_data(b"")
    first = None
    try:
        first = _next(connection)
        leftover, _ = connection.trailing_data
        if first is None or connection.their_state is not h11.DONE or not leftover:
            return Exchange(first, leftover, None, None, data)
        connection.start_next_cycle()
        connection.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
        connection.send(h11.EndOfMessage())
        second = _next(connection)
    except h11.RemoteProtocolError as error:
        return Exchange(first, b"", None, str(error), data)
    if second is None:
        return Exchange(first, connection.trailing_data[0], None, None, data)
    return Exchange(first, b"", (second[0], second[2]), None, data)


async def _pipelined(server: RunningServer, method: str, target: str) -> tuple[Exchange, str]:
    """``method target`` and ``GET /`` (closing) on one connection, read to the server's close."""
    requests = request_bytes(method, target, server.authority) + request_bytes(
        "GET", "/", server.authority, [("connection", "close")]
    )
    async with RawHTTP1(server) as connection:
        await connection.send(requests)
        try:
            data = await connection.expect_closed(TIMEOUT)
        except TimeoutError as error:
            raise AssertionError(
                f"the server neither answered both pipelined requests (the second with "
                f"Connection: close) nor closed the connection\n{connection.transcript.render()}"
            ) from error
        return _parse_pair(data, method), connection.transcript.render()


def _check_no_content_h1(exchange: Exchange, status: int, what: str, transcript: str) -> None:
    """The response under test has ``status`` and nothing follows its header section but the
    next response (or the server's close)."""
    assert exchange.first is not None, f"no response to {what}\n{transcript}"
    assert exchange.first[0] == status, f"{what} was answered {exchange.first[0]}\n{transcript}"
    leaked = exchange.data[exchange.head_end() :]
    assert exchange.error is None, (
        f"the bytes after the header section of the {status} response to {what} are not the "
        f"next response ({exchange.error}): the server sent content {leaked[:80]!r}\n{transcript}"
    )
    assert not exchange.after, (
        f"the server sent {exchange.after[:80]!r} after the {status} response to {what}, then "
        f"closed the connection\n{transcript}"
    )
    if exchange.second is not None:
        assert exchange.second == (200, INDEX_BODY), (
            f"the response pipelined after {what} is {exchange.second}\n{transcript}"
        )


@dataclass(frozen=True, slots=True)
class H2Answer:
    """A response over HTTP/2 that should carry no content.

    Attributes:
        status: ``:status`` (0 if none arrived).
        headers: the response's fields as bytes.
        payload: how many DATA payload bytes arrived.
        refused: what the client's HTTP/2 stack said when it refused DATA it knew could not
            be there (a response to HEAD), or None.
        ended: whether the stream ended (END_STREAM).
        transcript: the frame transcript.
    """

    status: int
    headers: list[tuple[bytes, bytes]]
    payload: int
    refused: str | None
    ended: bool
    transcript: str


async def _h2_no_content(server: RunningServer, method: str, target: str) -> H2Answer:
    async with H2Session(server) as session:
        stream_id = await session.request(method, target)
        try:
            await session.until(session.finished(stream_id))
        except TimeoutError as error:
            raise AssertionError(
                f"no end of the response to {method} {target} within {TIMEOUT} s\n"
                f"{session.result.describe()}"
            ) from error
        stream = session.streams[stream_id]
        refusals = [text for _, way, text in session.result.log if way == "!"]
        refused = next((text for text in refusals if "BodyLength" in text), None)
        return H2Answer(
            stream.status,
            [(_raw(n), _raw(v)) for n, v in stream.headers],
            stream.received,
            refused,
            stream.ended,
            session.result.describe(),
        )


def _check_no_content_h2(answer: H2Answer, status: int, what: str) -> None:
    assert answer.refused is None, (
        f"the server sent DATA in the response to {what}, which the client's HTTP/2 stack "
        f"refused ({answer.refused})\n{answer.transcript}"
    )
    assert answer.status == status, f"{what} was answered {answer.status}\n{answer.transcript}"
    assert answer.payload == 0, (
        f"the server sent {answer.payload} bytes of DATA in the {status} response to {what}\n"
        f"{answer.transcript}"
    )
    assert answer.ended, f"the response to {what} did not end\n{answer.transcript}"


async def _no_content(server: RunningServer, status: int) -> list[tuple[bytes, bytes]]:
    """Judge ``/raw/headers/bodiless?status=status``; return the response's header fields."""
    target = f"/raw/headers/bodiless?status={status}"
    what = f"GET {target} (the app sent the body {b''.join(FORBIDDEN_BODY)!r})"
    if server.spec.protocol is HTTPProtocol.HTTP1:
        exchange, transcript = await _pipelined(server, "GET", target)
        _check_no_content_h1(exchange, status, what, transcript)
        assert exchange.first is not None
        return exchange.first[1]
    answer = await _h2_no_content(server, "GET", target)
    _check_no_content_h2(answer, status, what)
    return answer.headers


@case(
    "headers/no-body-204",
    grade=Grade.REQUIRED,
    clause="RFC 9110 §15.3.5: a 204 response is terminated by the end of the header section; it "
    "cannot contain content or trailers; RFC 9112 §6.1, RFC 9110 §8.6: a server MUST NOT send "
    "Transfer-Encoding or Content-Length in a 204",
)
async def test_a_204_carries_no_content_whatever_the_app_sends(server: RunningServer) -> None:
    """A 204 is its header section alone, though the app sends body bytes with it.

    Many frameworks hand the server whatever body a handler produced; RFC 9112 §6.3 makes a 204
    end at its empty line "regardless of the header fields", so bytes after it would be read as
    the next response on the connection. Over HTTP/1.1 a request pipelined behind it must parse
    cleanly (or the connection close with nothing more), and the 204 must announce no content
    (no Transfer-Encoding, no Content-Length); over HTTP/2 no DATA payload. daphne writes the
    second body message raw after the header section. Breaks: ``bodiless-body-leaked``
    (HTTP/1.1), ``bodiless-data-h2``.
    """
    headers = await _no_content(server, 204)
    framing = [(n, v) for n, v in headers if n.lower() in (b"transfer-encoding", b"content-length")]
    assert not framing, f"the 204 response carries {framing}"


@case(
    "headers/no-body-304",
    grade=Grade.REQUIRED,
    clause="RFC 9110 §15.4.5: a 304 response is terminated by the end of the header section; it "
    "cannot contain content or trailers; RFC 9112 §6.3",
)
async def test_a_304_carries_no_content_whatever_the_app_sends(server: RunningServer) -> None:
    """A 304 is its header section alone, though the app sends body bytes with it.

    As ``headers/no-body-204``, for Not Modified (a Content-Length may describe the selected
    representation, so only the content is judged). Breaks: ``bodiless-body-leaked``,
    ``bodiless-data-h2``.
    """
    await _no_content(server, 304)


#: The HEAD targets over HTTP/2: a streamed body without Content-Length, a body with one, and
#: the framework's answer (which sends no body for HEAD).
HEAD_TARGETS: Final = ("/raw/stream-chunks", "/raw/headers/set-cookie", "/")


@case(
    "headers/head-no-body-h2",
    grade=Grade.REQUIRED,
    clause="RFC 9110 §9.3.2: the server MUST NOT send content in the response to HEAD; RFC 9113 "
    "§8.1.1: a response defined to have no content has no DATA payload",
    requires=[Capability.HTTP2],
)
async def test_h2_a_response_to_head_has_no_data_payload(server: RunningServer) -> None:
    """Over HTTP/2, the response to HEAD ends without DATA payload, whatever the app sends.

    The app streams three chunks, or sends a body with its Content-Length, or (the framework)
    nothing; the server must send the header block and END_STREAM, no content (the HTTP/1.1
    side is judged by ``streaming/head-body-dropped-by-server``). granian's HTTP/2 sends the
    app's body. Break: ``bodiless-data-h2``.
    """
    for target in HEAD_TARGETS:
        answer = await _h2_no_content(server, "HEAD", target)
        _check_no_content_h2(answer, 200, f"HEAD {target}")


# -- request header fields the server must refuse (HTTP/1.1) -----------------------------------


@dataclass(frozen=True, slots=True)
class Seen:
    """What the app got as header fields (the endpoint's summary).

    Attributes:
        count: how many fields.
        fields: the first fields as ``(name, value)``; a long value as its length and digest.
        probes: how many fields named ``x-...``.
        digest: the digest of the ``x-...`` fields (see ``probe_digest``).
    """

    count: int
    fields: list[tuple[bytes, Any]]
    probes: int
    digest: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Seen:
        """Read the endpoint's JSON."""
        fields = [
            (name.encode("latin-1"), value.encode("latin-1") if isinstance(value, str) else value)
            for name, value in data["fields"]
        ]
        return cls(int(data["count"]), fields, int(data["probes"]), str(data["digest"]))

    def values(self, name: bytes) -> list[Any]:
        """The values of the fields called ``name`` (case-insensitive) among :attr:`fields`."""
        return [value for key, value in self.fields if key.lower() == name]


@dataclass(frozen=True, slots=True)
class Probe:
    """One request with a malformed header section.

    Attributes:
        name: what is wrong, as the case reports it.
        lines: the field lines after ``Host`` (each with its CRLF), or the HTTP/2 field.
    """

    name: str
    lines: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the server made of one :class:`Probe`.

    Attributes:
        probe: the probe's name.
        status: the response's status (0: none, the connection closed or nothing came).
        seen: what the app got, if the server handed it the request.
        transcript: the wire transcript.
    """

    probe: str
    status: int
    seen: Seen | None
    transcript: str


async def _quietly(sending: Awaitable[None]) -> None:
    """Send, ignoring a server that closes before it has read everything."""
    with contextlib.suppress(ConnectionError, OSError):
        await sending


async def _send_probe(server: RunningServer, token: str, probe: Probe) -> Outcome:
    """Send ``probe`` (reading the answer while sending: a server may refuse midway)."""
    head = f"GET {SEEN}?token={token}&probe={probe.name} HTTP/1.1\r\nHost: {server.authority}\r\n"
    data = head.encode() + probe.lines + b"Connection: close\r\n\r\n"
    async with RawHTTP1(server) as connection:
        writing = asyncio.ensure_future(_quietly(connection.send(data)))
        body = bytearray()
        try:
            response = await connection.response_head()
            with contextlib.suppress(ConnectionError, TimeoutError, h11.RemoteProtocolError):
                while (chunk := await connection.body()) is not None:
                    body += chunk
        except (ConnectionError, TimeoutError, h11.RemoteProtocolError):
            # h11 raises the latter for a connection closed before any response.
            return Outcome(probe.name, 0, None, connection.transcript.render())
        finally:
            if not writing.done():
                writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writing
        seen = None
        if response.status == 200:
            seen = Seen.from_json(json.loads(body))
        return Outcome(probe.name, response.status, seen, connection.transcript.render())


async def _try(
    server: RunningServer, probes: Iterable[Probe], judge: Callable[[Outcome], str | None]
) -> None:
    """Send every probe, then judge each outcome and the app's calls; fail with all problems.

    ``judge`` says what is wrong with an outcome (None: nothing). Besides, the app must have
    been called exactly for the probes that got its 200.
    """
    token = new_token()
    async with Observer(server) as observer:
        outcomes = [await _send_probe(server, token, probe) for probe in probes]
        served = {outcome.probe for outcome in outcomes if outcome.seen is not None}
        await observer.happened(token, "seen", count=len(served) + 1, timeout=ABSENCE)
        called = [event["probe"] for event in await observer.events(token, "seen")]
    problems = [problem for outcome in outcomes if (problem := judge(outcome)) is not None]
    for outcome in outcomes:
        if outcome.probe in called and outcome.seen is None:
            problems.append(
                f"{outcome.probe}: the server handed the request to the app, yet answered "
                f"{outcome.status or 'nothing'}"
            )
    details = "\n\n".join(
        f"{outcome.probe}:\n{outcome.transcript}"
        for outcome in outcomes
        if any(problem.startswith(f"{outcome.probe}:") for problem in problems)
    )
    assert not problems, "; ".join(problems) + "\n\n" + details


def _refused(outcome: Outcome, statuses: Iterable[int] = range(400, 500)) -> str | None:
    """None if ``outcome`` is a refusal with one of ``statuses``; else what went wrong."""
    if outcome.status in statuses:
        return None
    if outcome.seen is not None:
        fields = [
            (n, v) for n, v in outcome.seen.fields if n.lower() not in (b"host", b"connection")
        ]
        return f"{outcome.probe}: answered 200, the app got {fields}"
    if outcome.status == 0:
        return f"{outcome.probe}: the connection ended without a response"
    return f"{outcome.probe}: answered {outcome.status}"


def _refused_or_replaced(outcome: Outcome, name: bytes, replaced: re.Pattern[bytes]) -> str | None:
    """A refusal with a 4xx, or the app got the value of ``name`` matching ``replaced``."""
    if outcome.seen is None:
        return _refused(outcome)
    values = outcome.seen.values(name)
    if len(values) == 1 and isinstance(values[0], bytes) and replaced.fullmatch(values[0]):
        return None
    return f"{outcome.probe}: answered 200, the app got {name.decode()} {values}"


#: Field names with whitespace before the colon (RFC 9112 §5.1).
BEFORE_COLON: Final = (
    Probe("space-before-colon", b"x-bad : 1\r\n"),
    Probe("tab-before-colon", b"x-bad\t: 1\r\n"),
)


@case(
    "headers/space-before-colon-refused",
    grade=Grade.REQUIRED,
    clause="RFC 9112 §5.1: a server MUST reject, with a response status code of 400 (Bad "
    "Request), any received request message that contains whitespace between a header field "
    "name and colon",
)
async def test_whitespace_before_the_colon_is_answered_400(server: RunningServer) -> None:
    """``x-bad : 1`` (or a tab) is answered 400 by the server; the app never sees it.

    Lenient parsers that strip the whitespace let a front end and a back end disagree on
    which field this is (request smuggling). Break: ``lenient-header-parser``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    await _try(server, BEFORE_COLON, lambda outcome: _refused(outcome, (400,)))


#: Field names that are no token (RFC 9110 §5.1, RFC 9112 §5).
INVALID_NAMES: Final = (
    Probe("space-in-name", b"x bad: 1\r\n"),
    Probe("quote-in-name", b'x"bad: 1\r\n'),
    Probe("parenthesis-in-name", b"x(bad): 1\r\n"),
    Probe("at-in-name", b"x@bad: 1\r\n"),
    Probe("brace-in-name", b"x{bad}: 1\r\n"),
    Probe("non-ascii-in-name", b"x\xe9bad: 1\r\n"),
    Probe("empty-name", b": 1\r\n"),
)


@case(
    "headers/invalid-name-refused",
    grade=Grade.RECOMMENDED,
    clause="RFC 9112 §2.2: a server that receives a sequence of octets that does not match the "
    "HTTP-message grammar SHOULD respond with a 400 (Bad Request); RFC 9110 §5.1: field-name = "
    "token",
)
async def test_a_field_name_that_is_no_token_is_answered_400(server: RunningServer) -> None:
    """Field names with a space, ``"``, ``(``, ``@``, ``{``, a non-ASCII byte, or none: 400.

    The server must not hand such a request to the app: its header section does not parse,
    so what the app would see is the server's guess. Break: ``lenient-header-parser``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    await _try(server, INVALID_NAMES, lambda outcome: _refused(outcome, (400,)))


#: Values with NUL or a bare CR (RFC 9110 §5.5, RFC 9112 §2.2), each as ``a<byte>b``.
INVALID_VALUES: Final = (
    Probe("nul-in-value", b"x-value: a\x00b\r\n"),
    Probe("cr-in-value", b"x-value: a\rb\r\n"),
)


@case(
    "headers/invalid-value-refused",
    grade=Grade.REQUIRED,
    clause="RFC 9110 §5.5: a recipient of CR, LF, or NUL within a field value MUST either reject "
    "the message or replace each of those characters with SP; RFC 9112 §2.2: a bare CR MUST be "
    "considered invalid or replaced with SP",
)
async def test_nul_or_a_bare_cr_in_a_value_is_refused_or_replaced(server: RunningServer) -> None:
    """A value ``a<NUL>b`` or ``a<CR>b``: refused with a 4xx, or the app gets ``a b``.

    Never the byte itself, nor the value cut or with the byte deleted. (A bare LF would end the
    field line in HTTP/1.1, RFC 9112 §2.2, so it is judged over HTTP/2.) Break:
    ``lenient-header-parser`` (deletes the byte).
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    replaced = re.compile(rb"a b")
    await _try(
        server, INVALID_VALUES, lambda outcome: _refused_or_replaced(outcome, b"x-value", replaced)
    )


#: obs-fold: a field value continued on lines that start with SP or HTAB (RFC 9112 §5.2).
OBS_FOLD: Final = (Probe("obs-fold", b"x-fold: a\r\n  b\r\n\tc\r\n"),)


@case(
    "headers/obs-fold",
    grade=Grade.REQUIRED,
    clause="RFC 9112 §5.2: a server that receives an obs-fold in a request message MUST either "
    "reject the message by sending a 400 (Bad Request) or replace each received obs-fold with "
    "one or more SP octets prior to interpreting the field value",
)
async def test_a_folded_value_is_refused_or_unfolded_with_spaces(server: RunningServer) -> None:
    """``x-fold: a`` folded onto ``b`` and ``c``: a 400, or the app gets ``a b c`` (SP only).

    Each obs-fold (OWS CRLF RWS) becomes one or more SP; the continuation lines are part of
    the value, never dropped and never fields of their own. hypercorn, uvicorn-h11 and daphne
    unfold, uvicorn-httptools and granian refuse. Break: ``lenient-header-parser`` (drops the
    continuation lines).
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    unfolded = re.compile(rb"a +b +c")

    def judge(outcome: Outcome) -> str | None:
        if outcome.seen is None:
            return _refused(outcome, (400,))
        return _refused_or_replaced(outcome, b"x-fold", unfolded)

    await _try(server, OBS_FOLD, judge)


def _whole(outcome: Outcome, fields: list[tuple[bytes, bytes]]) -> str | None:
    """A refusal with a 4xx, or the app got exactly the ``x-...`` fields sent."""
    if outcome.seen is None:
        return _refused(outcome)
    seen = outcome.seen
    if (seen.probes, seen.digest) == (len(fields), probe_digest(fields)):
        return None
    shown = [(n, v) for n, v in seen.fields if n.lower().startswith(b"x-")][:3]
    return (
        f"{outcome.probe}: answered 200, but the app got {seen.probes} x- fields of the "
        f"{len(fields)} sent, or other values (first: {shown})"
    )


@case(
    "headers/oversize-field",
    grade=Grade.REQUIRED,
    clause="RFC 9110 §5.4: a server that receives a request header field line, field value, or "
    "set of fields larger than it wishes to process MUST respond with an appropriate 4xx "
    "(Client Error) status code",
)
async def test_a_1_mib_field_is_refused_with_a_4xx_or_served_whole(server: RunningServer) -> None:
    """A 1 MiB field value: a 4xx (431 fits) and no app call, or the app gets it whole.

    Servers limit the header section (hypercorn, uvicorn-h11 and granian refuse this one);
    one without a limit may serve it. What the RFC rules out: closing the connection with no
    response (daphne, from 16 KiB on), or ignoring or cutting the field ("would increase the
    server's vulnerability to request smuggling attacks"). Break: ``lenient-header-parser``
    (cuts long values).
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    field = (b"x-big", b"a" * OVERSIZE)
    probe = Probe("1-mib-field", field[0] + b": " + field[1] + b"\r\n")
    await _try(server, (probe,), lambda outcome: _whole(outcome, [field]))


@case(
    "headers/too-many-fields",
    grade=Grade.REQUIRED,
    clause="RFC 9110 §5.4: a server that receives a set of fields larger than it wishes to "
    "process MUST respond with an appropriate 4xx (Client Error) status code",
)
async def test_ten_thousand_fields_are_refused_with_a_4xx_or_served_whole(
    server: RunningServer,
) -> None:
    """10 000 small fields: a 4xx (431 fits) and no app call, or the app gets every one.

    A server that stops at its limit must say so, not hand the app the first N fields. Break:
    ``lenient-header-parser`` (keeps the first 100 fields).
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    fields = [(b"x-f-%05d" % index, b"v") for index in range(MANY)]
    probe = Probe("10000-fields", b"".join(n + b": " + v + b"\r\n" for n, v in fields))
    await _try(server, (probe,), lambda outcome: _whole(outcome, fields))


# -- request header fields the server must refuse (HTTP/2) -------------------------------------


@dataclass(frozen=True, slots=True)
class H2Outcome:
    """What the server made of one malformed HTTP/2 request.

    Attributes:
        probe: what was malformed.
        status: the response's ``:status`` (0 if none).
        reset: the stream's RST_STREAM code, or None.
        goaway: the connection's GOAWAY code, or None.
        transcript: the frame transcript.
    """

    probe: str
    status: int
    reset: int | None
    goaway: int | None
    transcript: str

    def refusal(self) -> str | None:
        """None if refused as RFC 9113 §8.1.1 says (PROTOCOL_ERROR, or a 4xx); else why not."""
        if 400 <= self.status < 500 or "PROTOCOL_ERROR" in (
            error_name(self.reset),
            error_name(self.goaway),
        ):
            return None
        if self.status:
            return f"{self.probe}: answered {self.status}"
        return (
            f"{self.probe}: neither a 4xx nor PROTOCOL_ERROR (RST_STREAM {error_name(self.reset)}, "
            f"GOAWAY {error_name(self.goaway)})"
        )


async def _h2_probes(server: RunningServer, probes: Iterable[tuple[str, tuple[str, str]]]) -> None:
    """Send each ``(name, field)`` in a request of its own; every one must be refused, unseen."""
    token = new_token()
    outcomes: list[H2Outcome] = []
    async with Observer(server) as observer:
        for name, field in probes:
            async with H2Session(server, validate_headers=False) as session:
                stream_id = await session.request(
                    "GET", f"{SEEN}?token={token}&probe={name}", [field]
                )
                with contextlib.suppress(TimeoutError):
                    await session.until(session.finished(stream_id))
                stream = session.streams[stream_id]
                outcomes.append(
                    H2Outcome(
                        name, stream.status, stream.reset, session.goaway, session.result.describe()
                    )
                )
        await observer.happened(token, "seen", timeout=ABSENCE)
        called = {event["probe"]: event for event in await observer.events(token, "seen")}
    problems = []
    for outcome in outcomes:
        problem = outcome.refusal()
        if outcome.probe in called:
            fields = [tuple(f) for f in called[outcome.probe]["fields"] if f[0] != "host"]
            problem = (
                f"{outcome.probe}: the server handed the request to the app, which got {fields}"
            )
        if problem is not None:
            problems.append((problem, outcome.transcript))
    assert not problems, (
        "; ".join(p for p, _ in problems) + "\n\n" + "\n\n".join(t for _, t in problems)
    )


#: Field names RFC 9113 §8.2.1 forbids: uppercase, SP, a colon, a control, a non-ASCII byte.
H2_INVALID_NAMES: Final = (
    ("uppercase-name", ("X-Upper", "1")),
    ("space-in-name", ("x bad", "1")),
    ("colon-in-name", ("x:bad", "1")),
    ("control-in-name", ("x\x01bad", "1")),
    ("non-ascii-in-name", ("x\u00e9bad", "1")),
)


@case(
    "headers/invalid-name-refused-h2",
    grade=Grade.REQUIRED,
    clause="RFC 9113 §8.2.1: a field name MUST NOT contain characters in the ranges 0x00-0x20, "
    "0x41-0x5a, or 0x7f-0xff, nor a colon; §8.1.1: malformed requests MUST be treated as a "
    "stream error of type PROTOCOL_ERROR",
    requires=[Capability.HTTP2],
)
async def test_h2_a_malformed_field_name_is_a_protocol_error(server: RunningServer) -> None:
    """Over HTTP/2: an uppercase name, SP, a colon, a control or a non-ASCII byte in a name.

    Each request is malformed: the server resets the stream (or the connection) with
    PROTOCOL_ERROR, or answers a 4xx; the app never sees it. Break: ``lenient-header-parser-h2``.
    """
    await _h2_probes(server, H2_INVALID_NAMES)


#: Field values RFC 9113 §8.2.1 forbids: NUL, CR, LF anywhere; whitespace at either end.
H2_INVALID_VALUES: Final = (
    ("nul-in-value", ("x-value", "a\x00b")),
    ("cr-in-value", ("x-value", "a\rb")),
    ("lf-in-value", ("x-value", "a\nb")),
    ("leading-space", ("x-value", " ab")),
    ("trailing-tab", ("x-value", "ab\t")),
)


@case(
    "headers/invalid-value-refused-h2",
    grade=Grade.REQUIRED,
    clause="RFC 9113 §8.2.1: a field value MUST NOT contain NUL, LF or CR at any position, nor "
    "start or end with an ASCII whitespace character; §8.1.1: malformed requests MUST be treated "
    "as a stream error of type PROTOCOL_ERROR",
    requires=[Capability.HTTP2],
)
async def test_h2_a_malformed_field_value_is_a_protocol_error(server: RunningServer) -> None:
    """Over HTTP/2: NUL, CR or LF in a value, or whitespace at its start or end.

    Unlike HTTP/1.1, HTTP/2 leaves no room to replace the byte: the request is malformed,
    refused with PROTOCOL_ERROR (or a 4xx), never handed to the app. granian's HTTP/2 passes
    values with whitespace at either end to the app. Break: ``lenient-header-parser-h2``.
    """
    await _h2_probes(server, H2_INVALID_VALUES)
