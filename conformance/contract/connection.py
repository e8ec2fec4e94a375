"""Connection handling: Connection: close, keep-alive reuse, pipelining, HTTP/1.0.

Framework endpoints (:func:`register`); each records under the token of its path, so a case
sees which requests the server handed to the app, and in what order::

    GET|POST /connection/echo/{token}/{name}    reads the whole body; records ``served``
                                                (``name``, ``length``, ``http_version``)
                                                and answers ``{name} {length}`` (with a
                                                Content-Length)
    GET      /connection/gated/{token}/{name}   records ``waiting``, waits for gate
                                                ``next`` (at most ``?timeout=`` s, 10 by
                                                default), records ``served``, answers
                                                ``{name}``

Raw endpoint (:data:`RAW`), for a response the server must frame itself::

    GET /raw/connection/stream                  a start without Content-Length, then
                                                :data:`STREAM_CHUNKS` as three body
                                                messages
"""

from __future__ import annotations

import asyncio
from typing import Final

from reference_app import App, Request, Response
from reference_app.types import ASGIApp, Receive, Scope, Send

from ._common import float_param, observations

__all__ = ["GATE_TIMEOUT", "RAW", "STREAM_CHUNKS", "register"]

#: How long the gated endpoint waits for its gate before it answers anyway.
GATE_TIMEOUT: Final = 10.0
#: The body messages of ``/raw/connection/stream``.
STREAM_CHUNKS: Final = (b"first chunk\n", b"second chunk\n", b"third chunk\n")


def register(app: App) -> None:
    """Add this family's framework endpoints to ``app``."""

    async def echo(req: Request, resp: Response, token: str, name: str) -> None:
        length = 0
        async for chunk in req.stream:
            length += len(chunk)
        observations.record(
            token, "served", name=name, length=length, http_version=req.scope["http_version"]
        )
        resp.text = f"{name} {length}"

    app.route("/connection/echo/{token}/{name}", methods={"GET", "POST"})(echo)

    @app.route("/connection/gated/{token}/{name}")
    async def gated(req: Request, resp: Response, token: str, name: str) -> None:
        observations.record(token, "waiting", name=name)
        timeout = float_param(req, "timeout", GATE_TIMEOUT)
        try:
            async with asyncio.timeout(timeout):
                await observations.gate(token, "next").acquire()
        except TimeoutError:
            observations.record(token, "gate-timeout", name=name)
        observations.record(token, "served", name=name)
        resp.text = name


async def stream(scope: Scope, receive: Receive, send: Send) -> None:
    """A response without Content-Length, in three body messages."""
    headers = [(b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for chunk in STREAM_CHUNKS:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


#: Raw ASGI endpoints of this family, by exact path (``/raw/connection/...``).
RAW: dict[str, ASGIApp] = {"/raw/connection/stream": stream}
