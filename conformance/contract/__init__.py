"""The contract app: the reference framework exposing one endpoint family per behaviour judged.

Servers run ``conformance.contract:app``. Another framework or app can be judged instead if it
implements the same endpoints (``--app`` on the command line): this module *is* the contract.

Tokens: every probe that the test wants to observe carries a token (a path segment, or the
``x-probe-token`` header for the message recorder); see :mod:`conformance.observe`.

Families and endpoints::

    GET  /                                  readiness ("asgi-conformance contract app")
    GET  /scope                             the scope's interesting parts, as JSON
    GET  /observe/{token}[/wait]            the observation channel
    POST /gate/{token}/{name}               open a gate
    GET  /stream/gated/{token}?n=&size=     one chunk per "next" gate step
    GET  /stream/reader/{token}?size=       an object with read()/close()
    GET  /stream/bytes?size=&chunk=&length= a deterministic pattern, any size
    GET  /stream/forever/{token}            ticks until the client leaves
    GET  /stream/flood/{token}?chunk=       64 KiB chunks as fast as send() allows
    GET  /sse/fields                        every SSE field and shape, then ends
    GET  /sse/gated/{token}?n=              one event per "next" gate step
    GET  /sse/resume                        ids after the Last-Event-ID header
    GET  /sse/blocked/{token}               one event, then blocks until the client leaves
    GET  /sse/keepalive/{token}?interval=   silence, filled by keep-alive pings
    GET  /push/page?path=...                pushes each path, then answers
    GET  /pushed/{name}                     a pushable resource echoing its request (path,
                                            query, headers, http_version, scheme)
    POST /body/digest/{token}?mode=         reads the body (iter | read:N | all); digest
    POST /body/limited/{token}              max_body_size 1024: 413 before reading
    POST /jobs/{token}?fail=&gate=          three jobs (async, sync, async) after the response
    POST /jobs/burst/{token}?n=             n jobs, each bumping counter "job"
    POST /jobs/slow/{token}?seconds=        one job that sleeps, then logs that it finished
    POST /jobs/outlive/{token}?timeout=     a job that outlives the ASGI call that scheduled it
    GET  /longpoll/{token}                  waits for the disconnect, then sends anyway
                                            (a job records late-response-over after it)
    GET  /lifespan/state[?append=1]         what startup put in the state (append: as POST)
    POST /lifespan/state                    appends to the shared list in the state
    ANY  /raw/...                           raw ASGI endpoints (see conformance.contract.raw,
                                            and the RAW dict of each family's module)
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from reference_app import App, Request, Response

from . import (
    body,
    connection,
    errors,
    extensions,
    headers,
    jobs,
    lifecycle,
    push,
    scope,
    sse,
    streaming,
    websocket,
)
from ._common import CHUNK, float_param, int_param, logger, observations, pattern
from .raw import ROUTES, RawRoutes
from .recorder import MessageRecorder

__all__ = ["CHUNK", "MessageRecorder", "app", "build_app", "observations", "pattern"]

#: The endpoint families, each a module with ``register(app)``.
FAMILIES = (streaming, sse, push, body, jobs, lifecycle)
#: The families whose endpoints are (also) raw ASGI, each with ``RAW`` and ``register(app)``.
RAW_FAMILIES = (errors, scope, headers, extensions, connection, websocket)


def build_app() -> App:
    """Build the contract app (a fresh one each call)."""
    app = App(max_body_size=None)

    @app.on_startup
    async def startup(state: dict[str, Any]) -> None:
        state["startup"] = "lifespan" if app.lifespan.observed else "first-request"
        state["shared"] = []
        logger.info("contract: startup complete (%s)", state["startup"])

    @app.on_shutdown
    async def shutdown(state: dict[str, Any]) -> None:
        logger.info("contract: shutdown complete, %d job group(s) pending", app.jobs.pending)

    @app.route("/")
    async def index(req: Request, resp: Response) -> None:
        resp.text = "asgi-conformance contract app"

    @app.route("/scope")
    async def scope(req: Request, resp: Response) -> None:
        s = req.scope
        resp.media = {
            "http_version": s.get("http_version"),
            "scheme": s.get("scheme"),
            "extensions": sorted((s.get("extensions") or {}).keys()),
            "has_state": "state" in s,
            "client": list(s["client"]) if s.get("client") else None,
        }

    @app.route("/observe/{token}")
    async def observe(req: Request, resp: Response, token: str) -> None:
        resp.media = observations.log(token).snapshot()

    @app.route("/observe/{token}/wait")
    async def wait(req: Request, resp: Response, token: str) -> None:
        event = req.get_param("event") or ""
        count, timeout = int_param(req, "count", 1), float_param(req, "timeout", 5.0)
        ok = await observations.wait(token, event, count, timeout)
        resp.media = {"ok": ok, **observations.log(token).snapshot()}

    @app.route("/gate/{token}/{name}", methods={"POST"})
    async def gate(req: Request, resp: Response, token: str, name: str) -> None:
        observations.release(token, name, int_param(req, "n", 1))
        resp.status = 204

    for family in (*FAMILIES, *RAW_FAMILIES):
        family.register(app)
    return app


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("asgi_conformance", "reference_app"):
        target = logging.getLogger(name)
        if not target.handlers:
            target.addHandler(handler)
            target.setLevel(logging.INFO)
            target.propagate = False


_configure_logging()
#: The app servers run: ``conformance.contract:app``.
_RAW = {p: h for f in (*FAMILIES, *RAW_FAMILIES) for p, h in getattr(f, "RAW", {}).items()}
app = MessageRecorder(RawRoutes(build_app(), {**ROUTES, **_RAW}))
