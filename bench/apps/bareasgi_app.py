"""The workloads written with bareASGI 4, as its documentation shows.

``HttpResponse.from_text``/``from_json`` send no ``content-length`` (the server then chunks the
body); the handlers add it, so that every framework answers with the same headers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

from bareasgi import Application, HttpRequest, HttpResponse
from bareutils import header

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

_TEXT_TYPE = b"text/plain; charset=utf-8"


def _length(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-length", str(len(body)).encode())]


async def plaintext(request: HttpRequest) -> HttpResponse:
    return HttpResponse.from_bytes(PLAINTEXT, content_type=_TEXT_TYPE, headers=_length(PLAINTEXT))


async def echo(request: HttpRequest) -> HttpResponse:
    body = json.dumps(await request.json(), ensure_ascii=False, separators=(",", ":")).encode()
    return HttpResponse.from_bytes(body, content_type=b"application/json", headers=_length(body))


async def typed(request: HttpRequest) -> HttpResponse:
    params = request.matches
    number = params.get("user_id", params.get("thing_id"))
    name = params.get("slug", params.get("part"))
    body = f"{number}|{name}|{params['rev']}".encode()
    return HttpResponse.from_bytes(body, content_type=_TEXT_TYPE, headers=_length(body))


async def stream(request: HttpRequest) -> HttpResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(STREAM_CHUNKS):
            yield STREAM_CHUNK

    return HttpResponse(200, [(b"content-type", b"application/octet-stream")], chunks())


async def sse(request: HttpRequest) -> HttpResponse:
    async def events() -> AsyncIterator[bytes]:
        yield b"data: " + SSE_DATA + b"\n\n"

    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    return HttpResponse(200, headers, events())


def _query(request: HttpRequest) -> dict[str, list[str]]:
    # bareASGI parses no query string: its documentation points to urllib.parse.
    query: bytes = request.scope["query_string"]
    return parse_qs(query.decode())


def _text(text: str, extra: list[tuple[bytes, bytes]] | None = None) -> HttpResponse:
    body = text.encode()
    return HttpResponse.from_bytes(
        body, content_type=_TEXT_TYPE, headers=(extra or []) + _length(body)
    )


async def bacon(request: HttpRequest) -> HttpResponse:
    variant = _query(request).get("as", [None])[-1]
    powered = [(POWERED_BY[0].lower().encode(), POWERED_BY[1].encode())]
    return _text(bacon_text(request.matches["bacon_id"], variant), powered)


async def session(request: HttpRequest) -> HttpResponse:
    # bareASGI parses no cookies: bareutils (its companion package) does.
    cookies = header.cookie(request.scope["headers"])
    value = cookies.get(SESSION_COOKIE.encode(), [None])[0]
    return _text(f"session {value.decode() if value is not None else None}")


async def search(request: HttpRequest) -> HttpResponse:
    query = _query(request)
    return _text("|".join(str(query.get(name, [None])[-1]) for name in SEARCH_PARAMS))


def build_app() -> Application:
    """Build the bareASGI app."""
    app = Application()
    router = app.http_router
    router.add({"GET"}, "/plaintext", plaintext)
    router.add({"POST"}, "/echo", echo)
    for index in range(ROUTE_COUNT - 1):
        if index == DECOY_ROUTES:
            router.add({"GET"}, TYPED_TEMPLATE, typed)
        router.add({"GET"}, decoy_template(index), typed)
    router.add({"GET"}, "/stream", stream)
    router.add({"GET"}, "/sse", sse)
    router.add({"GET"}, BACON_TEMPLATE, bacon)
    router.add({"GET"}, "/session", session)
    router.add({"GET"}, "/search", search)
    return app


app = build_app()
