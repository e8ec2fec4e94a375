"""App errors and misuse: what the server does when the app raises, returns early, or lies.

ASGI core spec (asgi.rst), "Error Handling": servers "must terminate the application instance
and its associated connection" when the app raises, and "should raise an exception out of the
send awaitable" for an invalid event; ASGI HTTP spec 2.5, "Response Start" (followed by "at least
one response content message"; a server that defers it may "replace the response with an error
response") and "Response Body" (after ``more_body=False`` "any further messages on the channel
will be ignored"); RFC 9112 §6.3, §7.1 and §8 (an incomplete message is a close before the
terminating chunk or short of Content-Length); RFC 9113 §8.1, §8.1.1 and §5.4.2 (END_STREAM
ends a complete response; a stream error is a RST_STREAM).

An ASGI *connection* is one HTTP request: the server terminates it with a complete error
response while nothing was sent, and otherwise so that the client can tell the response is
incomplete: over HTTP/1.1 by closing the connection (without the terminating chunk, or short of
the Content-Length), over HTTP/2 by resetting the stream (or closing the connection). It never
ends it cleanly, and never leaves the client waiting.

Every endpoint is raw ASGI (:mod:`conformance.contract.errors`); the app records what each of
its ``send()`` calls did (returned, or raised what), and the client keeps a wire transcript.
Over HTTP/1.1 a second request (``GET /``) is pipelined behind the erring one wherever the
connection may survive, so bytes the server should not have sent show up as a response that
does not parse; over HTTP/2 the erring request shares its connection with a gated stream that
is still open, so the connection is never idle and only the erring stream's own end counts.
A case that leaves a server unable to handle errors (daphne's error handling dies at the
first exception raised after ``http.response.start``; granian's process dies at an invalid
status) launches a server of its own; the cases that need the server's error handling intact
(an exception before the start: its 5xx and its log line) share one (:func:`pristine`). Every
case ends by checking that a new connection gets its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import h11
import httpx
import pytest

from conformance.cases import Grade, case
from conformance.client import (
    TIMEOUT,
    H2Session,
    Observer,
    RawHTTP1,
    error_name,
    http_client,
    new_token,
    request_bytes,
)
from conformance.contract.errors import (
    ACCEPTED_BODY,
    DECLARED,
    EXTRA_BODY,
    FINAL_BODY,
    LONG_BODY,
    PARTIAL,
    RECOVERED_BODY,
    SHORT_BODY,
    deliberate_message,
)
from servers import HTTPProtocol, RunningServer, launch

#: How long a server may take to end an exchange the app broke (a 500, a close, a reset):
#: servers do it in milliseconds; daphne converts an exception into a 500 on a one-second
#: tick. Waiting longer only makes a hanging server's case slower.
PROMPT: Final = TIMEOUT * 0.4
#: The contract app's answer to ``GET /``, the request that follows the erring one.
INDEX: Final = b"asgi-conformance contract app"
#: The status an out-of-range case sends (three digits, outside 100-599).
OUT_OF_RANGE: Final = 600
#: The status a malformed-status case sends (four digits: no HTTP status line can carry it).
FOUR_DIGITS: Final = 1000
_PREFIX: Final = "/raw/errors/"


# -- what the client saw ----------------------------------------------------------------------


class End(StrEnum):
    """How an exchange ended, as the client saw it."""

    COMPLETE = "ended cleanly"
    """The terminating chunk, the whole Content-Length, or END_STREAM arrived."""
    CLOSED = "closed before the response was complete"
    """The server closed the connection (with or without a response head)."""
    RESET = "reset"
    """HTTP/2: the server reset the stream (RST_STREAM)."""
    MALFORMED = "malformed"
    """What arrived is not HTTP the client could parse."""
    OPEN = "still open"
    """Nothing ended the exchange within :data:`PROMPT`: the client still waits."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One response as the client saw it.

    Attributes:
        status: the final status, or None if no response head arrived.
        body: the body bytes that arrived.
        end: how it ended.
        seconds: from the request to the end (or to the bound).
        detail: the reset code, the parse error, or "".
    """

    status: int | None
    body: bytes
    end: End
    seconds: float
    detail: str = ""

    def __str__(self) -> str:
        head = "no response head" if self.status is None else f"status {self.status}"
        detail = f" ({self.detail})" if self.detail else ""
        return f"{head}, body {self.body[:60]!r}, {self.end}{detail} after {self.seconds:.2f} s"

    @property
    def error_status(self) -> bool:
        """Whether a complete 5xx response arrived."""
        return self.end is End.COMPLETE and self.status is not None and self.status >= 500


@dataclass(frozen=True, slots=True)
class Exchange:
    """The erring request's response and what followed it on the same connection.

    Attributes:
        outcome: the erring request's response.
        follow: the response to ``GET /`` sent after it on the same connection (pipelined
            over HTTP/1.1, a new stream over HTTP/2), or None if not asked for or if the
            connection was over.
        transcript: the wire transcript.
    """

    outcome: Outcome
    follow: Outcome | None
    transcript: str

    def describe(self) -> str:
        """The outcome, what followed and the transcript, for failure messages."""
        follow = "" if self.follow is None else f"; the next request: {self.follow}"
        return f"{self.outcome}{follow}\n{self.transcript}"


def _probe(token: str) -> list[tuple[str, str]]:
    return [("x-probe-token", token)]


def _closed_early(error: h11.ProtocolError) -> bool:
    """Whether h11's error is the server closing mid-message (an incomplete message), which
    h11 reports as a protocol error of the peer rather than as malformed bytes."""
    text = str(error)
    return "ConnectionClosed" in text or "peer closed connection" in text


async def _h1_response(connection: RawHTTP1, started: float) -> Outcome:
    """Read one response, within :data:`PROMPT` of ``started``."""
    status: int | None = None
    body = bytearray()
    detail = ""
    try:
        head = await connection.response_head(max(0.0, started + PROMPT - time.monotonic()))
        status = head.status
        while True:
            chunk = await connection.body(max(0.0, started + PROMPT - time.monotonic()))
            if chunk is None:
                break
            body += chunk
        end = End.COMPLETE
    except TimeoutError:
        end = End.OPEN
    except ConnectionError:
        end = End.CLOSED
    except h11.ProtocolError as error:
        detail = f"{type(error).__name__}: {error}"
        end = End.CLOSED if _closed_early(error) else End.MALFORMED
    return Outcome(status, bytes(body), end, time.monotonic() - started, detail)


async def _h1_exchange(server: RunningServer, path: str, token: str, *, follow: bool) -> Exchange:
    """``GET path`` on a raw HTTP/1.1 connection (``GET /`` pipelined behind it if ``follow``)."""
    async with RawHTTP1(server) as connection:
        data = request_bytes("GET", path, server.authority, _probe(token))
        if follow:
            data += request_bytes("GET", "/", server.authority)
        started = time.monotonic()
        await connection.send(data)
        outcome = await _h1_response(connection, started)
        after = None
        if follow and outcome.end is End.COMPLETE:
            after = await _h1_response(connection, time.monotonic())
    return Exchange(outcome, after, connection.transcript.render())


def _h2_outcome(session: H2Session, stream_id: int, started: float) -> Outcome:
    stream = session.streams[stream_id]
    errors = [text for _, direction, text in session.result.log if direction == "!"]
    status = stream.status or None
    seconds = time.monotonic() - started
    if any("protocol error" in text for text in errors):
        return Outcome(status, stream.data, End.MALFORMED, seconds, "; ".join(errors))
    if stream.reset is not None:
        return Outcome(status, stream.data, End.RESET, seconds, error_name(stream.reset))
    if stream.ended:
        return Outcome(status, stream.data, End.COMPLETE, seconds)
    if session.closed_by_server:
        detail = "" if session.goaway is None else f"GOAWAY {error_name(session.goaway)}"
        return Outcome(status, stream.data, End.CLOSED, seconds, detail)
    return Outcome(status, stream.data, End.OPEN, seconds)


async def _h2_request(session: H2Session, path: str, headers: list[tuple[str, str]]) -> Outcome:
    stream_id = await session.request("GET", path, headers)
    started = time.monotonic()
    with contextlib.suppress(TimeoutError):
        await session.until(session.finished(stream_id), PROMPT)
    return _h2_outcome(session, stream_id, started)


async def _h2_exchange(
    server: RunningServer, observer: Observer, path: str, token: str, *, follow: bool
) -> Exchange:
    """``GET path`` on a raw HTTP/2 connection that also carries a gated, unfinished stream.

    The other stream keeps the connection busy, so that a server's idle timeout cannot end
    the erring stream for it. It is released at the end.
    """
    sibling = new_token()
    async with H2Session(server) as session:
        kept = await session.request("GET", f"/stream/gated/{sibling}?n=1")
        outcome = await _h2_request(session, path, _probe(token))
        after = None
        if follow and not session.closed_by_server:
            after = await _h2_request(session, "/", [])
        if not session.closed_by_server:
            await observer.release(sibling)
            with contextlib.suppress(TimeoutError):
                await session.until(session.finished(kept), PROMPT)
    return Exchange(outcome, after, session.result.describe())


async def _exchange(
    server: RunningServer, observer: Observer, name: str, token: str, *, follow: bool = False
) -> Exchange:
    """Request the raw endpoint ``name`` in the variant's protocol."""
    if server.spec.protocol is HTTPProtocol.HTTP1:
        return await _h1_exchange(server, _PREFIX + name, token, follow=follow)
    return await _h2_exchange(server, observer, _PREFIX + name, token, follow=follow)


async def _still_serving(server: RunningServer) -> None:
    """A new connection gets its answer: the server survived the app's error."""
    try:
        async with http_client(server) as client:
            response = await client.get("/")
    except httpx.HTTPError as error:
        raise AssertionError(
            f"after the app's error the server does not answer a new connection: {error!r}"
        ) from error
    assert (response.status_code, response.content) == (200, INDEX), (
        f"after the app's error a new connection got {response.status_code} "
        f"{response.content[:100]!r} for GET /"
    )


# -- what the app saw -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    """What the app's ``send()`` did with one invalid message, seen in the app's process.

    Attributes:
        what: the message, in words.
        refused: ``send()`` raised.
        error: the class name of what it raised ("" if it returned).
    """

    what: str
    refused: bool
    error: str

    def __str__(self) -> str:
        return f"{self.what}: {'raised ' + self.error if self.refused else 'send() returned'}"


async def _attempt(observer: Observer, token: str) -> Attempt:
    """The outcome of the endpoint's invalid message (it must be over within the bound)."""
    snapshot = await observer.wait(token, "attempt", timeout=PROMPT)
    found = next(e for e in snapshot["events"] if e["event"] == "attempt")
    return Attempt(str(found["what"]), found["outcome"] == "refused", str(found.get("error", "")))


def _names(events: Iterable[dict[str, Any]]) -> list[str]:
    return [f"{e['event']}:{e.get('type') or e.get('what') or ''}" for e in events]


# -- judging ------------------------------------------------------------------------------------


def _not_hanging(exchange: Exchange, what: str) -> None:
    outcome = exchange.outcome
    assert outcome.end is not End.OPEN, (
        f"the client still waits {PROMPT:.1f} s after the app {what}: the server neither "
        f"ended the response nor closed the connection (or reset the stream): "
        f"{exchange.describe()}"
    )
    assert outcome.end is not End.MALFORMED, (
        f"what the server sent after the app {what} is malformed: {exchange.describe()}"
    )


def _judge_incomplete(exchange: Exchange, what: str) -> None:
    """The client can tell the response is incomplete (or got a complete 5xx)."""
    _not_hanging(exchange, what)
    outcome = exchange.outcome
    assert outcome.end is not End.COMPLETE or outcome.error_status, (
        f"the response ended cleanly although the app {what}: the client takes an incomplete "
        f"response for a complete one: {exchange.describe()}"
    )


def _judge_follow(exchange: Exchange, what: str) -> None:
    """The request after the erring one is answered, or the connection is over: never
    anything the client cannot parse, never a wait."""
    after = exchange.follow
    if after is None:
        return
    assert after.end is not End.MALFORMED, (
        f"the next response on the connection did not parse after the app {what}: the server "
        f"sent bytes that belong to no response: {exchange.describe()}"
    )
    assert after.end is not End.OPEN, (
        f"the request after the erring one got no answer within {PROMPT:.1f} s and the "
        f"connection stayed open after the app {what}: {exchange.describe()}"
    )
    if after.end is End.COMPLETE:
        assert (after.status, after.body) == (200, INDEX), (
            f"the request after the erring one got another answer than its own after the app "
            f"{what}: {exchange.describe()}"
        )


def _judge_wire(exchange: Exchange, what: str, bodies: Iterable[bytes]) -> None:
    """Nothing malformed: a complete response is a 5xx or the app's valid one (``bodies``)."""
    _not_hanging(exchange, what)
    outcome = exchange.outcome
    if outcome.end is End.COMPLETE and not outcome.error_status:
        assert 100 <= (outcome.status or 0) <= 599, (
            f"the status {outcome.status} reached the client after the app {what}: "
            f"{exchange.describe()}"
        )
        assert outcome.body in set(bodies), (
            f"the client got the body {outcome.body!r} after the app {what}: {exchange.describe()}"
        )
    _judge_follow(exchange, what)


@pytest.fixture(scope="module")
def pristine(server: RunningServer) -> Iterator[RunningServer]:
    """A server of its own for the cases that need the variant's error handling intact.

    Only exceptions raised before ``http.response.start`` reach it, which no server's error
    handling is worn out by (daphne's dies at the first one raised after the start), so the
    cases judging them share it; each checks that it still serves.
    """
    with launch(server.spec, server.app) as fresh:
        yield fresh


async def _incomplete_case(server: RunningServer, name: str, what: str) -> None:
    """Run raw endpoint ``name`` on a server of its own; judge an incomplete response."""
    token = new_token()
    with launch(server.spec, server.app) as fresh:
        async with Observer(fresh) as observer:
            exchange = await _exchange(fresh, observer, name, token)
            snapshot = await observer.snapshot(token)
        names = {e["event"] for e in snapshot["events"]}
        assert names & {"raising", "returning"}, (
            f"the app never {what}: {_names(snapshot['events'])}"
        )
        _judge_incomplete(exchange, what)
        await _still_serving(fresh)


async def _misuse_case(
    server: RunningServer, name: str, what: str, bodies: Iterable[bytes]
) -> Attempt:
    """Run raw endpoint ``name``; judge the wire and return what ``send()`` did."""
    token = new_token()
    async with Observer(server) as observer:
        exchange = await _exchange(server, observer, name, token, follow=True)
        attempt = await _attempt(observer, token)
    _judge_wire(exchange, what, bodies)
    await _still_serving(server)
    return attempt


def _judge_refused(attempt: Attempt, what: str) -> None:
    assert attempt.refused, (
        f"send() returned for {what}: the server accepted an invalid event instead of "
        f"raising ({attempt})"
    )


# -- the app raises -------------------------------------------------------------------------


@case(
    "errors/raise-before-start",
    grade=Grade.REQUIRED,
    clause='ASGI core, Error Handling: servers "must terminate the application instance and '
    'its associated connection"; ASGI HTTP 2.5, Response Start: the server may "replace the '
    'response with an error response"',
)
async def test_an_exception_before_the_response_is_a_5xx(pristine: RunningServer) -> None:
    """An app raising before ``http.response.start`` gets a 5xx response, promptly.

    Judges the server's error handling: nothing was sent yet, so the server terminates the
    request with a complete error response within :data:`PROMPT` (daphne's one-second
    error tick included), and goes on serving. On the :func:`pristine` server, whose error
    handling no earlier case can have worn out (daphne's dies at an exception past the
    response start). Broken server: ``error-hidden`` (answers 200 with an empty body).
    """
    token = new_token()
    async with Observer(pristine) as observer:
        exchange = await _exchange(pristine, observer, "raise-before-start", token)
        await observer.wait(token, "raising")
    outcome = exchange.outcome
    _not_hanging(exchange, "raised before http.response.start")
    assert outcome.status is not None, (
        f"the server closed the connection without a response after the app raised before "
        f"http.response.start: {exchange.describe()}"
    )
    assert outcome.error_status, (
        f"the app raised before http.response.start and the client got {outcome}, not a "
        f"complete 5xx response: {exchange.describe()}"
    )
    await _still_serving(pristine)


@case(
    "errors/raise-logged",
    grade=Grade.RECOMMENDED,
    clause='ASGI core, Error Handling: "Servers are free to surface errors that bubble up out '
    "of application instances they are running however they wish - log to console, send to "
    'syslog, or other options"',
)
async def test_an_exception_of_the_app_is_logged(pristine: RunningServer) -> None:
    """The exception an app raises shows up in the server's output.

    The spec leaves the channel open but has the server surface the error; the harness sees
    the server's stdout and stderr, where every server writes the traceback. Judged: the
    exception's message (which names the case's token and is written nowhere else) appears in
    the log of the :func:`pristine` server within :data:`PROMPT`. Broken server:
    ``error-hidden`` (the exception never reaches the server).
    """
    token = new_token()
    message = deliberate_message(token)
    async with Observer(pristine) as observer:
        await _exchange(pristine, observer, "raise-before-start", token)
        await observer.wait(token, "raising")
    deadline = time.monotonic() + PROMPT
    while message not in (log := pristine.read_log()):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the app's exception ({message!r}) is not in the server's log within "
                f"{PROMPT:.1f} s; the end of the log:\n{log[-2000:]}"
            )
        await asyncio.sleep(0.05)


@case(
    "errors/raise-after-start",
    grade=Grade.REQUIRED,
    clause='ASGI core, Error Handling: servers "must terminate the application instance and '
    'its associated connection"; RFC 9112 §8: a chunked body without its last chunk is '
    "incomplete; RFC 9113 §8.1, §5.4.2: only END_STREAM completes a response",
)
async def test_an_exception_after_the_start_ends_the_response_as_incomplete(
    server: RunningServer,
) -> None:
    """An app raising after ``http.response.start``: incomplete for the client, or a 5xx.

    The app starts a response without Content-Length and raises. A server that deferred the
    start may still answer 5xx; otherwise it must end the response so that the client can
    tell it is incomplete (HTTP/1.1: close without the terminating chunk; HTTP/2: reset the
    stream), within :data:`PROMPT`. On a server of its own (daphne's error handling dies
    here). Fails on daphne (nothing sent, the client waits) and hypercorn HTTP/2 (the stream
    is left open), and under the breaks ``error-hidden`` and ``error-leaves-open``.
    """
    await _incomplete_case(server, "raise-after-start", "raised after http.response.start")


@case(
    "errors/raise-mid-body",
    grade=Grade.REQUIRED,
    clause='ASGI core, Error Handling: servers "must terminate the application instance and '
    'its associated connection"; RFC 9112 §8: "A message body that uses the chunked transfer '
    "coding is incomplete if the zero-sized chunk that terminates the encoding has not been "
    'received"; RFC 9113 §5.4.2: a stream error is a RST_STREAM',
)
async def test_an_exception_mid_body_ends_a_chunked_response_as_incomplete(
    server: RunningServer,
) -> None:
    """An app raising after part of a body without Content-Length: the client sees it cut.

    HTTP/1.1: the connection closes without the terminating chunk; HTTP/2: RST_STREAM (or a
    closed connection), never END_STREAM; within :data:`PROMPT`, on a server of its own.
    Fails on daphne (the connection is left open) and hypercorn HTTP/2 (the stream is left
    open), and under the breaks ``error-hidden`` (the terminating chunk is sent) and
    ``error-leaves-open``.
    """
    await _incomplete_case(server, "raise-mid-body", f"raised after {PARTIAL!r} of its body")


@case(
    "errors/raise-mid-body-length",
    grade=Grade.REQUIRED,
    clause='ASGI core, Error Handling: servers "must terminate the application instance and '
    'its associated connection"; RFC 9112 §6.3, §8: a body short of its Content-Length is '
    "incomplete (the connection closes); RFC 9113 §5.4.2",
)
async def test_an_exception_mid_body_ends_a_sized_response_as_incomplete(
    server: RunningServer,
) -> None:
    """An app raising after 7 of its 100 declared bytes: the client sees the body cut short.

    HTTP/1.1: the connection closes short of the Content-Length; HTTP/2: RST_STREAM (or a
    closed connection); within :data:`PROMPT`, on a server of its own. Fails on daphne (the
    connection is left open) and hypercorn HTTP/2, and under the breaks ``error-hidden``
    (the body is padded to its length) and ``error-leaves-open``.
    """
    await _incomplete_case(
        server, "raise-mid-body-length", "raised after 7 of its 100 declared body bytes"
    )


@case(
    "errors/survives-error-after-start",
    grade=Grade.REQUIRED,
    clause='ASGI core, Error Handling: servers "must terminate the application instance and '
    'its associated connection" whenever an error bubbles up, the first one or not',
)
async def test_error_handling_survives_an_exception_after_the_start(
    server: RunningServer,
) -> None:
    """After an app raised past ``http.response.start``, the next raise still gets a 5xx.

    On a server of its own: one request's app raises after starting its response (whatever
    the server makes of it); then another request's app raises before starting, and must get
    a complete 5xx within :data:`PROMPT`. Judges that the server's error handling outlives an
    error it could not answer with a 500. Fails on daphne (its periodic error checker dies
    when it tries to send a 500 for a response already started: every later error hangs),
    and under the break ``error-handling-dies``.
    """
    first, second = new_token(), new_token()
    with launch(server.spec, server.app) as fresh:
        async with Observer(fresh) as observer:
            await _exchange(fresh, observer, "raise-after-start", first)
            await observer.wait(first, "raising")
            exchange = await _exchange(fresh, observer, "raise-before-start", second)
            await observer.wait(second, "raising")
        _not_hanging(exchange, "raised before http.response.start, after an earlier error")
        assert exchange.outcome.error_status, (
            f"after an earlier exception raised past http.response.start, an app raising "
            f"before it got {exchange.outcome}, not a 5xx: {exchange.describe()}"
        )
        await _still_serving(fresh)


# -- the app returns early --------------------------------------------------------------------


@case(
    "errors/return-without-response",
    grade=Grade.REQUIRED,
    clause='ASGI HTTP 2.5, Response Start: a response "needs to be followed by at least one '
    'response content message"; ASGI core, Error Handling: the server must terminate the '
    "connection of a broken app instance",
)
async def test_an_app_returning_without_a_response_gets_a_5xx_or_a_close(
    server: RunningServer,
) -> None:
    """An app that returns without sending anything: a 5xx or a close, never a wait.

    Within :data:`PROMPT` the client gets a complete 5xx response, or the connection (HTTP/2:
    the stream) is closed. Fails on daphne (no default HTTP timeout: the client waits
    forever) and under the break ``returns-hang``.
    """
    token = new_token()
    async with Observer(server) as observer:
        exchange = await _exchange(server, observer, "return-without-response", token)
        await observer.wait(token, "returning")
    what = "returned without sending a message"
    _not_hanging(exchange, what)
    assert exchange.outcome.end is not End.COMPLETE or exchange.outcome.error_status, (
        f"the app {what} and the client got {exchange.outcome}: {exchange.describe()}"
    )
    await _still_serving(server)


@case(
    "errors/return-after-start",
    grade=Grade.REQUIRED,
    clause='ASGI HTTP 2.5, Response Start: "Needs to be followed by at least one response '
    'content message"; RFC 9112 §8; RFC 9113 §8.1: only END_STREAM completes a response',
)
async def test_an_app_returning_after_the_start_gets_an_incomplete_response(
    server: RunningServer,
) -> None:
    """An app that returns after ``http.response.start`` alone: incomplete, or a 5xx.

    The response was never completed, so the client must be able to tell (a close, a reset)
    within :data:`PROMPT`, unless the server deferred the start and answers 5xx. Fails on
    daphne (the client waits forever) and hypercorn HTTP/2 (the stream is left open), and
    under the break ``returns-hang``.
    """
    token = new_token()
    async with Observer(server) as observer:
        exchange = await _exchange(server, observer, "return-after-start", token)
        await observer.wait(token, "returning")
    _judge_incomplete(exchange, "returned after http.response.start alone")
    await _still_serving(server)


# -- the app lies about its length ------------------------------------------------------------


@case(
    "errors/length-over",
    grade=Grade.REQUIRED,
    clause="RFC 9112 §6.3: Content-Length delimits the body (what follows is the next "
    "response); RFC 9113 §8.1.1: a response whose content-length differs from its DATA is "
    "malformed and must not be forwarded",
)
async def test_a_body_longer_than_its_content_length_never_reaches_the_wire(
    server: RunningServer,
) -> None:
    """An app sending 10 bytes under its own Content-Length 5: never more than 5 go out.

    The server may raise into the app, cut the body at 5 bytes, close the connection or reset
    the stream; over HTTP/1.1 the pipelined ``GET /`` behind it must then get its own
    response or a close, never the 5 extra bytes read as the start of a response; over HTTP/2
    no malformed response may arrive. Fails on daphne and granian (all 10 bytes go out and
    corrupt the keep-alive connection), on HTTP/2 (hypercorn and granian send the malformed
    response), and under the break ``length-rewritten``.
    """
    token = new_token()
    async with Observer(server) as observer:
        exchange = await _exchange(server, observer, "length-over", token, follow=True)
        await _attempt(observer, token)
    what = f"sent {len(LONG_BODY)} body bytes under its Content-Length {DECLARED}"
    _not_hanging(exchange, what)
    outcome = exchange.outcome
    if outcome.end is End.COMPLETE:
        assert len(outcome.body) <= DECLARED, (
            f"the client got {len(outcome.body)} body bytes where the app declared "
            f"{DECLARED}: {exchange.describe()}"
        )
    _judge_follow(exchange, what)
    await _still_serving(server)


@case(
    "errors/length-under",
    grade=Grade.REQUIRED,
    clause="RFC 9112 §8: a body short of its Content-Length is incomplete, and a server that "
    "cannot complete it closes the connection; RFC 9113 §8.1.1: such a response is malformed",
)
async def test_a_body_shorter_than_its_content_length_is_not_left_waiting(
    server: RunningServer,
) -> None:
    """An app ending its body after 3 of its 5 declared bytes: the client is not left waiting.

    The body can never be completed: within :data:`PROMPT` the server must close the
    connection (HTTP/1.1) or reset the stream (HTTP/2), so the client sees an incomplete
    response instead of waiting for 2 bytes that never come. The app catches what its
    ``send()`` raises and returns, as a framework that takes a failed send for a lost client
    does. Fails on uvicorn-h11, daphne and granian (the connection stays open), on HTTP/2
    (END_STREAM after 3 bytes: a malformed response), and under the break ``returns-hang``.
    """
    token = new_token()
    async with Observer(server) as observer:
        exchange = await _exchange(server, observer, "length-under", token)
        await _attempt(observer, token)
    what = f"ended its body after {len(SHORT_BODY)} of its {DECLARED} declared bytes"
    outcome = exchange.outcome
    assert outcome.end is not End.OPEN, (
        f"the client still waits for the missing {DECLARED - len(SHORT_BODY)} bytes "
        f"{PROMPT:.1f} s after the app {what}: the server left the connection open: "
        f"{exchange.describe()}"
    )
    _judge_incomplete(exchange, what)
    await _still_serving(server)


# -- the app sends what it must not -----------------------------------------------------------


@case(
    "errors/second-start",
    grade=Grade.RECOMMENDED,
    clause='ASGI core, Error Handling: for an invalid event the server "should raise an '
    'exception out of the send awaitable"; ASGI HTTP 2.5: one Response Start per response',
)
async def test_a_second_response_start_raises(server: RunningServer) -> None:
    """A second ``http.response.start`` raises out of ``send()`` and changes nothing.

    The app starts a 200 with Content-Length 2, sends a second start (500), then the body
    ``ok``: ``send()`` must raise for the second start, and the client get the 200 with
    ``ok`` (or a close), the pipelined request behind it its own answer. Broken server:
    ``send-errors-swallowed``.
    """
    what = "sent a second http.response.start"
    attempt = await _misuse_case(server, "second-start", what, [b"ok"])
    _judge_refused(attempt, "a second http.response.start")


@case(
    "errors/body-after-final",
    grade=Grade.REQUIRED,
    clause='ASGI HTTP 2.5, Response Body: with more_body False the response "will be taken as '
    'complete and closed, and any further messages on the channel will be ignored"',
)
async def test_a_body_after_the_final_one_never_reaches_the_wire(server: RunningServer) -> None:
    """A body message after the final one is ignored (or raises) and never reaches the wire.

    The response is ``final`` exactly, and the pipelined request behind it gets its own
    answer; the late ``send()`` returns or raises within :data:`PROMPT` (either is allowed).
    Broken server: ``late-body-sent``.
    """
    what = f"sent {EXTRA_BODY!r} after its final body"
    await _misuse_case(server, "body-after-final", what, [FINAL_BODY])


@case(
    "errors/str-header-name",
    grade=Grade.RECOMMENDED,
    clause='ASGI core, Error Handling: for "wrong Python types for objects (e.g. Unicode '
    'strings for HTTP headers)" the server "should raise an exception out of the send '
    'awaitable"',
)
async def test_a_str_header_name_raises(server: RunningServer) -> None:
    """A header name given as ``str`` makes ``send()`` raise; nothing malformed goes out.

    After the raise the app sends a valid start and body: the client gets that response, a
    5xx, or a close. Fails on uvicorn-h11 (the header is accepted and sent) and under the
    break ``send-errors-swallowed``.
    """
    what = "sent a header name as str"
    attempt = await _misuse_case(server, "str-header-name", what, [RECOVERED_BODY, ACCEPTED_BODY])
    _judge_refused(attempt, "a str header name")


@case(
    "errors/str-header-value",
    grade=Grade.RECOMMENDED,
    clause='ASGI core, Error Handling: for "wrong Python types for objects (e.g. Unicode '
    'strings for HTTP headers)" the server "should raise an exception out of the send '
    'awaitable"',
)
async def test_a_str_header_value_raises(server: RunningServer) -> None:
    """A header value given as ``str`` makes ``send()`` raise; nothing malformed goes out.

    Fails on uvicorn-h11 (the header is accepted and sent) and under the break
    ``send-errors-swallowed``.
    """
    what = "sent a header value as str"
    attempt = await _misuse_case(server, "str-header-value", what, [RECOVERED_BODY, ACCEPTED_BODY])
    _judge_refused(attempt, "a str header value")


@case(
    "errors/unknown-message",
    grade=Grade.RECOMMENDED,
    clause='ASGI core, Error Handling: for an event "having an unknown type" the server '
    '"should raise an exception out of the send awaitable"',
)
async def test_an_unknown_message_type_raises(server: RunningServer) -> None:
    """A message of an unknown type makes ``send()`` raise; the response after it is intact.

    Broken server: ``send-errors-swallowed``.
    """
    what = "sent a message of an unknown type"
    attempt = await _misuse_case(server, "unknown-message", what, [RECOVERED_BODY])
    _judge_refused(attempt, "a message of type http.response.bogus")


@case(
    "errors/status-out-of-range",
    grade=Grade.RECOMMENDED,
    clause='ASGI core, Error Handling: an invalid event "should raise an exception out of the '
    'send awaitable"; RFC 9110 §15: "Values outside the range 100..599 are invalid"',
)
async def test_a_status_outside_100_to_599_raises(server: RunningServer) -> None:
    """A start with status 600 makes ``send()`` raise; the invalid status never goes out.

    RFC 9110 §15 leaves 600-999 to "internal communication of non-HTTP status": not a status
    to send. Fails on hypercorn, daphne and granian (600 is sent) and under the break
    ``send-errors-swallowed``.
    """
    what = f"started a response with status {OUT_OF_RANGE}"
    attempt = await _misuse_case(
        server, f"bad-status?status={OUT_OF_RANGE}", what, [RECOVERED_BODY]
    )
    _judge_refused(attempt, f"status {OUT_OF_RANGE}")


@case(
    "errors/status-not-three-digits",
    grade=Grade.REQUIRED,
    clause="RFC 9112 §4 and RFC 9113 §8.3.2: the status code is three digits; RFC 9110 §2.2: "
    '"A sender MUST NOT generate protocol elements that do not match the grammar"; ASGI core, '
    "Error Handling: the server does not itself error in the process",
)
async def test_a_four_digit_status_never_reaches_the_wire(server: RunningServer) -> None:
    """A start with status 1000: nothing malformed goes out, and the server survives it.

    The server may raise into the app or answer 5xx in its place; no status line or
    ``:status`` the client cannot parse may go out, and the server keeps serving. On a server
    of its own. Fails on daphne (``HTTP/1.1 1000`` is sent), hypercorn HTTP/2 (``:status
    1000``), granian (its worker panics and the server exits), and under the break
    ``status-kills-server``.
    """
    token = new_token()
    what = f"started a response with status {FOUR_DIGITS}"
    with launch(server.spec, server.app) as fresh:
        async with Observer(fresh) as observer:
            exchange = await _exchange(
                fresh, observer, f"bad-status?status={FOUR_DIGITS}", token, follow=True
            )
        await _still_serving(fresh)
        _judge_wire(exchange, what, [RECOVERED_BODY, ACCEPTED_BODY])
