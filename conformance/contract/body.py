"""Request body endpoints: digests read every way, and a route whose limit is 1 KiB."""

from __future__ import annotations

import hashlib

from reference_app import App, ClientDisconnected, Request, Response

from ._common import observations


def register(app: App) -> None:
    """Add this family's endpoints to ``app``."""

    async def digest(req: Request, resp: Response, token: str) -> None:
        mode = req.get_param("mode") or "iter"
        sha, total, largest = hashlib.sha256(), 0, 0
        try:
            if mode == "all":
                data = await req.stream.readall()
                sha.update(data)
                total = largest = len(data)
            elif mode.startswith("read:"):
                size = int(mode[5:])
                while chunk := await req.stream.read(size):
                    sha.update(chunk)
                    total += len(chunk)
                    largest = max(largest, len(chunk))
            else:
                async for chunk in req.stream:
                    sha.update(chunk)
                    total += len(chunk)
                    largest = max(largest, len(chunk))
        except ClientDisconnected as error:
            observations.record(
                token, "body-error", error="ClientDisconnected", received=error.received
            )
            raise
        observations.record(token, "body-complete", length=total, sha256=sha.hexdigest())
        resp.media = {"length": total, "sha256": sha.hexdigest(), "largest_read": largest}

    app.route("/body/digest/{token}", methods={"POST", "PUT"})(digest)
    app.route("/body/limited/{token}", methods={"POST"}, max_body_size=1024)(digest)
