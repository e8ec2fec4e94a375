"""Background job endpoints: ordered jobs (one may fail), bursts, and slow jobs for shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from reference_app import App, Request, Response

from ._common import float_param, int_param, logger, observations


def register(app: App) -> None:
    """Add this family's endpoints to ``app``."""

    @app.route("/jobs/{token}", methods={"POST"})
    async def jobs(req: Request, resp: Response, token: str) -> None:
        def job(index: int, is_async: bool) -> Any:
            def sync_job() -> None:
                observations.record(token, "job-start", index=index)
                observations.record(token, "job-end", index=index)

            async def async_job() -> None:
                observations.record(token, "job-start", index=index)
                await asyncio.sleep(0)
                observations.record(token, "job-end", index=index)

            return async_job if is_async else sync_job

        async def failing_job() -> None:
            observations.record(token, "job-start", index="fail")
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
