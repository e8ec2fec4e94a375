"""WebSocket routes of the App: the handshake, messages, the close, denial, limits, middleware."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest

from reference_app import App, HTTPError, Request, Response
from reference_app.testing import AppClosed, ASGIDriver
from reference_app.types import Message
from reference_app.websocket import (
    RECEIVE_QUEUE,
    PayloadTypeError,
    WebSocket,
    WebSocketDisconnected,
    WebSocketState,
)


class Echo:
    """``/echo/{room:int}``: accepts (the last subprotocol offered), echoes with kinds kept."""

    def __init__(self) -> None:
        self.rooms: list[int] = []
        self.closed: list[tuple[int | None, str | None]] = []

    async def on_websocket(self, req: Request, ws: WebSocket, room: int) -> None:
        self.rooms.append(room)
        offered = ws.subprotocols
        await ws.accept(subprotocol=offered[-1] if offered else None)
        async for message in ws:
            if isinstance(message, str):
                await ws.send_text(message)
            else:
                await ws.send_data(message)
        self.closed.append((ws.close_code, ws.close_reason))


def echo_app(**options: Any) -> tuple[App, Echo]:
    app = App(**options)
    echo = Echo()
    app.add_route("/echo/{room:int}", echo)
    return app, echo


# -- routing --------------------------------------------------------------------------------------


async def test_a_resource_responder_gets_typed_params_and_echoes_both_kinds() -> None:
    app, echo = echo_app()
    async with ASGIDriver(app).websocket("/echo/7") as session:
        assert (await session.handshake()).accepted
        session.send_text("text ✓")
        assert await session.receive() == "text ✓"
        session.send_bytes(b"\x00bytes")
        assert await session.receive() == b"\x00bytes"
        session.close()
        await session.finish()
    assert echo.rooms == [7]


async def test_the_decorator_form_routes_a_function() -> None:
    app = App()

    @app.websocket("/chat/{name}")
    async def chat(req: Request, ws: WebSocket, name: str) -> None:
        await ws.accept()
        await ws.send_text(f"hello {name}")

    async with ASGIDriver(app).websocket("/chat/ann") as session:
        assert await session.receive() == "hello ann"


async def test_a_template_may_have_http_functions_and_a_websocket_function() -> None:
    app = App()

    @app.route("/both")
    async def page(req: Request, resp: Response) -> None:
        resp.text = "page"

    @app.websocket("/both")
    async def socket(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("socket")

    driver = ASGIDriver(app)
    assert (await driver.get("/both")).text == "page"
    async with driver.websocket("/both") as session:
        assert await session.receive() == "socket"


def test_routing_mistakes_are_refused() -> None:
    app = App()
    app.add_route("/r", Echo())
    with pytest.raises(ValueError, match="already routed to a resource"):
        app.websocket("/r")(Echo().on_websocket)

    @app.websocket("/f")
    async def first(req: Request, ws: WebSocket) -> None: ...

    with pytest.raises(ValueError, match="already routed"):
        app.websocket("/f")(first)

    class Sync:
        def on_websocket(self, req: Request, ws: WebSocket) -> None: ...

    with pytest.raises(TypeError, match="coroutine function"):
        app.add_route("/sync", Sync())
    with pytest.raises(TypeError, match="coroutine function"):
        app.websocket("/g")(Sync().on_websocket)  # type: ignore[arg-type]


async def test_no_route_is_a_403_handshake_even_with_the_denial_extension() -> None:
    app, _ = echo_app()
    async with ASGIDriver(app).websocket("/nowhere", denial=True) as session:
        handshake = await session.handshake()
    assert (handshake.accepted, handshake.status) == (False, 403)


async def test_a_route_without_on_websocket_is_a_403_handshake() -> None:
    app = App()

    @app.route("/page")
    async def page(req: Request, resp: Response) -> None:
        resp.text = "page"

    async with ASGIDriver(app).websocket("/page") as session:
        assert (await session.handshake()).status == 403


async def test_an_http_request_to_a_websocket_only_route_is_a_405() -> None:
    app, echo = echo_app()
    result = await ASGIDriver(app).get("/echo/1")
    assert result.status == 405
    assert result.header("allow") == "OPTIONS"
    assert echo.rooms == []


async def test_the_request_of_a_handshake_is_a_get_with_query_and_headers() -> None:
    app = App()
    seen: dict[str, Any] = {}

    @app.websocket("/r")
    async def inspect(req: Request, ws: WebSocket) -> None:
        seen.update(method=req.method, q=req.get_param("q"), token=req.get_header("x-token"))
        await ws.close()

    driver = ASGIDriver(app)
    async with driver.websocket("/r", query="q=1", headers=[("X-Token", "t")]) as session:
        await session.handshake()
    assert seen == {"method": "GET", "q": "1", "token": "t"}


async def test_startup_state_reaches_a_websocket_without_a_lifespan() -> None:
    app = App()

    @app.on_startup
    async def startup(state: dict[str, Any]) -> None:
        state["ready"] = True

    @app.websocket("/s")
    async def show(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_media(req.state)

    async with ASGIDriver(app).websocket("/s") as session:
        assert await session.receive() == '{"ready":true}'


# -- the handshake --------------------------------------------------------------------------------


async def test_the_chosen_subprotocol_and_accept_headers_are_sent() -> None:
    app = App()

    @app.websocket("/p")
    async def pick(req: Request, ws: WebSocket) -> None:
        assert ws.subprotocols == ("one", "two")
        await ws.accept(subprotocol="two", headers={"x-session": "abc"})

    async with ASGIDriver(app).websocket("/p", subprotocols=["one", "two"]) as session:
        handshake = await session.handshake()
    assert handshake.subprotocol == "two"
    assert handshake.headers == [(b"x-session", b"abc")]


@pytest.mark.parametrize(
    ("subprotocol", "headers", "error"),
    [
        ("three", None, "was not offered"),
        (None, {"Sec-WebSocket-Protocol": "one"}, "accept\\(subprotocol="),
        (None, {"x-bad": "a\r\nb"}, "invalid accept header"),
    ],
    ids=["not-offered", "protocol-header", "crlf"],
)
async def test_a_bad_accept_is_an_error_before_anything_is_sent(
    subprotocol: str | None, headers: dict[str, str] | None, error: str
) -> None:
    app = App()
    raised: list[BaseException] = []

    @app.websocket("/p")
    async def pick(req: Request, ws: WebSocket) -> None:
        try:
            await ws.accept(subprotocol=subprotocol, headers=headers)
        except ValueError as exc:
            raised.append(exc)
            raise

    async with ASGIDriver(app).websocket("/p", subprotocols=["one"]) as session:
        handshake = await session.handshake()
    assert raised
    assert re.search(error, str(raised[0]))
    assert (handshake.accepted, handshake.status) == (False, 403)


async def test_accept_twice_is_not_allowed() -> None:
    app = App()
    errors: list[str] = []

    @app.websocket("/a")
    async def twice(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.accept()
        except ValueError as error:
            errors.append(str(error))

    async with ASGIDriver(app).websocket("/a") as session:
        await session.finish()
    assert errors == ["accept() on a WebSocket that is open"]


async def test_a_close_before_accept_is_a_403() -> None:
    app = App()
    states: list[WebSocketState] = []

    @app.websocket("/no")
    async def refuse(req: Request, ws: WebSocket) -> None:
        await ws.close()
        states.append(ws.state)

    async with ASGIDriver(app).websocket("/no", denial=True) as session:
        assert (await session.handshake()).status == 403
    assert states == [WebSocketState.DENIED]


async def test_an_http_error_before_accept_is_the_denial_response_where_advertised() -> None:
    app = App()

    @app.websocket("/deny")
    async def deny(req: Request, ws: WebSocket) -> None:
        raise HTTPError(401, description="who are you", headers={"x-why": "token"})

    driver = ASGIDriver(app)
    async with driver.websocket("/deny", denial=True) as session:
        handshake = await session.handshake()
    assert (handshake.accepted, handshake.status) == (False, 401)
    assert (b"x-why", b"token") in handshake.headers
    assert (b"content-type", b"application/json") in handshake.headers
    assert handshake.body == b'{"title": "Unauthorized", "description": "who are you"}'
    async with driver.websocket("/deny") as session:
        assert (await session.handshake()).status == 403


async def test_an_error_handler_renders_the_denial() -> None:
    class Banned(Exception):
        pass

    async def banned(req: Request, resp: Response, error: Any, params: dict[str, Any]) -> None:
        resp.status = 451
        resp.text = "banned"

    app = App()
    app.add_error_handler(Banned, banned)

    @app.websocket("/b")
    async def refuse(req: Request, ws: WebSocket) -> None:
        raise Banned

    async with ASGIDriver(app).websocket("/b", denial=True) as session:
        handshake = await session.handshake()
    assert (handshake.status, handshake.body) == (451, b"banned")


async def test_an_unexpected_error_before_accept_is_logged_and_denied(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()

    @app.websocket("/x")
    async def broken(req: Request, ws: WebSocket) -> None:
        raise RuntimeError("broken before accept")

    with caplog.at_level(logging.ERROR, logger="reference_app"):
        async with ASGIDriver(app).websocket("/x", denial=True) as session:
            handshake = await session.handshake()
    assert handshake.status == 500
    assert "broken before accept" in caplog.text


async def test_a_responder_that_neither_accepts_nor_closes_is_denied() -> None:
    app = App()

    @app.websocket("/idle")
    async def idle(req: Request, ws: WebSocket) -> None:
        return

    async with ASGIDriver(app).websocket("/idle") as session:
        assert (await session.handshake()).status == 403


# -- messages ---------------------------------------------------------------------------------


async def test_a_text_bytes_mismatch_is_a_payload_type_error_not_a_conversion() -> None:
    app = App()
    errors: list[tuple[str, str | bytes]] = []

    @app.websocket("/strict")
    async def strict(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        for receive in (ws.receive_text, ws.receive_data):
            try:
                await receive()
            except PayloadTypeError as error:
                errors.append((error.expected, error.payload))
        await ws.close()

    async with ASGIDriver(app).websocket("/strict") as session:
        session.send_bytes(b"bytes")
        session.send_text("text")
        await session.receive_close()
    assert errors == [("text", b"bytes"), ("binary", "text")]


async def test_sending_the_wrong_type_is_a_type_error() -> None:
    app = App()
    errors: list[str] = []

    @app.websocket("/t")
    async def wrong(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        attempts: list[tuple[Any, object]] = [
            (ws.send_text, b"x"),
            (ws.send_data, "x"),
            (ws.send_data, 3),
        ]
        for send, value in attempts:
            try:
                await send(value)
            except TypeError as error:
                errors.append(str(error).split(";")[0])
        await ws.send_data(bytearray(b"ok"))

    async with ASGIDriver(app).websocket("/t") as session:
        assert await session.receive() == b"ok"
    assert errors == [
        "send_text() takes str, not bytes",
        "send_data() takes bytes, not str",
        "send_data() takes bytes, not int",
    ]


async def test_media_goes_both_ways_as_json() -> None:
    app = App()
    bad: list[str] = []

    @app.websocket("/m")
    async def media(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        got = await ws.receive_media()
        await ws.send_media({"got": got})
        await ws.send_media([1], binary=True)
        try:
            await ws.receive_media()
        except ValueError as error:
            bad.append(type(error).__name__)

    async with ASGIDriver(app).websocket("/m") as session:
        session.send_bytes(b'{"a": 1}')
        assert await session.receive() == '{"got":{"a":1}}'
        assert await session.receive() == b"[1]"
        session.send_text("{not json")
        await session.finish()
    assert bad == ["JSONDecodeError"]


async def test_receiving_or_sending_before_accept_is_not_allowed() -> None:
    app = App()
    errors: list[str] = []

    @app.websocket("/early")
    async def early(req: Request, ws: WebSocket) -> None:
        for attempt in (ws.receive(), ws.send_text("x")):
            try:
                await attempt
            except ValueError as error:
                errors.append(str(error))
        await ws.close()

    async with ASGIDriver(app).websocket("/early") as session:
        await session.handshake()
    assert errors == [
        "accept() the WebSocket before receiving",
        "accept() the WebSocket before sending",
    ]


async def test_the_reader_of_a_sending_responder_reads_a_bounded_buffer_ahead() -> None:
    app = App()
    release = asyncio.Event()

    @app.websocket("/slow")
    async def slow(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("one")
        await ws.send_text("two")  # a second send without a receive starts the reader
        await release.wait()
        await ws.close()

    async with ASGIDriver(app).websocket("/slow") as session:
        assert [await session.receive(), await session.receive()] == ["one", "two"]
        for index in range(50):
            session.send_text(str(index))
        for _ in range(20):
            await asyncio.sleep(0)
        received = [r for r in session.records if r.direction == "receive"]
        release.set()
        await session.finish()
    # websocket.connect, then the messages read ahead; then the reader waits for room.
    assert len(received) == 1 + RECEIVE_QUEUE


# -- the close --------------------------------------------------------------------------------


async def test_the_clients_close_code_and_reason_reach_the_responder() -> None:
    app = App()
    raised: list[WebSocketDisconnected] = []
    seen: list[tuple[bool, int | None, str | None]] = []

    @app.websocket("/c")
    async def waiting(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive_text()
        except WebSocketDisconnected as gone:
            raised.append(gone)
        seen.append((ws.closed, ws.close_code, ws.close_reason))

    async with ASGIDriver(app).websocket("/c") as session:
        await session.handshake()
        session.close(4100, "bye now")
        await session.finish()
    assert (raised[0].code, raised[0].reason) == (4100, "bye now")
    assert isinstance(raised[0], ConnectionError)
    assert seen == [(True, 4100, "bye now")]


async def test_messages_sent_before_the_clients_close_are_still_received() -> None:
    app = App()
    got: list[str | bytes] = []
    codes: list[int | None] = []

    @app.websocket("/collect")
    async def collect(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        await asyncio.sleep(0.01)  # the client's messages and its close are all queued
        got.extend([message async for message in ws])
        codes.append(ws.close_code)

    async with ASGIDriver(app).websocket("/collect") as session:
        await session.handshake()
        session.send_text("one")
        session.send_bytes(b"two")
        session.close(1001)
        await session.finish()
    assert (got, codes) == (["one", b"two"], [1001])


async def test_a_vanished_client_is_1006_and_a_send_only_responder_learns_it() -> None:
    app = App()
    gone: list[int] = []

    @app.websocket("/push")
    async def push(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text("tick")
                await asyncio.sleep(0.001)
        except WebSocketDisconnected as error:
            gone.append(error.code)

    async with ASGIDriver(app).websocket("/push") as session:
        assert await session.receive() == "tick"
        session.vanish()
        await session.finish(timeout=2)
    assert gone == [1006]


async def test_an_oserror_from_send_is_a_disconnect_1006() -> None:
    """A server that raises from send() on a closed connection (ASGI 2.4): the responder sees
    WebSocketDisconnected, even before any websocket.disconnect arrived."""
    sent: list[Message] = []

    async def receive() -> Message:
        await asyncio.Event().wait()  # the disconnect never comes
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        if message["type"] == "websocket.send":
            raise ConnectionResetError("the client is gone")
        sent.append(message)

    ws = WebSocket({"type": "websocket", "subprotocols": []}, receive, send)
    await ws.accept()
    with pytest.raises(WebSocketDisconnected) as gone:
        await ws.send_text("tick")
    assert gone.value.code == 1006
    assert ws.closed
    await ws._finish()
    assert [m["type"] for m in sent] == ["websocket.accept"]


async def test_the_apps_close_code_and_reason_reach_the_client_and_end_the_connection() -> None:
    app = App()
    after: list[str] = []

    @app.websocket("/bye")
    async def bye(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(4321, "custom reason")
        await ws.close(1000)  # closing twice does nothing
        for attempt in (ws.send_text("late"), ws.receive()):
            try:
                await attempt
            except WebSocketDisconnected as error:
                after.append(f"{error.code} {error.reason}")

    async with ASGIDriver(app).websocket("/bye") as session:
        assert await session.receive_close() == (4321, "custom reason")
        await session.finish()
    assert after == ["4321 custom reason", "4321 custom reason"]


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1006, None), (999, None), (5000, None), (1000, "x" * 124)],
    ids=["reserved-1006", "under-1000", "over-4999", "long-reason"],
)
async def test_close_refuses_codes_and_reasons_a_frame_cannot_carry(
    code: int, reason: str | None
) -> None:
    app = App()
    errors: list[str] = []

    @app.websocket("/c")
    async def closing(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.close(code, reason)
        except ValueError as error:
            errors.append(str(error))

    async with ASGIDriver(app).websocket("/c") as session:
        assert await session.receive_close() == (1000, "")
    assert len(errors) == 1
    assert "RFC 6455" in errors[0]


async def test_a_responder_that_returns_without_closing_closes_with_1000() -> None:
    app = App()

    @app.websocket("/r")
    async def returns(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("only")

    async with ASGIDriver(app).websocket("/r") as session:
        assert await session.receive() == "only"
        assert await session.receive_close() == (1000, "")


async def test_an_exception_after_accept_closes_with_1011_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()

    @app.websocket("/boom")
    async def boom(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        raise RuntimeError("boom after accept")

    with caplog.at_level(logging.ERROR, logger="reference_app"):
        async with ASGIDriver(app).websocket("/boom") as session:
            assert await session.receive_close() == (1011, "")
            await session.finish()
    assert "unhandled error in WebSocket /boom" in caplog.text
    assert "boom after accept" in caplog.text


async def test_a_client_gone_while_the_responder_reads_is_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()

    @app.websocket("/r")
    async def reads(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive()

    with caplog.at_level(logging.ERROR, logger="reference_app"):
        async with ASGIDriver(app).websocket("/r") as session:
            await session.handshake()
            session.vanish()
            await session.finish()
    assert "unhandled" not in caplog.text
    assert not session.sent("websocket.close")


async def test_a_server_message_of_a_wrong_type_ends_the_reader_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()
    codes: list[int] = []

    @app.websocket("/r")
    async def reads(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive()
        except WebSocketDisconnected as error:
            codes.append(error.code)

    with caplog.at_level(logging.ERROR, logger="reference_app"):
        async with ASGIDriver(app).websocket("/r") as session:
            await session.handshake()
            session.inject({"type": "websocket.receive"})
            assert await session.receive_close() == (1011, "")
            await session.finish()
    assert codes == [1011]
    assert "reading a WebSocket failed" in caplog.text


# -- limits -------------------------------------------------------------------------------------


async def test_a_message_over_the_apps_limit_closes_with_1009() -> None:
    app, echo = echo_app(max_message_size=8)
    async with ASGIDriver(app).websocket("/echo/1") as session:
        session.send_bytes(b"12345678")
        assert await session.receive() == b"12345678"
        session.send_bytes(b"123456789")
        code, reason = await session.receive_close()
        await session.finish()
    assert (code, reason) == (1009, "message over 8 bytes")
    assert echo.closed == [(1009, "message over 8 bytes")]


async def test_text_is_measured_in_utf8_bytes() -> None:
    app, _ = echo_app(max_message_size=8)
    async with ASGIDriver(app).websocket("/echo/1") as session:
        session.send_text("€€")  # 6 bytes
        assert await session.receive() == "€€"
        session.send_text("€€€")  # 3 characters, 9 bytes
        assert (await session.receive_close())[0] == 1009


async def test_a_route_limit_overrides_the_apps() -> None:
    app = App(max_message_size=4)
    app.add_route("/big/{room:int}", Echo(), max_message_size=None)

    @app.websocket("/small", max_message_size=2)
    async def small(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(await ws.receive_text())

    driver = ASGIDriver(app)
    async with driver.websocket("/big/1") as session:
        session.send_bytes(b"x" * 100_000)
        assert await session.receive() == b"x" * 100_000
    async with driver.websocket("/small") as session:
        session.send_text("abc")
        assert (await session.receive_close())[0] == 1009


# -- middleware -----------------------------------------------------------------------------------


class Recorder:
    """WebSocket and HTTP middleware; refuses handshakes with ``?deny=1``."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def process_request(self, req: Request, resp: Response) -> None:
        self.calls.append("http request")

    async def process_request_ws(self, req: Request, ws: WebSocket) -> None:
        self.calls.append(f"ws request {ws.state.value}")
        if req.get_param("deny"):
            raise HTTPError(403, description="denied by middleware")

    async def process_resource_ws(
        self, req: Request, ws: WebSocket, resource: object, params: dict[str, Any]
    ) -> None:
        self.calls.append(f"ws resource {type(resource).__name__} {params}")


async def test_websocket_middleware_runs_around_routing_and_may_deny() -> None:
    recorder = Recorder()
    app, _ = echo_app(middleware=[recorder])
    driver = ASGIDriver(app)
    async with driver.websocket("/echo/3") as session:
        assert (await session.handshake()).accepted
    async with driver.websocket("/echo/3", query="deny=1", denial=True) as session:
        handshake = await session.handshake()
    assert (handshake.status, handshake.body) == (
        403,
        b'{"title": "Forbidden", "description": "denied by middleware"}',
    )
    assert recorder.calls == [
        "ws request handshake",
        "ws resource Echo {'room': 3}",
        "ws request handshake",
    ]


def test_a_websocket_only_middleware_is_accepted_and_a_sync_one_refused() -> None:
    class Sync:
        def process_request_ws(self, req: Request, ws: WebSocket) -> None: ...

    app = App()
    app.add_middleware(Recorder())
    with pytest.raises(TypeError, match="must be async"):
        app.add_middleware(Sync())


async def test_an_app_closed_error_tells_the_test_what_the_app_did() -> None:
    app = App()

    @app.websocket("/c")
    async def close(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(4000, "done")

    async with ASGIDriver(app).websocket("/c") as session:
        with pytest.raises(AppClosed) as closed:
            await session.receive()
    assert (closed.value.code, closed.value.reason) == (4000, "done")


async def test_a_responder_that_alternates_receive_and_send_needs_no_reader_task() -> None:
    app = App()
    readers: list[object] = []

    @app.websocket("/ping")
    async def ping(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws:
            assert isinstance(message, str)
            await ws.send_text(f"pong {message}")
            readers.append(ws._reader)

    async with ASGIDriver(app).websocket("/ping") as session:
        for index in range(3):
            session.send_text(str(index))
            assert await session.receive() == f"pong {index}"
        session.close()
        await session.finish()
    assert readers == [None, None, None]


async def test_the_limit_holds_for_a_responder_that_reads_through_its_reader() -> None:
    app = App(max_message_size=4)
    codes: list[int] = []

    @app.websocket("/feed")
    async def feed(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("a")
        await ws.send_text("b")  # the reader runs from here on
        try:
            await ws.receive()
        except WebSocketDisconnected as gone:
            codes.append(gone.code)

    async with ASGIDriver(app).websocket("/feed") as session:
        assert [await session.receive(), await session.receive()] == ["a", "b"]
        session.send_bytes(b"12345")
        assert await session.receive_close() == (1009, "message over 4 bytes")
        await session.finish()
    assert codes == [1009]
