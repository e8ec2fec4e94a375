"""Request body endpoints: digests read every way, and a route whose limit is 1 KiB.

Events recorded under the token of the path (besides what the message recorder records for a
request carrying ``x-probe-token``):

* ``body-start``: the responder was called (``content_length`` is the raw header value, or
  None), before the body stream is touched; a request the server never hands to the app has
  none.
* ``body-complete``: the whole body was read (``length``, ``sha256``, ``largest_read``,
  ``reads``).
* ``body-error``: reading failed with ``ClientDisconnected`` (``received`` bytes so far).
* ``body-end``: the responder is done, whichever way.
"""

from __future__ import annotations

import hashlib

from reference_app import App, ClientDisconnected, Request, Response

from ._common import observations


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
