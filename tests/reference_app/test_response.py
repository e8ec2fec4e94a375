"""Response: status forms, header API and its validation, body sources, push promises, jobs."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from http import HTTPStatus
from typing import Any

import pytest

from reference_app import App, Request, Response
from reference_app.response import PUSH_COPIED_HEADERS
from reference_app.testing import ASGIDriver, Result

PUSH: dict[str, Any] = {"http.response.push": {}}


def serve(
    responder: Callable[[Request, Response], Any],
    method: str = "GET",
    *,
    extensions: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Result:
    """Answer one request with ``async def responder(req, resp)`` routed for GET at ``/``."""

    class Resource:
        async def on_get(self, req: Request, resp: Response) -> None:
            await responder(req, resp)

    app = App()
    app.add_route("/", Resource())
    driver = ASGIDriver(app, extensions=extensions)
    return asyncio.run(driver.request(method, "/", **kwargs))


# -- status -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        pytest.param(201, 201, id="int"),
        pytest.param(HTTPStatus.ACCEPTED, 202, id="HTTPStatus"),
        pytest.param("404 Not Found", 404, id="status-line"),
        pytest.param("418", 418, id="digits"),
    ],
)
def test_status_forms(status: int | HTTPStatus | str, code: int) -> None:
    async def responder(req: Request, resp: Response) -> None:
        resp.status = status
        resp.text = "x"

    result = serve(responder)
    assert result.status == code
    start = result.sent("http.response.start")[0]
    assert type(start["status"]) is int


@pytest.mark.parametrize(
    "status",
    [
        pytest.param("Not Found", id="no-code"),
        pytest.param("", id="empty"),
        pytest.param(" 404", id="leading-space"),
        pytest.param(99, id="below-100"),
        pytest.param(600, id="above-599"),
        pytest.param("1000 Big", id="long-code"),
    ],
)
def test_invalid_status_is_a_value_error(status: int | str) -> None:
    resp = Response()
    resp.status = status
    with pytest.raises(ValueError, match="status"):
        _ = resp.status_code


def test_an_invalid_status_becomes_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    async def responder(req: Request, resp: Response) -> None:
        resp.status = "OK"
        resp.text = "never sent"

    with caplog.at_level(logging.ERROR, logger="reference_app"):
        result = serve(responder)
    assert result.status == 500
    assert result.json() == {"title": "Internal Server Error"}
    assert "invalid status 'OK'" in caplog.text


# -- headers ------------------------------------------------------------------------------------


def test_set_append_get_delete_header() -> None:
    resp = Response()
    resp.set_header("X-Tag", "a")
    resp.append_header("x-tag", "b")
    resp.append_header("X-New", "1")
    assert resp.get_header("X-TAG") == "a, b"
    assert resp.get_header("x-new") == "1"
    resp.set_header("x-tag", "c")  # replaces
    assert resp.get_header("x-tag") == "c"
    resp.delete_header("X-Tag")
    resp.delete_header("x-absent")  # no error
    assert resp.get_header("x-tag") is None
    assert resp.get_header("x-tag", "dflt") == "dflt"
    assert resp.headers == {"x-new": "1"}


def test_set_headers_from_a_mapping_or_pairs() -> None:
    resp = Response()
    resp.set_headers({"A": "1", "b": "2"})
    resp.set_headers([("c", "3"), ("A", "4")])
    assert resp.headers == {"a": "4", "b": "2", "c": "3"}
    copy = resp.headers
    copy["d"] = "5"
    assert resp.get_header("d") is None  # headers is a copy


def test_set_cookie_lines_are_never_joined_on_the_wire() -> None:
    resp = Response()
    resp.append_header("Set-Cookie", "a=1; Path=/")
    resp.append_header("set-cookie", "b=2, with comma; Expires=Wed, 21 Oct 2015 07:28:00 GMT")
    assert resp.get_header("set-cookie") == (
        "a=1; Path=/, b=2, with comma; Expires=Wed, 21 Oct 2015 07:28:00 GMT"
    )
    assert resp.header_items() == [
        (b"set-cookie", b"a=1; Path=/"),
        (b"set-cookie", b"b=2, with comma; Expires=Wed, 21 Oct 2015 07:28:00 GMT"),
    ]
    resp.set_header("set-cookie", "only=1")
    assert resp.header_items() == [(b"set-cookie", b"only=1")]
    assert resp.headers == {"set-cookie": "only=1"}
    resp.delete_header("Set-Cookie")
    assert resp.get_header("set-cookie") is None
    assert resp.get_header("set-cookie", "none") == "none"
    assert resp.header_items() == []


def test_set_cookie_over_the_wire() -> None:
    async def responder(req: Request, resp: Response) -> None:
        resp.append_header("set-cookie", "a=1")
        resp.append_header("set-cookie", "b=2")
        resp.text = "ok"

    result = serve(responder)
    assert result.header_list("set-cookie") == ["a=1", "b=2"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("X-A", "v\r\nInjected: 1", id="crlf-in-value"),
        pytest.param("X-A", "v\ninjected", id="lf-in-value"),
        pytest.param("X-A", "v\rx", id="cr-in-value"),
        pytest.param("X-A", "v\x00x", id="nul-in-value"),
        pytest.param("X-A", "€uro", id="not-latin-1"),
        pytest.param("X-A\r\nInjected", "v", id="crlf-in-name"),
        pytest.param("X A", "v", id="space-in-name"),
        pytest.param("X:A", "v", id="colon-in-name"),
        pytest.param("", "v", id="empty-name"),
        pytest.param("Ünïcode", "v", id="non-token-name"),
    ],
)
@pytest.mark.parametrize("method", ["set_header", "append_header"])
def test_bad_header_names_and_values_are_value_errors(name: str, value: str, method: str) -> None:
    resp = Response()
    with pytest.raises(ValueError, match="header"):
        getattr(resp, method)(name, value)
    assert resp.header_items() == []


@pytest.mark.parametrize(
    ("name", "value"),
    [pytest.param(b"x-a", "v", id="bytes-name"), pytest.param("x-a", 1, id="int-value")],
)
def test_header_names_and_values_must_be_str(name: Any, value: Any) -> None:
    with pytest.raises(TypeError, match="must be str"):
        Response().set_header(name, value)


def test_latin_1_header_values_are_sent_as_latin_1() -> None:
    async def responder(req: Request, resp: Response) -> None:
        resp.set_header("x-name", "café\tau lait")
        resp.text = ""

    result = serve(responder)
    assert (b"x-name", "café\tau lait".encode("latin-1")) in result.headers


def test_content_type_property() -> None:
    resp = Response()
    assert resp.content_type is None
    resp.content_type = "text/html"
    assert resp.get_header("Content-Type") == "text/html"
    assert resp.content_type == "text/html"


# -- body sources -------------------------------------------------------------------------------


async def _chunks() -> AsyncIterator[bytes]:
    yield b"str"
    yield b"eam"


@pytest.mark.parametrize(
    ("fields", "body", "content_type"),
    [
        pytest.param({"text": "héllo"}, "héllo".encode(), "text/plain; charset=utf-8", id="text"),
        pytest.param({"body": "alias"}, b"alias", "text/plain; charset=utf-8", id="body-alias"),
        pytest.param(
            {"text": b"\xffraw"}, b"\xffraw", "text/plain; charset=utf-8", id="bytes-text"
        ),
        pytest.param({"data": b"\x00\x01"}, b"\x00\x01", "application/octet-stream", id="data"),
        pytest.param({"media": {"k": "ü"}}, '{"k":"ü"}'.encode(), "application/json", id="media"),
        pytest.param(
            {"text": "t", "data": b"d", "media": {"m": 1}},
            b"t",
            "text/plain; charset=utf-8",
            id="text>data>media",
        ),
        pytest.param(
            {"data": b"d", "media": [1]}, b"d", "application/octet-stream", id="data>media"
        ),
        pytest.param({"media": [1], "stream": True}, b"[1]", "application/json", id="media>stream"),
        pytest.param({"stream": True}, b"stream", "application/octet-stream", id="stream"),
        pytest.param({}, b"", None, id="nothing"),
        pytest.param({"media": 0}, b"0", "application/json", id="falsy-media"),
        pytest.param({"text": ""}, b"", "text/plain; charset=utf-8", id="empty-text"),
    ],
)
def test_body_source_precedence(
    fields: dict[str, Any], body: bytes, content_type: str | None
) -> None:
    async def responder(req: Request, resp: Response) -> None:
        for name, value in fields.items():
            setattr(resp, name, _chunks() if name == "stream" else value)

    result = serve(responder)
    assert result.status == 200
    assert result.body == body
    assert result.header("content-type") == content_type
    if "stream" in fields and len(fields) == 1:
        assert result.header("content-length") is None  # length unknown: the server chunks it
    else:
        assert result.header_list("content-length") == [str(len(body))]


def test_body_is_an_alias_of_text() -> None:
    resp = Response()
    resp.body = "a"
    assert resp.text == "a"
    resp.text = "b"
    assert resp.body == "b"


def test_a_rendered_body_replaces_the_apps_content_length() -> None:
    async def responder(req: Request, resp: Response) -> None:
        resp.set_header("Content-Length", "999")
        resp.set_header("Content-Type", "text/csv")
        resp.text = "a,b\n"

    result = serve(responder)
    assert result.header_list("content-length") == ["4"]
    assert result.header("content-type") == "text/csv"  # an app's content type is kept


def test_204_has_no_content_length_and_no_body() -> None:
    async def responder(req: Request, resp: Response) -> None:
        resp.status = 204
        resp.set_header("content-length", "5")
        resp.text = "dropped"

    result = serve(responder)
    assert result.status == 204
    assert result.header("content-length") is None
    assert result.body == b""


def test_head_gets_the_get_headers_and_no_body() -> None:
    async def responder(req: Request, resp: Response) -> None:
        resp.text = "hello"

    result = serve(responder, "HEAD")
    assert result.status == 200
    assert result.header("content-length") == "5"
    assert result.body == b""


def test_set_stream_sends_its_content_length() -> None:
    async def responder(req: Request, resp: Response) -> None:
        resp.set_stream(_chunks(), 6)

    result = serve(responder)
    assert result.header("content-length") == "6"
    assert result.body == b"stream"


def test_set_stream_refuses_a_negative_length() -> None:
    resp = Response()
    stream = _chunks()
    with pytest.raises(ValueError, match="non-negative"):
        resp.set_stream(stream, -1)
    assert resp.stream is None
    assert resp.stream_length is None


def test_defaults() -> None:
    resp = Response()
    assert resp.status == 200
    assert resp.status_code == 200
    assert (resp.text, resp.data, resp.media, resp.stream, resp.sse) == (None,) * 5
    assert resp.complete is False
    assert resp.pushes == []
    assert resp.jobs == []
    resp.context.user = "u"
    assert resp.context["user"] == "u"


# -- push promises ------------------------------------------------------------------------------


REQUEST_HEADERS = [
    ("accept-encoding", "gzip"),
    ("accept-language", "fr"),
    ("cache-control", "no-cache"),
    ("cookie", "sid=1"),
    ("user-agent", "probe/1"),
    ("authorization", "Bearer secret"),
    ("accept", "text/html"),
]


def test_push_without_the_extension_returns_false_and_sends_nothing() -> None:
    outcome: list[bool] = []

    async def responder(req: Request, resp: Response) -> None:
        outcome.append(resp.push("/style.css"))
        resp.text = "page"

    result = serve(responder, headers=REQUEST_HEADERS)
    assert outcome == [False]
    assert result.status == 200
    assert result.body == b"page"
    assert result.sent("http.response.push") == []


def test_push_with_the_extension_copies_the_default_headers() -> None:
    outcome: list[bool] = []

    async def responder(req: Request, resp: Response) -> None:
        outcome.append(resp.push("/style.css?v=2"))
        resp.text = "page"

    result = serve(responder, extensions=PUSH, headers=REQUEST_HEADERS)
    assert outcome == [True]
    assert result.pushes == [
        {
            "type": "http.response.push",
            "path": "/style.css?v=2",
            "headers": [
                (b"accept-encoding", b"gzip"),
                (b"accept-language", b"fr"),
                (b"cache-control", b"no-cache"),
                (b"cookie", b"sid=1"),
                (b"user-agent", b"probe/1"),
            ],
        }
    ]
    # the promise goes right after the response starts, before the body
    kinds = [message["type"] for message in result.sent()]
    assert kinds == ["http.response.start", "http.response.push", "http.response.body"]
    assert result.body == b"page"


def test_push_headers_override_the_copied_ones_and_none_drops_one() -> None:
    async def responder(req: Request, resp: Response) -> None:
        assert resp.push(
            "/app.js",
            {"User-Agent": None, "Accept-Encoding": "br", "Accept": "*/*", "x-absent": None},
        )
        assert resp.push("/other.js")

    result = serve(responder, extensions=PUSH, headers=REQUEST_HEADERS[:5])
    first, second = result.pushes
    assert first["headers"] == [
        (b"accept-encoding", b"br"),
        (b"accept-language", b"fr"),
        (b"cache-control", b"no-cache"),
        (b"cookie", b"sid=1"),
        (b"accept", b"*/*"),
    ]
    assert second["path"] == "/other.js"
    assert (b"user-agent", b"probe/1") in second["headers"]  # overrides are per call


def test_push_copies_only_headers_the_request_has() -> None:
    assert set(PUSH_COPIED_HEADERS) == {
        "accept-encoding",
        "accept-language",
        "cache-control",
        "cookie",
        "user-agent",
    }

    async def responder(req: Request, resp: Response) -> None:
        assert resp.push("/a")

    result = serve(responder, extensions=PUSH, headers=[("user-agent", "ua")])
    assert result.pushes[0]["headers"] == [(b"user-agent", b"ua")]


@pytest.mark.parametrize(
    "location",
    [
        pytest.param("style.css", id="relative"),
        pytest.param("https://cdn.example/style.css", id="absolute-url"),
        pytest.param("//cdn.example/style.css", id="network-path"),
        pytest.param("", id="empty"),
        pytest.param("/a\r\nb", id="crlf"),
        pytest.param("/a b", id="space"),
        pytest.param("/a#frag", id="fragment"),
    ],
)
@pytest.mark.parametrize("extensions", [None, PUSH], ids=["no-extension", "extension"])
def test_push_refuses_a_location_that_is_not_an_absolute_path(
    location: str, extensions: dict[str, Any] | None
) -> None:
    scope: dict[str, Any] = {"type": "http", "headers": [], "extensions": extensions}
    resp = Response(Request(scope, _fail_receive))
    with pytest.raises(ValueError, match="location"):
        resp.push(location)
    assert resp.pushes == []


@pytest.mark.parametrize(
    ("name", "value"),
    [pytest.param("x-a", "v\r\nx", id="crlf-value"), pytest.param("bad name", "v", id="bad-name")],
)
def test_push_refuses_bad_override_headers(name: str, value: str) -> None:
    scope: dict[str, Any] = {"type": "http", "headers": [], "extensions": PUSH}
    resp = Response(Request(scope, _fail_receive))
    with pytest.raises(ValueError, match="header"):
        resp.push("/a", {name: value})
    assert resp.pushes == []


def test_a_response_without_a_request_cannot_push() -> None:
    assert Response().push("/a") is False


async def _fail_receive() -> dict[str, Any]:
    raise AssertionError("receive() called")


# -- scheduling validation ----------------------------------------------------------------------


async def _async_job() -> None:
    pass


def _sync_job() -> None:
    pass


class _AsyncCallable:
    async def __call__(self) -> None:
        pass


def test_schedule_takes_coroutine_functions_and_schedule_sync_the_rest() -> None:
    resp = Response()
    callable_object = _AsyncCallable()
    bound = functools.partial(_async_job)
    resp.schedule(_async_job)
    resp.schedule_sync(_sync_job)
    resp.schedule(callable_object)
    resp.schedule(bound)
    resp.schedule_sync(functools.partial(print, "x"))
    assert [(job, is_async) for job, is_async in resp.jobs[:4]] == [
        (_async_job, True),
        (_sync_job, False),
        (callable_object, True),
        (bound, True),
    ]
    assert resp.jobs[4][1] is False


def test_schedule_refuses_a_coroutine_object_and_closes_it() -> None:
    resp = Response()
    coroutine = _async_job()
    with pytest.raises(TypeError, match="pass the function itself"):
        resp.schedule(coroutine)  # type: ignore[arg-type]
    # closed, so no "coroutine was never awaited" warning either
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED
    assert resp.jobs == []


def test_schedule_refuses_a_sync_function() -> None:
    resp = Response()
    with pytest.raises(TypeError, match="use schedule_sync"):
        resp.schedule(_sync_job)
    assert resp.jobs == []


@pytest.mark.parametrize(
    "job",
    [
        pytest.param(_async_job, id="coroutine-function"),
        pytest.param(_AsyncCallable(), id="async-callable-object"),
        pytest.param(functools.partial(_async_job), id="partial-of-coroutine-function"),
    ],
)
def test_schedule_sync_refuses_async_callables(job: Callable[[], Any]) -> None:
    resp = Response()
    with pytest.raises(TypeError, match="use schedule"):
        resp.schedule_sync(job)
    assert resp.jobs == []


def test_schedule_sync_refuses_a_coroutine_object_and_closes_it() -> None:
    resp = Response()
    coroutine = _async_job()
    with pytest.raises(TypeError, match="not a coroutine object"):
        resp.schedule_sync(coroutine)  # type: ignore[arg-type]
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED


def test_schedule_sync_refuses_a_non_callable() -> None:
    with pytest.raises(TypeError, match="takes a callable"):
        Response().schedule_sync(42)  # type: ignore[arg-type]
