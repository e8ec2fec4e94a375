"""The in-process driver itself: it must catch every protocol violation an app can make."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reference_app.testing import ASGIDriver, ASGIProtocolError, LifespanFailed, lifespan
from reference_app.types import Message, Receive, Scope, Send

START: Message = {"type": "http.response.start", "status": 200, "headers": []}
FINAL: Message = {"type": "http.response.body", "body": b"", "more_body": False}


def app_sending(*messages: Message) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for message in messages:
            await send(message)

    return app


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        pytest.param([{"type": 7}], "without a str type", id="type-not-str"),
        pytest.param([START, FINAL, FINAL], "after the response was complete", id="after-complete"),
        pytest.param([START, START], "sent twice", id="double-start"),
        pytest.param([{**START, "status": "200"}], "invalid status", id="status-str"),
        pytest.param([{**START, "status": True}], "invalid status", id="status-bool"),
        pytest.param([{**START, "status": 600}], "invalid status", id="status-range"),
        pytest.param([FINAL], "before http.response.start", id="body-first"),
        pytest.param([START, {**FINAL, "body": "text"}], "body must be bytes", id="body-str"),
        pytest.param([START, {**FINAL, "more_body": 1}], "more_body must be bool", id="more-int"),
        pytest.param(
            [{"type": "http.response.push", "path": "/a", "headers": []}],
            "push before http.response.start",
            id="push-first",
        ),
        pytest.param(
            [START, {"type": "http.response.push", "path": "/a", "headers": []}],
            "without the extension",
            id="push-no-extension",
        ),
        pytest.param([{"type": "http.response.trailers"}], "unknown message type", id="unknown"),
        pytest.param([{**START, "headers": {"a": "b"}}], "list of pairs", id="headers-dict"),
        pytest.param([{**START, "headers": [("a", "b")]}], "pair of bytes", id="header-str"),
        pytest.param([{**START, "headers": [(b"A", b"b")]}], "lowercase", id="header-case"),
        pytest.param([{**START, "headers": [(b"a", b"b\r\nc: d")]}], "CR or LF", id="header-crlf"),
    ],
)
async def test_protocol_violations_raise_out_of_send(messages: list[Message], problem: str) -> None:
    with pytest.raises(ASGIProtocolError, match=problem):
        await ASGIDriver(app_sending(*messages)).get("/")


async def test_a_push_needs_an_absolute_path() -> None:
    app = app_sending(START, {"type": "http.response.push", "path": "a", "headers": []})
    driver = ASGIDriver(app, extensions={"http.response.push": {}})
    with pytest.raises(ASGIProtocolError, match="absolute path"):
        await driver.get("/")


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        pytest.param([], "without starting a response", id="nothing"),
        pytest.param(
            [START, {**FINAL, "more_body": True}], "before the final body", id="unfinished"
        ),
    ],
)
async def test_returning_early_is_a_violation(messages: list[Message], problem: str) -> None:
    with pytest.raises(ASGIProtocolError, match=problem):
        await ASGIDriver(app_sending(*messages)).get("/")


async def test_waiting_for_a_silent_app_times_out() -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.Event().wait()

    async def drive() -> None:
        async with ASGIDriver(silent).stream("GET", "/", timeout=0.05) as exchange:
            with pytest.raises(TimeoutError, match="sent nothing"):
                await exchange.start(timeout=0.01)
            with pytest.raises(TimeoutError, match="did not return"):
                await exchange.finish(timeout=0.01)

    with pytest.raises(TimeoutError, match="after the client disconnected"):
        await drive()


async def test_an_app_that_returns_without_starting_fails_start() -> None:
    async with ASGIDriver(app_sending()).stream("GET", "/") as exchange:
        with pytest.raises(ASGIProtocolError, match="without starting"):
            await exchange.start()


async def test_the_body_can_be_fed_and_closed_step_by_step() -> None:
    received: list[Message] = []

    async def reader(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            received.append(message)
            if not message.get("more_body"):
                break
        await send(START)
        await send(FINAL)

    async with ASGIDriver(reader).stream("POST", "/", body=b"a", body_complete=False) as ex:
        ex.send_body(b"b", more_body=False)
        with pytest.raises(RuntimeError, match="already complete"):
            ex.send_body(b"c")
        result = await ex.finish()
    assert [m["body"] for m in received] == [b"a", b"b"]
    assert result.received() == received
    assert result.header("x-missing") is None


async def test_lifespan_reports_failure_and_unexpected_replies() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(LifespanFailed, match="no database"):
        async with lifespan(failing):
            pass  # pragma: no cover

    async def confused(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    with pytest.raises(ASGIProtocolError, match="unexpected lifespan reply"):
        async with lifespan(confused):
            pass  # pragma: no cover

    async def failing_shutdown(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "flush failed"})

    with pytest.raises(LifespanFailed, match="flush failed"):
        async with lifespan(failing_shutdown):
            pass


@pytest.mark.parametrize("stream", [False, True], ids=["request", "stream"])
async def test_a_violation_the_app_swallows_still_fails_the_exchange(stream: bool) -> None:
    """An app may take a raising send() as a server that takes no more and return quietly
    (reference_app does); the driver still fails the exchange with the violation itself."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({**START, "headers": [(b"Upper", b"v")]})
        except ASGIProtocolError:
            return

    async def run() -> None:
        driver = ASGIDriver(app)
        if stream:
            async with driver.stream("GET", "/") as exchange:
                await exchange.start()
        else:
            await driver.get("/")

    with pytest.raises(ASGIProtocolError, match="header names must be lowercase"):
        await run()
