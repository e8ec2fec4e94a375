"""Disconnect and lifespan endpoints: long-polling, and the lifespan state as requests see it."""

from __future__ import annotations

from reference_app import App, Request, Response

from ._common import observations


def register(app: App) -> None:
    """Add this family's endpoints to ``app``."""

    @app.route("/longpoll/{token}")
    async def longpoll(req: Request, resp: Response, token: str) -> None:
        """Wait for ``http.disconnect``, then answer anyway (a send after the disconnect).

        Events: ``waiting`` (the app is in ``receive()``), ``disconnected`` (it returned
        ``http.disconnect``), ``late-response-over`` (a job scheduled after the response: the
        late response is over, every ``send()`` having returned, or one having raised an
        OSError, which the framework takes for the client gone). With the ``x-probe-token``
        header the message recorder adds ``send`` and ``send-error`` events.
        """
        observations.record(token, "waiting")
        await req.wait_disconnect()
        observations.record(token, "disconnected")

        async def over() -> None:
            observations.record(token, "late-response-over")

        resp.text = "too late"  # sent after the disconnect: a no-op or an OSError
        resp.schedule(over)

    @app.route("/lifespan/state", methods={"GET", "POST"})
    async def lifespan_state(req: Request, resp: Response) -> None:
        """The state as this request sees it; ``POST`` or ``GET ?append=1`` changes it first.

        A change appends to the list startup stored (shared by every copy of the state) and
        adds a top-level key (which must stay in this request's copy). The suite uses the
        bodiless ``GET ?append=1``: over HTTP/2, httpx ends a POST with an empty DATA frame
        that can arrive after the response has ended, and hypercorn 0.18 then drops the whole
        connection (``KeyError`` in its h2 protocol; pgjones/hypercorn#329).
        """
        state = req.state
        shared = state.get("shared")
        if (req.method == "POST" or req.get_param("append") == "1") and isinstance(shared, list):
            shared.append(len(shared))
            state["added_by_request"] = True  # a top-level key: must not leak to others
        resp.media = {
            "startup": state.get("startup"),
            "shared": shared,
            "added_by_request": state.get("added_by_request", False),
        }
