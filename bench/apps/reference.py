"""The workloads written with reference_app, as its documentation shows (function routes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from reference_app import App, Request, Response, SSEvent

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
from .hub import END, Hub
from .raw import DOWNLOAD_BLOCK

__all__ = ["app", "build_app"]

_TEXT = PLAINTEXT.decode()
_BLOCK = b"\0" * DOWNLOAD_BLOCK


def build_app() -> App:
    """Build the reference app (a fresh hub each call)."""
    app = App()
    _workloads(app)
    _wire(app, Hub())
    return app


def _workloads(app: App) -> None:
    @app.route("/plaintext")
    async def plaintext(req: Request, resp: Response) -> None:
        resp.text = _TEXT

    @app.route("/echo", methods=["POST"])
    async def echo(req: Request, resp: Response) -> None:
        resp.media = await req.get_media()

    async def typed(req: Request, resp: Response, **params: Any) -> None:
        number = params.get("user_id", params.get("thing_id"))
        name = params.get("slug", params.get("part"))
        resp.text = f"{number}|{name}|{params['rev']}"

    for index in range(ROUTE_COUNT - 1):
        if index == DECOY_ROUTES:
            app.route(TYPED_TEMPLATE)(typed)
        app.route(decoy_template(index))(typed)

    @app.route("/stream")
    async def stream(req: Request, resp: Response) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(STREAM_CHUNKS):
                yield STREAM_CHUNK

        resp.stream = chunks()

    @app.route("/sse")
    async def sse(req: Request, resp: Response) -> None:
        async def events() -> AsyncIterator[SSEvent]:
            yield SSEvent(data=SSE_DATA)

        resp.sse = events()

    class ChunkyBacon:
        """The seed's resource, as its GET is written there (minus the executor call)."""

        async def on_get(self, req: Request, resp: Response, bacon_id: str) -> None:
            variant = req.get_param("as")
            resp.set_header(*POWERED_BY)
            resp.text = bacon_text(bacon_id, variant)

    app.add_route(BACON_TEMPLATE, ChunkyBacon())

    @app.route("/session")
    async def session(req: Request, resp: Response) -> None:
        resp.text = f"session {req.cookies.get(SESSION_COOKIE)}"

    @app.route("/search")
    async def search(req: Request, resp: Response) -> None:
        resp.text = "|".join(str(req.get_param(name)) for name in SEARCH_PARAMS)


def _wire(app: App, hub: Hub[SSEvent]) -> None:
    @app.route("/download")
    async def download(req: Request, resp: Response) -> None:
        size = int(req.get_param("size") or 0)

        async def blocks() -> AsyncIterator[bytes]:
            left = size
            while left > 0:
                block = _BLOCK if left >= DOWNLOAD_BLOCK else _BLOCK[:left]
                left -= len(block)
                yield block

        resp.set_stream(blocks(), size)

    @app.route("/upload", methods=["POST"], max_body_size=None)
    async def upload(req: Request, resp: Response) -> None:
        total = 0
        async for chunk in req.stream:
            total += len(chunk)
        resp.text = str(total)

    @app.route("/fanout/subscribe")
    async def subscribe(req: Request, resp: Response) -> None:
        queue = hub.subscribe()

        async def events() -> AsyncIterator[SSEvent]:
            try:
                yield SSEvent(comment="ready")
                while (event := await queue.get()) is not END:
                    yield event
            finally:
                hub.unsubscribe(queue)

        resp.sse = events()

    @app.route("/fanout/publish", methods=["POST"])
    async def publish(req: Request, resp: Response) -> None:
        count = int(req.get_param("n") or 1)
        events = [SSEvent(data=b"tick %d" % i) for i in range(count)]
        resp.text = str(await hub.publish(events))


app = build_app()
