"""Disconnect and lifespan endpoints: long-polling, the lifespan state, startup and stopping.

With a control channel (:mod:`conformance.contract.control`, set up by the lifecycle cases that
launch a server of their own) the app also reports what a case must see while the server
speaks no HTTP:

* lifespan startup **waits for the test's word** (event ``startup``, answered ``complete`` or
  ``fail``) before the contract app's own startup hook fills the state, so that a request a
  server lets through early finds the state empty and ``GET /lifespan/arrival`` says so;
* ``GET /lifespan/inflight/{token}`` streams chunks, each after the first only when the test
  answers ``inflight-next``, and reports ``inflight-ended`` with the number of chunks produced
  when its stream is over (finished or cancelled);
* lifespan shutdown reports ``shutdown``.

Without the channel every gate opens at once and nothing is reported.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from reference_app import App, Request, Response

from . import control
from ._common import int_param, logger, observations

__all__ = ["StartupRefused", "inflight_chunk", "register"]


class StartupRefused(RuntimeError):
    """The test answered ``fail`` to startup: the app reports ``lifespan.startup.failed``."""


@dataclass(slots=True)
class _Startup:
    """How far this process's startup had got, for the requests to report.

    Attributes:
        by: who ran the startup hooks: ``"lifespan"`` (the server's lifespan startup) or
            ``"first-request"`` (the framework, for a request that came before any lifespan).
        released_at: when the test let startup go on (``time.monotonic()``).
        done_at: when the last of this family's startup hooks ran.
    """

    by: str | None = None
    released_at: float | None = None
    done_at: float | None = None


_startup = _Startup()


def inflight_chunk(index: int, size: int) -> bytes:
    """Chunk ``index`` of ``/lifespan/inflight``: its index, zero-padded to ``size`` bytes."""
    return f"{index:0{size}d}".encode()[-size:]


def register(app: App) -> None:
    """Add this family's endpoints and lifespan hooks to ``app``."""

    async def hold_startup(state: dict[str, Any]) -> None:
        """Wait for the test's word (control channel only); ``fail`` fails the startup."""
        if control.address() is None:
            return
        _startup.by = "lifespan" if app.lifespan.observed else "first-request"
        verdict = await control.ask("startup", by=_startup.by)
        if verdict != "complete":
            raise StartupRefused(f"the test answered {verdict!r} to lifespan startup")
        _startup.released_at = time.monotonic()

    async def startup_done(state: dict[str, Any]) -> None:
        _startup.done_at = time.monotonic()

    async def report_shutdown(state: dict[str, Any]) -> None:
        control.tell("shutdown")

    # First of all the hooks, so that the contract app's own startup hook (which fills the
    # state) runs only once the test lets startup complete.
    app.lifespan.startup.insert(0, hold_startup)
    app.on_startup(startup_done)
    app.on_shutdown(report_shutdown)

    @app.route("/longpoll/{token}")
    async def longpoll(req: Request, resp: Response, token: str) -> None:
        """Wait for ``http.disconnect``, then answer anyway (a send after the disconnect).

        Events: ``waiting`` (the app is in ``receive()``; with the scope's
        ``asgi.spec_version``, None if absent), ``disconnected`` (it returned
        ``http.disconnect``), ``late-response-over`` (a job scheduled after the response: the
        late response is over, every ``send()`` having returned, or one having raised an
        OSError, which the framework takes for the client gone). With the ``x-probe-token``
        header the message recorder adds ``send`` and ``send-error`` events.
        """
        asgi = req.scope.get("asgi") or {}
        observations.record(token, "waiting", spec_version=asgi.get("spec_version"))
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

    @app.route("/lifespan/arrival")
    async def arrival(req: Request, resp: Response) -> None:
        """How far startup had got when this request reached its handler, and its state.

        ``startup_done`` is whether every startup hook had run; ``startup_by`` who ran them
        (``"first-request"`` on a server that served before it sent any lifespan startup);
        ``state`` what startup stored, as this request's ``scope["state"]`` shows it.
        """
        done = _startup.done_at is not None
        state = req.state
        resp.media = {
            "startup_done": done,
            "startup_by": _startup.by,
            "state": {
                "startup": state.get("startup"),
                "shared": isinstance(state.get("shared"), list),
            },
        }

    @app.route("/lifespan/inflight/{token}")
    async def inflight(req: Request, resp: Response, token: str) -> None:
        """``n`` chunks of ``size`` bytes (:func:`inflight_chunk`), each after the first on cue.

        Before each chunk but the first, and before the end, the app asks ``inflight-next``
        on the control channel, so the test holds the response in flight as long as it likes,
        HTTP or not; when the stream is over, finished or cancelled, it reports
        ``inflight-ended`` and logs it.
        """
        count, size = int_param(req, "n", 3), int_param(req, "size", 16)

        async def chunks() -> AsyncIterator[bytes]:
            produced = 0
            try:
                for index in range(count):
                    if index:
                        await control.ask("inflight-next", token=token, index=index)
                    yield inflight_chunk(index, size)
                    produced += 1
                # The end, too, only on cue: it follows the last chunk by a round trip, as in
                # a stream whose producer ends it later, never in the same loop iteration.
                await control.ask("inflight-next", token=token, index=count)
            finally:
                control.tell("inflight-ended", token=token, produced=produced, of=count)
                logger.info("contract: in-flight response %s over, %d/%d", token, produced, count)

        resp.stream = chunks()
