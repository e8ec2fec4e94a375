"""The workloads written with Falcon 4 (``falcon.asgi``), as its documentation shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import falcon
import falcon.asgi

from . import (
    BACON_TEMPLATE,
    DECOY_ROUTES,
    PLAINTEXT,
    POWERED_BY,
    ROUTE_COUNT,
    SEARCH_PARAMS,
    SESSION_COOKIE,
    SSE_DATA,
    STREAM_CHUNK,
    STREAM_CHUNKS,
    TYPED_TEMPLATE,
    bacon_text,
    decoy_template,
)

__all__ = ["app", "build_app"]

_TEXT = PLAINTEXT.decode()


class PlainText:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = _TEXT


class Echo:
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = await req.get_media()


class Typed:
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, **params: Any
    ) -> None:
        number = params.get("user_id", params.get("thing_id"))
        name = params.get("slug", params.get("part"))
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"{number}|{name}|{params['rev']}"


class Stream:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(STREAM_CHUNKS):
                yield STREAM_CHUNK

        resp.content_type = "application/octet-stream"
        resp.stream = chunks()


class ServerSentEvents:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        async def events() -> AsyncIterator[falcon.asgi.SSEvent]:
            yield falcon.asgi.SSEvent(data=SSE_DATA)

        resp.sse = events()


class ChunkyBacon:
    """The seed's resource, as its GET is written there (minus the executor call)."""

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, bacon_id: str
    ) -> None:
        variant = req.get_param("as")
        resp.set_header(*POWERED_BY)
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = bacon_text(bacon_id, variant)


class Session:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"session {req.cookies.get(SESSION_COOKIE)}"


class Search:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "|".join(str(req.get_param(name)) for name in SEARCH_PARAMS)


def build_app() -> falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response]:
    """Build the Falcon app."""
    app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response] = falcon.asgi.App()
    app.add_route("/plaintext", PlainText())
    app.add_route("/echo", Echo())
    typed = Typed()
    for index in range(ROUTE_COUNT - 1):
        if index == DECOY_ROUTES:
            app.add_route(TYPED_TEMPLATE, typed)
        app.add_route(decoy_template(index), typed)
    app.add_route("/stream", Stream())
    app.add_route("/sse", ServerSentEvents())
    app.add_route(BACON_TEMPLATE, ChunkyBacon())
    app.add_route("/session", Session())
    app.add_route("/search", Search())
    return app


app = build_app()
