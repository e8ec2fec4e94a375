"""Background jobs: after the response, in order, kept alive, logged, drained (Falcon 4.4)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import threading
from collections.abc import AsyncIterator, Callable
from functools import partial

import pytest

from reference_app import App, HTTPError, Request, Response
from reference_app.testing import ASGIDriver, Exchange, lifespan

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


async def test_jobs_start_only_after_the_final_body_message_and_run_in_order() -> None:
    app = App()
    log: list[str] = []
    done = asyncio.Event()
    exchanges: list[Exchange] = []

    async def first() -> None:
        log.append(f"async-1 complete={exchanges[0].complete}")

    def second() -> None:
        log.append("sync-2")

    async def third() -> None:
        log.append("async-3")
        done.set()

    @app.route("/jobs", methods={"POST"})
    async def responder(req: Request, resp: Response) -> None:
        resp.schedule(first)
        resp.schedule_sync(second)
        resp.schedule(third)
        resp.text = "accepted"

    async with ASGIDriver(app).stream("POST", "/jobs") as exchange:
        exchanges.append(exchange)
        result = await exchange.finish()
        async with asyncio.timeout(2):
            await done.wait()
    assert result.body == b"accepted"
    assert log == ["async-1 complete=True", "sync-2", "async-3"]


async def test_streamed_response_jobs_wait_for_the_end_of_the_stream() -> None:
    """Falcon runs SSE jobs right after the response starts (Falcon 4.4)."""
    app = App()
    gate = asyncio.Event()
    started = asyncio.Event()

    async def job() -> None:
        started.set()

    async def body() -> AsyncIterator[bytes]:
        yield b"one"
        await gate.wait()
        yield b"two"

    @app.route("/s")
    async def responder(req: Request, resp: Response) -> None:
        resp.schedule(job)
        resp.stream = body()

    async with ASGIDriver(app).stream("GET", "/s") as exchange:
        assert await exchange.next_chunk() == b"one"
        await asyncio.sleep(0)  # let any wrongly early job run
        assert not started.is_set()
        gate.set()
        assert await exchange.next_chunk() == b"two"
        assert await exchange.next_chunk() is None
        async with asyncio.timeout(2):
            await started.wait()


async def test_sync_jobs_run_in_a_worker_thread_with_the_requests_contextvars() -> None:
    app = App()
    seen: list[tuple[str, bool]] = []
    done = threading.Event()

    def job() -> None:
        seen.append((REQUEST_ID.get(), threading.current_thread() is threading.main_thread()))
        done.set()

    @app.route("/ctx")
    async def responder(req: Request, resp: Response) -> None:
        REQUEST_ID.set("req-42")
        resp.schedule_sync(job)

    await ASGIDriver(app).get("/ctx")
    await asyncio.to_thread(done.wait, 2)
    assert seen == [("req-42", False)]


async def test_a_failing_job_is_logged_and_the_next_one_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()
    ran = asyncio.Event()

    async def broken() -> None:
        raise RuntimeError("job exploded")

    async def after() -> None:
        ran.set()

    @app.route("/j")
    async def responder(req: Request, resp: Response) -> None:
        resp.schedule(broken)
        resp.schedule(after)

    with caplog.at_level(logging.ERROR, "reference_app"):
        result = await ASGIDriver(app).get("/j")
        async with asyncio.timeout(2):
            await ran.wait()
    assert result.status == 200
    record = next(r for r in caplog.records if "background job" in r.getMessage())
    assert "broken" in record.getMessage()
    assert record.exc_info is not None
    assert "job exploded" in str(record.exc_info[1])


async def test_the_app_keeps_a_strong_reference_to_running_jobs() -> None:
    """Falcon creates fire-and-forget tasks; asyncio only keeps weak references to tasks."""
    app = App()
    gate = asyncio.Event()
    finished = asyncio.Event()

    async def job() -> None:
        await gate.wait()
        finished.set()

    @app.route("/j")
    async def responder(req: Request, resp: Response) -> None:
        resp.schedule(job)

    await ASGIDriver(app).get("/j")
    await asyncio.sleep(0)
    gc.collect()
    assert app.jobs.pending == 1
    gate.set()
    async with asyncio.timeout(2):
        await finished.wait()
    await asyncio.sleep(0)
    assert app.jobs.pending == 0


async def test_jobs_of_a_failed_responder_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    app = App()
    ran: list[str] = []

    async def job() -> None:
        ran.append("ran")  # pragma: no cover - must not run

    @app.route("/j")
    async def responder(req: Request, resp: Response) -> None:
        resp.schedule(job)
        raise HTTPError(503)

    with caplog.at_level(logging.INFO, "reference_app"):
        result = await ASGIDriver(app).get("/j")
    await asyncio.sleep(0)
    assert result.status == 503
    assert ran == []
    assert app.jobs.pending == 0
    assert "dropping 1 background job(s): the responder failed" in caplog.text


async def test_a_thousand_jobs_from_a_burst_of_requests_all_run() -> None:
    app = App()
    counter = {"n": 0}
    all_done = asyncio.Event()

    async def bump(amount: int) -> None:
        counter["n"] += amount
        if counter["n"] == 1000:
            all_done.set()

    @app.route("/burst")
    async def responder(req: Request, resp: Response) -> None:
        for _ in range(10):
            resp.schedule(partial(bump, 1))

    driver = ASGIDriver(app)
    results = await asyncio.gather(*(driver.get("/burst") for _ in range(100)))
    assert {r.status for r in results} == {200}
    async with asyncio.timeout(5):
        await all_done.wait()
    assert counter["n"] == 1000


async def test_jobs_run_after_a_client_disconnects_mid_stream() -> None:
    app = App()
    ran = asyncio.Event()

    async def cleanup() -> None:
        ran.set()

    async def forever() -> AsyncIterator[bytes]:
        yield b"tick"
        await asyncio.Event().wait()

    @app.route("/s")
    async def responder(req: Request, resp: Response) -> None:
        resp.schedule(cleanup)
        resp.stream = forever()

    async with ASGIDriver(app).stream("GET", "/s") as exchange:
        assert await exchange.next_chunk() == b"tick"
        exchange.disconnect()
        await exchange.finish()
    async with asyncio.timeout(2):
        await ran.wait()


async def test_shutdown_drains_pending_jobs() -> None:
    app = App(shutdown_timeout=5)
    finished: list[str] = []
    release = asyncio.Event()

    async def slow() -> None:
        await release.wait()
        finished.append("slow")

    @app.route("/j")
    async def responder(req: Request, resp: Response) -> None:
        resp.schedule(slow)

    async with lifespan(app):
        await ASGIDriver(app).get("/j")
        assert app.jobs.pending == 1
        asyncio.get_running_loop().call_later(0.05, release.set)
    # Leaving the block sent lifespan.shutdown; its reply came only after the job finished.
    assert finished == ["slow"]


async def test_shutdown_cancels_jobs_past_the_timeout_and_logs_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App(shutdown_timeout=0.05)
    cancelled = asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    @app.route("/j")
    async def responder(req: Request, resp: Response) -> None:
        resp.schedule(stuck)

    with caplog.at_level(logging.WARNING, "reference_app"):
        async with lifespan(app):
            await ASGIDriver(app).get("/j")
    assert cancelled.is_set()
    assert "cancelling background job" in caplog.text
    assert "stuck" in caplog.text
    assert await app.jobs.drain(0.01) == 0  # nothing left


@pytest.mark.parametrize(
    ("method", "callback", "message"),
    [
        pytest.param("schedule", "coroutine", "not a coroutine object", id="schedule-coroutine"),
        pytest.param("schedule", "sync", "use schedule_sync", id="schedule-sync-function"),
        pytest.param("schedule_sync", "async", "use schedule()", id="schedule_sync-async"),
        pytest.param("schedule_sync", "coroutine", "not a coroutine object", id="sync-coroutine"),
        pytest.param("schedule_sync", "not-callable", "takes a callable", id="not-callable"),
    ],
)
def test_scheduling_the_wrong_kind_of_callable_is_a_type_error(
    method: str, callback: str, message: str
) -> None:
    async def coroutine_function() -> None:
        pass  # pragma: no cover

    def sync_function() -> None:
        pass  # pragma: no cover

    values: dict[str, Callable[[], object]] = {
        "coroutine": lambda: coroutine_function(),
        "sync": lambda: sync_function,
        "async": lambda: coroutine_function,
        "not-callable": lambda: 42,
    }
    with pytest.raises(TypeError, match=message):
        getattr(Response(), method)(values[callback]())


def test_schedule_accepts_async_callables_and_partials() -> None:
    class Job:
        async def __call__(self) -> None:
            pass  # pragma: no cover

    async def with_argument(value: int) -> None:
        pass  # pragma: no cover

    resp = Response()
    resp.schedule(Job())
    resp.schedule(partial(with_argument, 1))
    assert [is_async for _, is_async in resp.jobs] == [True, True]
