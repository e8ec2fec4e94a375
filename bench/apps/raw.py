"""The floor: a hand-written ASGI app, no framework.

It does what each workload needs and nothing more, the way one writes an ASGI app by hand: a
dict of static routes, ``str.split`` for the parameterized ones, ``json`` for the echo. It also
serves the over-the-wire endpoints and answers lifespan.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import parse_qsl, unquote_plus

from . import (
    PLAINTEXT,
    POWERED_BY,
    ROUTE_COUNT,
    SEARCH_PARAMS,
    SESSION_COOKIE,
    SSE_DATA,
    STREAM_CHUNK,
    STREAM_CHUNKS,
    bacon_text,
)
from .hub import END, Hub

__all__ = ["DOWNLOAD_BLOCK", "RawApp", "app", "build_app"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The block size of ``/download`` (and of the reference app's): 64 KiB.
DOWNLOAD_BLOCK: Final = 64 * 1024
_BLOCK: Final = b"\0" * DOWNLOAD_BLOCK

_TEXT: Final = (b"content-type", b"text/plain; charset=utf-8")
_JSON: Final = (b"content-type", b"application/json")
_SSE_HEADERS: Final = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
_EVENT: Final = b"data: " + SSE_DATA + b"\n\n"


_POWERED_BY: Final = (POWERED_BY[0].lower().encode(), POWERED_BY[1].encode())
_BACON_PREFIX: Final = "/bacon/"  # (7 characters)
_SESSION: Final = SESSION_COOKIE.encode()
_SEARCH: Final = tuple(name.encode() for name in SEARCH_PARAMS)


async def _text(
    send: Send, body: bytes, status: int = 200, extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    headers = [*extra, _TEXT, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _params(query: bytes) -> dict[bytes, bytes]:
    """The query parameters, raw (the last value of each): the least a hand-written app does."""
    params = {}
    for pair in query.split(b"&"):
        key, _, value = pair.partition(b"=")
        params[key] = value
    return params


def _decode(value: bytes | None) -> str | None:
    if value is None:
        return None
    text = value.decode("latin-1")
    return unquote_plus(text) if b"%" in value or b"+" in value else text


def _cookie(scope: Scope, name: bytes) -> str | None:
    """The value of cookie ``name`` from the Cookie header."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == b"cookie":
            for pair in value.split(b";"):
                cookie, _, content = pair.strip().partition(b"=")
                if cookie == name:
                    return content.decode("latin-1")
    return None


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ConnectionError("client disconnected")
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


def _query(scope: Scope, name: str, default: str) -> str:
    query: bytes = scope["query_string"]
    return dict(parse_qsl(query.decode())).get(name, default)


async def plaintext(scope: Scope, receive: Receive, send: Send) -> None:
    """(a) ``GET /plaintext``."""
    await _text(send, PLAINTEXT)


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """(b) ``POST /echo``: the JSON body, parsed and serialized back."""
    media = json.loads(await _read_body(receive))
    body = json.dumps(media, ensure_ascii=False, separators=(",", ":")).encode()
    headers = [_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def stream(scope: Scope, receive: Receive, send: Send) -> None:
    """(d) 64 KiB in 4 KiB chunks."""
    headers = [(b"content-type", b"application/octet-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for _ in range(STREAM_CHUNKS):
        await send({"type": "http.response.body", "body": STREAM_CHUNK, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def sse(scope: Scope, receive: Receive, send: Send) -> None:
    """(e) one SSE event."""
    await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
    await send({"type": "http.response.body", "body": _EVENT, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def bacon(scope: Scope, send: Send, bacon_id: str) -> None:
    """(f) the seed's ``ChunkyBacon.on_get``: a query parameter, a header, text."""
    variant = _decode(_params(scope["query_string"]).get(b"as"))
    await _text(send, bacon_text(bacon_id, variant).encode(), extra=(_POWERED_BY,))


async def session(scope: Scope, receive: Receive, send: Send) -> None:
    """(g) one cookie among several."""
    await _text(send, f"session {_cookie(scope, _SESSION)}".encode())


async def search(scope: Scope, receive: Receive, send: Send) -> None:
    """(h) three query parameters."""
    params = _params(scope["query_string"])
    await _text(send, "|".join(str(_decode(params.get(name))) for name in _SEARCH).encode())


async def download(scope: Scope, receive: Receive, send: Send) -> None:
    """``GET /download?size=N``: N bytes in 64 KiB blocks, with a Content-Length."""
    size = int(_query(scope, "size", "0"))
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"content-length", str(size).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    left = size
    while left > 0:
        block = _BLOCK if left >= DOWNLOAD_BLOCK else _BLOCK[:left]
        left -= len(block)
        await send({"type": "http.response.body", "body": block, "more_body": left > 0})
    if size == 0:
        await send({"type": "http.response.body", "body": b""})


async def upload(scope: Scope, receive: Receive, send: Send) -> None:
    """``POST /upload``: reads the body message by message; answers how many bytes came."""
    total = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        total += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    await _text(send, str(total).encode())


class RawApp:
    """The raw ASGI app (a fresh fan-out hub per instance)."""

    def __init__(self) -> None:
        self.hub: Hub[bytes] = Hub()
        self.static: dict[tuple[str, str], Handler] = {
            ("GET", "/plaintext"): plaintext,
            ("POST", "/echo"): echo,
            ("GET", "/stream"): stream,
            ("GET", "/sse"): sse,
            ("GET", "/session"): session,
            ("GET", "/search"): search,
            ("GET", "/download"): download,
            ("POST", "/upload"): upload,
            ("GET", "/fanout/subscribe"): self.subscribe,
            ("POST", "/fanout/publish"): self.publish,
        }
        # Workload (c): /api/users/{user_id:int}/posts/{slug}/rev/{rev:float} and the decoys
        # /api/v{i}/{thing_id:int}/parts/{part}/rev/{rev:float}, found by one dict lookup on
        # the prefix (so the typed route's position among them does not matter here).
        self.second = {"users": "posts"} | {f"v{i}": "parts" for i in range(ROUTE_COUNT - 1)}

    async def subscribe(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``GET /fanout/subscribe``: a ready comment, then the hub's events until the end."""
        queue = self.hub.subscribe()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
            await send({"type": "http.response.body", "body": b": ready\n\n", "more_body": True})
            while (event := await queue.get()) is not END:
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            self.hub.unsubscribe(queue)

    async def publish(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /fanout/publish?n=K``: K events to every subscriber; answers their number."""
        count = int(_query(scope, "n", "1"))
        events = [b"data: tick %d\n\n" % i for i in range(count)]
        await _text(send, str(await self.hub.publish(events)).encode())

    async def typed(self, send: Send, parts: list[str]) -> bool:
        """(c) ``['', 'api', 'users', '42', 'posts', 'slug', 'rev', '1.5']``; False: no match."""
        if len(parts) != 8 or parts[1] != "api" or parts[6] != "rev" or not parts[5]:
            return False
        if self.second.get(parts[2]) != parts[4]:
            return False
        try:
            number, rev = int(parts[3]), float(parts[7])
        except ValueError:
            return False
        await _text(send, f"{number}|{parts[5]}|{rev}".encode())
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            handler = self.static.get((scope["method"], path))
            if handler is not None:
                await handler(scope, receive, send)
            elif path.startswith(_BACON_PREFIX) and (bacon_id := path[7:]) and "/" not in bacon_id:
                await bacon(scope, send, bacon_id)
            elif not await self.typed(send, path.split("/")):
                await _text(send, b"Not Found", 404)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return


def build_app() -> RawApp:
    """Build the raw app."""
    return RawApp()


app = build_app()
