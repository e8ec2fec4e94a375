"""The App: routing to responders, 404/405/HEAD/OPTIONS, middleware, error handlers, body limits."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

from reference_app import (
    App,
    HTTPError,
    HTTPNotFound,
    Request,
    Response,
    RouteTemplateError,
)
from reference_app.testing import ASGIDriver, Result
from reference_app.types import Message


def call(app: App, method: str, path: str, **kwargs: Any) -> Result:
    return asyncio.run(ASGIDriver(app).request(method, path, **kwargs))


class Item:
    """GET and POST on ``/items/{id:int}``; records what it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    async def on_get(self, req: Request, resp: Response, id: int) -> None:
        self.calls.append(("GET", id))
        resp.media = {"id": id}

    async def on_post(self, req: Request, resp: Response, id: int) -> None:
        self.calls.append(("POST", id))
        resp.data = await req.stream.read()


def item_app(**options: Any) -> tuple[App, Item]:
    app = App(**options)
    item = Item()
    app.add_route("/items/{id:int}", item)
    return app, item


# -- routing ------------------------------------------------------------------------------------


def test_a_route_passes_converted_params_as_keywords() -> None:
    app, item = item_app()
    result = call(app, "GET", "/items/-12")
    assert result.status == 200
    assert result.json() == {"id": -12}
    assert item.calls == [("GET", -12)]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/nowhere", id="no-template"),
        pytest.param("/items/abc", id="int-converter-fails"),
        pytest.param("/items/1.5", id="float-is-not-int"),
        pytest.param("/items/", id="empty-segment"),
        pytest.param("/items/1/", id="trailing-slash"),
    ],
)
def test_no_route_is_a_json_404(path: str) -> None:
    app, item = item_app()
    result = call(app, "GET", path)
    assert result.status == 404
    assert result.header("content-type") == "application/json"
    assert result.json() == {"title": "Not Found"}
    assert item.calls == []


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH"])
def test_a_method_without_a_responder_is_a_405_with_allow(method: str) -> None:
    app, item = item_app()
    result = call(app, method, "/items/1")
    assert result.status == 405
    assert result.header("allow") == "GET, HEAD, OPTIONS, POST"
    assert result.json() == {"title": "Method Not Allowed"}
    assert item.calls == []


def test_head_without_get_is_a_405() -> None:
    class PostOnly:
        async def on_post(self, req: Request, resp: Response) -> None:
            resp.status = 204

    app = App()
    app.add_route("/", PostOnly())
    result = call(app, "HEAD", "/")
    assert result.status == 405
    assert result.header("allow") == "OPTIONS, POST"
    assert result.body == b""  # HEAD: the error body is not sent


def test_head_runs_get_and_sends_its_headers_without_the_body() -> None:
    app, item = item_app()
    get = call(app, "GET", "/items/5")
    head = call(app, "HEAD", "/items/5")
    assert head.status == 200
    assert head.body == b""
    assert head.header("content-length") == get.header("content-length") == str(len(get.body))
    assert head.header("content-type") == "application/json"
    assert item.calls == [("GET", 5), ("GET", 5)]


def test_options_answers_with_allow() -> None:
    app, item = item_app()
    result = call(app, "OPTIONS", "/items/5")
    assert result.status == 200
    assert result.header("allow") == "GET, HEAD, OPTIONS, POST"
    assert result.header("content-length") == "0"
    assert result.body == b""
    assert item.calls == []


def test_explicit_head_and_options_responders_win() -> None:
    class Explicit:
        async def on_get(self, req: Request, resp: Response) -> None:
            raise AssertionError("GET must not run for HEAD")

        async def on_head(self, req: Request, resp: Response) -> None:
            resp.set_header("x-head", "1")

        async def on_options(self, req: Request, resp: Response) -> None:
            resp.status = 204
            resp.set_header("allow", "GET")

    app = App()
    app.add_route("/", Explicit())
    head = call(app, "HEAD", "/")
    assert (head.status, head.header("x-head")) == (200, "1")
    options = call(app, "OPTIONS", "/")
    assert (options.status, options.header("allow")) == (204, "GET")


def test_custom_converters() -> None:
    class Hex:
        def __init__(self, argument: str | None = None) -> None:
            pass

        def convert(self, value: str) -> int:
            return int(value, 16)

    class Resource:
        async def on_get(self, req: Request, resp: Response, color: int, key: uuid.UUID) -> None:
            resp.media = {"color": color, "key": str(key)}

    app = App(converters={"hex": Hex})
    app.add_route("/c/{color:hex}/{key:uuid}", Resource())
    key = uuid.uuid4()
    assert call(app, "GET", f"/c/ff/{key}").json() == {"color": 255, "key": str(key)}
    assert call(app, "GET", "/c/zz/{key}").status == 404


# -- registering routes -------------------------------------------------------------------------


def test_a_sync_responder_is_refused_when_added() -> None:
    class Sync:
        def on_get(self, req: Request, resp: Response) -> None:
            pass

    app = App()
    with pytest.raises(TypeError, match=r"Sync\.on_get must be a coroutine function"):
        app.add_route("/", Sync())
    assert call(app, "GET", "/").status == 404  # nothing was routed


def test_a_resource_without_responders_is_refused() -> None:
    with pytest.raises(TypeError, match="has no on_<method> responders"):
        App().add_route("/", object())


def test_template_errors_surface_from_add_route() -> None:
    app, _ = item_app()
    with pytest.raises(RouteTemplateError):
        app.add_route("/items/{other:int}", Item())  # ambiguous with /items/{id:int}
    with pytest.raises(RouteTemplateError):
        app.add_route("/bad/{", Item())


def test_decorator_routes() -> None:
    app = App()

    @app.route("/hello", methods={"get"})
    async def hello(req: Request, resp: Response) -> None:
        resp.text = "hello"

    @app.route("/hello", methods=["POST", "PUT"])
    async def change(req: Request, resp: Response) -> None:
        resp.text = f"changed by {req.method}"

    @app.route("/users/{name}")
    async def user(req: Request, resp: Response, name: str) -> None:
        resp.text = name

    assert call(app, "GET", "/hello").text == "hello"
    assert call(app, "PUT", "/hello").text == "changed by PUT"
    assert call(app, "GET", "/users/ann").text == "ann"
    head = call(app, "HEAD", "/hello")
    assert (head.status, head.header("content-length")) == (200, "5")
    deleted = call(app, "DELETE", "/hello")
    assert deleted.status == 405
    assert deleted.header("allow") == "GET, HEAD, OPTIONS, POST, PUT"
    assert call(app, "OPTIONS", "/hello").header("allow") == "GET, HEAD, OPTIONS, POST, PUT"


def test_decorator_route_misuse() -> None:
    app = App()
    app.add_route("/resource", Item())

    @app.route("/f")
    async def f(req: Request, resp: Response) -> None:
        pass

    with pytest.raises(ValueError, match="unsupported method 'TRACE'"):
        app.route("/f", methods=["TRACE"])
    with pytest.raises(ValueError, match="GET /f is already routed"):
        app.route("/f")(f)
    with pytest.raises(ValueError, match="'/resource' is already routed to a resource"):
        app.route("/resource", methods=["DELETE"])(f)

    def sync(req: Request, resp: Response) -> None:
        pass

    with pytest.raises(TypeError, match="must be a coroutine function"):
        app.route("/sync")(sync)  # type: ignore[arg-type]
    assert call(app, "GET", "/sync").status == 404


# -- middleware ---------------------------------------------------------------------------------


class Recorder:
    """A middleware component that logs every call into a shared list."""

    def __init__(self, name: str, log: list[str], *, complete: bool = False) -> None:
        self.name = name
        self.log = log
        self.complete = complete
        self.seen: list[tuple[object, dict[str, Any]]] = []
        self.outcomes: list[tuple[object, bool]] = []

    async def process_request(self, req: Request, resp: Response) -> None:
        self.log.append(f"{self.name}.request")
        if self.complete:
            resp.status = 401
            resp.text = f"stopped by {self.name}"
            resp.complete = True

    async def process_resource(
        self, req: Request, resp: Response, resource: object, params: dict[str, Any]
    ) -> None:
        self.log.append(f"{self.name}.resource")
        self.seen.append((resource, dict(params)))

    async def process_response(
        self, req: Request, resp: Response, resource: object, req_succeeded: bool
    ) -> None:
        self.log.append(f"{self.name}.response")
        self.outcomes.append((resource, req_succeeded))


def middleware_app(*components: object) -> tuple[App, Item, list[str]]:
    log: list[str] = []
    app = App(middleware=components)
    item = Item()

    class Logged(Item):
        async def on_get(self, req: Request, resp: Response, id: int) -> None:
            log.append("responder")
            await item.on_get(req, resp, id)

    app.add_route("/items/{id:int}", Logged())
    return app, item, log


def test_middleware_order() -> None:
    log: list[str] = []
    outer, inner = Recorder("outer", log), Recorder("inner", log)
    app, _, responder_log = middleware_app(outer, inner)
    result = call(app, "GET", "/items/3")
    assert result.status == 200
    assert log == [
        "outer.request",
        "inner.request",
        "outer.resource",
        "inner.resource",
        "inner.response",
        "outer.response",
    ]
    assert responder_log == ["responder"]
    resource = outer.seen[0][0]
    assert outer.seen == inner.seen == [(resource, {"id": 3})]
    assert outer.outcomes == [(resource, True)]


def test_completing_the_response_in_process_request_short_circuits() -> None:
    log: list[str] = []
    guard, inner = Recorder("guard", log, complete=True), Recorder("inner", log)
    app, item, responder_log = middleware_app(guard, inner)
    result = call(app, "GET", "/items/3")
    assert result.status == 401
    assert result.text == "stopped by guard"
    assert responder_log == []
    assert item.calls == []
    assert "guard.resource" not in log
    assert "inner.resource" not in log
    assert log[-2:] == ["inner.response", "guard.response"]  # process_response still runs
    assert guard.outcomes == inner.outcomes == [(None, True)]


def test_an_http_error_in_process_request_is_rendered() -> None:
    class Deny:
        async def process_request(self, req: Request, resp: Response) -> None:
            raise HTTPError(403, description="no entry")

    log: list[str] = []
    after = Recorder("after", log)
    app, item, responder_log = middleware_app(Deny(), after)
    result = call(app, "GET", "/items/3")
    assert result.status == 403
    assert result.json() == {"title": "Forbidden", "description": "no entry"}
    assert responder_log == []
    assert item.calls == []
    assert log == ["after.response"]
    assert after.outcomes == [(None, False)]


def test_an_error_in_process_response_is_handled() -> None:
    class Broken:
        async def process_response(
            self, req: Request, resp: Response, resource: object, req_succeeded: bool
        ) -> None:
            raise HTTPError(502, description="upstream")

    log: list[str] = []
    outer = Recorder("outer", log)
    app, _, _ = middleware_app(outer, Broken())
    result = call(app, "GET", "/items/3")
    assert result.status == 502
    assert result.json() == {"title": "Bad Gateway", "description": "upstream"}
    assert outer.outcomes[0][1] is False  # the outer component sees the failure


def test_404_reaches_process_response_without_a_resource() -> None:
    log: list[str] = []
    recorder = Recorder("mw", log)
    app, _, _ = middleware_app(recorder)
    assert call(app, "GET", "/missing").status == 404
    assert log == ["mw.request", "mw.response"]
    assert recorder.outcomes == [(None, False)]


def test_middleware_misuse() -> None:
    class Nothing:
        pass

    class SyncRequest:
        def process_request(self, req: Request, resp: Response) -> None:
            pass

    with pytest.raises(TypeError, match="has no middleware methods"):
        App(middleware=[Nothing()])
    with pytest.raises(TypeError, match=r"SyncRequest\.process_request must be async"):
        App().add_middleware(SyncRequest())


# -- error handlers -----------------------------------------------------------------------------


class Raiser:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def on_get(self, req: Request, resp: Response, name: str) -> None:
        raise self.error


def raiser_app(error: BaseException) -> App:
    app = App()
    app.add_route("/r/{name}", Raiser(error))
    return app


@pytest.mark.parametrize(
    ("error", "handled_by"),
    [
        pytest.param(KeyError("k"), "KeyError", id="exact"),
        pytest.param(IndexError(1), "LookupError", id="base-class"),
        pytest.param(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"), "ValueError", id="mro"),
        pytest.param(HTTPNotFound(), "HTTPNotFound", id="http-subclass"),
        pytest.param(HTTPError(409), "default", id="http-default"),
        pytest.param(RuntimeError(), "Exception", id="catch-all"),
    ],
)
def test_the_most_specific_error_handler_wins(error: Exception, handled_by: str) -> None:
    app = raiser_app(error)
    seen: list[tuple[type[BaseException], dict[str, Any]]] = []

    def handler_for(name: str) -> Any:
        async def handler(
            req: Request, resp: Response, ex: BaseException, params: dict[str, Any]
        ) -> None:
            seen.append((type(ex), params))
            resp.status = 418
            resp.text = name

        return handler

    for kind in (KeyError, LookupError, ValueError, HTTPNotFound, Exception):
        app.add_error_handler(kind, handler_for(kind.__name__))
    result = call(app, "GET", "/r/ann")
    if handled_by == "default":
        assert result.status == 409
        assert result.json() == {"title": "Conflict"}
        assert seen == []
    else:
        assert (result.status, result.text) == (418, handled_by)
        assert seen == [(type(error), {"name": "ann"})]


def test_a_custom_not_found_handler_also_serves_router_404s() -> None:
    app, _ = item_app()

    async def not_found(req: Request, resp: Response, ex: BaseException, params: Any) -> None:
        resp.status = 404
        resp.text = f"no {req.path}"

    app.add_error_handler(HTTPNotFound, not_found)
    result = call(app, "GET", "/nope")
    assert (result.status, result.text) == (404, "no /nope")


def test_an_unhandled_exception_is_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    app = raiser_app(RuntimeError("database on fire"))
    with caplog.at_level(logging.ERROR, logger="reference_app"):
        result = call(app, "GET", "/r/x")
    assert result.status == 500
    assert result.header("content-type") == "application/json"
    assert result.json() == {"title": "Internal Server Error"}  # no detail leaks to the client
    (record,) = [r for r in caplog.records if r.name == "reference_app"]
    assert record.getMessage() == "unhandled error in GET /r/x"
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError
    assert "database on fire" in caplog.text


def test_a_failing_error_handler_is_logged_and_becomes_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = raiser_app(KeyError("k"))

    async def broken(req: Request, resp: Response, ex: BaseException, params: Any) -> None:
        raise ZeroDivisionError("in the handler")

    app.add_error_handler(KeyError, broken)
    with caplog.at_level(logging.ERROR, logger="reference_app"):
        result = call(app, "GET", "/r/x")
    assert result.status == 500
    assert result.json() == {"title": "Internal Server Error"}
    messages = [r.getMessage() for r in caplog.records if r.name == "reference_app"]
    assert messages[0].startswith("error handler ")
    assert messages[0].endswith(" failed")
    assert messages[1] == "unhandled error in GET /r/x"
    assert caplog.records[-1].exc_info is not None
    assert caplog.records[-1].exc_info[0] is ZeroDivisionError


def test_error_handlers_must_be_async() -> None:
    def sync(req: Request, resp: Response, ex: BaseException, params: Any) -> None:
        pass

    with pytest.raises(TypeError, match="must be a coroutine function"):
        App().add_error_handler(ValueError, sync)  # type: ignore[arg-type]


def test_a_failed_responder_closes_its_stream_and_drops_its_jobs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed: list[str] = []
    ran: list[str] = []

    class Body:
        async def read(self, size: int) -> bytes:
            raise AssertionError("never read")

        async def close(self) -> None:
            closed.append("close")

    async def job() -> None:
        ran.append("job")

    class Resource:
        async def on_get(self, req: Request, resp: Response) -> None:
            resp.stream = Body()
            resp.schedule(job)
            raise RuntimeError("late failure")

    app = App()
    app.add_route("/", Resource())

    async def scenario() -> Result:
        result = await ASGIDriver(app).get("/")
        assert app.jobs.pending == 0  # nothing was started
        return result

    with caplog.at_level(logging.INFO, logger="reference_app"):
        result = asyncio.run(scenario())
    assert result.status == 500
    assert closed == ["close"]
    assert ran == []
    assert "dropping 1 background job(s): the responder failed" in caplog.text


def test_a_response_that_cannot_start_becomes_a_500(caplog: pytest.LogCaptureFixture) -> None:
    closed: list[str] = []
    ran: list[str] = []

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b"never"
        finally:
            closed.append("closed")

    async def job() -> None:
        ran.append("job")

    class Resource:
        async def on_get(self, req: Request, resp: Response) -> None:
            resp.set_header("x-lost", "1")
            resp.media = {1, 2}  # a set is not JSON
            generator = stream()
            await generator.__anext__()  # started, so only aclose() runs its finally
            resp.stream = generator
            resp.schedule(job)

    app = App()
    app.add_route("/", Resource())

    async def scenario() -> Result:
        result = await ASGIDriver(app).get("/")
        assert app.jobs.pending == 0  # the job was not started
        return result

    with caplog.at_level(logging.INFO, logger="reference_app"):
        result = asyncio.run(scenario())
    assert result.status == 500
    assert result.json() == {"title": "Internal Server Error"}
    assert result.header("x-lost") is None
    assert closed == ["closed"]
    assert ran == []
    assert "Object of type set is not JSON serializable" in caplog.text
    assert "dropping 1 background job(s): the response failed" in caplog.text


# -- request body limits ------------------------------------------------------------------------


def body_messages(result: Result) -> list[Message]:
    return [m for m in result.received() if m["type"] == "http.request"]


def post(app: App, size: int, *, path: str = "/items/1", length: int | None = None) -> Result:
    headers: Iterable[tuple[str, str]] = [
        ("content-length", str(size if length is None else length))
    ]
    return call(app, "POST", path, headers=headers, body=b"x" * size)


def test_content_length_over_the_limit_is_a_413_before_any_body_is_read() -> None:
    app, item = item_app(max_body_size=10)
    result = post(app, 11)
    assert result.status == 413
    assert result.json() == {
        "title": "Content Too Large",
        "description": "Content-Length 11 is over the limit of 10 bytes.",
    }
    assert item.calls == []
    assert body_messages(result) == []  # the app never received an http.request message


def test_content_length_at_the_limit_is_read() -> None:
    app, item = item_app(max_body_size=10)
    result = post(app, 10)
    assert result.status == 200
    assert item.calls == [("POST", 1)]
    assert result.body == b"x" * 10
    assert len(body_messages(result)) == 1


def test_no_limit() -> None:
    app, _ = item_app(max_body_size=None)
    result = post(app, 100_000)
    assert (result.status, len(result.body)) == (200, 100_000)


@pytest.mark.parametrize(
    ("route_limit", "size", "status"),
    [
        pytest.param(100, 50, 200, id="raised"),
        pytest.param(None, 50, 200, id="lifted"),
        pytest.param(5, 6, 413, id="lowered"),
        pytest.param(5, 5, 200, id="lowered-at-limit"),
    ],
)
def test_a_route_overrides_the_app_limit(route_limit: int | None, size: int, status: int) -> None:
    app = App(max_body_size=10)
    item = Item()
    app.add_route("/items/{id:int}", item, max_body_size=route_limit)

    @app.route("/upload", methods=["POST"], max_body_size=route_limit)
    async def upload(req: Request, resp: Response) -> None:
        resp.data = await req.stream.read()

    for path in ("/items/1", "/upload"):
        result = post(app, size, path=path)
        assert result.status == status
        if status == 413:
            assert body_messages(result) == []
            assert result.json()["description"] == (
                f"Content-Length {size} is over the limit of {route_limit} bytes."
            )
        else:
            assert result.body == b"x" * size


def test_routing_errors_come_before_the_body_limit() -> None:
    app, _ = item_app(max_body_size=1)
    assert post(app, 5, path="/nowhere").status == 404
    assert call(app, "DELETE", "/items/1", headers=[("content-length", "5")]).status == 405


@pytest.mark.parametrize("value", ["five", "-5", "5 5"])
def test_an_invalid_content_length_is_a_400_before_any_body_is_read(value: str) -> None:
    app, item = item_app()
    result = call(app, "POST", "/items/1", headers=[("content-length", value)], body=b"hello")
    assert result.status == 400
    assert result.json() == {
        "title": "Invalid header value",
        "description": f"Content-Length: {value!r} is not a non-negative integer",
    }
    assert item.calls == []
    assert body_messages(result) == []


# -- other scope types --------------------------------------------------------------------------


def test_a_websocket_is_refused() -> None:
    sent: list[Message] = []
    incoming: list[Message] = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/", "headers": []}
    asyncio.run(App()(scope, receive, send))
    assert incoming == []
    assert sent == [{"type": "websocket.close", "code": 1000}]


def test_an_unknown_scope_type_is_a_value_error() -> None:
    async def receive() -> Message:
        raise AssertionError("not called")

    async def send(message: Message) -> None:
        raise AssertionError("not called")

    with pytest.raises(ValueError, match="unsupported ASGI scope type 'webtransport'"):
        asyncio.run(App()({"type": "webtransport"}, receive, send))


async def test_a_middleware_that_completes_the_response_skips_the_later_ones() -> None:
    """Falcon skips the remaining process_request methods once resp.complete is set."""
    calls: list[str] = []

    class Guard:
        async def process_request(self, req: Request, resp: Response) -> None:
            calls.append("guard")
            resp.status = 401
            resp.media = {"title": "no"}
            resp.complete = True

    class Loader:
        async def process_request(self, req: Request, resp: Response) -> None:
            calls.append("loader")  # pragma: no cover - must be skipped

    app = App(middleware=[Guard(), Loader()])
    result = await ASGIDriver(app).get("/anything")
    assert (result.status, calls) == (401, ["guard"])


async def test_lifespan_middleware_gets_the_real_scope_and_event() -> None:
    from reference_app.testing import lifespan

    seen: list[tuple[str, str, bool]] = []

    class Recorder:
        async def process_startup(self, scope: dict[str, object], event: dict[str, object]) -> None:
            seen.append((str(scope["type"]), str(event["type"]), "state" in scope))

        async def process_shutdown(
            self, scope: dict[str, object], event: dict[str, object]
        ) -> None:
            seen.append((str(scope["type"]), str(event["type"]), "state" in scope))

    app = App(middleware=[Recorder()])
    async with lifespan(app):
        pass
    assert seen == [
        ("lifespan", "lifespan.startup", True),
        ("lifespan", "lifespan.shutdown", True),
    ]


def test_a_rejected_middleware_registers_nothing() -> None:
    class HalfSync:
        async def process_request(self, req: Request, resp: Response) -> None:
            pass  # pragma: no cover

        def process_response(self, *args: object) -> None:
            pass  # pragma: no cover

    app = App()
    with pytest.raises(TypeError, match=r"HalfSync\.process_response must be async"):
        app.add_middleware(HalfSync())
    assert app._request_mw == []
