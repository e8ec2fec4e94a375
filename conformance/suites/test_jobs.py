"""Work after the response: what the server does to an app that runs on once its response is done.

An app often has work left when its response is complete: logging, notifying, cleaning up. It
either does it inside its own call after the final ``send()``, or hands it to tasks of its own
(background jobs, as the reference framework does). The server decides whether that work is
delayed, cut short or waited for:

* ASGI HTTP 2.5, "Response Body": ``more_body=False`` completes the response, and "protocol
  servers must flush any data passed to them into the send buffer before returning from a send
  call": the client has the whole response while the call runs on
  (``jobs/after-complete-response``);
* ASGI core (asgi.rst), "Overview": each call "is expected to last the lifetime of that
  connection plus a little longer if there is cleanup to do": the server does not cancel a
  call that runs on after its response, on a connection kept open
  (``jobs/call-runs-on-after-response``) or closed by the client
  (``jobs/call-runs-on-after-close``);
* ASGI HTTP 2.5, "HTTP Connection Scope": the call lasts "until the end of that specific
  request, even if the underlying socket is still open and serving multiple requests": the
  server keeps answering while calls run on (``jobs/served-while-calls-run``);
* ASGI lifespan 2.0, "Shutdown": ``lifespan.shutdown`` comes once the server "has stopped
  accepting connections and closed all active connections", and the server must wait for
  ``lifespan.shutdown.complete``: work in flight at a graceful stop finishes first
  (``jobs/drained-at-shutdown``, ``jobs/call-drained-at-shutdown``).

The raw endpoints ``/raw/jobs/after`` and ``/raw/jobs/slow`` (:mod:`conformance.contract.jobs`)
do their work inside the call, which is what a server can cut short; gates opened by the test
order every step, so no case depends on how fast anything runs. How the reference framework
orders and runs its own jobs is its unit tests' business (tests/reference_app).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Final

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
from conformance.contract.jobs import FIRST_PART, LAST_PART
from servers import Capability, HTTPProtocol, RunningServer, launch

#: How long a call's gate may stay shut before the app gives up (the case failed meanwhile).
HELD: Final = 4 * TIMEOUT
#: How long the end of a response may take to reach the client once the app sent it: a few
#: ms on every server; only a response that never ends waits it out.
PROMPT: Final = TIMEOUT * 0.4
#: How long a call that runs on after its response is watched for a cancellation before it
#: is let through: the "little longer" of ASGI's cleanup time, far shorter than daphne's
#: 10 s ``--application-close-timeout`` (docs/server-behaviour.md#daphne-application-close-timeout),
#: and far longer than a server that cancels at the response's end or the client's close
#: takes to do it (milliseconds).
GRACE: Final = TIMEOUT * 0.1
#: How long the work of ``jobs/drained-at-shutdown`` and ``jobs/call-drained-at-shutdown``
#: lasts after its response: the graceful stop begins while it runs.
SLOW_JOB: Final = 0.5
#: How many calls run on at once in ``jobs/served-while-calls-run``.
CALLS: Final = 20

#: The contract app's shutdown hook logs this line once the lifespan shutdown has run.
SHUTDOWN_LINE: Final = "contract: shutdown complete"


def _probe(token: str) -> dict[str, str]:
    return {"x-probe-token": token}


def _bodiless_post(client: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Request:
    """A POST without a body, sent without ``Content-Length: 0``.

    With that header httpx ends an HTTP/2 request with an empty DATA frame of its own, which
    races a response that does not wait for it: hypercorn's h2 connection dies on a DATA frame
    for a stream whose response has ended (https://github.com/pgjones/hypercorn/issues/329,
    the body and streaming families' case), and granian resets the stream, which httpx
    reports as an error. Without it the HEADERS frame ends the request, and the family judges
    work after the response, not early responses.
    """
    request = client.build_request("POST", url, **kwargs)
    del request.headers["content-length"]
    return request


def _names(snapshot: dict[str, Any]) -> list[str]:
    """The events of a snapshot but the message recorder's."""
    return [e["event"] for e in snapshot["events"] if e["event"] not in ("send", "receive")]


@case(
    "jobs/after-complete-response",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, Response Body: more_body=False completes the response; protocol "
    '"servers must flush any data passed to them into the send buffer before returning from a '
    'send call"',
)
async def test_the_client_has_the_whole_response_while_the_call_runs_on(
    server: RunningServer,
) -> None:
    """ASGI HTTP 2.5 "Response Body": the response is complete while the app works on after it.

    The app streams a first part, and its final part once the test opens gate ``finish``;
    then, still inside its call, it starts its after-response work and waits for gate
    ``work``. The client must read the response to its end (the terminating chunk, the
    END_STREAM) while that work is held: nothing the app does after its final ``send()``
    may hold the response back. No timing is judged, only order: gate ``work`` opens after
    the client has the end. Server behaviour judged: the final body message completes the
    response at once, not when the app returns. Fails under the break ``held-completion``
    (the final message is sent when the call ends).
    """
    token = new_token()
    async with http_client(server) as client, Observer(server) as observer:
        request = _bodiless_post(
            client, "/raw/jobs/after", params={"timeout": HELD}, headers=_probe(token)
        )
        response = await client.send(request, stream=True)
        try:
            assert response.status_code == 200, f"POST /raw/jobs/after: {response.status_code}"
            chunks = response.aiter_raw()
            first = b""
            async with asyncio.timeout(TIMEOUT):
                while len(first) < len(FIRST_PART):
                    first += await anext(chunks)
            assert first == FIRST_PART, f"the first part was {first!r}"
            await observer.release(token, "finish")
            rest = b""
            try:
                async with asyncio.timeout(PROMPT):
                    async for chunk in chunks:
                        rest += chunk
            except TimeoutError:
                snapshot = await observer.snapshot(token)
                raise AssertionError(
                    f"the end of the response did not reach the client within {PROMPT} s while "
                    f"the app's call ran on after its final send() (got {rest!r}); the app: "
                    f"{_names(snapshot)}"
                ) from None
        finally:
            await response.aclose()
        assert rest == LAST_PART, f"the last part was {rest!r}"
        # The client has the end; the app is (still) held inside its call at gate "work".
        names = _names(await observer.snapshot(token))
        assert "final-sent" in names, f"the client had the end before the app sent it: {names}"
        assert "work-end" not in names, f"the work was not held: {names}"
        assert "cancelled" not in names, f"the server cancelled the call after it: {names}"
        await observer.release(token, "work")
        await observer.wait(token, "work-end")


async def _response_then_held_work(
    server: RunningServer, observer: Observer, token: str, *, close: bool
) -> None:
    """POST ``/raw/jobs/after?parts=1``: the whole response, then work held at gate ``work``.

    With ``close`` the client closes its connection once it has the response; else it keeps
    it open, idle. Either way the call is watched for :data:`GRACE` for a cancellation, then
    let through, and must finish its work.
    """
    async with http_client(server, timeout=PROMPT) as client:
        request = _bodiless_post(
            client, "/raw/jobs/after", params={"parts": 1, "timeout": HELD}, headers=_probe(token)
        )
        try:
            response = await client.send(request)
        except httpx.TimeoutException as error:
            raise AssertionError(
                f"no whole response within {PROMPT} s while the app's call ran on after it "
                f"({error!r}): {_names(await observer.snapshot(token))}"
            ) from None
        assert (response.status_code, response.content) == (200, LAST_PART), (
            f"POST /raw/jobs/after answered {response.status_code} {response.content!r}"
        )
        await observer.wait(token, "work-start")
        if not close:
            cancelled = await observer.happened(token, "cancelled", timeout=GRACE)
    if close:  # the client has closed its connection
        cancelled = await observer.happened(token, "cancelled", timeout=GRACE)
    while_open = "while the connection was open" if not close else "once the client had closed"
    assert not cancelled, (
        f"the server cancelled the app's call {while_open}, within {GRACE} s of its complete "
        f"response: {_names(await observer.snapshot(token))}"
    )
    await observer.release(token, "work")
    snapshot = await observer.wait(token, "work-end")
    assert "cancelled" not in _names(snapshot), f"the call was cancelled: {_names(snapshot)}"


@case(
    "jobs/call-runs-on-after-response",
    grade=Grade.RECOMMENDED,
    clause='ASGI core, Overview: each call "is expected to last the lifetime of that connection '
    'plus a little longer if there is cleanup to do"',
)
async def test_a_call_that_runs_on_after_its_response_is_not_cancelled(
    server: RunningServer,
) -> None:
    """ASGI core: the server lets the app's call run on after its response is complete.

    The app sends its whole response, then works on inside its call (held at gate ``work``)
    while the client keeps its connection open. The server must not cancel the call during
    :data:`GRACE`, and the work completes once the gate opens. Server behaviour judged: no
    cancellation at the end of the response. (daphne cancels such a call 10 s after the
    response, which a case of reasonable length does not wait for:
    docs/server-behaviour.md#daphne-application-close-timeout.) Fails under the break
    ``cancel-after-response``.
    """
    token = new_token()
    async with Observer(server) as observer:
        await _response_then_held_work(server, observer, token, close=False)


@case(
    "jobs/call-runs-on-after-close",
    grade=Grade.RECOMMENDED,
    clause='ASGI core, Overview: each call "is expected to last the lifetime of that connection '
    'plus a little longer if there is cleanup to do"',
)
async def test_a_call_that_runs_on_after_the_client_closed_is_not_cancelled(
    server: RunningServer,
) -> None:
    """ASGI core: the app's call may clean up after the client closed its connection.

    The app sends its whole response, then works on inside its call (held at gate
    ``work``); the client closes its connection as soon as it has the response. The server
    must not cancel the call within :data:`GRACE` of the close: that is the "little longer"
    a call may last for its cleanup. Server behaviour judged: no cancellation when the client
    leaves. Fails under the break ``cancel-after-response``.
    """
    token = new_token()
    async with Observer(server) as observer:
        await _response_then_held_work(server, observer, token, close=True)


@case(
    "jobs/served-while-calls-run",
    grade=Grade.RECOMMENDED,
    clause='ASGI HTTP 2.5, HTTP Connection Scope: the call lasts "until the end of that specific '
    'request, even if the underlying socket is still open and serving multiple requests"',
)
async def test_the_server_keeps_answering_while_calls_run_on(server: RunningServer) -> None:
    """ASGI HTTP 2.5: calls running on after their responses do not stop the server answering.

    :data:`CALLS` requests, each on a connection of its own over HTTP/1.1 (streams of one
    connection over HTTP/2), get their whole responses; every call then works on, held at
    gate ``work``. Meanwhile a second request on each of those connections, and one on a new
    connection, must be answered. Server behaviour judged: a call still running after its
    response holds neither its connection nor the server. Fails under the break
    ``one-call-at-a-time``.
    """
    token = new_token()
    path = f"/raw/jobs/after?parts=1&timeout={HELD}"
    async with Observer(server) as observer:
        try:
            if server.spec.protocol is HTTPProtocol.HTTP1:
                await _served_while_held_h1(server, observer, token, path)
            else:
                await _served_while_held_h2(server, observer, token, path)
            async with http_client(server) as client:
                fresh = await client.get("/")
            assert fresh.status_code == 200, f"a new connection was answered {fresh.status_code}"
            names = _names(await observer.snapshot(token))
            assert "cancelled" not in names, (
                f"the server cancelled {names.count('cancelled')} of the {CALLS} calls that ran "
                f"on after their responses"
            )
        finally:
            await observer.release(token, "work", CALLS)
        await observer.wait(token, "work-end", CALLS)


async def _served_while_held_h1(
    server: RunningServer, observer: Observer, token: str, path: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        connections = [await stack.enter_async_context(RawHTTP1(server)) for _ in range(CALLS)]
        for connection in connections:
            await connection.send(request_bytes("POST", path, server.authority, _probe_list(token)))
        for index, connection in enumerate(connections):
            try:
                first = await connection.response(PROMPT)
            except (TimeoutError, ConnectionError) as error:
                raise AssertionError(
                    f"request {index + 1} of {CALLS} got no whole response while the calls "
                    f"before it ran on ({error}): {_names(await observer.snapshot(token))}"
                ) from None
            assert (first.status, first.body) == (200, LAST_PART), (first.status, first.body)
        await observer.wait(token, "work-start", CALLS)
        for connection in connections:
            await connection.send(request_bytes("GET", "/", server.authority))
        for index, connection in enumerate(connections):
            try:
                follow = await connection.response(PROMPT)
            except (TimeoutError, ConnectionError) as error:
                raise AssertionError(
                    f"the next request on connection {index + 1} was not answered while its "
                    f"first call ran on ({error})\n{connection.transcript.render()}"
                ) from None
            assert follow.status == 200, f"connection {index + 1}: {follow.status}"


async def _served_while_held_h2(
    server: RunningServer, observer: Observer, token: str, path: str
) -> None:
    async with H2Session(server) as session:
        held = [
            await session.request("POST", path, _probe_list(token), end_stream=True)
            for _ in range(CALLS)
        ]
        try:
            await session.until_ended(*held, timeout=PROMPT)
        except (TimeoutError, ConnectionError) as error:
            done = sum(session.streams[i].done for i in held)
            raise AssertionError(
                f"{done} of {CALLS} streams got their whole response while the calls ran on "
                f"({error!r})\n{session.result.describe()}"
            ) from None
        assert {(session.streams[i].status, session.streams[i].data) for i in held} == {
            (200, LAST_PART)
        }, session.result.describe()
        await observer.wait(token, "work-start", CALLS)
        follow = [await session.request("GET", "/") for _ in range(3)]
        try:
            await session.until_ended(*follow, timeout=PROMPT)
        except (TimeoutError, ConnectionError) as error:
            raise AssertionError(
                f"new streams were not answered while the calls ran on ({error!r})\n"
                f"{session.result.describe()}"
            ) from None
        assert {session.streams[i].status for i in follow} == {200}, session.result.describe()


def _probe_list(token: str) -> list[tuple[str, str]]:
    return [("x-probe-token", token)]


@case(
    "jobs/drained-at-shutdown",
    grade=Grade.REQUIRED,
    clause="ASGI lifespan 2.0, Shutdown: the server must wait for lifespan.shutdown.complete "
    "before terminating",
    requires=[Capability.LIFESPAN],
)
async def test_a_pending_job_is_drained_at_graceful_shutdown(server: RunningServer) -> None:
    """ASGI lifespan 2.0 "Shutdown": a background job running at a graceful stop finishes first.

    A server of its own gets a job (a task of the app's, outside any call) that sleeps
    :data:`SLOW_JOB` s, and is stopped (SIGINT) while the job runs. Only lifespan tells the app
    it is stopping; it drains its jobs before completing the shutdown, so the log must show
    the job's end before the shutdown hook's. Server behaviour judged: the server sends
    ``lifespan.shutdown`` and waits for ``lifespan.shutdown.complete`` before it exits. Fails
    under the break ``shutdown-complete-early``.
    """
    token = new_token()
    fresh = launch(server.spec, server.app)
    with fresh:
        async with http_client(fresh) as client, Observer(fresh) as observer:
            response = await client.send(
                _bodiless_post(client, f"/jobs/slow/{token}?seconds={SLOW_JOB}")
            )
            assert response.status_code == 202, f"POST /jobs/slow answered {response.status_code}"
            snapshot = await observer.wait(token, "job-start")
        # Both clients are closed: a graceful stop need not wait for their connections.
        started = snapshot["events"][0]["t"]
        stopping = time.monotonic()
        fresh.stop()
    assert stopping < started + SLOW_JOB, (
        f"the job had already ended when the stop began ({stopping - started:.2f} s after it "
        f"started): the case proves nothing"
    )
    log = fresh.read_log()
    finished = log.find(f"contract: job {token} finished")
    shutdown = log.find(SHUTDOWN_LINE)
    assert shutdown >= 0, (
        f"the lifespan shutdown did not run: no {SHUTDOWN_LINE!r} in the log (exit code "
        f"{fresh.exit_code}):\n{log[-3000:]}"
    )
    assert finished >= 0, (
        f"the pending job never finished: the server stopped without it (exit code "
        f"{fresh.exit_code}):\n{log[-3000:]}"
    )
    assert finished < shutdown, (
        f"the job finished after the lifespan shutdown completed:\n{log[-3000:]}"
    )


@case(
    "jobs/call-drained-at-shutdown",
    grade=Grade.RECOMMENDED,
    clause='ASGI core, Overview: each call "is expected to last the lifetime of that connection '
    'plus a little longer if there is cleanup to do"; ASGI lifespan 2.0, Shutdown: sent once '
    'the server "has stopped accepting connections and closed all active connections"',
)
async def test_a_call_running_on_at_a_graceful_stop_finishes_first(
    server: RunningServer,
) -> None:
    """A graceful stop lets a call that runs on after its response finish, before lifespan.

    A server of its own answers a request whose call then works on for :data:`SLOW_JOB` s
    (inside the call), and is stopped (SIGINT) while it does. The call must finish, not be
    cancelled or killed with the process; where the server runs lifespan, the shutdown must
    come after the call's end. Server behaviour judged: in-flight calls are waited for at a
    graceful stop. Fails on granian (lifespan shutdown at once, the call killed at exit) and
    daphne (the call cancelled at once), and under the break ``calls-not-waited-for``.
    """
    token = new_token()
    fresh = launch(server.spec, server.app)
    with fresh:
        async with http_client(fresh) as client, Observer(fresh) as observer:
            response = await client.send(
                _bodiless_post(
                    client,
                    "/raw/jobs/slow",
                    params={"seconds": SLOW_JOB},
                    headers=_probe(token),
                )
            )
            assert response.status_code == 200, f"POST /raw/jobs/slow: {response.status_code}"
            snapshot = await observer.wait(token, "work-start")
        assert "work-end" not in _names(snapshot), (
            f"the response reached the client only once the call had finished its work after "
            f"it: {_names(snapshot)}"
        )
        started = next(e["t"] for e in snapshot["events"] if e["event"] == "work-start")
        stopping = time.monotonic()
        fresh.stop()
    assert stopping < started + SLOW_JOB, (
        f"the call had already ended when the stop began ({stopping - started:.2f} s after its "
        f"work started): the case proves nothing"
    )
    log = fresh.read_log()
    cancelled = log.find(f"contract: call {token} cancelled")
    finished = log.find(f"contract: call {token} finished")
    assert cancelled < 0, f"the server cancelled the call at the stop:\n{log[-3000:]}"
    assert finished >= 0, (
        f"the call never finished: the server stopped (exit code {fresh.exit_code}) while it "
        f"ran on after its response:\n{log[-3000:]}"
    )
    shutdown = log.find(SHUTDOWN_LINE)
    assert shutdown < 0 or finished < shutdown, (
        f"the lifespan shutdown completed before the call finished:\n{log[-3000:]}"
    )
