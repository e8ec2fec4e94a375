"""Raw ASGI endpoints: what an app may send that the reference framework never would.

Some server duties only show when an app leans on them. Many frameworks answer HEAD by sending
the GET body and rely on the server not to transmit it (RFC 9110 §9.3.2); the reference
framework never sends one, so these endpoints, under ``/raw/``, speak ASGI directly::

    ANY /raw/stream-chunks    start (no Content-Length), then three body chunks, whatever
                              the method: on HEAD the server must send none of them
"""

from __future__ import annotations

from collections.abc import Mapping

from reference_app.types import ASGIApp, Receive, Scope, Send

__all__ = ["RawRoutes"]

PREFIX = "/raw/"


async def stream_chunks(scope: Scope, receive: Receive, send: Send) -> None:
    """Three chunks after a start without Content-Length, for any method (HEAD included)."""
    headers = [(b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for index in range(3):
        body = f"chunk {index}\n".encode()
        await send({"type": "http.response.body", "body": body, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


ROUTES: dict[str, ASGIApp] = {"/raw/stream-chunks": stream_chunks}


class RawRoutes:
    """ASGI middleware: serves raw endpoints itself, passes everything else to ``app``.

    Args:
        app: the app for every other path.
        routes: raw endpoints by exact path (all under ``/raw/``), for HTTP and WebSocket
            scopes alike; :data:`ROUTES` by default.
    """

    def __init__(self, app: ASGIApp, routes: Mapping[str, ASGIApp] = ROUTES) -> None:
        bad = sorted(path for path in routes if not path.startswith(PREFIX))
        if bad:
            raise ValueError(f"raw endpoints must be under {PREFIX}: {', '.join(bad)}")
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"].startswith(PREFIX):
            handler = self.routes.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await self.app(scope, receive, send)
