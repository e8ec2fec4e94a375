"""The connection and process lifecycle: disconnects, sends after them, lifespan and stopping.

ASGI HTTP spec 2.5, "Disconnect - receive event" and "Disconnected Client - send exception";
ASGI core spec (asgi.rst), "Error Handling": messages after the connection closed are no-ops;
ASGI lifespan spec 2.0, "Startup", "Shutdown" and "Lifespan State".
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import time
from dataclasses import dataclass
from typing import Final

import h2.config
import h2.connection
import pytest

from conformance.cases import Grade, case
from conformance.client import (
    TIMEOUT,
    Observer,
    RawHTTP1,
    http_client,
    new_token,
    request_bytes,
)
from servers import Capability, HTTPProtocol, RunningServer, launch

#: How long after the client's close ``http.disconnect`` may reach a pending ``receive()``.
#: Every server delivers it within 10 ms (servers.md §4.5); the bound leaves room for load.
DISCONNECT_BOUND: Final = TIMEOUT / 10
#: How long the app's send() after the disconnect may take to return or raise: every server
#: returns at once (servers.md §4.5), so a send still pending after this is hanging.
LATE_SEND_BOUND: Final = TIMEOUT / 5
#: The log line of the contract app's lifespan shutdown hook.
SHUTDOWN_LINE: Final = "contract: shutdown complete"
#: The log line of the contract app's startup hook when it ran at lifespan startup.
STARTUP_LINE: Final = "contract: startup complete (lifespan)"


async def _leave_a_longpoll(server: RunningServer, observer: Observer, token: str) -> float:
    """Start ``GET /longpoll/{token}``, close the connection once the app waits; the close time.

    The request carries ``x-probe-token`` so the message recorder logs the app's late sends.
    The connection is closed with the request pending: over HTTP/1.1 a raw connection, over
    HTTP/2 a raw h2 connection whose stream is still open (no RST_STREAM: the client leaves).
    """
    path = f"/longpoll/{token}"
    probe = [("x-probe-token", token)]
    if server.spec.protocol is HTTPProtocol.HTTP1:
        async with RawHTTP1(server) as connection:
            await connection.send(request_bytes("GET", path, server.authority, probe))
            await observer.wait(token, "waiting")
            closed_at = time.monotonic()
        return closed_at
    ssl_context = None
    if server.spec.tls:
        ssl_context = server.client_ssl_context()
        ssl_context.set_alpn_protocols(["h2"])
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(server.host, server.port, ssl=ssl_context), TIMEOUT
    )
    try:
        session = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        session.initiate_connection()
        request = [
            (":method", "GET"),
            (":path", path),
            (":scheme", server.spec.scheme),
            (":authority", server.authority),
            *probe,
        ]
        session.send_headers(1, request, end_stream=True)
        writer.write(session.data_to_send())
        await writer.drain()
        await observer.wait(token, "waiting")
    finally:
        closed_at = time.monotonic()
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), TIMEOUT)
    return closed_at


async def _late_send_outcome(observer: Observer, token: str) -> list[str]:
    """Wait until the app's late response is over; the class names of what send() raised.

    Raises:
        AssertionError: the late response was not over within :data:`LATE_SEND_BOUND` and
            no ``send()`` had raised: a ``send()`` hangs.
    """
    over = await observer.happened(token, "late-response-over", timeout=LATE_SEND_BOUND)
    snapshot = await observer.snapshot(token)
    events = snapshot["events"]
    names = [e["event"] for e in events]
    errors = [str(e.get("error")) for e in events if e["event"] == "send-error"]
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

    A long-polling app waits in ``receive()`` with no response started; the client closes the
    connection. The app must see ``http.disconnect`` within a bound measured from the close
    (``time.monotonic()``, one clock for every process on Linux); the latency is recorded in
    the case's user properties as ``disconnect_latency_ms`` (JUnit XML, report hooks).
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

    After ``http.disconnect`` the app answers anyway. Its ``send()`` must return or raise
    (never hang), and the server must go on serving: a new connection gets a whole response
    and the server process is still running.
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
    builtin = [getattr(builtins, name, None) for name in errors]
    assert not any(isinstance(b, type) and not issubclass(b, OSError) for b in builtin), (
        f"send() after the disconnect raised {errors}: only an OSError subclass may be raised "
        "(ASGI HTTP 2.4), anything else is an app error"
    )


@case(
    "lifecycle/send-after-disconnect-raises",
    grade=Grade.INFORMATIONAL,
    clause="ASGI HTTP 2.4+, Disconnected Client: send() on a closed connection should raise "
    "a server-specific OSError subclass",
)
async def test_a_send_after_the_disconnect_raises_an_oserror(server: RunningServer) -> None:
    """ASGI HTTP 2.4+ "Disconnected Client - send exception": send() should raise OSError.

    The spec (since 2.4) says a server *should* raise a server-specific subclass of
    ``OSError`` so that the app can stop producing; it also says this is not guaranteed.
    The message recorder reports only the exception's class name: a builtin name must be an
    ``OSError`` subclass, any other name is taken for a server-specific class.
    """
    token = new_token()
    async with Observer(server) as observer:
        await _leave_a_longpoll(server, observer, token)
        await observer.wait(token, "disconnected")
        errors = await _late_send_outcome(observer, token)
    assert errors, "send() after the client disconnected returned normally: no OSError raised"
    name = errors[0]
    builtin = getattr(builtins, name, None)
    assert not isinstance(builtin, type) or issubclass(builtin, OSError), (
        f"send() after the client disconnected raised {name}, which is not an OSError subclass"
    )


@case(
    "lifecycle/lifespan-state-shared",
    grade=Grade.REQUIRED,
    clause="ASGI lifespan 2.0, Startup and Lifespan State: startup completes before any "
    "connection; requests get the state",
    requires=[Capability.LIFESPAN_STATE],
)
async def test_lifespan_startup_ran_first_and_its_state_reaches_requests(
    server: RunningServer,
) -> None:
    """ASGI lifespan 2.0 "Startup": the server waits for startup.complete before serving.

    The contract app's startup hook writes ``startup = "lifespan"`` and a shared list into
    the lifespan ``state``; the first request's ``scope["state"]`` must already hold both.
    """
    async with http_client(server) as client:
        response = await client.get("/lifespan/state")
    assert response.status_code == 200, f"GET /lifespan/state answered {response.status_code}"
    state = response.json()
    assert state["startup"] == "lifespan", (
        f"the request's state says startup ran at {state['startup']!r}, not at lifespan startup"
    )
    assert isinstance(state["shared"], list), f"the state's shared list is {state['shared']!r}"


@case(
    "lifecycle/state-shallow-copy",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5 / lifespan 2.0, Lifespan State: each request gets a shallow copy",
    requires=[Capability.LIFESPAN_STATE],
)
async def test_each_request_gets_a_shallow_copy_of_the_state(server: RunningServer) -> None:
    """ASGI lifespan 2.0 "Lifespan State": a shallow copy of the state per request.

    A request that adds a top-level key changes only its own copy: the next request must not
    see it. A list stored at startup is the same object in every copy: what one request
    appends, the next one sees.
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


@case(
    "lifecycle/app-works-without-lifespan",
    grade=Grade.REQUIRED,
    clause="ASGI lifespan 2.0: a server may not support lifespan; the app must still serve",
)
async def test_startup_ran_at_lifespan_or_else_at_the_first_request(
    server: RunningServer,
) -> None:
    """ASGI lifespan 2.0: the startup hooks run at lifespan startup, or at the first request.

    Where the variant runs lifespan (capability ``lifespan``) the state must say
    ``"lifespan"``; where it does not (daphne), the framework runs the hooks itself on the
    first request and the state must say ``"first-request"``. Anything else fails.
    """
    expected = "lifespan" if server.spec.supports(Capability.LIFESPAN) else "first-request"
    async with http_client(server) as client:
        response = await client.get("/lifespan/state")
    assert response.status_code == 200, f"GET /lifespan/state answered {response.status_code}"
    state = response.json()
    assert state["startup"] == expected, (
        f"startup ran at {state['startup']!r}, expected {expected!r} on {server.spec.name}"
    )
    assert isinstance(state["shared"], list), f"the startup hook's list is missing: {state}"


@dataclass(frozen=True, slots=True)
class Stopped:
    """What a server of its own showed when it was stopped with SIGINT after serving."""

    variant: str
    log: str
    exit_code: int | None
    gracefully: bool
    seconds: float


@pytest.fixture(scope="session")
def stopped_server(server: RunningServer) -> Stopped:
    """Start a second server of the variant, stop it gracefully, and keep what it showed.

    One per variant, shared by the cases that judge a stop. :func:`servers.launch` returns
    once the server has answered a request (its readiness probe), so it has served.
    """
    fresh = launch(server.spec, server.app)
    with fresh:
        began = time.monotonic()
        fresh.stop()
        seconds = time.monotonic() - began
    return Stopped(
        server.spec.name, fresh.read_log(), fresh.exit_code, fresh.stopped_gracefully, seconds
    )


@case(
    "lifecycle/lifespan-shutdown",
    grade=Grade.REQUIRED,
    clause="ASGI lifespan 2.0, Shutdown: the server sends lifespan.shutdown and waits for "
    "shutdown.complete before terminating",
    requires=[Capability.LIFESPAN],
)
async def test_a_graceful_stop_runs_the_lifespan_shutdown(stopped_server: Stopped) -> None:
    """ASGI lifespan 2.0 "Shutdown": a graceful stop runs the app's shutdown hooks.

    A server of its own is started, answers a request, and is stopped with SIGINT; its log
    must show the contract app's shutdown hook after its startup hook.
    """
    log = stopped_server.log
    started = log.find(STARTUP_LINE)
    assert started >= 0, f"no {STARTUP_LINE!r} in the log:\n{log[-3000:]}"
    assert log.find(SHUTDOWN_LINE, started) >= 0, (
        f"the lifespan shutdown hook did not run: no {SHUTDOWN_LINE!r} in the log after a "
        f"graceful stop (exit code {stopped_server.exit_code}):\n{log[-3000:]}"
    )


@case(
    "lifecycle/graceful-stop",
    grade=Grade.RECOMMENDED,
    clause="ASGI lifespan 2.0, Shutdown; process hygiene: SIGINT stops the server cleanly",
)
async def test_sigint_stops_the_server_gracefully_with_exit_code_0(
    stopped_server: Stopped,
) -> None:
    """A graceful stop (SIGINT) ends every process of the server, with exit code 0.

    Falcon's server matrix checks the same: the server must exit by itself within the grace
    period (no SIGKILL) and report success, so that supervisors and CI see a clean stop.
    """
    assert stopped_server.gracefully, (
        f"the server did not exit within the grace period after SIGINT (exit code "
        f"{stopped_server.exit_code}, {stopped_server.seconds:.2f} s):\n"
        f"{stopped_server.log[-2000:]}"
    )
    assert stopped_server.exit_code == 0, (
        f"the server exited with code {stopped_server.exit_code} after SIGINT, not 0:\n"
        f"{stopped_server.log[-2000:]}"
    )
