"""Request accessors: the request line, query, headers, cookies, Content-Length, client, state.

Most cases build a :class:`~reference_app.Request` over a scope made by the driver, with a
``receive`` that fails the test if anything reads the body; the ones whose point is the status
code the client gets go through a whole app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, strategies as st

from reference_app import App, HTTPInvalidHeader, OperationNotAllowed, Request, Response
from reference_app.request import Context
from reference_app.testing import ASGIDriver, Result
from reference_app.types import Message


async def _no_receive() -> Message:
    raise AssertionError("an accessor read the request body")


def make_request(
    method: str = "GET",
    path: str = "/",
    *,
    query: str = "",
    headers: Iterable[tuple[str, str]] = (),
    **scope: Any,
) -> Request:
    """A request over a driver-made scope; ``scope`` items replace the driver's."""
    built = ASGIDriver(App()).scope(method, path, query=query, headers=headers)
    built.update(scope)
    return Request(built, _no_receive)


def request(app: App, method: str, path: str, **kwargs: Any) -> Result:
    return asyncio.run(ASGIDriver(app).request(method, path, **kwargs))


# -- request line -------------------------------------------------------------------------------


def test_request_line_accessors() -> None:
    req = make_request("POST", "/a b/ü", query="x=1", scheme="https", http_version="2")
    assert req.method == "POST"
    assert req.path == "/a b/ü"
    assert req.query_string == "x=1"
    assert req.scheme == "https"
    assert req.http_version == "2"
    assert req.root_path == ""


def test_scope_defaults_when_the_server_leaves_keys_out() -> None:
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "headers": []}
    req = Request(scope, _no_receive)
    assert (req.query_string, req.scheme, req.http_version) == ("", "http", "1.1")
    assert req.root_path == ""
    assert req.host == ""
    assert req.client is None
    assert req.remote_addr is None
    assert req.extensions == {}
    assert req.url == "http:///"


@pytest.mark.parametrize(
    ("scope", "headers", "url"),
    [
        pytest.param({}, [], "http://testserver/p", id="host-header"),
        pytest.param(
            {"scheme": "https"}, [("host", "ex.org:8443")], "https://ex.org:8443/p", id="tls"
        ),
        pytest.param({"root_path": "/api"}, [], "http://testserver/api/p", id="root-path"),
        pytest.param({"query_string": b"a=1&b"}, [], "http://testserver/p?a=1&b", id="query"),
    ],
)
def test_url_is_rebuilt_from_scheme_host_root_path_path_and_query(
    scope: dict[str, Any], headers: list[tuple[str, str]], url: str
) -> None:
    assert make_request(path="/p", headers=headers, **scope).url == url


@pytest.mark.parametrize(
    ("address", "host"),
    [
        pytest.param(("10.0.0.1", 8000), "10.0.0.1:8000", id="tcp"),
        pytest.param(["/run/app.sock", None], "/run/app.sock", id="unix-socket"),
        pytest.param(None, "", id="unknown"),
    ],
)
def test_host_falls_back_to_the_server_address(address: Any, host: str) -> None:
    req = make_request(server=address)
    req.scope["headers"] = []  # no Host header at all (HTTP/1.0)
    assert req.host == host


# -- query parameters ---------------------------------------------------------------------------


def test_query_params_keep_repeats_blanks_and_decode() -> None:
    req = make_request(query="a=1&b=x+y&a=2&c=&d=%C3%BC&a=3")
    assert req.params == {"a": ["1", "2", "3"], "b": "x y", "c": "", "d": "ü"}
    assert req.get_param("a") == "3"  # the last of the repeats
    assert req.get_param("b") == "x y"
    assert req.get_param("c") == ""
    assert req.get_param("missing") is None
    assert req.get_param("missing", "fallback") == "fallback"
    assert req.params is req.params  # parsed once


def test_no_query_string_means_no_params() -> None:
    assert make_request().params == {}


# -- headers ------------------------------------------------------------------------------------


def test_headers_are_case_insensitive_and_repeats_are_comma_joined() -> None:
    req = make_request()
    req.scope["headers"] = [
        (b"Accept", b"text/html"),
        (b"x-trace", b"a"),
        (b"X-Trace", b"b"),
        (b"x-latin", "caf\xe9".encode("latin-1")),
    ]
    assert req.get_header("accept") == req.get_header("ACCEPT") == "text/html"
    assert req.headers["x-trace"] == "a, b"
    assert req.get_header("x-latin") == "café"  # field values are octets: latin-1
    assert req.get_header("missing") is None
    assert req.get_header("missing", "d") == "d"
    assert req.headers is req.headers  # built once


def test_content_type() -> None:
    assert make_request().content_type is None
    req = make_request(headers=[("Content-Type", "application/json; charset=utf-8")])
    assert req.content_type == "application/json; charset=utf-8"


# -- cookies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "cookies"),
    [
        pytest.param([], {}, id="none"),
        pytest.param([("cookie", "a=1; b=2")], {"a": "1", "b": "2"}, id="one-header"),
        # HTTP/2 may split the cookie header into one field per pair (RFC 9113 §8.2.3).
        pytest.param([("cookie", "a=1"), ("cookie", "b=2")], {"a": "1", "b": "2"}, id="h2-split"),
        pytest.param([("cookie", "a=1; a=2")], {"a": "1"}, id="first-wins"),
        pytest.param([("cookie", 'q="x y"')], {"q": "x y"}, id="quoted"),
        pytest.param([("cookie", r'q="a\"b"')], {"q": 'a"b'}, id="quoted-escape"),
        pytest.param([("cookie", 'q="\\')], {"q": '"\\'}, id="lone-quote-kept"),
        # malformed quoted values: the outer quotes go, the rest is kept as it came
        pytest.param([("cookie", 'q="a"b"')], {"q": 'a"b'}, id="quote-inside"),
        pytest.param([("cookie", 'q="a" b@c="d"')], {"q": 'a" b@c="d'}, id="illegal-inner-key"),
        pytest.param([("cookie", "junk; =v; ok=1;;")], {"ok": "1"}, id="junk-skipped"),
        pytest.param([("cookie", "t=a=b")], {"t": "a=b"}, id="equals-in-value"),
    ],
)
def test_cookies(headers: list[tuple[str, str]], cookies: dict[str, str]) -> None:
    req = make_request(headers=headers)
    assert req.cookies == cookies
    assert req.cookies is req.cookies


def test_h2_split_cookie_fields_are_joined_with_semicolons() -> None:
    req = make_request(headers=[("cookie", "a=1"), ("cookie", "b=2")])
    assert req.get_header("cookie") == "a=1; b=2"


# -- Content-Length -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "length"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("0", 0, id="zero"),
        pytest.param("42", 42, id="plain"),
        pytest.param(" 42 ", 42, id="ows-trimmed"),
    ],
)
def test_content_length(value: str | None, length: int | None) -> None:
    headers = [] if value is None else [("content-length", value)]
    assert make_request(headers=headers).content_length == length


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("abc", id="word"),
        pytest.param("-1", id="negative"),
        pytest.param("+1", id="plus"),
        pytest.param("1.5", id="fraction"),
        pytest.param("", id="empty"),
        pytest.param("1_000", id="underscore"),
        # "²".isdigit() is True, but int() refuses it: only ASCII digits are a length
        pytest.param("\xb2", id="superscript-two"),
        pytest.param("1, 1", id="list"),
    ],
)
def test_invalid_content_length_is_a_400(value: str) -> None:
    req = make_request(headers=[("content-length", value)])
    with pytest.raises(HTTPInvalidHeader) as raised:
        _ = req.content_length
    assert raised.value.status == 400
    assert raised.value.header == "Content-Length"
    problem = f"{value.strip()!r} is not a non-negative integer"
    assert raised.value.description == f"Content-Length: {problem}"
    with pytest.raises(HTTPInvalidHeader):
        _ = req.stream  # the body stream needs the length too


class _Reader:
    async def on_post(self, req: Request, resp: Response) -> None:
        resp.data = await req.stream.read()


@pytest.mark.parametrize("value", ["abc", "-5"], ids=["word", "negative"])
@pytest.mark.parametrize("limit", [1024, None], ids=["limited", "unlimited"])
def test_invalid_content_length_answers_400_over_the_wire(value: str, limit: int | None) -> None:
    app = App(max_body_size=limit)
    app.add_route("/", _Reader())
    result = request(app, "POST", "/", headers=[("content-length", value)], body=b"xyz")
    assert result.status == 400
    assert result.header("content-type") == "application/json"
    assert result.json() == {
        "title": "Invalid header value",
        "description": f"Content-Length: {value!r} is not a non-negative integer",
    }
    assert result.sent("http.response.start")  # a clean response, not a crash


# -- client, extensions, state, context ---------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        pytest.param(("127.0.0.1", 50000), ("127.0.0.1", 50000), id="int-port"),
        # granian reports the port as a str (docs/server-behaviour.md#granian-ports-as-strings)
        pytest.param(["::1", "50001"], ("::1", 50001), id="str-port"),
        pytest.param(("10.1.1.1", None), ("10.1.1.1", 0), id="no-port"),
        pytest.param(None, None, id="unknown"),
    ],
)
def test_client_port_is_normalised_to_int(client: Any, expected: tuple[str, int] | None) -> None:
    req = make_request(client=client)
    assert req.client == expected
    assert req.remote_addr == (expected[0] if expected else None)
    if expected is not None:
        assert type(req.client[1]) is int  # type: ignore[index]


def test_extensions_are_the_servers() -> None:
    push: dict[str, Any] = {"http.response.push": {}}
    assert make_request(extensions=push).extensions == push
    assert make_request(extensions=None).extensions == {}


def test_state_is_the_scope_state_or_a_new_dict_kept_in_the_scope() -> None:
    shared = {"db": object()}
    req = make_request(state=shared)
    assert req.state is shared
    bare = make_request()
    assert "state" not in bare.scope
    bare.state["k"] = 1
    assert bare.scope["state"] == {"k": 1}
    assert bare.state is bare.scope["state"]


def test_context_is_an_attribute_and_item_namespace() -> None:
    context = Context(user="ann")
    assert context.user == "ann"
    context.role = "admin"
    context["team"] = "core"
    assert context["role"] == "admin"
    assert context.team == "core"
    assert "team" in context
    assert "nope" not in context
    assert context.get("nope") is None
    assert context.get("nope", 3) == 3
    assert repr(context) == "Context({'user': 'ann', 'role': 'admin', 'team': 'core'})"
    with pytest.raises(AttributeError, match="context has no attribute 'nope'"):
        _ = context.nope
    with pytest.raises(KeyError):
        _ = context["nope"]


def test_each_request_gets_its_own_context() -> None:
    first, second = make_request(), make_request()
    first.context.seen = True
    assert "seen" not in second.context


# -- the body stream is created lazily ----------------------------------------------------------


def test_stream_is_created_on_first_use_and_kept() -> None:
    req = make_request(headers=[("content-length", "3")])
    assert req.stream_if_created is None
    stream = req.stream
    assert req.stream_if_created is stream
    assert req.bounded_stream is stream
    assert stream.content_length == 3


def test_accessors_through_an_app() -> None:
    seen: dict[str, Any] = {}

    class Resource:
        async def on_get(self, req: Request, resp: Response, item: int) -> None:
            seen.update(
                item=item,
                method=req.method,
                path=req.path,
                params=req.params,
                agent=req.get_header("User-Agent"),
                cookies=req.cookies,
                url=req.url,
                client=req.client,
            )

    app = App()
    app.add_route("/items/{item:int}", Resource())
    result = request(
        app,
        "GET",
        "/items/7",
        query="tag=a&tag=b",
        headers=[("user-agent", "probe/1"), ("cookie", "sid=s1")],
    )
    assert result.status == 200
    assert result.received() == []  # nothing asked for the body, so receive() was never called
    assert seen == {
        "item": 7,
        "method": "GET",
        "path": "/items/7",
        "params": {"tag": ["a", "b"]},
        "agent": "probe/1",
        "cookies": {"sid": "s1"},
        "url": "http://testserver/items/7?tag=a&tag=b",
        "client": ("127.0.0.1", 50000),
    }


# -- waiting for the client to leave ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "complete", "headers"),
    [
        pytest.param(b"", True, [], id="no-body"),
        pytest.param(b"read first", True, [("content-length", "10")], id="unread-body"),
        pytest.param(b"abc", False, [], id="body-still-arriving"),
        pytest.param(b"abc", False, [("content-length", "10")], id="short-body"),
    ],
)
def test_wait_disconnect_discards_the_body_then_blocks_until_the_client_leaves(
    body: bytes, complete: bool, headers: list[tuple[str, str]]
) -> None:
    events: list[str] = []

    async def scenario() -> Result:
        waiting = asyncio.Event()

        class LongPoll:
            async def on_post(self, req: Request, resp: Response) -> None:
                waiting.set()
                await req.wait_disconnect()
                await req.wait_disconnect()  # once gone, returns at once
                events.append(f"returned after {req.stream.tell()} body bytes")
                resp.text = "nobody hears this"

        app = App()
        app.add_route("/", LongPoll())
        driver = ASGIDriver(app)
        async with driver.stream(
            "POST", "/", headers=headers, body=body, body_complete=complete
        ) as exchange:
            await waiting.wait()
            assert events == []  # still waiting: the client is connected
            assert exchange.status == 0
            exchange.disconnect()
            return await exchange.finish()

    result = asyncio.run(scenario())
    assert events == [f"returned after {len(body)} body bytes"]
    assert result.disconnected
    assert result.status == 0  # the late response reached no one


# -- hostile headers ----------------------------------------------------------------------------


class _URL:
    async def on_get(self, req: Request, resp: Response) -> None:
        resp.text = req.url


def test_two_host_headers_are_a_400_before_anything_runs() -> None:
    app = App()
    app.add_route("/", _URL())
    result = request(app, "GET", "/", headers=[("host", "a"), ("host", "b")])
    assert result.status == 400
    assert result.json() == {
        "title": "Bad Request",
        "description": "The request has more than one Host header.",
    }
    # also where no route matches: the request is malformed before it is anything else
    assert request(app, "GET", "/nowhere", headers=[("host", "a"), ("Host", "a")]).status == 400
    assert request(app, "GET", "/", headers=[("host", "a")]).text == "http://a/"


def test_a_host_with_a_comma_is_refused_by_the_accessor() -> None:
    req = make_request(headers=[("host", "a"), ("host", "b")])
    with pytest.raises(HTTPInvalidHeader, match="Host: more than one host"):
        _ = req.url


@pytest.mark.parametrize(
    ("value", "length"),
    [
        pytest.param("9" * 19, int("9" * 19), id="19-digits"),
        pytest.param("0" * 30 + "7", 7, id="leading-zeros"),
    ],
)
def test_long_content_lengths_that_are_numbers(value: str, length: int) -> None:
    assert make_request(headers=[("content-length", value)]).content_length == length


@pytest.mark.parametrize("digits", [20, 5000], ids=["20-digits", "5000-digits"])
def test_a_content_length_no_body_has_is_a_400_not_a_500(digits: int) -> None:
    app = App(max_body_size=None)
    app.add_route("/", _Reader())
    result = request(app, "POST", "/", headers=[("content-length", "1" * digits)], body=b"x")
    assert result.status == 400
    assert "is not a length any body has" in result.json()["description"]


# -- what the framework asks of a request -------------------------------------------------------


def test_max_body_size_is_public_and_bounds_the_stream_made_after() -> None:
    req = make_request(headers=[("content-length", "10")])
    assert req.max_body_size is None
    req.max_body_size = 5
    assert req.max_body_size == 5
    assert req.stream.content_length == 10


async def test_watch_stream_is_the_apps_stream_or_a_discarding_one_kept_for_later() -> None:
    req = make_request()
    own = req.stream
    assert req.watch_stream() is own
    assert not own.closed

    other = make_request()
    watched = other.watch_stream()
    assert other.stream_if_created is watched
    assert other.stream is watched  # a later read gets the documented error, not a new reader
    with pytest.raises(OperationNotAllowed, match="discarded"):
        await other.stream.read()


def _parse_qsl_params(query: bytes) -> dict[str, str | list[str]]:
    """What ``params`` was: parse_qsl(keep_blank_values=True), repeats gathered in a list."""
    params: dict[str, str | list[str]] = {}
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        previous = params.get(name)
        if previous is None:
            params[name] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            params[name] = [previous, value]
    return params


QUERY_BYTES = st.lists(
    st.sampled_from(
        [b"a", b"b", b"=", b"&", b"+", b"%", b"%2", b"%41", b"%c3%bc", b"%ff", b"\xff"]
    ),
    max_size=12,
).map(b"".join)


@given(query=QUERY_BYTES | st.binary(max_size=30))
def test_params_parse_exactly_as_parse_qsl_does(query: bytes) -> None:
    assert make_request(query=query.decode("latin-1")).params == _parse_qsl_params(query)
