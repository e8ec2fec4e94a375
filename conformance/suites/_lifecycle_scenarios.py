"""The lifecycle family's scenarios: servers of their own, started, failed and stopped.

Each scenario launches a server of its own (:func:`servers.launch`, with the session's app or
one of :mod:`conformance.contract.lifespan_apps`), drives it through one part of its life and
returns a frozen record of what it saw; the cases of :mod:`conformance.suites.test_lifecycle`
judge the records. While the server speaks no HTTP (before its lifespan startup completes,
once it has begun to stop) the scenario and the app talk over the control channel
(:mod:`conformance.contract.control`): the app's startup waits for the scenario's word, the
in-flight response produces its next chunk on cue, the app reports its lifespan shutdown.

* :func:`hold_startup`: the app's startup is held for :data:`STARTUP_HOLD` while a client
  knocks, then released;
* :func:`fail_startup`: a client knocks, then the app answers ``lifespan.startup.failed``;
* :func:`raise_on_lifespan`: the app raises on the lifespan scope;
* :func:`stop_in_flight`: SIGINT with a streamed response in flight, an idle keep-alive
  connection (whose close shows that shutdown began) and a connection made afterwards;
* :func:`stop_after_serving`: SIGINT once the server has served.

:func:`once` runs a scenario once per variant and ``--verify`` round; a scenario the server
did not let finish gives :class:`Unfinished`, which fails the cases that judge it (a failure,
not a harness error). Every record carries a timeline for failure messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import httpx
import pytest

from conformance.client import (
    TIMEOUT,
    H2Session,
    RawHTTP1,
    error_name,
    http_client,
    new_token,
    request_bytes,
)
from conformance.contract.control import ControlChannel, ControlMessage
from conformance.contract.lifecycle import inflight_chunk
from conformance.contract.lifespan_apps import SERVED_ENV
from servers import (
    HarnessError,
    HTTPProtocol,
    RunningServer,
    ServerSpec,
    ServerStartError,
    launch,
)

__all__ = [
    "EXIT_BOUND",
    "INFLIGHT_CHUNKS",
    "INFLIGHT_SIZE",
    "NEW_CONNECTION_BOUND",
    "RAISING_APP",
    "SHUTDOWN_SIGN_BOUND",
    "STARTUP_HOLD",
    "STOP_GRACE",
    "Answer",
    "FailedStartup",
    "HeldStartup",
    "NewConnection",
    "RaisingLifespan",
    "Stopped",
    "StoppedInFlight",
    "Timeline",
    "Unfinished",
    "fail_startup",
    "finished",
    "hold_startup",
    "knock",
    "once",
    "raise_on_lifespan",
    "stop_after_serving",
    "stop_in_flight",
    "unless_exited",
    "wait_exit",
]

T = TypeVar("T")

#: How long the app's lifespan startup is held once a client has tried to connect: the window
#: in which a server that serves before ``lifespan.startup.complete`` would answer. Nothing
#: marks "the server would have answered by now", so this one wait is a bound, not an event:
#: a startup hook that takes a second, the case the ASGI conformance issue names. Servers
#: answer a request on loopback in milliseconds.
STARTUP_HOLD: Final = 1.0
#: How long a server may take to exit after its app reported ``lifespan.startup.failed``
#: (the servers that exit do so within half a second).
EXIT_BOUND: Final = TIMEOUT
#: How long after SIGINT the case waits for the server to close an idle keep-alive connection,
#: its sign that shutdown began (every server closes it within 50 ms); without the sign the
#: case goes on after this bound.
SHUTDOWN_SIGN_BOUND: Final = TIMEOUT / 5
#: How long a connection made once shutdown began may stay open without an answer: a
#: stopping server refuses or closes it at once.
NEW_CONNECTION_BOUND: Final = TIMEOUT / 10
#: The SIGINT grace period of the cases' own servers.
STOP_GRACE: Final = 10.0
#: The in-flight response: chunks and their size.
INFLIGHT_CHUNKS: Final = 3
INFLIGHT_SIZE: Final = 16
#: The app that raises on the lifespan scope (it serves the session's app otherwise).
RAISING_APP: Final = "conformance.contract.lifespan_apps:raising"
_POLL: Final = 0.05


class Timeline:
    """What a scenario did and saw, stamped from its start, for failure messages."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.lines: list[str] = []

    def note(self, text: str, at: float | None = None) -> None:
        """Add ``text`` at ``at`` (``time.monotonic()``; now if None)."""
        moment = time.monotonic() if at is None else at
        self.lines.append(f"+{(moment - self.start) * 1000:7.1f} ms  {text}")

    def render(self) -> str:
        return "\n".join(self.lines) or "(nothing happened)"


@dataclass(frozen=True, slots=True)
class Answer:
    """A response a knocking client got."""

    status: int
    body: str
    at: float

    def json(self) -> dict[str, Any]:
        """The body as a JSON object ({} if it is not one)."""
        try:
            value = json.loads(self.body)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


async def knock(
    server: RunningServer,
    path: str,
    *,
    until: asyncio.Event,
    knocked: asyncio.Event,
    timeline: Timeline,
) -> Answer | None:
    """GET ``path`` again and again (refused, dropped) until an answer or ``until`` is set.

    ``knocked`` is set once a connection attempt has been made (refused, or the TCP
    connection is up): from then on the server could answer.
    """
    attempts = 0
    while not until.is_set():
        attempts += 1

        async def trace(name: str, info: dict[str, Any], attempt: int = attempts) -> None:
            if name.endswith("connect_tcp.complete"):
                if not knocked.is_set():
                    timeline.note(f"knock {attempt}: TCP connection accepted")
                knocked.set()
            elif name.endswith("send_request_headers.complete") and attempt == 1:
                timeline.note(f"knock {attempt}: request sent")

        try:
            async with http_client(server, timeout=TIMEOUT + STARTUP_HOLD) as client:
                response = await client.get(path, extensions={"trace": trace})
        except httpx.ConnectError:
            if not knocked.is_set():
                timeline.note(f"knock {attempts}: connection refused")
            knocked.set()
        except httpx.TransportError as error:
            timeline.note(f"knock {attempts}: {type(error).__name__} {error}".rstrip())
            knocked.set()
        else:
            answer = Answer(response.status_code, response.text, time.monotonic())
            timeline.note(f"knock {attempts}: answered {answer.status} {answer.body[:200]}")
            return answer
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(until.wait(), _POLL)
    timeline.note(f"stopped knocking after {attempts} attempt(s), no answer")
    return None


async def unless_exited(server: RunningServer, awaitable: Awaitable[T], timeout: float) -> T | None:
    """The result of ``awaitable``; None if the server exits first.

    Raises:
        TimeoutError: neither within ``timeout``.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        async with asyncio.timeout(timeout):
            while not task.done():
                if not server.running:
                    return None
                await asyncio.wait({task}, timeout=_POLL)
        return task.result()
    finally:
        task.cancel()


async def wait_exit(server: RunningServer, timeout: float) -> float | None:
    """When the server's process exited (``time.monotonic()``), or None if not in time."""
    deadline = time.monotonic() + timeout
    while server.running:
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(_POLL)
    return time.monotonic()


def once(request: pytest.FixtureRequest, kind: str, run: Callable[[], T]) -> T | Unfinished:
    """Run a scenario once per variant and ``--verify`` round; later cases share its record.

    A scenario that raises (the server did not let it get through) gives an
    :class:`Unfinished` that fails every case judging it, rather than an error in the setup.
    """
    runs: dict[tuple[str, str, int], Any] = request.config.stash.setdefault(_RUNS, {})
    callspec = getattr(request.node, "callspec", None)
    params = callspec.params if callspec is not None else {}
    spec: ServerSpec = params["server"]
    key = (kind, spec.name, int(params.get("conformance_iteration", 1)))
    if key not in runs:
        try:
            runs[key] = run()
        except (HarnessError, OSError, TimeoutError, AssertionError, httpx.HTTPError) as error:
            runs[key] = Unfinished(kind, f"{type(error).__name__}: {error}")
    record: T | Unfinished = runs[key]
    return record


@dataclass(frozen=True, slots=True)
class Unfinished:
    """A scenario that could not run to its end: the server stopped it (see the reason)."""

    kind: str
    reason: str


def finished(record: T | Unfinished) -> T:
    """The scenario's record.

    Raises:
        AssertionError: the scenario did not run to its end.
    """
    if isinstance(record, Unfinished):
        raise AssertionError(f"the {record.kind} scenario did not finish: {record.reason}")
    return record


_RUNS = pytest.StashKey[dict[tuple[str, str, int], Any]]()


@dataclass(frozen=True, slots=True)
class HeldStartup:
    """A server whose app held its lifespan startup while a client knocked.

    Attributes:
        began: the app's lifespan startup started (it asked on the control channel).
        knocked: a client tried to connect while startup was held.
        released_at: when the case let startup complete.
        answer: the response to ``GET /lifespan/arrival`` (asked during the hold).
        timeline: what happened, for messages.
    """

    began: bool
    knocked: bool
    released_at: float | None
    answer: Answer | None
    timeline: str


async def hold_startup(spec: ServerSpec, app: str, startup_timeout: float) -> HeldStartup:
    timeline = Timeline()
    until, knocked = asyncio.Event(), asyncio.Event()
    async with ControlChannel() as channel:
        server = launch(spec, app, env=channel.env, wait_ready=False)
        timeline.note(f"spawned {spec.name} on {server.authority}")
        knocking: asyncio.Task[Answer | None] | None = None
        released_at = None
        try:
            ask = await unless_exited(
                server, channel.next("startup", startup_timeout), startup_timeout
            )
            if ask is None:
                timeline.note("the server exited before the app's lifespan startup began")
                return HeldStartup(False, False, None, None, timeline.render())
            timeline.note(f"the app's startup began ({ask.data.get('by')}); held", ask.t)
            knocking = asyncio.create_task(
                knock(server, "/lifespan/arrival", until=until, knocked=knocked, timeline=timeline)
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(knocked.wait(), TIMEOUT)
            await asyncio.sleep(STARTUP_HOLD)  # the window: see STARTUP_HOLD
            released_at = time.monotonic()
            await ask.reply("complete")
            await channel.answer_all("startup", "complete")
            timeline.note("startup released", released_at)
            answer = None
            with contextlib.suppress(TimeoutError):
                answer = await asyncio.wait_for(asyncio.shield(knocking), TIMEOUT + STARTUP_HOLD)
            return HeldStartup(True, knocked.is_set(), released_at, answer, timeline.render())
        finally:
            until.set()
            if knocking is not None:
                knocking.cancel()
            await asyncio.to_thread(server.stop)


@dataclass(frozen=True, slots=True)
class FailedStartup:
    """A server whose app answered ``lifespan.startup.failed`` while a client knocked.

    Attributes:
        began: the app's lifespan startup started.
        answer: a response the client got (the server served), or None.
        exit_seconds: from the failure to the server's exit; None if it did not exit in time.
        exit_code: the exit status (None if it did not exit by itself).
        timeline: what happened, for messages.
        log: the end of the server's log.
    """

    began: bool
    answer: Answer | None
    exit_seconds: float | None
    exit_code: int | None
    timeline: str
    log: str


async def fail_startup(spec: ServerSpec, app: str, startup_timeout: float) -> FailedStartup:
    timeline = Timeline()
    until, knocked = asyncio.Event(), asyncio.Event()
    async with ControlChannel() as channel:
        server = launch(spec, app, env=channel.env, wait_ready=False)
        timeline.note(f"spawned {spec.name} on {server.authority}")
        knocking: asyncio.Task[Answer | None] | None = None
        try:
            ask = await unless_exited(
                server, channel.next("startup", startup_timeout), startup_timeout
            )
            if ask is None:
                await asyncio.to_thread(server.stop)
                timeline.note(f"exited before lifespan startup, code {server.exit_code}")
                return FailedStartup(
                    False, None, None, None, timeline.render(), server.log_tail(3000)
                )
            timeline.note(f"the app's startup began ({ask.data.get('by')})", ask.t)
            knocking = asyncio.create_task(
                knock(server, "/lifespan/arrival", until=until, knocked=knocked, timeline=timeline)
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(knocked.wait(), TIMEOUT)
            failed_at = time.monotonic()
            await ask.reply("fail")
            await channel.answer_all("startup", "fail")
            timeline.note("the app answers lifespan.startup.failed", failed_at)
            exited_at = await wait_exit(server, EXIT_BOUND)
            until.set()
            answer = await asyncio.wait_for(knocking, TIMEOUT + STARTUP_HOLD)
            if exited_at is None:
                timeline.note(f"still running {EXIT_BOUND} s after the failure")
            else:
                timeline.note("the server exited", exited_at)
            await asyncio.to_thread(server.stop)
            return FailedStartup(
                True,
                answer,
                None if exited_at is None else exited_at - failed_at,
                None if exited_at is None else server.exit_code,
                timeline.render(),
                server.log_tail(3000),
            )
        finally:
            until.set()
            if knocking is not None:
                knocking.cancel()
            await asyncio.to_thread(server.stop)


@dataclass(frozen=True, slots=True)
class RaisingLifespan:
    """A server whose app raised when it was called with the lifespan scope.

    Attributes:
        start_error: why the server did not come up, or None if it answered.
        answer: the response to ``GET /lifespan/arrival``, or None.
        lifespan_calls: how often the server called the app with a lifespan scope.
        exit_code: the exit status after the case's SIGINT.
        log: the end of the server's log.
    """

    start_error: str | None
    answer: Answer | None
    lifespan_calls: int
    exit_code: int | None
    log: str


async def raise_on_lifespan(spec: ServerSpec, app: str, startup_timeout: float) -> RaisingLifespan:
    async with ControlChannel() as channel:
        # The app's own startup then runs for the first request: it must not wait.
        await channel.answer_all("startup", "complete")
        env = {**channel.env, SERVED_ENV: app}
        try:
            server = await asyncio.to_thread(
                launch, spec, RAISING_APP, env=env, startup_timeout=startup_timeout
            )
        except ServerStartError as error:
            return RaisingLifespan(
                str(error).splitlines()[0],
                None,
                len(channel.seen("lifespan-called")),
                error.exit_code,
                error.log_tail or "",
            )
        try:
            async with http_client(server) as client:
                response = await client.get("/lifespan/arrival")
            answer = Answer(response.status_code, response.text, time.monotonic())
        except httpx.TransportError:
            answer = None
        finally:
            await asyncio.to_thread(server.stop)
        calls = len(channel.seen("lifespan-called"))
        return RaisingLifespan(None, answer, calls, server.exit_code, server.log_tail(3000))


@dataclass(frozen=True, slots=True)
class NewConnection:
    """What a connection made once the server began to stop got.

    Attributes:
        outcome: ``"refused"``, ``"closed"`` (accepted, then closed or reset without an
            answer), ``"answered"`` or ``"hung"`` (open, unanswered for
            :data:`NEW_CONNECTION_BOUND`).
        detail: the error or status.
    """

    outcome: str
    detail: str


@dataclass(frozen=True, slots=True)
class StoppedInFlight:
    """A server stopped (SIGINT) while a streamed response was in flight.

    Attributes:
        expected: the whole body of the in-flight response.
        body: what the client received of it.
        ending: ``"complete"`` (the framing said the body had ended), ``"aborted"`` (the
            client could tell it was cut: a reset, a close before the last chunk) or
            ``"stalled"`` (neither, within the client's timeout).
        error: the client's error for an aborted or stalled body.
        new_connection: what a connection made after shutdown began got.
        inflight_ended: when the app's in-flight stream was over (``time.monotonic()``).
        shutdown_at: when the app got ``lifespan.shutdown`` (None: it never did).
        exit_code: the exit status.
        gracefully: whether the server exited within the grace period.
        timeline: what happened, for messages.
        log: the end of the server's log.
    """

    expected: bytes
    body: bytes
    ending: str
    error: str | None
    new_connection: NewConnection
    inflight_ended: float | None
    shutdown_at: float | None
    exit_code: int | None
    gracefully: bool
    timeline: str
    log: str = field(repr=False)

    def describe(self) -> str:
        """The timeline and the log, for failure messages."""
        return f"{self.timeline}\nserver log (end):\n{self.log}"


@dataclass(slots=True)
class _Reading:
    """The in-flight response as the client reads it."""

    body: bytearray = field(default_factory=bytearray)
    first: asyncio.Event = field(default_factory=asyncio.Event)


async def _read_in_flight(
    server: RunningServer, path: str, reading: _Reading, timeline: Timeline
) -> tuple[str, str | None]:
    """Read ``path`` to its end (HTTP/1.1, httpx); ``(ending, error)`` as
    :class:`StoppedInFlight` has them."""
    try:
        async with (
            http_client(server, timeout=2 * TIMEOUT) as client,
            client.stream("GET", path) as response,
        ):
            timeline.note(f"in-flight response started: {response.status_code}")
            async for data in response.aiter_raw():
                reading.body += data
                if len(reading.body) >= INFLIGHT_SIZE and not reading.first.is_set():
                    timeline.note("in-flight: first chunk received")
                    reading.first.set()
    except httpx.TimeoutException as error:
        timeline.note(f"in-flight: no end within {2 * TIMEOUT} s")
        return "stalled", f"{type(error).__name__}: {error}"
    except httpx.TransportError as error:
        timeline.note(f"in-flight: cut, {type(error).__name__}: {error}")
        return "aborted", f"{type(error).__name__}: {error}"
    finally:
        reading.first.set()
    timeline.note(f"in-flight: the body ended after {len(reading.body)} bytes")
    return "complete", None


async def _read_in_flight_h2(
    server: RunningServer, path: str, reading: _Reading, timeline: Timeline
) -> tuple[str, str | None]:
    """:func:`_read_in_flight` over HTTP/2, on the raw client: a graceful GOAWAY (the stream
    below its last stream id goes on) is no abort, and httpx would take it for one."""
    async with H2Session(server, follow_goaway=True) as session:
        stream_id = await session.request("GET", path)
        stream = session.streams[stream_id]
        try:
            try:
                await session.until(
                    lambda: stream.received >= INFLIGHT_SIZE or stream.done, TIMEOUT
                )
            finally:
                reading.body[:] = stream.data
                reading.first.set()
            timeline.note(f"in-flight: {stream.status}, first chunk received")
            await session.until(lambda: stream.done, 2 * TIMEOUT)
        except TimeoutError:
            timeline.note(f"in-flight: no end within {2 * TIMEOUT} s")
            return "stalled", f"neither END_STREAM nor RST_STREAM:\n{session.result.describe()}"
        finally:
            reading.body[:] = stream.data
    if stream.ended:
        timeline.note(f"in-flight: END_STREAM after {stream.received} bytes")
        return "complete", None
    if stream.reset is not None:
        error = f"RST_STREAM {error_name(stream.reset)}"
    else:
        error = f"the connection closed first (GOAWAY {error_name(session.goaway)})"
    timeline.note(f"in-flight: cut, {error}")
    return "aborted", f"{error}:\n{session.result.describe()}"


async def _try_new_connection(server: RunningServer) -> NewConnection:
    """Connect and GET / in the variant's protocol; classify what happens."""
    try:
        async with http_client(server, timeout=NEW_CONNECTION_BOUND) as client:
            response = await client.get("/")
    except httpx.ConnectError as error:
        return NewConnection("refused", f"{type(error).__name__}: {error}")
    except httpx.TimeoutException as error:
        return NewConnection("hung", f"{type(error).__name__} after {NEW_CONNECTION_BOUND} s")
    except httpx.TransportError as error:
        return NewConnection("closed", f"{type(error).__name__}: {error}")
    return NewConnection("answered", f"{response.status_code} {response.text[:100]!r}")


async def stop_in_flight(spec: ServerSpec, app: str, startup_timeout: float) -> StoppedInFlight:
    timeline = Timeline()
    token = new_token()
    path = f"/lifespan/inflight/{token}?n={INFLIGHT_CHUNKS}&size={INFLIGHT_SIZE}"
    expected = b"".join(inflight_chunk(i, INFLIGHT_SIZE) for i in range(INFLIGHT_CHUNKS))
    async with ControlChannel() as channel:
        await channel.answer_all("startup", "complete")
        server = await asyncio.to_thread(
            launch, spec, app, env=channel.env, startup_timeout=startup_timeout
        )
        timeline.note(f"{spec.name} serving on {server.authority}")
        reading = _Reading()
        reader: asyncio.Task[tuple[str, str | None]] | None = None
        stopper: asyncio.Future[None] | None = None
        try:
            # An idle keep-alive connection (HTTP/1.1, harness): its close by the server is
            # the sign that shutdown began.
            idle = RawHTTP1(server)
            await idle.__aenter__()
            await idle.send(request_bytes("GET", "/", server.authority))
            await idle.response()
            read = _read_in_flight if spec.protocol is HTTPProtocol.HTTP1 else _read_in_flight_h2
            reader = asyncio.create_task(read(server, path, reading, timeline))
            next_chunk = await channel.next("inflight-next", TIMEOUT)
            await asyncio.wait_for(reading.first.wait(), TIMEOUT)
            stopper = asyncio.ensure_future(asyncio.to_thread(server.stop, STOP_GRACE))
            signalled = time.monotonic()
            timeline.note("SIGINT sent", signalled)
            try:
                await idle.expect_closed(SHUTDOWN_SIGN_BOUND)
                timeline.note("the server closed the idle keep-alive connection")
            except (TimeoutError, OSError):
                timeline.note(f"idle connection still open after {SHUTDOWN_SIGN_BOUND} s")
            finally:
                await idle.close()
            new_connection = await _try_new_connection(server)
            timeline.note(f"a new connection: {new_connection.outcome} ({new_connection.detail})")
            await next_chunk.reply("go")
            await channel.answer_all("inflight-next", "go")
            timeline.note("the in-flight response may go on")
            ending, error = await asyncio.wait_for(reader, 3 * TIMEOUT)
        finally:
            if reader is not None:
                reader.cancel()
            if stopper is None:
                stopper = asyncio.ensure_future(asyncio.to_thread(server.stop, STOP_GRACE))
            await stopper
        timeline.note(f"the server exited: status {server.exit_code}")
        ended = channel.seen("inflight-ended")
        shutdown = channel.seen("shutdown")
        for message in (*ended, *shutdown):
            timeline.note(f"app: {message.name} {message.data or ''}".rstrip(), message.t)
        return StoppedInFlight(
            expected=expected,
            body=bytes(reading.body),
            ending=ending,
            error=error,
            new_connection=new_connection,
            inflight_ended=_first_t(ended),
            shutdown_at=_first_t(shutdown),
            exit_code=server.exit_code,
            gracefully=server.stopped_gracefully,
            timeline=timeline.render(),
            log=server.log_tail(3000),
        )


def _first_t(messages: list[ControlMessage]) -> float | None:
    return messages[0].t if messages else None


@dataclass(frozen=True, slots=True)
class Stopped:
    """What a server of its own showed when it was stopped with SIGINT after serving."""

    variant: str
    log: str
    exit_code: int | None
    gracefully: bool
    seconds: float


def stop_after_serving(spec: ServerSpec, app: str) -> Stopped:
    fresh = launch(spec, app)  # returns once the readiness probe was answered: it has served
    with fresh:
        began = time.monotonic()
        fresh.stop()
        seconds = time.monotonic() - began
    return Stopped(spec.name, fresh.read_log(), fresh.exit_code, fresh.stopped_gracefully, seconds)
