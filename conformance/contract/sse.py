"""SSE endpoints: every field, gated events, resumption, blocked emitters, keep-alives.

The events of ``/sse/fields`` are :data:`FIELDS`, so a suite can compare what its client parsed
with what the app sent, field by field.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final

from reference_app import App, Request, Response, SSEvent

from ._common import float_param, int_param, observations

__all__ = ["FIELDS", "RESUME_RETRY", "register"]

#: What ``/sse/fields`` emits, in order (``None`` is a keep-alive comment, ``: ping``).
FIELDS: Final[tuple[SSEvent | None, ...]] = (
    SSEvent(text="plain"),
    # Three kinds of line break: one data line per line; the client rejoins them with LF.
    SSEvent(text="line one\nline two\r\nline three\rline four", event="multi", id="1"),
    None,
    SSEvent(json={"answer": 42, "text": "é"}, event="json", id="2", retry=2500),
    SSEvent(comment="just a comment"),
    # Two-, three- and four-byte UTF-8 sequences.
    SSEvent(data="bytes é € 𝄞".encode(), id="3"),
    SSEvent(text="", event="empty"),
    # A value that starts with a space and holds a colon: only the field's own space goes.
    SSEvent(text=" leading space: kept"),
    # An id without data sets the last event ID and dispatches nothing.
    SSEvent(id="4"),
    SSEvent(text="inherits id 4"),
    SSEvent(comment="two\nlines"),
    SSEvent(text="retry changed", retry=1000, id=""),
    # Longer than HTTP/2's initial flow-control window (65 535 bytes).
    SSEvent(text="x" * 70_000, event="large"),
)

#: The reconnection time (ms) the first event of every ``/sse/resume`` response sets.
RESUME_RETRY: Final = 1500


def register(app: App) -> None:
    """Add this family's endpoints to ``app``."""

    @app.route("/sse/fields")
    async def sse_fields(req: Request, resp: Response) -> None:
        async def events() -> AsyncIterator[SSEvent | None]:
            for event in FIELDS:
                yield event

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
                retry = RESUME_RETRY if number == start else None
                yield SSEvent(text=f"item {number}", id=str(number), retry=retry)

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
            try:
                await observations.gate(token, "next").acquire()
                observations.record(token, "produced")
                yield SSEvent(text="after the pings")
            finally:
                observations.record(token, "finalized")

        resp.sse = events()
        resp.sse_keepalive = float_param(req, "interval", 0.05)
