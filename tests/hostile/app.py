"""The app the hostile requests are sent to: routes written the way people write them.

Every route validates what it takes from the request the way a careful app does (a query
parameter that is not a number is the client's 400, raised as :class:`HTTPBadRequest`), so a
5xx from this app is the framework's fault, never the route's. Servers import it as
``tests.hostile.app:app`` from the repository root.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from reference_app import App, HTTPBadRequest, Request, Response, SSEvent

__all__ = ["HEALTH", "ROUTES", "app", "build_app"]

#: The path the suite asks after every hostile request, to see that the server still answers.
HEALTH = "/health"

#: The route templates, for the request generator.
ROUTES = (
    "/bacon/{bacon_id}",
    "/echo",
    "/form",
    "/upload",
    "/typed/{n:int}/{f:float}/{u:uuid}/{day:datetime:%Y-%m-%d}/{at:datetime}",
    "/files/{rest:path:safe}",
    "/cookies",
    "/search",
    "/stream",
    "/sse",
    "/url",
    "/headers",
)


def _int_param(req: Request, name: str, default: int) -> int:
    value = req.get_param(name)
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 6:
        raise HTTPBadRequest(description=f"{name} must be a number of up to 6 digits")
    return int(value)


class ChunkyBacon:
    """The seed's GET, without the executor: a query parameter, a header, a text body."""

    async def on_get(self, req: Request, resp: Response, bacon_id: str) -> None:
        variant = req.get_param("as", "text")
        resp.set_header("X-Powered-By", "Bacon")
        if variant == "media":
            resp.media = {"id": bacon_id, "strips": 3}
        else:
            resp.text = f"bacon {bacon_id}"


class Echo:
    """POST: the parsed body (JSON, or a form) back as JSON."""

    async def on_post(self, req: Request, resp: Response) -> None:
        resp.media = {"media": await req.get_media()}


class Upload:
    """PUT: count the body's bytes as they arrive."""

    async def on_put(self, req: Request, resp: Response) -> None:
        total = 0
        async for chunk in req.stream:
            total += len(chunk)
        resp.text = str(total)


class Typed:
    """Every typed converter in one route."""

    async def on_get(
        self, req: Request, resp: Response, n: int, f: float, u: uuid.UUID, day: datetime, at: Any
    ) -> None:
        resp.media = {"n": n, "f": f, "u": str(u), "day": day.isoformat(), "at": at.isoformat()}


class Files:
    """A safe catch-all: what a static file server would join to its root."""

    async def on_get(self, req: Request, resp: Response, rest: str) -> None:
        resp.media = {"rest": rest}


class Cookies:
    async def on_get(self, req: Request, resp: Response) -> None:
        resp.media = {"session": req.cookies.get("session"), "count": len(req.cookies)}


class Search:
    """Three query parameters, two of them numbers."""

    async def on_get(self, req: Request, resp: Response) -> None:
        query = req.get_param("q", "")
        page = _int_param(req, "page", 1)
        limit = _int_param(req, "limit", 10)
        resp.media = {"q": query, "page": page, "limit": limit, "all": req.params}


class Streamed:
    async def on_get(self, req: Request, resp: Response) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for index in range(4):
                yield b"chunk %d\n" % index

        resp.stream = chunks()


class Events:
    async def on_get(self, req: Request, resp: Response) -> None:
        async def events() -> AsyncIterator[SSEvent]:
            yield SSEvent(data=b"one", id="1")
            yield SSEvent(json={"two": req.get_param("x")}, event="second")

        resp.sse = events()


class URL:
    async def on_get(self, req: Request, resp: Response) -> None:
        resp.text = req.url


class Headers:
    async def on_get(self, req: Request, resp: Response) -> None:
        resp.media = req.headers


class Health:
    async def on_get(self, req: Request, resp: Response) -> None:
        resp.text = "ok"


def build_app() -> App:
    """The hostile-input target app (a 64 KiB body limit, so that 413 is reachable)."""
    app = App(max_body_size=64 * 1024)
    resources: tuple[object, ...] = (
        ChunkyBacon(),
        Echo(),
        Echo(),
        Upload(),
        Typed(),
        Files(),
        Cookies(),
        Search(),
        Streamed(),
        Events(),
        URL(),
        Headers(),
    )
    for template, resource in zip(ROUTES, resources, strict=True):
        app.add_route(template, resource)
    app.add_route(HEALTH, Health())
    return app


app = build_app()
