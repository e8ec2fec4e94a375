"""The seed's REST example ("Getting Started with bareASGI", seed 004) on reference_app.

``GET /info`` with ``accept: application/json`` answers ``{"name": "Michael Caine"}``; a
``POST /info`` of ``{"name": "Peter Sellers"}`` answers 204; a later GET returns the new name.
The ``info`` dict is the application's shared data, as in the article. Where the article's
handlers answer 500 to a bad request, these answer what the request got wrong: 406, 415, 400.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reference_app import App, HTTPBadRequest, HTTPError, Request, Response
from reference_app.testing import ASGIDriver, Result

JSON = [("accept", "application/json")]
JSON_BODY = [("content-type", "application/json")]


def accepts_json(accept: str | None) -> bool:
    if accept is None:
        return True
    ranges = {part.partition(";")[0].strip().lower() for part in accept.split(",")}
    return bool(ranges & {"application/json", "application/*", "*/*"})


def make_app(info: dict[str, Any]) -> App:
    app = App()

    @app.route("/info", methods={"GET"})
    async def get_info(req: Request, resp: Response) -> None:
        if not accepts_json(req.get_header("accept")):
            raise HTTPError(406, description="This resource is only available as application/json.")
        resp.media = info

    @app.route("/info", methods={"POST"})
    async def set_info(req: Request, resp: Response) -> None:
        data = await req.get_media()
        if not isinstance(data, dict):
            raise HTTPBadRequest(description="Expected a JSON object.")
        info.update(data)
        resp.status = 204

    return app


def exchange(app: App, *requests: tuple[str, dict[str, Any]]) -> list[Result]:
    async def scenario() -> list[Result]:
        driver = ASGIDriver(app)
        return [await driver.request(method, "/info", **kwargs) for method, kwargs in requests]

    return asyncio.run(scenario())


def test_get_post_get() -> None:
    info = {"name": "Michael Caine"}
    before, posted, after = exchange(
        make_app(info),
        ("GET", {"headers": JSON}),
        ("POST", {"headers": JSON_BODY, "body": b'{"name": "Peter Sellers"}'}),
        ("GET", {"headers": JSON}),
    )
    assert before.status == 200
    assert before.header("content-type") == "application/json"
    assert before.json() == {"name": "Michael Caine"}

    assert posted.status == 204
    assert posted.body == b""
    assert posted.header("content-length") is None

    assert after.status == 200
    assert after.json() == {"name": "Peter Sellers"}
    assert info == {"name": "Peter Sellers"}


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        pytest.param(None, 200, id="no-accept"),
        pytest.param("*/*", 200, id="anything"),
        pytest.param("text/html, application/json;q=0.9", 200, id="in-a-list"),
        pytest.param("application/*", 200, id="subtype-wildcard"),
        pytest.param("text/html", 406, id="html-only"),
    ],
)
def test_get_honours_accept(accept: str | None, status: int) -> None:
    headers = [] if accept is None else [("accept", accept)]
    (result,) = exchange(make_app({"name": "Michael Caine"}), ("GET", {"headers": headers}))
    assert result.status == status
    if status == 406:
        assert result.json() == {
            "title": "Not Acceptable",
            "description": "This resource is only available as application/json.",
        }
    else:
        assert result.json() == {"name": "Michael Caine"}


@pytest.mark.parametrize(
    ("headers", "body", "status", "title"),
    [
        pytest.param(
            [("content-type", "text/plain")],
            b"Peter Sellers",
            415,
            "Unsupported Media Type",
            id="not-json",
        ),
        pytest.param(JSON_BODY, b'{"name": ', 400, "Malformed request body", id="malformed"),
        pytest.param(JSON_BODY, b"", 400, "Empty request body", id="empty"),
        pytest.param(JSON_BODY, b'["Peter Sellers"]', 400, "Bad Request", id="not-an-object"),
    ],
)
def test_a_bad_post_changes_nothing(
    headers: list[tuple[str, str]], body: bytes, status: int, title: str
) -> None:
    info = {"name": "Michael Caine"}
    posted, after = exchange(
        make_app(info),
        ("POST", {"headers": headers, "body": body}),
        ("GET", {"headers": JSON}),
    )
    assert posted.status == status
    assert posted.json()["title"] == title
    assert after.json() == {"name": "Michael Caine"}


def test_only_get_and_post_are_routed() -> None:
    (result,) = exchange(make_app({}), ("PUT", {"body": b"{}"}))
    assert result.status == 405
    assert result.header("allow") == "GET, HEAD, OPTIONS, POST"


def test_each_app_has_its_own_info() -> None:
    first, second = make_app({"name": "Michael Caine"}), make_app({"name": "Peter Sellers"})
    exchange(first, ("POST", {"headers": JSON_BODY, "body": b'{"name": "Herbert Lom"}'}))
    assert exchange(first, ("GET", {}))[0].json() == {"name": "Herbert Lom"}
    assert exchange(second, ("GET", {}))[0].json() == {"name": "Peter Sellers"}
