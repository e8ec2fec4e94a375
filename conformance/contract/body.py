"""Request body endpoints: digests read every way, a route whose limit is 1 KiB, and a raw
receiver that reads ``http.request`` messages exactly as the server sends them.

Events recorded under the token of the path (besides what the message recorder records for a
request carrying ``x-probe-token``):

* ``body-start``: the responder was called (``content_length`` is the raw header value, or
  None), before the body stream is touched; a request the server never hands to the app has
  none.
* ``body-complete``: the whole body was read (``length``, ``sha256``, ``largest_read``,
  ``reads``).
* ``body-error``: reading failed with ``ClientDisconnected`` (``received`` bytes so far).
* ``body-end``: the responder is done, whichever way.

Raw endpoint (:data:`RAW`), token in the ``x-probe-token`` header:

* ``POST /raw/body/receive``: calls ``receive()`` until a message with ``more_body=False`` (or
  ``http.disconnect``), never stopping at the Content-Length as a framework does, so the test
  sees whether the server ends the body at all. Records ``body-start``, then
  ``body-complete`` (``length``, ``sha256``, ``messages``) and answers 200 with the same as
  JSON, or ``body-error`` (``error="http.disconnect"``, ``received``); then ``body-end``.
"""

from __future__ import annotations

import hashlib
import json

from reference_app import App, ClientDisconnected, Request, Response
from reference_app.types import ASGIApp, Receive, Scope, Send

from ._common import observations, token_of

__all__ = ["RAW", "register"]


def register(app: App) -> None:
    """Add this family's endpoints to ``app``."""

    async def digest(req: Request, resp: Response, token: str) -> None:
        observations.record(token, "body-start", content_length=req.get_header("content-length"))
        try:
            await _digest(req, resp, token)
        finally:
            observations.record(token, "body-end")

    app.route("/body/digest/{token}", methods={"POST", "PUT"})(digest)
    app.route("/body/limited/{token}", methods={"POST"}, max_body_size=1024)(digest)


async def _digest(req: Request, resp: Response, token: str) -> None:
    mode = req.get_param("mode") or "iter"
    sha, total, largest, reads = hashlib.sha256(), 0, 0, 0
    try:
        if mode == "all":
            data = await req.stream.readall()
            sha.update(data)
            total = largest = len(data)
            reads = 1
        elif mode.startswith("read:"):
            size = int(mode[5:])
            while chunk := await req.stream.read(size):
                sha.update(chunk)
                total += len(chunk)
                largest = max(largest, len(chunk))
                reads += 1
        else:
            async for chunk in req.stream:
                sha.update(chunk)
                total += len(chunk)
                largest = max(largest, len(chunk))
                reads += 1
    except ClientDisconnected as error:
        observations.record(
            token, "body-error", error="ClientDisconnected", received=error.received
        )
        raise
    observations.record(
        token,
        "body-complete",
        length=total,
        sha256=sha.hexdigest(),
        largest_read=largest,
        reads=reads,
    )
    resp.media = {"length": total, "sha256": sha.hexdigest(), "largest_read": largest}


async def receive_all(scope: Scope, receive: Receive, send: Send) -> None:
    """Read ``http.request`` messages until one says ``more_body=False``; answer the digest."""
    token = token_of(scope)
    observations.record(token, "body-start")
    sha, total, messages = hashlib.sha256(), 0, 0
    try:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                observations.record(token, "body-error", error=message["type"], received=total)
                return
            body = message.get("body", b"")
            sha.update(body)
            total += len(body)
            messages += 1
            if not message.get("more_body", False):
                break
        result = {"length": total, "sha256": sha.hexdigest(), "messages": messages}
        observations.record(token, "body-complete", **result)
        payload = json.dumps(result).encode()
        headers = [(b"content-type", b"application/json")]
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
    finally:
        observations.record(token, "body-end")


#: Raw ASGI endpoints of this family, by exact path.
RAW: dict[str, ASGIApp] = {"/raw/body/receive": receive_all}
