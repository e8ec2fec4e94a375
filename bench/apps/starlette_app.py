"""The workloads written with Starlette, as its documentation shows."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

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


async def plaintext(request: Request) -> Response:
    return PlainTextResponse(_TEXT)


async def echo(request: Request) -> Response:
    return JSONResponse(await request.json())


async def typed(request: Request) -> Response:
    params = request.path_params
    number = params.get("user_id", params.get("thing_id"))
    name = params.get("slug", params.get("part"))
    return PlainTextResponse(f"{number}|{name}|{params['rev']}")


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(STREAM_CHUNKS):
            yield STREAM_CHUNK

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def sse(request: Request) -> Response:
    async def events() -> AsyncIterator[bytes]:
        yield b"data: " + SSE_DATA + b"\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )


async def bacon(request: Request) -> Response:
    variant = request.query_params.get("as")
    text = bacon_text(request.path_params["bacon_id"], variant)
    return PlainTextResponse(text, headers=dict([POWERED_BY]))


async def session(request: Request) -> Response:
    return PlainTextResponse(f"session {request.cookies.get(SESSION_COOKIE)}")


async def search(request: Request) -> Response:
    query = request.query_params
    return PlainTextResponse("|".join(str(query.get(name)) for name in SEARCH_PARAMS))


def build_app() -> Starlette:
    """Build the Starlette app."""
    routes = [Route("/plaintext", plaintext), Route("/echo", echo, methods=["POST"])]
    for index in range(ROUTE_COUNT - 1):
        if index == DECOY_ROUTES:
            routes.append(Route(TYPED_TEMPLATE, typed))
        routes.append(Route(decoy_template(index), typed))
    routes += [Route("/stream", stream), Route("/sse", sse)]
    routes += [Route(BACON_TEMPLATE, bacon), Route("/session", session), Route("/search", search)]
    return Starlette(routes=routes)


app = build_app()
