"""Lifespan: startup/shutdown hooks, failures, state shared with requests, and the fallback.

The fallback is for servers that never send lifespan (daphne): the first request runs the
startup hooks, once, even when several first requests arrive together.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from reference_app import App, Request, Response
from reference_app.background import JobRunner
from reference_app.lifespan import Lifespan
from reference_app.testing import ASGIDriver, LifespanFailed, Result, lifespan
from reference_app.types import Message


class StateEcho:
    """GET: answer with the request's lifespan state (values as str)."""

    async def on_get(self, req: Request, resp: Response) -> None:
        resp.media = {name: str(value) for name, value in sorted(req.state.items())}
        req.state["touched_by_request"] = True  # a per-request copy: must not leak


def echo_app(**options: Any) -> App:
    app = App(**options)
    app.add_route("/", StateEcho())
    return app


# -- with a server that speaks lifespan ---------------------------------------------------------


def test_startup_and_shutdown_hooks_run_in_order_and_share_state() -> None:
    app = echo_app()
    log: list[str] = []

    @app.on_startup
    async def connect(state: dict[str, Any]) -> None:
        log.append("connect")
        state["db"] = "connection"

    @app.on_startup
    async def warm(state: dict[str, Any]) -> None:
        log.append(f"warm {state['db']}")

    @app.on_shutdown
    async def flush(state: dict[str, Any]) -> None:
        log.append(f"flush {state['db']}")

    @app.on_shutdown
    async def close(state: dict[str, Any]) -> None:
        log.append("close")

    async def scenario() -> Result:
        async with lifespan(app) as state:
            assert log == ["connect", "warm connection"]
            assert state == {"db": "connection"}
            result = await ASGIDriver(app, state=state).get("/")
            assert "touched_by_request" not in state
            assert log == ["connect", "warm connection"]  # requests run no hook
        return result

    result = asyncio.run(scenario())
    assert log == ["connect", "warm connection", "flush connection", "close"]
    assert result.json() == {"db": "connection"}
    assert app.lifespan.observed
    assert app.lifespan.fallback_state is None


def test_state_values_are_shared_objects() -> None:
    class Counter:
        async def on_post(self, req: Request, resp: Response) -> None:
            req.state["hits"].append(req.method)
            resp.status = 204

    app = App()
    app.add_route("/", Counter())

    @app.on_startup
    async def start(state: dict[str, Any]) -> None:
        state["hits"] = []

    async def scenario() -> list[str]:
        async with lifespan(app) as state:
            driver = ASGIDriver(app, state=state)
            for _ in range(3):
                assert (await driver.request("POST", "/")).status == 204
            hits: list[str] = state["hits"]
            return hits

    assert asyncio.run(scenario()) == ["POST"] * 3


def test_a_failing_startup_hook_answers_startup_failed(caplog: pytest.LogCaptureFixture) -> None:
    app = App()
    log: list[str] = []

    @app.on_startup
    async def connect(state: dict[str, Any]) -> None:
        raise ConnectionRefusedError("no database at db:5432")

    @app.on_startup
    async def never(state: dict[str, Any]) -> None:
        log.append("never")

    @app.on_shutdown
    async def shutdown(state: dict[str, Any]) -> None:
        log.append("shutdown")

    async def scenario() -> None:
        async with lifespan(app):
            raise AssertionError("startup must fail")

    with (
        caplog.at_level(logging.ERROR, logger="reference_app"),
        pytest.raises(LifespanFailed) as failed,
    ):
        asyncio.run(scenario())
    assert str(failed.value) == "ConnectionRefusedError: no database at db:5432"
    assert log == []  # neither the later startup hook nor any shutdown hook ran
    (record,) = caplog.records
    assert "lifespan startup hook" in record.getMessage()
    assert "connect" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is ConnectionRefusedError


def test_a_failing_shutdown_hook_answers_shutdown_failed(caplog: pytest.LogCaptureFixture) -> None:
    app = App()
    log: list[str] = []

    @app.on_shutdown
    async def flush(state: dict[str, Any]) -> None:
        raise ValueError("flush failed")

    @app.on_shutdown
    async def close(state: dict[str, Any]) -> None:
        log.append("close")

    async def scenario() -> None:
        async with lifespan(app):
            log.append("serving")

    with (
        caplog.at_level(logging.ERROR, logger="reference_app"),
        pytest.raises(LifespanFailed) as failed,
    ):
        asyncio.run(scenario())
    assert str(failed.value) == "ValueError: flush failed"
    assert log == ["serving"]
    assert "lifespan shutdown hook" in caplog.records[0].getMessage()


def test_shutdown_waits_for_background_jobs_before_the_hooks() -> None:
    log: list[str] = []

    class Work:
        async def on_post(self, req: Request, resp: Response) -> None:
            async def job() -> None:
                for _ in range(5):
                    await asyncio.sleep(0)
                log.append("job done")

            resp.schedule(job)
            resp.status = 202

    app = App()
    app.add_route("/", Work())

    @app.on_shutdown
    async def stop(state: dict[str, Any]) -> None:
        log.append("shutdown hook")

    async def scenario() -> None:
        async with lifespan(app) as state:
            result = await ASGIDriver(app, state=state).request("POST", "/")
            assert result.status == 202
            assert log == []  # the job is still pending when the response is complete

    asyncio.run(scenario())
    assert log == ["job done", "shutdown hook"]


def test_lifespan_messages_it_does_not_know_are_ignored() -> None:
    sent: list[Message] = []
    incoming: list[Message] = [
        {"type": "lifespan.startup"},
        {"type": "lifespan.something-new"},
        {"type": "lifespan.shutdown"},
    ]

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    seen: list[dict[str, Any]] = []
    life = Lifespan()

    async def hook(state: dict[str, Any]) -> None:
        seen.append(state)

    life.startup.append(hook)
    life.shutdown.append(hook)
    # a scope without "state" (lifespan spec before 2.3): the hooks share a fresh dict
    asyncio.run(life.serve({"type": "lifespan"}, receive, send, JobRunner(), 1.0))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert incoming == []
    assert seen == [{}, {}]
    assert seen[0] is seen[1]


# -- middleware hooks ---------------------------------------------------------------------------


class Pool:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def process_startup(self, scope: dict[str, Any], event: dict[str, Any]) -> None:
        self.log.append(f"pool startup ({scope['type']})")
        scope["state"]["pool"] = "open"

    async def process_shutdown(self, scope: dict[str, Any], event: dict[str, Any]) -> None:
        self.log.append(f"pool shutdown, pool {scope['state']['pool']}")


def test_middleware_process_startup_and_shutdown() -> None:
    log: list[str] = []
    app = echo_app(middleware=[Pool(log)])

    @app.on_startup
    async def after_pool(state: dict[str, Any]) -> None:
        log.append(f"hook sees pool {state['pool']}")

    async def scenario() -> Result:
        async with lifespan(app) as state:
            return await ASGIDriver(app, state=state).get("/")

    result = asyncio.run(scenario())
    assert result.json() == {"pool": "open"}
    assert log == ["pool startup (lifespan)", "hook sees pool open", "pool shutdown, pool open"]


def test_lifespan_hooks_must_be_async() -> None:
    class SyncStartup:
        def process_startup(self, scope: dict[str, Any], event: dict[str, Any]) -> None:
            pass

    def sync(state: dict[str, Any]) -> None:
        pass

    app = App()
    with pytest.raises(TypeError, match="a startup hook must be a coroutine function"):
        app.on_startup(sync)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a shutdown hook must be a coroutine function"):
        app.on_shutdown(sync)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"SyncStartup\.process_startup must be async"):
        app.add_middleware(SyncStartup())
    assert app.lifespan.startup == []
    assert app.lifespan.shutdown == []


# -- servers without lifespan -------------------------------------------------------------------


def test_without_lifespan_the_first_request_runs_the_startup_hooks_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = echo_app()
    runs: list[str] = []

    @app.on_startup
    async def connect(state: dict[str, Any]) -> None:
        runs.append("connect")
        state["db"] = f"connection {len(runs)}"

    async def scenario() -> list[Result]:
        driver = ASGIDriver(app)  # never sends lifespan
        return [await driver.get("/") for _ in range(3)]

    with caplog.at_level(logging.INFO, logger="reference_app"):
        results = asyncio.run(scenario())
    assert runs == ["connect"]
    assert [r.json() for r in results] == [{"db": "connection 1"}] * 3
    # each request got a copy: what a request wrote into its state stayed there
    assert app.lifespan.fallback_state == {"db": "connection 1"}
    assert "no lifespan from the server" in caplog.text
    assert not app.lifespan.observed


def test_concurrent_first_requests_run_the_startup_hooks_once() -> None:
    app = echo_app()
    runs: list[str] = []

    async def scenario() -> list[Result]:
        entered, release = asyncio.Event(), asyncio.Event()

        @app.on_startup
        async def connect(state: dict[str, Any]) -> None:
            runs.append("connect")
            entered.set()
            await release.wait()
            state["db"] = "ready"

        driver = ASGIDriver(app)
        async with (
            driver.stream("GET", "/") as first,
            driver.stream("GET", "/") as second,
            driver.stream("GET", "/") as third,
        ):
            try:
                await entered.wait()
                # All three requests have started by now; without the lock the other two would
                # have entered the hook as well.
                assert runs == ["connect"]
                assert app.lifespan.fallback_state is None
                assert [ex.status for ex in (first, second, third)] == [0, 0, 0]
            finally:
                release.set()
            return [await ex.finish() for ex in (first, second, third)]

    results = asyncio.run(scenario())
    assert runs == ["connect"]
    assert [r.json() for r in results] == [{"db": "ready"}] * 3


def test_a_failing_fallback_startup_is_a_500_and_the_next_request_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = echo_app()
    attempts: list[int] = []

    @app.on_startup
    async def flaky(state: dict[str, Any]) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            raise ConnectionError("not yet")
        state["ok"] = "yes"

    async def scenario() -> list[Result]:
        driver = ASGIDriver(app)
        return [await driver.get("/") for _ in range(3)]

    with caplog.at_level(logging.ERROR, logger="reference_app"):
        first, second, third = asyncio.run(scenario())
    assert first.status == 500
    assert first.json() == {"title": "Internal Server Error"}
    assert "not yet" in caplog.text
    assert second.json() == third.json() == {"ok": "yes"}
    assert attempts == [1, 2]


def test_no_hooks_no_fallback() -> None:
    app = echo_app()
    result = asyncio.run(ASGIDriver(app).get("/"))
    assert result.json() == {}
    assert app.lifespan.fallback_state is None


# -- servers with lifespan but no state dict ----------------------------------------------------


async def _lifespan_without_state(app: App) -> tuple[asyncio.Queue[Message], asyncio.Task[None]]:
    """Start the app's lifespan the way a server without lifespan state does: no ``state`` key."""
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()

    async def send(message: Message) -> None:
        from_app.put_nowait(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
    task = asyncio.ensure_future(app(scope, to_app.get, send))
    to_app.put_nowait({"type": "lifespan.startup"})
    assert (await from_app.get())["type"] == "lifespan.startup.complete"
    return to_app, task


def test_startup_state_reaches_requests_on_a_server_without_lifespan_state() -> None:
    app = echo_app()
    runs: list[str] = []

    @app.on_startup
    async def connect(state: dict[str, Any]) -> None:
        runs.append("connect")
        state["db"] = "connection"

    async def scenario() -> list[Result]:
        to_app, task = await _lifespan_without_state(app)
        driver = ASGIDriver(app)  # like the server: no state in request scopes
        results = [await driver.get("/") for _ in range(2)]
        to_app.put_nowait({"type": "lifespan.shutdown"})
        await task
        return results

    results = asyncio.run(scenario())
    assert runs == ["connect"]  # lifespan ran the hook; no request ran it again
    # each request got its own copy: the first request's write did not reach the second
    assert [r.json() for r in results] == [{"db": "connection"}] * 2
    assert app.lifespan.kept_state == {"db": "connection"}
    assert app.lifespan.fallback_state is None


def test_kept_state_never_replaces_a_state_the_server_gives() -> None:
    app = echo_app()

    @app.on_startup
    async def connect(state: dict[str, Any]) -> None:
        state["db"] = "kept"

    async def scenario() -> Result:
        to_app, task = await _lifespan_without_state(app)
        result = await ASGIDriver(app, state={"db": "server's"}).get("/")
        to_app.put_nowait({"type": "lifespan.shutdown"})
        await task
        return result

    assert asyncio.run(scenario()).json() == {"db": "server's"}
