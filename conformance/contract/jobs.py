"""Background job endpoints: ordered jobs (one may fail), bursts, slow jobs, and jobs that
outlive the ASGI call.

Endpoints (events are recorded under the path's token):

* ``POST /jobs/{token}?fail=&gate=``: three jobs, async, sync, async, each recording
  ``job-start`` and ``job-end`` with its ``index`` (0, 1, 2) and ``kind``; with ``fail=1`` a
  job that raises ``RuntimeError("contract: deliberate job failure <token>")`` runs between
  the first two; with ``gate=1`` the response is streamed, and its last part waits for gate
  ``finish`` (recording ``last-chunk`` when it is produced).
* ``POST /jobs/burst/{token}?n=``: ``n`` jobs, each bumping counter ``job``.
* ``POST /jobs/slow/{token}?seconds=``: one job that records ``job-start``, sleeps, records
  ``job-end`` and logs ``contract: job <token> finished``.
* ``POST /jobs/outlive/{token}?timeout=``: one job that records ``job-start``, waits (up to
  ``timeout`` seconds) for the ASGI call that scheduled it to return and records
  ``call-returned`` (``returned``: whether it did; ``task``: False if the call was not an
  asyncio task), then waits for gate ``finish`` (up to ``timeout``) and records ``job-end``
  (or ``job-abandoned``).

Raw endpoints (:data:`RAW`): work the app does *inside its own call* after its response, which
is what a server can cut short. The token is the ``x-probe-token`` header; events go under it
(besides the message recorder's):

* ``ANY /raw/jobs/after?parts=&timeout=``: with ``parts=2`` (the default) a streamed response
  whose second, final part waits for gate ``finish`` (``first-sent`` once the first part is
  sent); with ``parts=1`` one body with Content-Length. After the final ``send()`` returned:
  ``final-sent``, then ``work-start``, then the call waits for gate ``work`` and records
  ``work-end``; ``cancelled`` if the server cancels the call meanwhile. A gate not opened
  within ``timeout`` seconds (default 10) is given up (``finish-abandoned``,
  ``work-abandoned``), so a failed case leaves no call behind.
* ``ANY /raw/jobs/slow?seconds=``: one body with Content-Length, then ``work-start``, a sleep
  inside the call, ``work-end`` and the log line ``contract: call <token> finished``; if
  cancelled, ``cancelled`` and ``contract: call <token> cancelled``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from reference_app import App, Request, Response
from reference_app.types import ASGIApp, Receive, Scope, Send

from ._common import float_param, int_param, logger, observations, query, token_of

__all__ = ["FIRST_PART", "LAST_PART", "RAW", "register"]

#: The parts of ``/raw/jobs/after``'s response.
FIRST_PART = b"first part;"
LAST_PART = b"last part"


def register(app: App) -> None:
    """Add this family's endpoints to ``app``."""

    @app.route("/jobs/{token}", methods={"POST"})
    async def jobs(req: Request, resp: Response, token: str) -> None:
        def job(index: int, is_async: bool) -> Any:
            def sync_job() -> None:
                thread = threading.current_thread().name
                observations.record(token, "job-start", index=index, kind="sync", thread=thread)
                observations.record(token, "job-end", index=index, kind="sync")

            async def async_job() -> None:
                observations.record(token, "job-start", index=index, kind="async")
                await asyncio.sleep(0)
                observations.record(token, "job-end", index=index, kind="async")

            return async_job if is_async else sync_job

        async def failing_job() -> None:
            observations.record(token, "job-start", index="fail", kind="async")
            raise RuntimeError(f"contract: deliberate job failure {token}")

        resp.schedule(job(0, True))
        if req.get_param("fail") == "1":
            resp.schedule(failing_job)
        resp.schedule_sync(job(1, False))
        resp.schedule(job(2, True))
        if req.get_param("gate") == "1":

            async def body() -> AsyncIterator[bytes]:
                yield b"first part;"
                await observations.gate(token, "finish").acquire()
                observations.record(token, "last-chunk")
                yield b"last part"

            resp.stream = body()
        else:
            resp.text = "scheduled"

    @app.route("/jobs/burst/{token}", methods={"POST"})
    async def burst(req: Request, resp: Response, token: str) -> None:
        async def bump() -> None:
            observations.count(token, "job")

        for _ in range(int_param(req, "n", 10)):
            resp.schedule(bump)
        resp.status = 202

    @app.route("/jobs/slow/{token}", methods={"POST"})
    async def slow(req: Request, resp: Response, token: str) -> None:
        seconds = float_param(req, "seconds", 1.0)

        async def sleeper() -> None:
            observations.record(token, "job-start")
            await asyncio.sleep(seconds)
            observations.record(token, "job-end")
            logger.info("contract: job %s finished", token)

        resp.schedule(sleeper)
        resp.status = 202

    @app.route("/jobs/outlive/{token}", methods={"POST"})
    async def outlive(req: Request, resp: Response, token: str) -> None:
        # Every built-in server runs the ASGI call as an asyncio task: the job watches it.
        resp.schedule(_outliver(token, asyncio.current_task(), float_param(req, "timeout", 10.0)))
        resp.text = "scheduled"


def _outliver(
    token: str, call: asyncio.Task[Any] | None, limit: float
) -> Callable[[], Coroutine[Any, Any, None]]:
    """The job of ``/jobs/outlive``: it watches ``call``, the ASGI call that scheduled it."""

    async def outliver() -> None:
        observations.record(token, "job-start")
        if call is None:
            observations.record(token, "call-returned", returned=False, task=False)
        else:
            # A job run inside the call (inline, after the response) waits for its own task
            # here, and gives up after the limit: returned=False.
            done, _ = await asyncio.wait({call}, timeout=limit)
            observations.record(token, "call-returned", returned=bool(done), task=True)
        try:
            async with asyncio.timeout(limit):
                await observations.gate(token, "finish").acquire()
        except TimeoutError:
            observations.record(token, "job-abandoned")
            return
        observations.record(token, "job-end")

    return outliver


async def _through(token: str, gate: str, limit: float) -> bool:
    """Wait for gate ``gate`` of ``token``; False if it stayed shut for ``limit`` seconds."""
    try:
        async with asyncio.timeout(limit):
            await observations.gate(token, gate).acquire()
    except TimeoutError:
        observations.record(token, f"{gate}-abandoned")
        return False
    return True


async def after(scope: Scope, receive: Receive, send: Send) -> None:
    """A response, then work inside the call held by gate ``work`` (see the module docstring)."""
    token, limit = token_of(scope), query(scope, "timeout", 10.0)
    headers = [(b"content-type", b"text/plain")]
    if query(scope, "parts", 2) == 1:
        headers.append((b"content-length", str(len(LAST_PART)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
    else:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": FIRST_PART, "more_body": True})
        observations.record(token, "first-sent")
        await _through(token, "finish", limit)
    await send({"type": "http.response.body", "body": LAST_PART, "more_body": False})
    observations.record(token, "final-sent")
    try:
        observations.record(token, "work-start")
        if await _through(token, "work", limit):
            observations.record(token, "work-end")
    except asyncio.CancelledError:
        observations.record(token, "cancelled")
        raise


async def slow(scope: Scope, receive: Receive, send: Send) -> None:
    """A response, then a sleep inside the call; its end (or cancellation) is logged."""
    token = token_of(scope)
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})
    try:
        observations.record(token, "work-start")
        await asyncio.sleep(query(scope, "seconds", 1.0))
    except asyncio.CancelledError:
        observations.record(token, "cancelled")
        logger.info("contract: call %s cancelled", token)
        raise
    observations.record(token, "work-end")
    logger.info("contract: call %s finished", token)


#: Raw ASGI endpoints of this family, by exact path.
RAW: dict[str, ASGIApp] = {"/raw/jobs/after": after, "/raw/jobs/slow": slow}
