"""sync_to_async: sync code in a worker thread, with the caller's context variables.

Falcon's helper of the same name hands ``partial(func, ...)`` to ``run_in_executor``, which does
not carry context variables into the thread (Falcon 4.4); the contrast case shows what that
loses, so the main case cannot pass by accident.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

import pytest

from reference_app import App, Request, Response, sync_to_async
from reference_app.testing import ASGIDriver

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


def describe(*args: object, **kwargs: object) -> dict[str, Any]:
    return {
        "thread": threading.get_ident(),
        "args": args,
        "kwargs": kwargs,
        "request_id": request_id.get(),
    }


def test_runs_in_a_worker_thread_with_args_and_kwargs() -> None:
    async def scenario() -> tuple[int, dict[str, Any]]:
        return threading.get_ident(), await sync_to_async(describe, 1, "two", three=3, four=[4])

    loop_thread, seen = asyncio.run(scenario())
    assert seen["thread"] != loop_thread
    assert seen["args"] == (1, "two")
    assert seen["kwargs"] == {"three": 3, "four": [4]}


def test_carries_context_variables_into_the_thread() -> None:
    async def scenario() -> tuple[str, str]:
        request_id.set("req-42")
        seen = await sync_to_async(describe)
        loop = asyncio.get_running_loop()
        falcon_style = await loop.run_in_executor(None, describe)  # what Falcon does
        return seen["request_id"], falcon_style["request_id"]

    ours, falcons = asyncio.run(scenario())
    assert ours == "req-42"
    assert falcons == "unset"


def test_context_changes_in_the_thread_do_not_leak_back() -> None:
    def change() -> str:
        request_id.set("changed in thread")
        return request_id.get()

    async def scenario() -> tuple[str, str]:
        request_id.set("caller")
        inside = await sync_to_async(change)
        return inside, request_id.get()

    assert asyncio.run(scenario()) == ("changed in thread", "caller")


def test_does_not_block_the_event_loop() -> None:
    # The sync function tells the loop it has started, then waits for an event that only a
    # coroutine on the loop sets: run inline, it would block the loop for its whole timeout and
    # return False.
    flag = threading.Event()

    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        started = asyncio.Event()

        def wait_for_the_loop() -> bool:
            loop.call_soon_threadsafe(started.set)
            return flag.wait(timeout=10)

        waiting = asyncio.ensure_future(sync_to_async(wait_for_the_loop))
        await started.wait()
        flag.set()
        return await waiting

    assert asyncio.run(scenario()) is True


def test_exceptions_propagate_unchanged() -> None:
    error = KeyError("missing")

    def fail() -> None:
        raise error

    with pytest.raises(KeyError) as raised:
        asyncio.run(sync_to_async(fail))
    assert raised.value is error


def test_in_a_responder_the_request_context_reaches_the_sync_code() -> None:
    class Resource:
        async def on_get(self, req: Request, resp: Response) -> None:
            request_id.set(req.get_header("x-request-id") or "none")
            resp.media = await sync_to_async(describe, req.path, upper=True)

    app = App()
    app.add_route("/r", Resource())
    result = asyncio.run(ASGIDriver(app).get("/r", headers=[("x-request-id", "abc")]))
    assert result.json()["request_id"] == "abc"
    assert result.json()["args"] == ["/r"]
    assert result.json()["kwargs"] == {"upper": True}
