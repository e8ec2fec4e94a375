"""The in-process driver as a WebSocket server: the scope, the session, and what it refuses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from reference_app.testing import AppClosed, ASGIDriver, ASGIProtocolError
from reference_app.types import Message, Receive, Scope, Send


def app_sending(*messages: Message) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """A raw app: receives the connect, sends ``messages``, then waits for the disconnect."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "websocket.connect"
        for message in messages:
            await send(message)
        while (await receive())["type"] != "websocket.disconnect":
            pass

    return app


async def test_the_scope_is_a_websocket_scope_with_the_offered_subprotocols() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await receive()
        await send({"type": "websocket.close"})

    driver = ASGIDriver(app, state={"k": 1})
    async with driver.websocket(
        "/p", query="a=1", headers=[("X-One", "1")], subprotocols=["x", "y"], denial=True
    ) as session:
        await session.handshake()
    scope = scopes[0]
    assert (scope["type"], scope["scheme"], scope["path"], scope["query_string"]) == (
        "websocket",
        "ws",
        "/p",
        b"a=1",
    )
    assert scope["subprotocols"] == ["x", "y"]
    assert (b"sec-websocket-protocol", b"x, y") in scope["headers"]
    assert (b"x-one", b"1") in scope["headers"]
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert scope["asgi"]["spec_version"] == "2.5"
    assert scope["state"] == {"k": 1}


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([{"type": "websocket.send", "text": "x"}], "before the handshake was answered"),
        ([{"type": "websocket.accept", "subprotocol": "z"}], "was not offered"),
        (
            [{"type": "websocket.accept", "headers": [(b"sec-websocket-protocol", b"x")]}],
            "sec-websocket-protocol in the accept headers",
        ),
        (
            [{"type": "websocket.accept", "headers": [(b"X-Upper", b"v")]}],
            "header names must be lowercase",
        ),
        (
            [{"type": "websocket.http.response.start", "status": 401}],
            "without the extension in the scope",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.send", "text": "a", "bytes": b"b"}],
            "exactly one of text and bytes",
        ),
        ([{"type": "websocket.accept"}, {"type": "websocket.send"}], "exactly one of text"),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.send", "text": b"x"}],
            "text must be str",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.send", "bytes": "x"}],
            "bytes must be bytes",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.close", "code": "1000"}],
            "invalid close message",
        ),
        ([{"type": "websocket.accept"}, {"type": "http.response.start"}], "unexpected message"),
        (
            [
                {"type": "websocket.accept"},
                {"type": "websocket.close"},
                {"type": "websocket.send", "text": "late"},
            ],
            "sent after the app closed",
        ),
        (
            [{"type": "websocket.close"}, {"type": "websocket.accept"}],
            "sent after the app closed",
        ),
    ],
    ids=[
        "send-first",
        "subprotocol-not-offered",
        "protocol-header",
        "uppercase-header",
        "denial-without-extension",
        "both-kinds",
        "no-kind",
        "text-bytes",
        "bytes-str",
        "close-code-str",
        "http-message",
        "send-after-own-close",
        "accept-after-denial",
    ],
)
async def test_a_message_the_spec_does_not_allow_raises_out_of_send(
    messages: list[Message], error: str
) -> None:
    driver = ASGIDriver(app_sending(*messages))
    async with driver.websocket("/", subprotocols=["x"]) as session:
        with pytest.raises(ASGIProtocolError, match=error):
            await session.finish()


async def test_a_denial_response_is_assembled_from_its_body_messages() -> None:
    app = app_sending(
        {"type": "websocket.http.response.start", "status": 401, "headers": [(b"x-a", b"1")]},
        {"type": "websocket.http.response.body", "body": b"no ", "more_body": True},
        {"type": "websocket.http.response.body", "body": b"entry"},
    )
    async with ASGIDriver(app).websocket("/", denial=True) as session:
        handshake = await session.handshake()
        with pytest.raises(AppClosed):
            await session.receive()
    assert (handshake.accepted, handshake.status, handshake.headers, handshake.body) == (
        False,
        401,
        [(b"x-a", b"1")],
        b"no entry",
    )


async def test_a_denial_body_must_follow_its_start() -> None:
    app = app_sending(
        {"type": "websocket.http.response.start", "status": 401},
        {"type": "websocket.accept"},
    )
    async with ASGIDriver(app).websocket("/", denial=True) as session:
        with pytest.raises(ASGIProtocolError, match="in the middle of a denial response"):
            await session.finish()


async def test_sends_after_the_client_closed_are_recorded_no_ops_or_raise_if_asked() -> None:
    outcomes: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        disconnect = await receive()
        outcomes.append(f"{disconnect['code']} {disconnect['reason']}")
        try:
            await send({"type": "websocket.send", "text": "late"})
            outcomes.append("no-op")
        except OSError as error:
            outcomes.append(type(error).__name__)

    for raises in (False, True):
        driver = ASGIDriver(app, send_raises_after_disconnect=raises)
        async with driver.websocket("/") as session:
            await session.handshake()
            session.close(4001, "gone")
            await session.finish()
        assert session.sent("websocket.send") == [{"type": "websocket.send", "text": "late"}]
    assert outcomes == ["4001 gone", "no-op", "4001 gone", "ConnectionResetError"]


async def test_every_receive_after_the_disconnect_gets_it_again() -> None:
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        seen.extend([(await receive())["code"], (await receive())["code"]])

    async with ASGIDriver(app).websocket("/") as session:
        await session.handshake()
        session.vanish()
        await session.finish()
    assert seen == [1006, 1006]


async def test_the_exit_waits_for_the_app_and_cancels_one_that_ignores_the_client() -> None:
    cancelled: list[bool] = []

    async def deaf(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    with pytest.raises(TimeoutError, match=r"did not return within 0\.1 s"):
        async with ASGIDriver(deaf).websocket("/", timeout=0.1) as session:
            await session.handshake()
    assert cancelled == [True]


async def test_waiting_on_an_app_that_returned_or_stays_silent_fails_clearly() -> None:
    async def returns(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    async with ASGIDriver(returns).websocket("/") as session:
        with pytest.raises(ASGIProtocolError, match="the app returned"):
            await session.handshake()
    async with ASGIDriver(app_sending({"type": "websocket.accept"})).websocket("/") as session:
        with pytest.raises(TimeoutError, match="the app sent nothing"):
            await session.receive(timeout=0.05)


async def test_an_app_exception_is_raised_to_the_test() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise RuntimeError("broken app")

    async with ASGIDriver(broken).websocket("/") as session:
        with pytest.raises(RuntimeError, match="broken app"):
            await session.handshake()
