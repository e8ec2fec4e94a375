"""SSE endpoints: every field, gated events, resumption, blocked emitters, keep-alives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from reference_app import App, Request, Response, SSEvent

from ._common import float_param, int_param, observations


def register(app: App) -> None:
    """Add this family's endpoints to ``app``."""

    @app.route("/sse/fields")
    async def sse_fields(req: Request, resp: Response) -> None:
        async def events() -> AsyncIterator[SSEvent | None]:
            yield SSEvent(text="plain")
            yield SSEvent(text="line one\nline two\r\nline three", event="multi", id="1")
            yield None
            yield SSEvent(json={"answer": 42}, event="json", id="2", retry=2500)
            yield SSEvent(comment="just a comment")
            yield SSEvent(data="bytes é".encode(), id="3")
            yield SSEvent(text="", event="empty")

        resp.sse = events()

    @app.route("/sse/gated/{token}")
    async def sse_gated(req: Request, resp: Response, token: str) -> None:
        count = int_param(req, "n", 3)

        async def events() -> AsyncIterator[SSEvent]:
            try:
                for index in range(count):
                    await observations.gate(token, "next").acquire()
                    observations.record(token, "produced", index=index)
                    yield SSEvent(text=f"event {index}", id=str(index))
            finally:
                observations.record(token, "finalized")

        resp.sse = events()

    @app.route("/sse/resume")
    async def sse_resume(req: Request, resp: Response) -> None:
        last = req.get_header("last-event-id") or "0"
        start = int(last) + 1 if last.isdigit() else 1

        async def events() -> AsyncIterator[SSEvent]:
            for number in range(start, start + 3):
                yield SSEvent(text=f"item {number}", id=str(number))

        resp.sse = events()

    @app.route("/sse/blocked/{token}")
    async def sse_blocked(req: Request, resp: Response, token: str) -> None:
        async def events() -> AsyncIterator[SSEvent]:
            try:
                yield SSEvent(text="hello")
                observations.record(token, "blocked")
                await asyncio.Event().wait()
                yield SSEvent(text="never")  # pragma: no cover - blocked above
            finally:
                observations.record(token, "finalized")

        resp.sse = events()

    @app.route("/sse/keepalive/{token}")
    async def sse_keepalive(req: Request, resp: Response, token: str) -> None:
        async def events() -> AsyncIterator[SSEvent]:
            await observations.gate(token, "next").acquire()
            yield SSEvent(text="after the pings")

        resp.sse = events()
        resp.sse_keepalive = float_param(req, "interval", 0.05)
