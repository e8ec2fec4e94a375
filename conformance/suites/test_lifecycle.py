"""The connection and process lifecycle: disconnects, sends after them, lifespan and stopping.

ASGI HTTP spec 2.5, "Disconnect - receive event" and "Disconnected Client - send exception";
ASGI core spec (asgi.rst), "Error Handling": messages after the connection closed are no-ops;
ASGI lifespan spec 2.0, "Scope", "Startup", "Startup Failed", "Shutdown" and "Lifespan State".

Every case that starts, fails or stops a server judges a scenario on a server of its own
(:mod:`conformance.suites._lifecycle_scenarios`), so the session's server is never affected;
each scenario runs once per variant (and per ``--verify`` round) and is judged by several cases.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Final

import pytest

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
from servers import Capability, HTTPProtocol, RunningServer

from ._lifecycle_scenarios import (
    EXIT_BOUND,
    FailedStartup,
    HeldStartup,
    RaisingLifespan,
    Stopped,
    StoppedInFlight,
    Unfinished,
    fail_startup,
    finished,
    hold_startup,
    once,
    raise_on_lifespan,
    stop_after_serving,
    stop_in_flight,
)

#: How long after the client's close ``http.disconnect`` may reach a pending ``receive()``.
#: Every server delivers it within 10 ms; the bound leaves room for load.
DISCONNECT_BOUND: Final = TIMEOUT / 10
#: How long the app's send() after the disconnect may take to return or raise: every server
#: returns at once (docs/server-behaviour.md#send-after-disconnect-is-a-no-op), so a send
#: still pending after this is hanging.
LATE_SEND_BOUND: Final = TIMEOUT / 5
#: The log line of the contract app's lifespan shutdown hook.
SHUTDOWN_LINE: Final = "contract: shutdown complete"
#: The log line of the contract app's startup hook when it ran at lifespan startup.
STARTUP_LINE: Final = "contract: startup complete (lifespan)"


# -- send after disconnect ---------------------------------------------------------------------


async def _leave_a_longpoll(server: RunningServer, observer: Observer, token: str) -> float:
    """Start ``GET /longpoll/{token}``, close the connection once the app waits; the close time.

    The request carries ``x-probe-token`` so the message recorder logs the app's late sends.
    The connection is closed with the request pending: over HTTP/1.1 a raw connection, over
    HTTP/2 a raw h2 connection whose stream is still open (TCP FIN, no RST_STREAM, no
    GOAWAY: the client simply leaves).
    """
    path = f"/longpoll/{token}"
    probe = [("x-probe-token", token)]
    if server.spec.protocol is HTTPProtocol.HTTP1:
        async with RawHTTP1(server) as connection:
            await connection.send(request_bytes("GET", path, server.authority, probe))
            await observer.wait(token, "waiting")
            closed_at = time.monotonic()
        return closed_at
    async with H2Session(server) as session:
        await session.request("GET", path, probe)
        await observer.wait(token, "waiting")
        closed_at = time.monotonic()
    return closed_at


@dataclass(frozen=True, slots=True)
class SendError:
    """What a ``send()`` after the disconnect raised, as the app's process saw it.

    Attributes:
        name: the exception's class name (for messages only).
        oserror: ``isinstance(error, OSError)``, evaluated in the app's process by the message
            recorder: the only judge of the class.
    """

    name: str
    oserror: bool

    def __str__(self) -> str:
        return f"{self.name} ({'an' if self.oserror else 'not an'} OSError)"


async def _late_send_outcome(observer: Observer, token: str) -> list[SendError]:
    """Wait until the app's late response is over; what its ``send()`` calls raised.

    Raises:
        AssertionError: the late response was not over within :data:`LATE_SEND_BOUND` and
            no ``send()`` had raised: a ``send()`` hangs.
    """
    over = await observer.happened(token, "late-response-over", timeout=LATE_SEND_BOUND)
    events = (await observer.snapshot(token))["events"]
    names = [e["event"] for e in events]
    errors = [
        SendError(str(e.get("error")), bool(e.get("oserror")))
        for e in events
        if e["event"] == "send-error"
    ]
    assert over or errors, (
        f"the app's send() after the disconnect neither returned nor raised within "
        f"{LATE_SEND_BOUND} s (it hangs); events: {names}"
    )
    assert "send" in names, f"the app never sent its late response; events: {names}"
    return errors


@case(
    "lifecycle/disconnect-delivered",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, Disconnect: sent when receive() is called after the connection closed",
)
async def test_a_pending_receive_gets_http_disconnect_when_the_client_closes(
    server: RunningServer, request: pytest.FixtureRequest
) -> None:
    """ASGI HTTP 2.5 "Disconnect - receive event": a pending receive() returns http.disconnect.

    Judges the server's disconnect delivery: a long-polling app waits in ``receive()`` with no
    response started; the client closes the connection, and the app must see
    ``http.disconnect`` within :data:`DISCONNECT_BOUND` of the close (``time.monotonic()``,
    one clock for every process on Linux); the latency is recorded in the case's user
    properties as ``disconnect_latency_ms``. Broken server: ``late-disconnect`` (delivers it
    seconds late).
    """
    token = new_token()
    async with Observer(server) as observer:
        closed_at = await _leave_a_longpoll(server, observer, token)
        snapshot = await observer.wait(token, "disconnected")
    disconnected = next(e for e in snapshot["events"] if e["event"] == "disconnected")
    latency = disconnected["t"] - closed_at
    request.node.user_properties.append(("disconnect_latency_ms", round(latency * 1000, 3)))
    assert latency <= DISCONNECT_BOUND, (
        f"http.disconnect reached the app {latency * 1000:.1f} ms after the client closed "
        f"(bound {DISCONNECT_BOUND * 1000:.0f} ms)"
    )


@case(
    "lifecycle/send-after-disconnect-harmless",
    grade=Grade.REQUIRED,
    clause="ASGI core, Error Handling: after the connection closed, send should act as a no-op",
)
async def test_a_send_after_the_disconnect_does_no_harm(server: RunningServer) -> None:
    """asgi.rst "Error Handling": a send on a closed connection is no error for the server.

    Judges the server's ``send()`` once the client is gone: after ``http.disconnect`` the app
    answers anyway; its ``send()`` must return or raise (never hang), may raise only an
    ``OSError`` subclass (ASGI HTTP 2.4; judged by ``isinstance`` in the app's process), and
    the server must go on serving: a new connection gets a whole response. Broken servers:
    ``send-after-disconnect-raises-runtimeerror``, ``send-after-disconnect-hangs``.
    """
    token = new_token()
    async with Observer(server) as observer:
        await _leave_a_longpoll(server, observer, token)
        await observer.wait(token, "disconnected")
        errors = await _late_send_outcome(observer, token)
    assert server.running, "the server process exited after the app's late send"
    async with http_client(server) as client:
        response = await client.get("/")
    assert (response.status_code, response.text) == (200, "asgi-conformance contract app"), (
        f"a new request after the late send got {response.status_code} {response.text[:200]!r}"
    )
    wrong = [str(e) for e in errors if not e.oserror]
    assert not wrong, (
        f"send() after the disconnect raised {', '.join(wrong)}: only an OSError subclass may "
        "be raised (ASGI HTTP 2.4), anything else is an error the app did not cause"
    )


@case(
    "lifecycle/send-after-disconnect-raises",
    grade=Grade.RECOMMENDED,
    clause="ASGI HTTP 2.4+, Disconnected Client: send() on a closed connection should raise "
    "a server-specific OSError subclass (introduced in spec version 2.4)",
)
async def test_a_spec_2_4_server_raises_an_oserror_from_a_send_after_the_disconnect(
    server: RunningServer, request: pytest.FixtureRequest
) -> None:
    """ASGI HTTP 2.4+ "Disconnected Client": a 2.4 server raises OSError from a late send().

    Judges the server's ``send()`` once the client is gone against the spec version it
    advertises (``scope["asgi"]["spec_version"]``, recorded as the user property
    ``spec_version``): since 2.4 the spec says the server *should* raise a server-specific
    ``OSError`` subclass, so that the app can stop producing, and that older servers may not.
    A server advertising 2.4 or later must raise one (judged by ``isinstance`` in the app's
    process); an older one may return quietly (every server probed does: see
    docs/server-behaviour.md#send-after-disconnect-is-a-no-op). Broken server:
    ``spec-2-4-quiet-send`` (advertises 2.4, raises nothing).
    """
    token = new_token()
    async with Observer(server) as observer:
        await _leave_a_longpoll(server, observer, token)
        snapshot = await observer.wait(token, "disconnected")
        waiting = next(e for e in snapshot["events"] if e["event"] == "waiting")
        advertised = waiting.get("spec_version")
        request.node.user_properties.append(("spec_version", advertised))
        if _version(advertised) < (2, 4):
            return  # no promise to keep: send() may return quietly before spec 2.4
        errors = await _late_send_outcome(observer, token)
    assert errors, (
        f"the server advertises ASGI HTTP spec_version {advertised} but send() after the "
        "client disconnected returned normally: no OSError raised"
    )
    assert errors[0].oserror, (
        f"the server advertises ASGI HTTP spec_version {advertised} but send() after the "
        f"client disconnected raised {errors[0]}, not an OSError subclass"
    )


def _version(text: object) -> tuple[int, ...]:
    """``"2.4"`` as ``(2, 4)``; absent or malformed is ``(2, 0)``, the spec's default."""
    try:
        return tuple(int(part) for part in str(text).split("."))
    except ValueError:
        return (2, 0)


# -- lifespan state ----------------------------------------------------------------------------


@case(
    "lifecycle/state-shallow-copy",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5 / lifespan 2.0, Lifespan State: each request gets a shallow copy",
    requires=[Capability.LIFESPAN_STATE],
)
async def test_each_request_gets_a_shallow_copy_of_the_state(server: RunningServer) -> None:
    """ASGI lifespan 2.0 "Lifespan State": a shallow copy of the state per request.

    Judges how the server hands the lifespan state to requests: a request that adds a
    top-level key changes only its own copy, so the next request must not see it; a list
    stored at startup is the same object in every copy, so what one request appends, the next
    one sees. Broken servers: ``state-not-copied`` (one dict for every request),
    ``state-deep-copied``.
    """
    async with http_client(server) as client:
        before = (await client.get("/lifespan/state")).json()
        added = (await client.get("/lifespan/state", params={"append": "1"})).json()
        after = (await client.get("/lifespan/state")).json()
    assert added["added_by_request"] is True, (
        f"the changing request did not see its own key: {added}"
    )
    assert not after["added_by_request"], (
        "a top-level key added to scope['state'] by one request leaked into the next: "
        "the state is not copied per request"
    )
    assert isinstance(before["shared"], list), f"no shared list in the state: {before}"
    grown = added["shared"]
    assert len(grown) == len(before["shared"]) + 1, (
        f"the shared list did not grow by one: {before} -> {added}"
    )
    assert after["shared"][: len(grown)] == grown, (
        f"the list stored at startup is not shared by the copies: {grown} then "
        f"{after['shared']} (a deep copy, or a fresh state per request)"
    )


# -- lifespan startup: held, failed, refused ---------------------------------------------------


@pytest.fixture
def held_startup(server: RunningServer, request: pytest.FixtureRequest) -> HeldStartup | Unfinished:
    """The held-startup scenario of this variant (see :func:`hold_startup`)."""
    timeout = float(request.config.getoption("startup_timeout"))
    return once(
        request,
        "held-startup",
        lambda: asyncio.run(hold_startup(server.spec, server.app, timeout)),
    )


@case(
    "lifecycle/no-request-before-startup",
    grade=Grade.REQUIRED,
    clause="ASGI lifespan 2.0, Startup Complete: a server must wait for this message before it "
    "starts processing connections",
    requires=[Capability.LIFESPAN],
)
async def test_no_request_reaches_the_app_before_lifespan_startup_completes(
    held_startup: HeldStartup | Unfinished,
) -> None:
    """ASGI lifespan 2.0 "Startup Complete": no request before ``lifespan.startup.complete``.

    Judges when the server starts serving. A server of its own is started without waiting for
    readiness; the app's lifespan startup waits on the control channel while a client keeps
    trying ``GET /lifespan/arrival`` (a refused connection is legal: most servers listen only
    once startup completed). Startup is held for :data:`STARTUP_HOLD` after the first attempt,
    then released. The request must be answered, and only by a handler that found every
    startup hook done, run at lifespan startup (not by a first request). Broken server:
    ``startup-complete-early`` (reports ``lifespan.startup.complete`` before the app's startup
    has run).
    """
    record = finished(held_startup)
    assert record.began, (
        f"the app's lifespan startup never began (the server exited):\n{record.timeline}"
    )
    assert record.answer is not None, (
        "a request made during lifespan startup was never answered, even after startup "
        f"completed:\n{record.timeline}"
    )
    arrival = record.answer.json()
    assert record.answer.status == 200, (
        f"GET /lifespan/arrival answered {record.answer.status}:\n{record.timeline}"
    )
    early = arrival.get("startup_by") != "lifespan" or arrival.get("startup_done") is not True
    assert not early, (
        "a request reached the app before lifespan.startup.complete (the app was still in its "
        f"startup: {arrival}):\n{record.timeline}"
    )
    assert record.released_at is not None
    assert record.answer.at > record.released_at, (
        f"the answer came before the app's startup was released:\n{record.timeline}"
    )


@case(
    "lifecycle/lifespan-state-shared",
    grade=Grade.REQUIRED,
    clause="ASGI lifespan 2.0, Startup and Lifespan State: startup completes before any "
    "connection; requests get the state",
    requires=[Capability.LIFESPAN_STATE],
)
async def test_the_state_startup_stored_reaches_a_request_made_during_startup(
    held_startup: HeldStartup | Unfinished,
) -> None:
    """ASGI lifespan 2.0 "Lifespan State": what startup stored reaches every request.

    Judges how the server hands the lifespan state to requests, including one that arrived
    while startup was running (the held-startup scenario of
    ``lifecycle/no-request-before-startup``): the contract app's startup hook, which runs only
    once the case releases startup, writes ``startup = "lifespan"`` and a shared list into
    the state; the request's ``scope["state"]`` must hold both. A server that serves before
    startup completes hands that request an empty state. Broken servers:
    ``startup-complete-early``.
    """
    record = finished(held_startup)
    assert record.answer is not None, (
        f"no answer to GET /lifespan/arrival during startup:\n{record.timeline}"
    )
    assert record.answer.status == 200, (
        f"GET /lifespan/arrival during startup got {record.answer.status}:\n{record.timeline}"
    )
    state = record.answer.json().get("state", {})
    assert state.get("startup") == "lifespan", (
        f"the request's state says startup ran at {state.get('startup')!r}, not at lifespan "
        f"startup (the state is {state}):\n{record.timeline}"
    )
    assert state.get("shared") is True, (
        f"the list startup stored is not in the request's state ({state}):\n{record.timeline}"
    )


@pytest.fixture
def failed_startup(
    server: RunningServer, request: pytest.FixtureRequest
) -> FailedStartup | Unfinished:
    """The failed-startup scenario of this variant (see :func:`fail_startup`)."""
    timeout = float(request.config.getoption("startup_timeout"))
    return once(
        request,
        "failed-startup",
        lambda: asyncio.run(fail_startup(server.spec, server.app, timeout)),
    )


@case(
    "lifecycle/startup-failed-never-serves",
    grade=Grade.REQUIRED,
    clause="ASGI lifespan 2.0, Startup Complete: a server must wait for this message before it "
    "starts processing connections (after startup.failed it never comes)",
    requires=[Capability.LIFESPAN],
)
async def test_a_server_whose_startup_failed_never_serves(
    failed_startup: FailedStartup | Unfinished,
) -> None:
    """ASGI lifespan 2.0 "Startup Failed": a server whose app's startup failed never serves.

    Judges what the server does with ``lifespan.startup.failed``: a server of its own is
    started without waiting for readiness; while the app's startup waits on the control
    channel a client starts knocking (``GET /lifespan/arrival``, again and again), then the
    app answers ``lifespan.startup.failed``. No request may be answered, before or after,
    until the server is gone. Broken server: ``startup-failure-ignored`` (takes the failure
    for success and serves).
    """
    record = finished(failed_startup)
    assert record.began, f"the app's lifespan startup never began:\n{record.timeline}"
    assert record.answer is None, (
        f"the server answered a request ({record.answer.status}) although the app's lifespan "
        f"startup failed:\n{record.timeline}"
    )


@case(
    "lifecycle/startup-failed-exits-non-zero",
    grade=Grade.RECOMMENDED,
    clause="ASGI lifespan 2.0, Startup Failed: if a server sees this it should log/print the "
    "message provided and then exit",
    requires=[Capability.LIFESPAN],
)
async def test_a_server_whose_startup_failed_exits_with_a_failure_status(
    failed_startup: FailedStartup | Unfinished,
) -> None:
    """ASGI lifespan 2.0 "Startup Failed": the server exits, and says it failed.

    Judges the server's exit after ``lifespan.startup.failed`` (same scenario as
    ``lifecycle/startup-failed-never-serves``): it must exit within :data:`EXIT_BOUND`, with
    a non-zero status, so that a supervisor (systemd, a container runtime, CI) can tell a
    failed start from a clean stop. Broken servers: ``startup-failure-exits-0`` (exits with
    status 0, as hypercorn does), ``startup-failure-ignored`` (never exits).
    """
    record = finished(failed_startup)
    assert record.began, f"the app's lifespan startup never began:\n{record.timeline}"
    assert record.exit_seconds is not None, (
        f"the server was still running {EXIT_BOUND} s after the app reported "
        f"lifespan.startup.failed:\n{record.timeline}\n{record.log}"
    )
    assert record.exit_code != 0, (
        f"the server exited with status {record.exit_code} after lifespan.startup.failed: a "
        f"failed start reported as success:\n{record.timeline}\n{record.log}"
    )


@pytest.fixture
def raising_lifespan(
    server: RunningServer, request: pytest.FixtureRequest
) -> RaisingLifespan | Unfinished:
    """The raising-lifespan scenario of this variant (see :func:`raise_on_lifespan`)."""
    timeout = float(request.config.getoption("startup_timeout"))
    return once(
        request,
        "raising-lifespan",
        lambda: asyncio.run(raise_on_lifespan(server.spec, server.app, timeout)),
    )


@case(
    "lifecycle/lifespan-raise-served",
    grade=Grade.REQUIRED,
    clause="ASGI lifespan 2.0, Scope: if an exception is raised when calling the application "
    "callable with a lifespan scope, the server must continue but not send any lifespan events",
    requires=[Capability.LIFESPAN],
)
async def test_an_app_that_raises_on_the_lifespan_scope_is_served_without_lifespan(
    raising_lifespan: RaisingLifespan | Unfinished,
) -> None:
    """ASGI lifespan 2.0 "Scope": an app that raises on the lifespan scope is still served.

    Judges what the server does when the app does not support lifespan: a server of its own
    runs ``conformance.contract.lifespan_apps:raising`` (raises on the lifespan scope, serves
    the session's app otherwise). The server must come up and answer a request, and must not
    call the app with a lifespan scope again (not even at shutdown). Broken server:
    ``lifespan-error-fatal`` (uvicorn's ``--lifespan on``, which makes the raise fatal).
    """
    record = finished(raising_lifespan)
    assert record.start_error is None, (
        f"the server did not serve after the app raised on the lifespan scope: "
        f"{record.start_error}\n{record.log}"
    )
    assert record.answer is not None, (
        f"a request after the app raised on the lifespan scope got no answer:\n{record.log}"
    )
    assert record.answer.status == 200, (
        f"a request after the app raised on the lifespan scope got {record.answer.status}:\n"
        f"{record.log}"
    )
    assert record.lifespan_calls <= 1, (
        f"the server called the app with a lifespan scope {record.lifespan_calls} times after "
        f"it raised on the first:\n{record.log}"
    )


# -- stopping with a request in flight ---------------------------------------------------------


@pytest.fixture
def stopped_in_flight(
    server: RunningServer, request: pytest.FixtureRequest
) -> StoppedInFlight | Unfinished:
    """The stop-in-flight scenario of this variant (see :func:`stop_in_flight`)."""
    timeout = float(request.config.getoption("startup_timeout"))
    return once(
        request,
        "stopped-in-flight",
        lambda: asyncio.run(stop_in_flight(server.spec, server.app, timeout)),
    )


@case(
    "lifecycle/stop-in-flight-completed",
    grade=Grade.RECOMMENDED,
    clause="ASGI lifespan 2.0, Shutdown: sent when the server has stopped accepting "
    "connections and closed all active connections; a graceful stop lets responses finish",
)
async def test_a_graceful_stop_lets_the_response_in_flight_finish(
    stopped_in_flight: StoppedInFlight | Unfinished,
) -> None:
    """A graceful stop (SIGINT) lets a streamed response in flight finish.

    Judges the server's graceful stop: a server of its own streams a response whose chunks
    come on the case's cue (control channel); after the first chunk the server gets SIGINT,
    and the case lets the rest come only once the server has begun to stop (it closed an idle
    keep-alive connection). The whole body must arrive, properly ended. Broken server:
    ``stop-cancels-in-flight`` (cancels the app at SIGINT, as daphne does).
    """
    record = finished(stopped_in_flight)
    whole = record.ending == "complete" and record.body == record.expected
    assert whole, (
        f"the response in flight during the stop was {record.ending} after "
        f"{len(record.body)} of {len(record.expected)} bytes ({record.error}):\n"
        f"{record.describe()}"
    )


@case(
    "lifecycle/stop-in-flight-not-truncated",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, Response Body: only more_body=False completes the response; "
    "RFC 9112 §7.1 / RFC 9113 §8.1: a cut message must not carry its end (last chunk, "
    "END_STREAM)",
)
async def test_a_stop_never_ends_a_response_in_flight_as_if_it_were_whole(
    stopped_in_flight: StoppedInFlight | Unfinished,
) -> None:
    """A stop completes the response in flight, or cuts it so the client can tell.

    Judges how the server ends a response when it stops (scenario of
    ``lifecycle/stop-in-flight-completed``): whether it lets the response finish or aborts
    it, the body may end "properly" (the last chunk, END_STREAM) only when the app sent
    ``more_body=False``; a short body that looks complete is a silent truncation. Broken
    server: ``stop-ends-in-flight`` (ends the response cleanly at SIGINT).
    """
    record = finished(stopped_in_flight)
    silently_short = record.ending == "complete" and record.body != record.expected
    assert not silently_short, (
        f"the response in flight during the stop ended properly after {len(record.body)} of "
        f"{len(record.expected)} bytes: a truncated body the client cannot tell from a whole "
        f"one:\n{record.describe()}"
    )


@case(
    "lifecycle/shutdown-after-in-flight",
    grade=Grade.REQUIRED,
    clause="ASGI lifespan 2.0, Shutdown: sent to the application when the server has stopped "
    "accepting connections and closed all active connections",
    requires=[Capability.LIFESPAN],
)
async def test_lifespan_shutdown_comes_after_the_calls_in_flight_have_ended(
    stopped_in_flight: StoppedInFlight | Unfinished,
) -> None:
    """ASGI lifespan 2.0 "Shutdown": ``lifespan.shutdown`` only after the calls in flight end.

    Judges when the server sends ``lifespan.shutdown`` (scenario of
    ``lifecycle/stop-in-flight-completed``): the app reports, on the control channel, when its
    in-flight stream was over (finished or cancelled) and when its lifespan shutdown ran; the
    shutdown must come, and after the stream. Broken servers: ``lifespan-shutdown-at-signal``
    (sends it at SIGINT), ``lifespan-shutdown-skipped``.
    """
    record = finished(stopped_in_flight)
    assert record.shutdown_at is not None, (
        f"the app never got lifespan.shutdown during the stop:\n{record.describe()}"
    )
    assert record.inflight_ended is not None, (
        f"the app never reported the end of its in-flight stream:\n{record.describe()}"
    )
    assert record.shutdown_at >= record.inflight_ended, (
        f"lifespan.shutdown reached the app "
        f"{(record.inflight_ended - record.shutdown_at) * 1000:.1f} ms before its call in "
        f"flight had ended:\n{record.describe()}"
    )


@case(
    "lifecycle/stop-refuses-new-connections",
    grade=Grade.RECOMMENDED,
    clause="ASGI lifespan 2.0, Shutdown: sent when the server has stopped accepting "
    "connections; a stopping server refuses new connections rather than leaving them unanswered",
)
async def test_a_stopping_server_refuses_new_connections(
    stopped_in_flight: StoppedInFlight | Unfinished,
) -> None:
    """Once a server began to stop, a new connection is refused or closed, never left hanging.

    Judges the server's listener during a graceful stop (scenario of
    ``lifecycle/stop-in-flight-completed``): once the server has closed an idle keep-alive
    connection (shutdown began) and while a response is still in flight, the case opens a new
    connection and sends a request. It must be refused, or closed unanswered, within
    :data:`NEW_CONNECTION_BOUND`; an answer means the server went on accepting work it
    promised to stop, silence means a client waits for a server that will never answer.
    Broken server: ``stop-keeps-listening`` (a supervisor process that keeps the listening
    socket open while its worker drains, as hypercorn's does).
    """
    record = finished(stopped_in_flight)
    outcome = record.new_connection
    assert outcome.outcome in ("refused", "closed"), (
        f"a connection made once the server had begun to stop was {outcome.outcome} "
        f"({outcome.detail}), not refused or closed:\n{record.describe()}"
    )


# -- a plain graceful stop ---------------------------------------------------------------------


@pytest.fixture
def stopped_server(server: RunningServer, request: pytest.FixtureRequest) -> Stopped | Unfinished:
    """A second server of the variant, stopped gracefully once it has served (see above)."""
    return once(request, "stopped", lambda: stop_after_serving(server.spec, server.app))


@case(
    "lifecycle/lifespan-shutdown",
    grade=Grade.REQUIRED,
    clause="ASGI lifespan 2.0, Shutdown: the server sends lifespan.shutdown and waits for "
    "shutdown.complete before terminating",
    requires=[Capability.LIFESPAN],
)
async def test_a_graceful_stop_runs_the_lifespan_shutdown(
    stopped_server: Stopped | Unfinished,
) -> None:
    """ASGI lifespan 2.0 "Shutdown": a graceful stop runs the app's shutdown hooks.

    Judges the server's stop: a server of its own is started, answers a request, and is
    stopped with SIGINT; its log must show the contract app's shutdown hook after its startup
    hook. Broken server: ``lifespan-shutdown-skipped``.
    """
    record = finished(stopped_server)
    log = record.log
    started = log.find(STARTUP_LINE)
    assert started >= 0, f"no {STARTUP_LINE!r} in the log:\n{log[-3000:]}"
    assert log.find(SHUTDOWN_LINE, started) >= 0, (
        f"the lifespan shutdown hook did not run: no {SHUTDOWN_LINE!r} in the log after a "
        f"graceful stop (exit code {record.exit_code}):\n{log[-3000:]}"
    )


@case(
    "lifecycle/graceful-stop",
    grade=Grade.RECOMMENDED,
    clause="ASGI lifespan 2.0, Shutdown; process hygiene: SIGINT stops the server cleanly",
)
async def test_sigint_stops_the_server_gracefully_with_exit_code_0(
    stopped_server: Stopped | Unfinished,
) -> None:
    """A graceful stop (SIGINT) ends every process of the server, with exit code 0.

    Judges the server's stop (scenario of ``lifecycle/lifespan-shutdown``): as in Falcon's
    server matrix, the server must exit by itself within the grace period (no SIGKILL) and
    report success, so that supervisors and CI see a clean stop. Broken server:
    ``sigint-exit-1``.
    """
    record = finished(stopped_server)
    assert record.gracefully, (
        f"the server did not exit within the grace period after SIGINT (exit code "
        f"{record.exit_code}, {record.seconds:.2f} s):\n"
        f"{record.log[-2000:]}"
    )
    assert record.exit_code == 0, (
        f"the server exited with code {record.exit_code} after SIGINT, not 0:\n{record.log[-2000:]}"
    )
