"""Media: ``req.get_media()`` parsing, errors and caching, ``resp.media``, and the handlers."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from hypothesis import given, strategies as st

from reference_app import (
    App,
    BaseHandler,
    HTTPUnsupportedMediaType,
    JSONHandler,
    MediaMalformedError,
    MediaNotFoundError,
    Request,
    Response,
    URLEncodedFormHandler,
)
from reference_app.media import DEFAULT_MEDIA_TYPE, Handlers, check_depth
from reference_app.testing import ASGIDriver, Result

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


class Echo:
    """POST: answer ``{"media": <parsed body>}``; any error is raised to the app."""

    def __init__(self, **get_media: Any) -> None:
        self.get_media = get_media
        self.errors: list[BaseException] = []

    async def on_post(self, req: Request, resp: Response) -> None:
        try:
            resp.media = {"media": await req.get_media(**self.get_media)}
        except Exception as error:
            self.errors.append(error)
            raise


def post(
    resource: object,
    body: bytes | Iterable[bytes],
    content_type: str | None = JSON,
    *,
    app: App | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> Result:
    app = app or App()
    app.add_route("/", resource)
    all_headers = list(headers) + ([("content-type", content_type)] if content_type else [])
    return asyncio.run(ASGIDriver(app).request("POST", "/", headers=all_headers, body=body))


def body_messages(result: Result) -> int:
    return sum(1 for message in result.received() if message["type"] == "http.request")


# -- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "media"),
    [
        pytest.param(JSON, b'{"a": [1, 2]}', {"a": [1, 2]}, id="json"),
        pytest.param(None, b"[1]", [1], id="no-content-type-is-json"),
        pytest.param("*/*", b'"s"', "s", id="any-is-json"),
        pytest.param(
            "Application/JSON; charset=UTF-8", '{"ü": 1}'.encode(), {"ü": 1}, id="json-params-case"
        ),
        pytest.param(JSON, b"null", None, id="json-null"),
        pytest.param(
            FORM,
            b"a=1&b=x+y&a=2&c=&d=%C3%BC&a=3",
            {"a": ["1", "2", "3"], "b": "x y", "c": "", "d": "ü"},
            id="form-repeats",
        ),
        pytest.param(f"{FORM}; charset=utf-8", b"k=v", {"k": "v"}, id="form-params"),
    ],
)
def test_get_media_parses_by_content_type(
    content_type: str | None, body: bytes, media: object
) -> None:
    result = post(Echo(), body, content_type)
    assert result.status == 200
    assert result.json() == {"media": media}


def test_get_media_reads_a_body_split_over_messages() -> None:
    result = post(Echo(), [b'{"a"', b": ", b"1}"], headers=[("content-length", "8")])
    assert result.json() == {"media": {"a": 1}}
    assert body_messages(result) == 3


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [JSON, FORM, None])
def test_an_empty_body_is_a_400_media_not_found(content_type: str | None) -> None:
    resource = Echo()
    result = post(resource, b"", content_type)
    media_type = content_type or JSON
    assert result.status == 400
    assert result.header("content-type") == JSON
    assert result.json() == {
        "title": "Empty request body",
        "description": f"The request body is empty, but {media_type} content was expected.",
    }
    assert type(resource.errors[0]) is MediaNotFoundError


@pytest.mark.parametrize("default", [{}, None, "none"], ids=["dict", "None", "str"])
def test_default_when_empty_is_returned_for_an_empty_body(default: object) -> None:
    result = post(Echo(default_when_empty=default), b"")
    assert result.status == 200
    assert result.json() == {"media": default}


def test_default_when_empty_does_not_hide_a_malformed_body() -> None:
    result = post(Echo(default_when_empty={}), b"{")
    assert result.status == 400
    assert result.json()["title"] == "Malformed request body"


@pytest.mark.parametrize(
    ("content_type", "body", "cause", "problem"),
    [
        pytest.param(
            JSON,
            b'{"a": ',
            json.JSONDecodeError,
            "Expecting value: line 1 column 7 (char 6)",
            id="json-syntax",
        ),
        pytest.param(
            JSON,
            b'{"a": "\xff"}',
            UnicodeDecodeError,
            "'utf-8' codec can't decode byte 0xff in position 7: invalid start byte",
            id="json-invalid-utf8",
        ),
        pytest.param(
            FORM,
            "k=ü".encode(),
            UnicodeDecodeError,
            "'ascii' codec can't decode byte 0xc3 in position 2: ordinal not in range(128)",
            id="form-raw-non-ascii",
        ),
        pytest.param(
            FORM,
            b"k=%FF",
            UnicodeDecodeError,
            "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
            id="form-bad-percent-utf8",
        ),
    ],
)
def test_a_malformed_body_is_a_400_with_the_cause_chained(
    content_type: str, body: bytes, cause: type[Exception], problem: str
) -> None:
    resource = Echo()
    result = post(resource, body, content_type)
    assert result.status == 400
    assert result.json() == {
        "title": "Malformed request body",
        "description": f"Could not parse the {content_type} body: {problem}",
    }
    (error,) = resource.errors
    assert type(error) is MediaMalformedError
    assert type(error.__cause__) is cause


def test_an_unsupported_content_type_is_a_415_and_the_body_is_not_read() -> None:
    resource = Echo()
    result = post(resource, b"a,b\n1,2\n", "text/csv; header=present")
    assert result.status == 415
    assert result.json() == {
        "title": "Unsupported Media Type",
        "description": f"'text/csv' is not a supported media type; supported: {JSON}, {FORM}",
    }
    assert type(resource.errors[0]) is HTTPUnsupportedMediaType
    assert result.received() == []


def test_a_body_over_the_limit_is_a_413() -> None:
    result = post(Echo(), [b"[1,", b"2,3]"], app=App(max_body_size=5))
    assert result.status == 413
    assert result.json() == {
        "title": "Content Too Large",
        "description": "The request body is larger than the limit of 5 bytes.",
    }


# -- caching ------------------------------------------------------------------------------------


def test_the_result_is_cached_and_the_body_read_once() -> None:
    seen: list[object] = []

    class Twice:
        async def on_post(self, req: Request, resp: Response) -> None:
            seen.append(await req.get_media())
            seen.append(await req.get_media())
            seen.append(await req.media)
            seen.append(await req.get_media(default_when_empty="unused"))
            resp.status = 204

    result = post(Twice(), b'{"k": [1]}')
    assert result.status == 204
    assert seen == [{"k": [1]}] * 4
    assert all(item is seen[0] for item in seen)
    assert body_messages(result) == 1


def test_the_error_is_cached_and_raised_again() -> None:
    errors: list[BaseException] = []

    class Twice:
        async def on_post(self, req: Request, resp: Response) -> None:
            for _ in range(2):
                try:
                    await req.get_media()
                except MediaMalformedError as error:
                    errors.append(error)
            resp.status = 204

    result = post(Twice(), b"{nope")
    assert result.status == 204
    first, second = errors
    assert second is first
    assert type(second.__cause__) is json.JSONDecodeError
    assert body_messages(result) == 1


def test_a_cached_empty_body_error_still_honours_a_later_default() -> None:
    seen: list[object] = []

    class Twice:
        async def on_post(self, req: Request, resp: Response) -> None:
            with pytest.raises(MediaNotFoundError) as first:
                await req.get_media()
            seen.append(await req.get_media(default_when_empty=[]))
            with pytest.raises(MediaNotFoundError) as again:
                await req.media
            assert again.value is first.value
            resp.status = 204

    result = post(Twice(), b"")
    assert result.status == 204
    assert seen == [[]]


# -- custom handlers ----------------------------------------------------------------------------


class CSVHandler(BaseHandler):
    """Only the async methods: the framework must call those, never the sync ones."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def deserialize_async(self, data: bytes, content_type: str) -> object:
        self.calls.append(f"deserialize {content_type}")
        await asyncio.sleep(0)
        text = data.decode()
        if "\x00" in text:
            raise ValueError("NUL in CSV")
        return [line.split(",") for line in text.splitlines()]

    async def serialize_async(self, media: object, content_type: str) -> bytes:
        self.calls.append(f"serialize {content_type}")
        assert isinstance(media, list)
        return "".join(",".join(row) + "\r\n" for row in media).encode()


class CSVEcho:
    async def on_post(self, req: Request, resp: Response) -> None:
        rows = await req.get_media()
        resp.content_type = "text/csv"
        resp.media = [*rows, ["total", str(len(rows))]]


def test_a_custom_handler_overriding_the_async_methods() -> None:
    csv = CSVHandler()
    app = App()
    app.media_handlers["Text/CSV"] = csv
    result = post(CSVEcho(), b"a,1\nb,2", "text/csv; charset=utf-8", app=app)
    assert result.status == 200
    assert result.body == b"a,1\r\nb,2\r\ntotal,2\r\n"
    assert result.header("content-type") == "text/csv"
    assert result.header("content-length") == str(len(result.body))
    assert csv.calls == ["deserialize text/csv", "serialize text/csv"]


def test_a_value_error_from_a_custom_handler_is_a_400() -> None:
    app = App(media_handlers={"text/csv": CSVHandler()})
    result = post(CSVEcho(), b"a\x00", "text/csv", app=app)
    assert result.status == 400
    assert result.json() == {
        "title": "Malformed request body",
        "description": "Could not parse the text/csv body: NUL in CSV",
    }


def test_media_handlers_given_to_the_app_replace_the_defaults() -> None:
    app = App(media_handlers={"text/csv": CSVHandler()})
    result = post(Echo(), b"{}", JSON, app=app)
    assert result.status == 415
    assert result.json()["description"] == (
        "'application/json' is not a supported media type; supported: text/csv"
    )


def test_the_sync_methods_are_enough_for_a_simple_handler() -> None:
    class Upper(BaseHandler):
        def deserialize(self, data: bytes, content_type: str) -> object:
            return data.decode().upper()

        def serialize(self, media: object, content_type: str) -> bytes:
            return str(media).lower().encode()

    class Resource:
        async def on_post(self, req: Request, resp: Response) -> None:
            resp.content_type = "text/x-shout"
            resp.media = await req.get_media()

    result = post(
        Resource(), b"quiet", "text/x-shout", app=App(media_handlers={"text/x-shout": Upper()})
    )
    assert result.body == b"quiet"  # upper on the way in, lower on the way out


def test_base_handler_methods_are_abstract() -> None:
    handler = BaseHandler()
    with pytest.raises(NotImplementedError, match="BaseHandler cannot serialize"):
        handler.serialize({}, JSON)
    with pytest.raises(NotImplementedError, match="BaseHandler cannot deserialize"):
        asyncio.run(handler.deserialize_async(b"{}", JSON))


# -- resp.media ---------------------------------------------------------------------------------


def test_resp_media_is_compact_utf8_json_by_default() -> None:
    class Resource:
        async def on_get(self, req: Request, resp: Response) -> None:
            resp.media = {"name": "Zoë", "tags": [1, 2]}

    app = App()
    app.add_route("/", Resource())
    result = asyncio.run(ASGIDriver(app).get("/"))
    assert result.body == '{"name":"Zoë","tags":[1,2]}'.encode()
    assert result.header("content-type") == JSON
    assert result.header("content-length") == str(len(result.body))


def test_resp_media_as_a_form() -> None:
    class Resource:
        async def on_get(self, req: Request, resp: Response) -> None:
            resp.content_type = FORM
            resp.media = {"a": ["1", "2"], "b": "x y"}

    app = App()
    app.add_route("/", Resource())
    result = asyncio.run(ASGIDriver(app).get("/"))
    assert result.body == b"a=1&a=2&b=x+y"
    assert result.header("content-type") == FORM


def test_a_custom_json_dumps_is_used_for_resp_media() -> None:
    class Resource:
        async def on_get(self, req: Request, resp: Response) -> None:
            resp.media = {"b": 1, "a": 2}

    handler = JSONHandler(dumps=lambda obj: json.dumps(obj, sort_keys=True).encode())
    app = App(media_handlers={JSON: handler})
    app.add_route("/", Resource())
    result = asyncio.run(ASGIDriver(app).get("/"))
    assert result.body == b'{"a": 2, "b": 1}'


# -- the handlers themselves --------------------------------------------------------------------


def test_handlers_are_keyed_by_media_type_essence() -> None:
    handlers = Handlers()
    assert sorted(handlers) == [JSON, FORM]
    assert len(handlers) == 2
    assert isinstance(handlers["Application/JSON; charset=utf-8"], JSONHandler)
    assert f"{FORM}; charset=utf-8" in handlers
    csv = CSVHandler()
    handlers[" Text/CSV ; q=1"] = csv
    assert handlers["text/csv"] is csv
    del handlers["TEXT/csv"]
    assert "text/csv" not in handlers
    with pytest.raises(KeyError):
        _ = handlers["text/csv"]


def test_handlers_refuse_what_is_not_a_base_handler() -> None:
    handlers = Handlers()
    with pytest.raises(TypeError, match="must subclass BaseHandler"):
        handlers["text/plain"] = object()  # type: ignore[assignment]
    assert "text/plain" not in handlers


@pytest.mark.parametrize(
    ("content_type", "media_type"),
    [
        pytest.param(None, JSON, id="missing"),
        pytest.param("", JSON, id="empty"),
        pytest.param("*/*", JSON, id="any"),
        pytest.param(" APPLICATION/X-WWW-FORM-URLENCODED ;charset=x", FORM, id="form"),
    ],
)
def test_resolve(content_type: str | None, media_type: str) -> None:
    handlers = Handlers()
    resolved, handler = handlers.resolve(content_type)
    assert resolved == media_type
    assert handler is handlers[media_type]


def test_resolve_an_unknown_type_is_a_415() -> None:
    with pytest.raises(HTTPUnsupportedMediaType) as raised:
        Handlers().resolve("image/png")
    assert raised.value.status == 415
    assert raised.value.description == (
        f"'image/png' is not a supported media type; supported: {JSON}, {FORM}"
    )


def test_a_custom_default_media_type() -> None:
    handlers = Handlers({FORM: URLEncodedFormHandler()}, default_media_type=FORM)
    assert handlers.resolve(None)[0] == FORM
    assert DEFAULT_MEDIA_TYPE == JSON


def test_json_dumps_for_sse_follows_the_json_handler() -> None:
    custom = JSONHandler(dumps=lambda obj: b"<" + json.dumps(obj).encode() + b">")
    assert Handlers({JSON: custom}).json_dumps()([1]) == "<[1]>"
    assert Handlers().json_dumps()({"k": "ü"}) == '{"k":"ü"}'
    # no JSONHandler registered: compact stdlib JSON
    assert Handlers({JSON: CSVHandler()}).json_dumps()({"a": 1}) == '{"a":1}'
    assert Handlers({}).json_dumps()([1, 2]) == "[1,2]"


def test_json_handler_with_custom_loads_and_str_dumps() -> None:
    handler = JSONHandler(dumps=lambda obj: json.dumps(obj, indent=1), loads=lambda b: ("L", b))
    assert handler.serialize([1], JSON) == b"[\n 1\n]"
    assert handler.dumps_text([1]) == "[\n 1\n]"
    assert handler.deserialize(b"x", JSON) == ("L", b"x")


def test_json_handler_defaults() -> None:
    handler = JSONHandler()
    assert handler.serialize({"k": "ü", "n": [1]}, JSON) == '{"k":"ü","n":[1]}'.encode()
    assert handler.deserialize(b'{"k": 1}', JSON) == {"k": 1}
    with pytest.raises(ValueError, match="Expecting value"):
        handler.deserialize(b"", JSON)


def test_form_handler_serialize() -> None:
    handler = URLEncodedFormHandler()
    form: Mapping[str, object] = {"a": ["1", "2"], "b": "x y&z", "c": "ü"}
    assert handler.serialize(form, FORM) == b"a=1&a=2&b=x+y%26z&c=%C3%BC"
    with pytest.raises(TypeError, match="form media must be a mapping"):
        handler.serialize([("a", "1")], FORM)


def test_form_handler_keep_blank() -> None:
    assert URLEncodedFormHandler().deserialize(b"a=&b=1", FORM) == {"a": "", "b": "1"}
    assert URLEncodedFormHandler(keep_blank=False).deserialize(b"a=&b=1", FORM) == {"b": "1"}


# -- hostile JSON: nothing a client sends reaches a 500 -----------------------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param(b"[" * 973 + b"]" * 973, "nested deeper than 128 levels", id="deep-array"),
        pytest.param(b'{"a":' * 50000, "nested deeper than 128 levels", id="deep-object"),
        pytest.param(b"[" * 129 + b"]" * 129, "nested deeper than 128 levels", id="129-levels"),
        pytest.param(b"[" * 100_000, "nested deeper than 128 levels", id="unclosed"),
        pytest.param(b'"\\ud800"', "lone surrogate", id="lone-high-surrogate"),
        pytest.param(b'{"\\udc00": 1}', "lone surrogate", id="lone-low-surrogate-key"),
        pytest.param(b'["\\ude00\\ud83d"]', "lone surrogate", id="pair-reversed"),
        pytest.param(b'"\xed\xa0\x80"', "can't decode byte 0xed", id="utf8-encoded-surrogate"),
        pytest.param(b"NaN", "NaN is not a JSON number", id="nan"),
        pytest.param(b"[Infinity]", "Infinity is not a JSON number", id="infinity"),
        pytest.param(b'{"x": -Infinity}', "-Infinity is not a JSON number", id="minus-infinity"),
        pytest.param(b"1e99999", "1e99999 is too large for a number", id="overflow"),
        pytest.param(b"[-1" + b"0" * 400 + b".5]", "is too large for a number", id="long-float"),
        pytest.param(b"1" * 5000, "integer string conversion", id="huge-int"),
        pytest.param('"x"'.encode("utf-16"), "can't decode byte", id="utf-16"),
    ],
)
def test_hostile_json_is_a_400_with_a_readable_description(body: bytes, problem: str) -> None:
    result = post(Echo(), body)
    assert result.status == 400
    assert result.json()["title"] == "Malformed request body"
    assert problem in result.json()["description"]


def _nested(levels: int) -> list[object]:
    value: list[object] = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("body", "media"),
    [
        pytest.param(
            b"[" * 128 + b"]" * 128,
            _nested(128),
            id="128-levels",
        ),
        pytest.param(b'["' + b"[" * 500 + b'"]', ["[" * 500], id="brackets-in-a-string"),
        pytest.param(b'["\\"' + b"{" * 500 + b'"]', ['"' + "{" * 500], id="escaped-quote"),
        pytest.param(b'["\\ud83d\\ude00", "\\\\ud800"]', ["\U0001f600", "\\ud800"], id="pairs"),
        pytest.param(b"[1e308, -0.0, 1E-400]", [1e308, -0.0, 0.0], id="finite-floats"),
        pytest.param(b'\xef\xbb\xbf{"bom": 1}', {"bom": 1}, id="utf-8-bom"),
        pytest.param(
            json.dumps([{"i": i} for i in range(300)]).encode(),
            [{"i": i} for i in range(300)],
            id="many-shallow-objects",
        ),
    ],
)
def test_deep_enough_and_odd_but_valid_json_is_parsed(body: bytes, media: object) -> None:
    result = post(Echo(), body)
    assert result.status == 200, result.body[:200]
    assert result.json() == {"media": media}


def test_the_depth_limit_is_a_handler_option() -> None:
    app = App(media_handlers={JSON: JSONHandler(max_depth=2)})
    assert post(Echo(), b"[[1]]", app=app).status == 200
    app = App(media_handlers={JSON: JSONHandler(max_depth=2)})
    result = post(Echo(), b"[[[1]]]", app=app)
    assert result.status == 400
    assert "nested deeper than 2 levels" in result.json()["description"]
    with pytest.raises(ValueError, match="max_depth must be at least 1"):
        JSONHandler(max_depth=0)


def test_the_depth_limit_applies_to_a_custom_loads_too() -> None:
    calls: list[bytes] = []

    def loads(data: bytes) -> object:
        calls.append(data)
        return json.loads(data)

    handler = JSONHandler(loads=loads, max_depth=3)
    with pytest.raises(ValueError, match="nested deeper than 3 levels"):
        handler.deserialize(b"[[[[1]]]]", JSON)
    assert calls == []


def test_a_recursion_error_from_the_parser_is_a_value_error() -> None:
    def loads(data: bytes) -> object:
        raise RecursionError("maximum recursion depth exceeded")

    with pytest.raises(ValueError, match="nested too deeply"):
        JSONHandler(loads=loads).deserialize(b"[]", JSON)


def test_allow_nan_accepts_and_emits_what_python_json_does() -> None:
    handler = JSONHandler(allow_nan=True)
    parsed = handler.deserialize(b'[NaN, Infinity, 1e99999, "\\ud800"]', JSON)
    assert isinstance(parsed, list)
    assert math.isnan(parsed[0])
    assert parsed[1:] == [math.inf, math.inf, "\ud800"]
    assert handler.serialize([math.inf, -math.inf], JSON) == b"[Infinity,-Infinity]"


@pytest.mark.parametrize("value", [math.nan, math.inf, {"k": [-math.inf]}])
def test_nan_and_infinities_are_never_emitted_by_default(
    value: object, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        JSONHandler().serialize(value, JSON)

    class Media:
        async def on_get(self, req: Request, resp: Response) -> None:
            resp.media = value

    app = App()
    app.add_route("/", Media())
    result = asyncio.run(ASGIDriver(app).get("/"))
    assert result.status == 500  # the app's own data: not JSON, so never sent
    assert b"NaN" not in result.body
    assert b"Infinity" not in result.body


def test_a_lone_surrogate_in_resp_media_goes_out_escaped() -> None:
    class Media:
        async def on_get(self, req: Request, resp: Response) -> None:
            resp.media = {"k": "a\ud800b", "\udfff": "é"}

    app = App()
    app.add_route("/", Media())
    result = asyncio.run(ASGIDriver(app).get("/"))
    assert result.status == 200
    assert result.body == '{"k":"a\\ud800b","\\udfff":"é"}'.encode()
    assert result.header("content-length") == str(len(result.body))
    assert json.loads(result.body) == {"k": "a\ud800b", "\udfff": "é"}


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet='[]{}"\\ab\u00e9', max_size=6),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=3), children, max_size=3)
    ),
    max_leaves=25,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@given(value=JSON_VALUES, limit=st.integers(min_value=1, max_value=6), ascii=st.booleans())
def test_check_depth_agrees_with_the_parsed_depth(value: object, limit: int, ascii: bool) -> None:
    data = json.dumps(value, ensure_ascii=ascii).encode()
    if _depth(value) > limit:
        with pytest.raises(ValueError, match=f"nested deeper than {limit} levels"):
            check_depth(data, limit)
    else:
        check_depth(data, limit)
