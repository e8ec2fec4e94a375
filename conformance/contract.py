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
    GET  /pushed/{name}                     a pushable resource that echoes its request
    POST /body/digest/{token}?mode=         reads the body (iter | read:N | all); digest
    POST /body/limited/{token}              max_body_size 1024: 413 before reading
    POST /jobs/{token}?fail=&gate=          three jobs (async, sync, async) after the response
    POST /jobs/burst/{token}?n=             n jobs, each bumping counter "job"
    POST /jobs/slow/{token}?seconds=        one job that sleeps, then logs that it finished
    GET  /longpoll/{token}                  waits for the disconnect, then sends anyway
    GET  /lifespan/state                    what startup put in the state
    POST /lifespan/state                    appends to the shared list in the state
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
import time
from collections.abc import AsyncIterator
from typing import Any, Final

from reference_app import App, ClientDisconnected, HTTPBadRequest, Request, Response, SSEvent
from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from .observe import Observations

__all__ = ["CHUNK", "app", "build_app", "observations", "pattern"]

logger = logging.getLogger("asgi_conformance.contract")

#: The observations of this process.
observations = Observations()

#: The default streamed chunk size.
CHUNK: Final = 64 * 1024
_PATTERN: Final = bytes(range(256)) * (CHUNK // 256)


def pattern(size: int) -> bytes:
    """The first ``size`` bytes of the deterministic body pattern (a repeating 0..255)."""
    repeats, rest = divmod(size, len(_PATTERN))
    return _PATTERN * repeats + _PATTERN[:rest]


def _int(req: Request, name: str, default: int) -> int:
    value = req.get_param(name)
    if value is None:
        return default
    if not value.isdigit():
        raise HTTPBadRequest(description=f"query parameter {name} must be a non-negative integer")
    return int(value)


def _float(req: Request, name: str, default: float) -> float:
    value = req.get_param(name)
    try:
        return default if value is None else float(value)
    except ValueError:
        raise HTTPBadRequest(description=f"query parameter {name} must be a number") from None


class _Reader:
    """A ``read()``/``close()`` body source that records its closing."""

    def __init__(self, token: str, size: int) -> None:
        self.token = token
        self.remaining = size

    async def read(self, size: int) -> bytes:
        chunk = pattern(min(size, self.remaining))
        self.remaining -= len(chunk)
        return chunk

    async def close(self) -> None:
        observations.record(self.token, "closed")


def build_app() -> App:  # noqa: C901 - one nested responder per endpoint, flat and short
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

    # -- observation ------------------------------------------------------------------------

    @app.route("/observe/{token}")
    async def observe(req: Request, resp: Response, token: str) -> None:
        resp.media = observations.log(token).snapshot()

    @app.route("/observe/{token}/wait")
    async def wait(req: Request, resp: Response, token: str) -> None:
        event = req.get_param("event") or ""
        ok = await observations.wait(
            token, event, _int(req, "count", 1), _float(req, "timeout", 5.0)
        )
        resp.media = {"ok": ok, **observations.log(token).snapshot()}

    @app.route("/gate/{token}/{name}", methods={"POST"})
    async def gate(req: Request, resp: Response, token: str, name: str) -> None:
        observations.release(token, name, _int(req, "n", 1))
        resp.status = 204

    # -- streaming --------------------------------------------------------------------------

    @app.route("/stream/gated/{token}")
    async def stream_gated(req: Request, resp: Response, token: str) -> None:
        count, size = _int(req, "n", 3), _int(req, "size", 16)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                for index in range(count):
                    await observations.gate(token, "next").acquire()
                    observations.record(token, "produced", index=index)
                    yield f"{index:0{size}d}".encode()[-size:]
            finally:
                observations.record(token, "finalized")

        resp.stream = chunks()

    @app.route("/stream/reader/{token}")
    async def stream_reader(req: Request, resp: Response, token: str) -> None:
        resp.stream = _Reader(token, _int(req, "size", 200_000))

    @app.route("/stream/bytes")
    async def stream_bytes(req: Request, resp: Response) -> None:
        size, chunk = _int(req, "size", CHUNK), max(1, _int(req, "chunk", CHUNK))

        async def chunks() -> AsyncIterator[bytes]:
            sent = 0
            while sent < size:
                piece = _PATTERN[: min(chunk, size - sent, len(_PATTERN))]
                sent += len(piece)
                yield piece

        if req.get_param("length") == "1":
            resp.set_stream(chunks(), size)
        else:
            resp.stream = chunks()

    @app.route("/stream/forever/{token}")
    async def stream_forever(req: Request, resp: Response, token: str) -> None:
        interval = _float(req, "interval", 0.01)

        async def ticks() -> AsyncIterator[bytes]:
            observations.record(token, "started")
            try:
                while True:
                    observations.count(token, "produced")
                    yield b"tick\n"
                    await asyncio.sleep(interval)
            finally:
                observations.record(token, "finalized")

        resp.stream = ticks()

    @app.route("/stream/flood/{token}")
    async def stream_flood(req: Request, resp: Response, token: str) -> None:
        chunk = pattern(_int(req, "chunk", CHUNK))

        async def flood() -> AsyncIterator[bytes]:
            try:
                while True:
                    observations.count(token, "produced")
                    yield chunk
            finally:
                observations.record(token, "finalized")

        resp.stream = flood()

    # -- SSE --------------------------------------------------------------------------------

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
        count = _int(req, "n", 3)

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
        resp.sse_keepalive = _float(req, "interval", 0.05)

    # -- push -------------------------------------------------------------------------------

    @app.route("/push/page")
    async def push_page(req: Request, resp: Response) -> None:
        paths = req.params.get("path", [])
        pushed = [
            resp.push(path, {"x-push": "yes"})
            for path in ([paths] if isinstance(paths, str) else paths)
        ]
        resp.media = {"pushed": pushed}

    @app.route("/pushed/{name}")
    async def pushed(req: Request, resp: Response, name: str) -> None:
        resp.media = {
            "name": name,
            "method": req.method,
            "query": req.query_string,
            "headers": [
                [k.decode("latin-1"), v.decode("latin-1")] for k, v in req.scope["headers"]
            ],
        }

    # -- request bodies ---------------------------------------------------------------------

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

    # -- background jobs --------------------------------------------------------------------

    @app.route("/jobs/{token}", methods={"POST"})
    async def jobs(req: Request, resp: Response, token: str) -> None:
        def job(index: int, is_async: bool) -> Any:
            def sync_job() -> None:
                observations.record(token, "job-start", index=index)
                observations.record(token, "job-end", index=index)

            async def async_job() -> None:
                observations.record(token, "job-start", index=index)
                await asyncio.sleep(0)
                observations.record(token, "job-end", index=index)

            return async_job if is_async else sync_job

        async def failing_job() -> None:
            observations.record(token, "job-start", index="fail")
            raise RuntimeError(f"contract: deliberate job failure {token}")

        resp.schedule(job(0, True))
        if req.get_param("fail") == "1":
            resp.schedule(failing_job)
        resp.schedule_sync(job(1, False))
        resp.schedule(job(2, True))
        if req.get_param("gate") == "1":

            async def body() -> AsyncIterator[bytes]:
                yield b"first part;"
                await observations.gate(token, "finish").acquire()
                observations.record(token, "last-chunk")
                yield b"last part"

            resp.stream = body()
        else:
            resp.text = "scheduled"

    @app.route("/jobs/burst/{token}", methods={"POST"})
    async def burst(req: Request, resp: Response, token: str) -> None:
        async def bump() -> None:
            observations.count(token, "job")

        for _ in range(_int(req, "n", 10)):
            resp.schedule(bump)
        resp.status = 202

    @app.route("/jobs/slow/{token}", methods={"POST"})
    async def slow(req: Request, resp: Response, token: str) -> None:
        seconds = _float(req, "seconds", 1.0)

        async def sleeper() -> None:
            observations.record(token, "job-start")
            await asyncio.sleep(seconds)
            observations.record(token, "job-end")
            logger.info("contract: job %s finished", token)

        resp.schedule(sleeper)
        resp.status = 202

    # -- disconnects and lifespan -----------------------------------------------------------

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

    return app


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
                observations.record(probe, "send-error", error=type(error).__name__)
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
_started = time.monotonic()
#: The app servers run: ``conformance.contract:app``.
app = MessageRecorder(build_app())
