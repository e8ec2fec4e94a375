"""The exception tree: statuses, titles, JSON bodies, extra headers, and how the app renders it."""

from __future__ import annotations

import asyncio
import json

import pytest

from reference_app import (
    App,
    ClientDisconnected,
    HTTPBadRequest,
    HTTPError,
    HTTPInternalServerError,
    HTTPInvalidHeader,
    HTTPMethodNotAllowed,
    HTTPNotFound,
    HTTPPayloadTooLarge,
    HTTPUnsupportedMediaType,
    IncompleteBodyError,
    MediaMalformedError,
    MediaNotFoundError,
    OperationNotAllowed,
    Request,
    Response,
    ResponseAborted,
)
from reference_app.testing import ASGIDriver, Result


def raise_in_responder(error: Exception, method: str = "GET") -> Result:
    class Resource:
        async def on_get(self, req: Request, resp: Response) -> None:
            resp.set_header("x-before", "kept")
            resp.text = "replaced by the error body"
            raise error

    app = App()
    app.add_route("/", Resource())
    return asyncio.run(ASGIDriver(app).request(method, "/"))


# -- the tree -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "title", "bases"),
    [
        pytest.param(HTTPError(), 500, "Internal Server Error", (), id="HTTPError"),
        pytest.param(HTTPBadRequest(), 400, "Bad Request", (), id="HTTPBadRequest"),
        pytest.param(
            HTTPInvalidHeader("X-A", "bad"),
            400,
            "Invalid header value",
            (HTTPBadRequest,),
            id="HTTPInvalidHeader",
        ),
        pytest.param(
            MediaNotFoundError("application/json"),
            400,
            "Empty request body",
            (HTTPBadRequest,),
            id="MediaNotFoundError",
        ),
        pytest.param(
            MediaMalformedError("application/json", "eh"),
            400,
            "Malformed request body",
            (HTTPBadRequest,),
            id="MediaMalformedError",
        ),
        pytest.param(
            IncompleteBodyError(10, 4),
            400,
            "Incomplete request body",
            (HTTPBadRequest,),
            id="IncompleteBodyError",
        ),
        pytest.param(HTTPNotFound(), 404, "Not Found", (), id="HTTPNotFound"),
        pytest.param(
            HTTPMethodNotAllowed(["GET"]), 405, "Method Not Allowed", (), id="HTTPMethodNotAllowed"
        ),
        # RFC 9110 §15.5.14 names it "Content Too Large", on every Python version
        pytest.param(HTTPPayloadTooLarge(), 413, "Content Too Large", (), id="HTTPPayloadTooLarge"),
        pytest.param(
            HTTPUnsupportedMediaType(),
            415,
            "Unsupported Media Type",
            (),
            id="HTTPUnsupportedMediaType",
        ),
        pytest.param(
            HTTPInternalServerError(),
            500,
            "Internal Server Error",
            (),
            id="HTTPInternalServerError",
        ),
    ],
)
def test_http_errors(
    error: HTTPError, status: int, title: str, bases: tuple[type[Exception], ...]
) -> None:
    assert isinstance(error, HTTPError)
    assert all(isinstance(error, base) for base in bases)
    assert error.status == status
    assert error.title == title
    assert error.to_dict()["title"] == title
    assert repr(error) == f"<{type(error).__name__}: {status} {title}>"


@pytest.mark.parametrize(
    ("error", "description"),
    [
        pytest.param(
            HTTPInvalidHeader("Content-Length", "'x' is not a non-negative integer"),
            "Content-Length: 'x' is not a non-negative integer",
            id="invalid-header",
        ),
        pytest.param(
            MediaNotFoundError("text/csv"),
            "The request body is empty, but text/csv content was expected.",
            id="media-not-found",
        ),
        pytest.param(
            MediaMalformedError("application/json", "Expecting value"),
            "Could not parse the application/json body: Expecting value",
            id="media-malformed",
        ),
        pytest.param(
            IncompleteBodyError(10, 4),
            "Content-Length is 10 but the body ended after 4 bytes.",
            id="incomplete-body",
        ),
    ],
)
def test_framework_error_descriptions(error: HTTPError, description: str) -> None:
    assert error.description == description
    assert str(error) == f"{error.title}: {description}"


@pytest.mark.parametrize(
    ("status", "title"),
    [
        pytest.param(414, "URI Too Long", id="414"),
        pytest.param(416, "Range Not Satisfiable", id="416"),
        pytest.param(422, "Unprocessable Content", id="422"),
        pytest.param(429, "Too Many Requests", id="429"),
        pytest.param(599, "HTTP 599", id="unregistered"),
    ],
)
def test_default_title_is_the_rfc_9110_phrase(status: int, title: str) -> None:
    assert HTTPError(status).title == title


@pytest.mark.parametrize("status", [200, 399, 600, 302])
def test_an_http_error_status_is_4xx_or_5xx(status: int) -> None:
    with pytest.raises(ValueError, match=f"400 to 599, got {status}"):
        HTTPError(status)


def test_to_dict_to_json_and_str() -> None:
    bare = HTTPError(409)
    assert bare.to_dict() == {"title": "Conflict"}
    assert str(bare) == "Conflict"
    assert bare.description is None
    full = HTTPError(409, "Clash", "Version 3 ≠ 4")
    assert full.to_dict() == {"title": "Clash", "description": "Version 3 ≠ 4"}
    assert full.to_json() == '{"title": "Clash", "description": "Version 3 ≠ 4"}'.encode()
    assert json.loads(full.to_json()) == full.to_dict()


def test_headers_from_a_dict_or_pairs() -> None:
    assert HTTPError(429, headers={"Retry-After": "3"}).headers == [("Retry-After", "3")]
    assert HTTPError(429, headers=[("a", "1"), ("a", "2")]).headers == [("a", "1"), ("a", "2")]
    assert HTTPError(429).headers == []


def test_method_not_allowed_carries_a_sorted_allow_header() -> None:
    error = HTTPMethodNotAllowed({"POST", "GET", "OPTIONS"}, description="Read only")
    assert error.allowed == ["GET", "OPTIONS", "POST"]
    assert error.headers == [("allow", "GET, OPTIONS, POST")]
    assert error.description == "Read only"


@pytest.mark.parametrize(
    ("received", "expected", "message"),
    [
        pytest.param(3, 10, "client disconnected after 3 of 10 request body bytes", id="length"),
        pytest.param(3, None, "client disconnected after 3 request body bytes", id="chunked"),
    ],
)
def test_client_disconnected(received: int, expected: int | None, message: str) -> None:
    error = ClientDisconnected(received, expected)
    assert not isinstance(error, HTTPError)  # there is nobody left to answer
    assert (error.received, error.expected) == (received, expected)
    assert str(error) == message


def test_api_misuse_and_abort_types() -> None:
    assert issubclass(OperationNotAllowed, ValueError)
    assert not issubclass(OperationNotAllowed, HTTPError)
    assert not issubclass(ResponseAborted, HTTPError)


# -- rendering through the app ------------------------------------------------------------------


def test_an_http_error_is_rendered_as_json_with_its_headers() -> None:
    result = raise_in_responder(
        HTTPError(429, "Slow down", "Try again in 3 s ⏳", headers={"Retry-After": "3"})
    )
    assert result.status == 429
    assert result.header("content-type") == "application/json"
    assert result.header("retry-after") == "3"
    assert result.header("x-before") == "kept"  # headers set before the raise stay
    assert result.json() == {"title": "Slow down", "description": "Try again in 3 s ⏳"}
    assert result.header("content-length") == str(len(result.body))  # bytes, not characters
    assert len(result.body) > len(result.text)


def test_a_405_from_a_responder_sends_allow() -> None:
    result = raise_in_responder(HTTPMethodNotAllowed(["POST", "GET"]))
    assert result.status == 405
    assert result.header("allow") == "GET, POST"
    assert result.json() == {"title": "Method Not Allowed"}


def test_an_http_error_on_head_sends_no_body_but_its_length() -> None:
    result = raise_in_responder(HTTPNotFound(description="gone"), method="HEAD")
    assert result.status == 404
    assert result.body == b""
    rendered = HTTPNotFound(description="gone").to_json()
    assert result.header("content-length") == str(len(rendered))
