"""Checks that left the server matrix: they judged the framework, not the server.

Each test here was a conformance case run on every server variant, although its verdict
depended only on what the reference framework (through the contract app) does: the order of
background jobs, their logging, a thousand of them, a job outliving the ASGI call, a body
object closed once, SSE resumption, and no push without the extension. In process, with
:class:`reference_app.testing.ASGIDriver` playing the server, they keep checking the same
endpoints of :mod:`conformance.contract`, at no cost to the matrix. The case each came from is
named in its docstring.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from typing import Any

import pytest

from conformance.contract import app, observations, pattern
from conformance.contract.sse import RESUME_RETRY
from conformance.sse import EventStreamParser
from reference_app import spec
from reference_app.testing import ASGIDriver

PUSHED = ("/pushed/a", "/pushed/b?x=1")


def _token() -> str:
    return f"moved-{uuid.uuid4().hex[:12]}"


async def _wait(
    token: str, event: str, count: int = 1, timeout: float = 5.0
) -> list[dict[str, Any]]:
    """The token's events once ``event`` was recorded ``count`` times."""
    assert await observations.wait(token, event, count, timeout), (
        f"{event!r} x{count} not recorded: {[e['event'] for e in observations.log(token).events]}"
    )
    return list(observations.log(token).events)


def _jobs(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(e["event"], e.get("index")) for e in events if e["event"] in ("job-start", "job-end")]


async def test_jobs_run_one_after_another_in_the_order_scheduled() -> None:
    """Was ``jobs/order``: after the response, async, sync and async jobs run in order."""
    token = _token()
    result = await ASGIDriver(app).request("POST", f"/jobs/{token}")
    assert (result.status, result.text) == (200, "scheduled")
    events = await _wait(token, "job-end", 3)
    assert _jobs(events) == [(n, i) for i in range(3) for n in ("job-start", "job-end")]
    kinds = [e["kind"] for e in events if e["event"] == "job-start"]
    assert kinds == ["async", "sync", "async"]


async def test_a_failing_job_is_logged_and_the_jobs_after_it_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Was ``jobs/failure-logged-harmless``: a job that raises is logged with its traceback."""
    token = _token()
    with caplog.at_level(logging.ERROR, logger="reference_app"):
        result = await ASGIDriver(app).request("POST", f"/jobs/{token}", query="fail=1")
        assert result.status == 200
        events = await _wait(token, "job-end", 3)
    starts = [i for name, i in _jobs(events) if name == "job-start"]
    assert starts == [0, "fail", 1, 2]
    failures = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert any(f"deliberate job failure {token}" in str(error) for error in failures)
    assert (await ASGIDriver(app).get("/")).status == 200


async def test_a_thousand_jobs_from_a_burst_of_requests_all_run_once() -> None:
    """Was ``jobs/burst-1000``: 100 requests scheduling 10 jobs each: 1,000 jobs run."""
    token = _token()
    driver = ASGIDriver(app)
    results = await asyncio.gather(
        *(driver.request("POST", f"/jobs/burst/{token}", query="n=10") for _ in range(100))
    )
    assert {r.status for r in results} == {202}
    assert await observations.wait(token, "job", 1000, 5.0)
    assert observations.log(token).counters["job"] == 1000


async def test_a_job_outlives_the_asgi_call_that_scheduled_it() -> None:
    """Was ``jobs/outlive-app-call``: the job runs on after the ASGI call returned.

    The job watches the call's task, sees it finish while the job is held by gate
    ``finish``, and completes once the gate opens: a job run inside the call could not.
    """
    token = _token()
    result = await ASGIDriver(app).request("POST", f"/jobs/outlive/{token}", query="timeout=5")
    assert (result.status, result.text) == (200, "scheduled")
    events = await _wait(token, "call-returned")
    returned = next(e for e in events if e["event"] == "call-returned")
    assert (returned["task"], returned["returned"]) == (True, True)
    assert "job-end" not in [e["event"] for e in events]
    observations.release(token, "finish")
    await _wait(token, "job-end")


async def test_a_read_object_body_is_streamed_whole_and_closed_once() -> None:
    """Was ``streaming/read-object-closed-once``: a ``read()``/``close()`` body source."""
    token = _token()
    size = 300_000
    result = await ASGIDriver(app).get(f"/stream/reader/{token}", query=f"size={size}")
    assert result.status == 200
    assert hashlib.sha256(result.body).digest() == hashlib.sha256(pattern(size)).digest()
    events = await _wait(token, "closed")
    assert [e["event"] for e in events].count("closed") == 1


async def test_an_event_stream_resumes_after_the_last_event_id() -> None:
    """Was ``sse/resume``: ``retry`` and ``id`` reach the client; ``Last-Event-ID`` the app."""
    parser = EventStreamParser()
    seen = []
    driver = ASGIDriver(app)
    for attempt in range(2):
        headers = [("last-event-id", parser.last_event_id)] if attempt else []
        result = await driver.get("/sse/resume", headers=headers)
        assert result.status == 200
        seen += parser.feed(result.body)
        assert parser.retry == RESUME_RETRY
    got = [(e.data, e.id, e.last_event_id) for e in seen]
    assert got == [(f"item {n}", str(n), str(n)) for n in range(1, 7)]


@pytest.mark.parametrize("advertised", [False, True])
async def test_a_push_is_attempted_only_where_the_server_offers_it(advertised: bool) -> None:
    """Was ``push/not-attempted-without-extension``: no push message without the extension."""
    extensions: dict[str, dict[str, object]] = {spec.EXT_PUSH: {}} if advertised else {}
    driver = ASGIDriver(app, extensions=extensions, http_version="2" if advertised else "1.1")
    query = "&".join(f"path={p.replace('?', '%3F').replace('=', '%3D')}" for p in PUSHED)
    result = await driver.get("/push/page", query=query)
    assert result.status == 200
    assert result.json() == {"pushed": [advertised] * len(PUSHED)}
    pushes = result.sent("http.response.push")
    assert [p["path"] for p in pushes] == (list(PUSHED) if advertised else [])
    types = [m["type"] for m in result.sent()]
    assert types[0] == "http.response.start"
    assert types[-1] == "http.response.body"
