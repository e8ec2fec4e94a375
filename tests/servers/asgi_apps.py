"""Tiny raw ASGI apps that the server tests launch; servers import them as ``asgi_apps:app``.

``app`` answers every HTTP request with 200 and a JSON description of what the server gave it:
the scope's ``http_version``, ``scheme`` and ``path``, the names in ``scope["extensions"]``,
whether lifespan startup ran in this process, whether the scope has ``state``, and the
``SERVERS_TEST_MARK`` environment variable. A WebSocket is accepted, sent the names of its
scope's extensions as one text message, and closed. Lifespan startup and shutdown complete.

``failing_startup`` answers ``lifespan.startup`` with ``lifespan.startup.failed``.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reference_app.types import Receive, Scope, Send

_lifespan_started = False


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Describe the scope; see the module docstring."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] == "http":
        await _http(scope, send)
    elif scope["type"] == "websocket":
        await _websocket(scope, receive, send)
    else:
        raise ValueError(f"unknown scope type {scope['type']!r}")


async def failing_startup(scope: Scope, receive: Receive, send: Send) -> None:
    """Fail lifespan startup with the message ``"startup refused by the test app"``."""
    if scope["type"] != "lifespan":
        return await app(scope, receive, send)
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "startup refused by the test app"})
    return None


async def _lifespan(receive: Receive, send: Send) -> None:
    global _lifespan_started
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _lifespan_started = True
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _http(scope: Scope, send: Send) -> None:
    description = {
        "http_version": scope["http_version"],
        "scheme": scope.get("scheme", "http"),
        "path": scope["path"],
        "extensions": sorted(scope.get("extensions") or {}),
        "lifespan": _lifespan_started,
        "state": "state" in scope,
        "mark": os.environ.get("SERVERS_TEST_MARK"),
    }
    body = json.dumps(description).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _websocket(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    extensions = sorted(scope.get("extensions") or {})
    await send({"type": "websocket.send", "text": json.dumps({"extensions": extensions})})
    await send({"type": "websocket.close", "code": 1000})
