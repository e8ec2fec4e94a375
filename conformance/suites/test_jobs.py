"""Background jobs: work an app does after its response, as the server lets it run.

ASGI HTTP spec 2.5, "Response Body": ``more_body=False`` completes the response, and the server
must flush the body before ``send()`` returns, so work the app does afterwards cannot delay
the client; ASGI core ("Applications"): the application instance may keep running after its
response; ASGI lifespan 2.0, "Shutdown": the server must wait for ``lifespan.shutdown.complete``
before it terminates, which is when an app drains its pending work.

The contract app (``/jobs/...``, :mod:`conformance.contract.jobs`) schedules jobs with
``resp.schedule``; each records ``job-start``/``job-end`` in the observation channel, so the
cases judge when jobs ran against what the client had received.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, Final

import httpx

from conformance.cases import Grade, case
from conformance.client import TIMEOUT, Observer, http_client, new_token
from servers import Capability, RunningServer, launch

#: The first part of the gated ``/jobs/{token}?gate=1`` response, and the last.
FIRST_PART: Final = b"first part;"
LAST_PART: Final = b"last part"

#: How much earlier than the client's end of the response a job may be stamped: the last
#: bytes are handed to the server (and the jobs may start) a moment before the client's loop
#: has read them. A job that starts while the end of the response is still withheld (a
#: framework that starts jobs before its final ``send()`` returns) leads by far more.
IN_FLIGHT: Final = 0.25

#: How long the drained job of ``jobs/drained-at-shutdown`` sleeps.
SLOW_JOB: Final = 0.5

#: The contract app's shutdown hook logs this line once the lifespan shutdown has run.
SHUTDOWN_LINE: Final = "contract: shutdown complete"


def _bodiless_post(client: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Request:
    """A POST without a body, sent without ``Content-Length: 0``.

    With that header httpx ends an HTTP/2 request with an empty DATA frame of its own, which
    races a response that does not wait for it: hypercorn's h2 connection dies on a DATA frame
    for a stream whose response has ended (pgjones/hypercorn#329, the body and streaming
    families' case), and granian resets the stream, which httpx reports as an error. Without
    it the HEADERS frame ends the request, and the family judges jobs, not early responses.
    """
    request = client.build_request("POST", url, **kwargs)
    del request.headers["content-length"]
    return request


def _job_events(snapshot: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (e["event"], e.get("index"))
        for e in snapshot["events"]
        if e["event"] in ("job-start", "job-end")
    ]


async def _read_exactly(chunks: AsyncIterator[bytes], size: int, what: str) -> bytes:
    """Read ``size`` bytes of a body, or fail saying what never arrived."""
    received = b""
    try:
        async with asyncio.timeout(TIMEOUT):
            while len(received) < size:
                received += await anext(chunks)
    except TimeoutError:
        raise AssertionError(
            f"{what} did not reach the client within {TIMEOUT} s (got {received!r})"
        ) from None
    return received


@case(
    "jobs/after-complete-response",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, Response Body: more_body=False completes the response, flushed "
    "before send() returns",
)
async def test_every_job_starts_after_the_client_has_the_whole_response(
    server: RunningServer,
) -> None:
    """ASGI HTTP 2.5 "Response Body": no job starts before the response is complete.

    The response's last part waits for gate ``finish``: while the client holds only the first
    part, no job may have started; once the gate opens and the client has read the response
    to its end, every job starts, and none of them was stamped before the client had the end
    (beyond the moment the last bytes are in flight, :data:`IN_FLIGHT`).
    """
    token = new_token()
    async with http_client(server) as client, Observer(server) as observer:
        request = _bodiless_post(client, f"/jobs/{token}?gate=1")
        response = await client.send(request, stream=True)
        try:
            assert response.status_code == 200, f"POST /jobs answered {response.status_code}"
            chunks = response.aiter_raw()
            first = await _read_exactly(chunks, len(FIRST_PART), "the first part")
            assert first == FIRST_PART, f"the first part was {first!r}"
            early = await observer.events(token, "job-start")
            assert not early, (
                f"{len(early)} job(s) started while the response was still streaming: {early}"
            )

            async def rest() -> tuple[bytes, float]:
                data = b""
                async for chunk in chunks:
                    data += chunk
                return data, time.monotonic()

            reader = asyncio.create_task(rest())
            await observer.release(token, "finish")
            try:
                last, complete = await asyncio.wait_for(reader, TIMEOUT)
            except TimeoutError:
                raise AssertionError(
                    f"the end of the response did not reach the client within {TIMEOUT} s"
                ) from None
        finally:
            await response.aclose()
        assert last == LAST_PART, f"the last part was {last!r}"
        snapshot = await observer.wait(token, "job-end", 3)
    events = snapshot["events"]
    names = [e["event"] for e in events]
    assert "last-chunk" in names, f"the app never produced the last part: {names}"
    produced = names.index("last-chunk")
    starts = [e for e in events if e["event"] == "job-start"]
    before = [e["index"] for e in starts if events.index(e) < produced]
    assert not before, f"job(s) {before} started before the app produced the last part"
    first_start = min(starts, key=lambda e: e["t"])
    lead = complete - first_start["t"]
    assert lead <= IN_FLIGHT, (
        f"job {first_start['index']} started {lead:.3f} s before the client had the complete "
        f"response (more than the {IN_FLIGHT} s the last bytes may be in flight)"
    )


@case(
    "jobs/order",
    grade=Grade.RECOMMENDED,
    clause="ASGI core, Applications: the application may run on after its response is complete",
)
async def test_jobs_run_one_after_another_in_the_order_scheduled(server: RunningServer) -> None:
    """ASGI core: after the response, the jobs run in order: async, sync, async.

    Each job ends before the next starts (indexes 0, 1, 2), and the sync one ran as sync.
    """
    token = new_token()
    async with http_client(server) as client, Observer(server) as observer:
        response = await client.send(_bodiless_post(client, f"/jobs/{token}"))
        assert response.status_code == 200, f"POST /jobs answered {response.status_code}"
        assert response.text == "scheduled", f"the response was {response.text!r}"
        snapshot = await observer.wait(token, "job-end", 3)
    sequence = _job_events(snapshot)
    expected = [(name, index) for index in range(3) for name in ("job-start", "job-end")]
    assert sequence == expected, f"the jobs ran as {sequence}, expected {expected}"
    kinds = [e["kind"] for e in snapshot["events"] if e["event"] == "job-start"]
    assert kinds == ["async", "sync", "async"], f"the jobs ran as kinds {kinds}"


@case(
    "jobs/failure-logged-harmless",
    grade=Grade.RECOMMENDED,
    clause="ASGI core, Error Handling: an error after the response is the app's own; the "
    "server keeps serving",
)
async def test_a_failing_job_is_logged_and_harms_nothing(server: RunningServer) -> None:
    """ASGI core "Error Handling": a job that raises is logged, and harms nothing else.

    Its traceback is in the server's log of this case's window, the jobs after it still run,
    and the server keeps answering.
    """
    offset = server.log_offset()
    token = new_token()
    async with http_client(server) as client, Observer(server) as observer:
        response = await client.send(_bodiless_post(client, f"/jobs/{token}?fail=1"))
        assert response.status_code == 200, f"POST /jobs?fail=1 answered {response.status_code}"
        snapshot = await observer.wait(token, "job-end", 3)
        sequence = [i for name, i in _job_events(snapshot) if name == "job-start"]
        assert sequence == [0, "fail", 1, 2], f"the jobs started in the order {sequence}"
    # A new connection: the server itself must still answer.
    async with http_client(server) as client:
        after = await client.get("/")
    assert after.status_code == 200, (
        f"after the failing job the server answered {after.status_code}"
    )
    log = server.read_log(offset)
    line = f"RuntimeError: contract: deliberate job failure {token}"
    assert line in log, f"the job's failure is not in the server log: no {line!r} in\n{log[-3000:]}"
    assert "Traceback (most recent call last)" in log, f"no traceback in the log:\n{log[-3000:]}"


@case(
    "jobs/burst-1000",
    grade=Grade.RECOMMENDED,
    clause="ASGI core, Applications: the application may run on after its response is complete",
)
async def test_a_thousand_jobs_from_one_burst_all_run(server: RunningServer) -> None:
    """1,000 jobs scheduled by 100 concurrent requests (10 each) all run, each once."""
    token = new_token()
    async with http_client(server) as client, Observer(server) as observer:
        responses = await asyncio.gather(
            *(client.send(_bodiless_post(client, f"/jobs/burst/{token}?n=10")) for _ in range(100))
        )
        statuses = sorted({r.status_code for r in responses})
        assert statuses == [202], f"the burst was answered with {statuses}"
        snapshot = await observer.wait(token, "job", 1000)
    ran = snapshot["counters"].get("job", 0)
    assert ran == 1000, f"{ran} jobs ran, not 1000"


@case(
    "jobs/drained-at-shutdown",
    grade=Grade.REQUIRED,
    clause="ASGI lifespan 2.0, Shutdown: the server must wait for lifespan.shutdown.complete "
    "before terminating",
    requires=[Capability.LIFESPAN],
)
async def test_a_pending_job_is_drained_at_graceful_shutdown(server: RunningServer) -> None:
    """ASGI lifespan 2.0 "Shutdown": a job running at a graceful stop finishes first.

    A server of its own gets a job that sleeps :data:`SLOW_JOB` s and is stopped (SIGINT)
    while the job runs. Only lifespan tells the app it is stopping; it drains its jobs before
    completing the shutdown, so the log must show the job's end before the shutdown hook's.
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
    "jobs/outlive-app-call",
    grade=Grade.RECOMMENDED,
    clause="ASGI core, Applications: the application may run on after its response is complete",
)
async def test_a_job_outlives_the_asgi_call_and_completes(server: RunningServer) -> None:
    """ASGI core: a job runs on after the ASGI call returned, and completes.

    Daphne cancels the app coroutine 10 s after the response (``--application-close-timeout``,
    servers.md §0.4); a job run inside the call (inline after the final ``send()``) would die
    with it. Rather than outwaiting that timeout, the case proves the job is not part of the
    call: the job sees the call's task finish while the job itself is still running (held by
    gate ``finish``), after the final body was sent, and it then completes.
    """
    token = new_token()
    probe = {"x-probe-token": token}
    async with http_client(server) as client, Observer(server) as observer:
        response = await client.send(
            _bodiless_post(
                client, f"/jobs/outlive/{token}", params={"timeout": TIMEOUT}, headers=probe
            )
        )
        assert response.status_code == 200, f"POST /jobs/outlive answered {response.status_code}"
        assert response.text == "scheduled", f"the response was {response.text!r}"
        snapshot = await observer.wait(token, "call-returned", timeout=2 * TIMEOUT)
        events = snapshot["events"]
        returned = next(e for e in events if e["event"] == "call-returned")
        assert returned["task"], "the ASGI call does not run as an asyncio task: cannot judge"
        assert returned["returned"], (
            f"the job runs inside the ASGI call: the call had not returned {TIMEOUT} s after the "
            f"job started"
        )
        names = [e["event"] for e in events]
        assert "job-end" not in names, f"the job ended before the test let it: {names}"
        final = [
            i
            for i, e in enumerate(events)
            if e["event"] == "send"
            and e.get("type") == "http.response.body"
            and not e.get("more_body", False)
        ]
        assert final, f"the message recorder saw no final body: {names}"
        assert final[0] < names.index("job-start"), (
            f"the job started before the final body was sent: {names}"
        )
        await observer.release(token, "finish")
        await observer.wait(token, "job-end")
