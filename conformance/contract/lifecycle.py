"""Disconnect and lifespan endpoints: long-polling, and the lifespan state as requests see it."""

from __future__ import annotations

from reference_app import App, Request, Response

from ._common import observations


def register(app: App) -> None:
    """Add this family's endpoints to ``app``."""

    @app.route("/longpoll/{token}")
    async def longpoll(req: Request, resp: Response, token: str) -> None:
        observations.record(token, "waiting")
        await req.wait_disconnect()
        observations.record(token, "disconnected")
        resp.text = "too late"  # sent after the disconnect: a no-op or an OSError

    @app.route("/lifespan/state", methods={"GET", "POST"})
    async def lifespan_state(req: Request, resp: Response) -> None:
        state = req.state
        shared = state.get("shared")
        if req.method == "POST" and isinstance(shared, list):
            shared.append(len(shared))
            state["added_by_request"] = True  # a top-level key: must not leak to others
        resp.media = {
            "startup": state.get("startup"),
            "shared": shared,
            "added_by_request": state.get("added_by_request", False),
        }
