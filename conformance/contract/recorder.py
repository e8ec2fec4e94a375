"""An ASGI middleware recording every message of probed requests into the observations."""

from __future__ import annotations

from typing import Any

from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from ._common import observations

__all__ = ["MessageRecorder"]


class MessageRecorder:
    """ASGI middleware: records every message of requests carrying ``x-probe-token``.

    Events ``receive`` (type, body length, more_body) and ``send`` (type, status, body length,
    more_body), and ``send-error`` when ``send()`` raises, so a test sees exactly what the
    server delivered and what the app sent.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = None
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-probe-token":
                    token = value.decode("latin-1")
        if token is None:
            await self.app(scope, receive, send)
            return
        probe = token

        async def recording_receive() -> Message:
            message = await receive()
            observations.record(probe, "receive", **_summary(message))
            return message

        async def recording_send(message: Message) -> None:
            observations.record(probe, "send", **_summary(message))
            try:
                await send(message)
            except Exception as error:
                observations.record(
                    probe,
                    "send-error",
                    error=type(error).__name__,
                    oserror=isinstance(error, OSError),
                )
                raise

        await self.app(scope, recording_receive, recording_send)


def _summary(message: Message) -> dict[str, Any]:
    summary: dict[str, Any] = {"type": message["type"]}
    if "body" in message:
        summary["length"] = len(message["body"])
    if "more_body" in message:
        summary["more_body"] = message["more_body"]
    if "status" in message:
        summary["status"] = message["status"]
    return summary
