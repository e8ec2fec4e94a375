"""Measurement 6: WebSocket echo, messages per second, in process and under each server.

The same echo (``WS /echo``: every text message sent back as it came) written four ways, each as
its documentation shows: raw ASGI (the floor), reference_app (``@app.websocket``, ``async for``
over the messages), Falcon (``on_websocket``) and Starlette (``WebSocketRoute``). Each also
answers ``GET /`` (the servers' readiness probe).

* **In process**: each app is called on one event loop with a scope and ``receive``/``send``
  callables that do as little as possible: ``receive()`` hands over the connect, then N text
  messages of 32 bytes at once, then waits until every echo was sent and returns the
  disconnect. The echoes are checked. Rounds interleave the apps in a shuffled order and the
  ratio to raw is taken within each round.
* **Under each server** (every installed variant with WebSocket): the four apps run at once (four
  server processes, one worker each); in each round, in a shuffled order, a raw client opens one
  WebSocket to each and writes N masked text frames, built before the clock starts, while it
  reads the N echoes; the clock stops when the last echo byte is in, and the echoes are checked
  byte for byte. The client does no per-message work, so the figure is the server and the app's.

Run alone: ``python -m bench websocket``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import importlib.util
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Final

from servers import Capability, RunningServer, available, launch

from .serving import REPO_ROOT
from .stats import Samples

__all__ = [
    "APPS",
    "MESSAGE",
    "WebSocketResult",
    "echo_in_process",
    "echo_over_the_wire",
    "measure",
    "render",
]

#: The apps, in table order: their import strings. ``raw`` is the floor.
APPS: Final = {
    "raw": "bench.websocket:raw",
    "reference_app": "bench.websocket:reference",
    "falcon": "bench.websocket:falcon_app",
    "starlette": "bench.websocket:starlette_app",
}
_REQUIRES: Final = {"falcon": "falcon", "starlette": "starlette"}
BASELINE: Final = "raw"
ECHO_PATH: Final = "/echo"
#: The length of every message (text, ASCII).
MESSAGE: Final = 32
_READY: Final = b"websocket echo"
_OP_TEXT: Final = 0x1


def installed() -> list[str]:
    """The apps whose framework is installed, in :data:`APPS` order."""
    return [
        name
        for name in APPS
        if name not in _REQUIRES or importlib.util.find_spec(_REQUIRES[name]) is not None
    ]


def messages(count: int) -> list[str]:
    """``count`` numbered text messages of :data:`MESSAGE` characters."""
    return [f"message {index:0{MESSAGE - 8}d}" for index in range(count)]


# -- the apps -------------------------------------------------------------------------------------


async def raw(scope: Any, receive: Any, send: Any) -> None:
    """The floor: an ASGI echo that does only what the protocol asks."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": _READY})
        return
    if scope["type"] != "websocket":
        return  # lifespan: not supported, the server goes on without it
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message["text"]})


def _reference() -> Any:
    from reference_app import App, Request, Response
    from reference_app.websocket import WebSocket

    app = App()

    @app.route("/")
    async def index(req: Request, resp: Response) -> None:
        resp.data = _READY

    @app.websocket(ECHO_PATH)
    async def echo(req: Request, ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws:
            await ws.send_text(message)  # type: ignore[arg-type]  # text only here

    return app


def _falcon() -> Any:
    import falcon
    import falcon.asgi

    class Index:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            resp.data = _READY

    class Echo:
        async def on_websocket(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
            await ws.accept()
            while True:
                try:
                    message = await ws.receive_text()
                except falcon.WebSocketDisconnected:
                    return
                await ws.send_text(message)

    app = falcon.asgi.App()
    app.add_route("/", Index())
    app.add_route(ECHO_PATH, Echo())
    return app


def _starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def index(request: Request) -> Response:
        return Response(_READY)

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            try:
                message = await websocket.receive_text()
            except WebSocketDisconnect:
                return
            await websocket.send_text(message)

    return Starlette(routes=[Route("/", index), WebSocketRoute(ECHO_PATH, echo)])


#: The framework apps, built at import (servers look them up in the module's namespace); None
#: for a framework that is not installed.
reference = _reference()
falcon_app = _falcon() if importlib.util.find_spec("falcon") else None
starlette_app = _starlette() if importlib.util.find_spec("starlette") else None


def load(name: str) -> Any:
    """The app called ``name`` (a key of :data:`APPS`)."""
    module, _, attribute = APPS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


# -- in process -----------------------------------------------------------------------------------


def _scope() -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": ECHO_PATH,
        "raw_path": ECHO_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "subprotocols": [],
    }


async def echo_in_process(app: Any, texts: Sequence[str]) -> list[str]:
    """Drive one connection of ``app`` with ``texts``; return what it echoed."""
    incoming: Iterator[dict[str, Any]] = iter(
        [{"type": "websocket.connect"}, *({"type": "websocket.receive", "text": t} for t in texts)]
    )
    echoed: list[str] = []
    every = asyncio.Event()
    expected = len(texts)

    async def receive() -> dict[str, Any]:
        message = next(incoming, None)
        if message is not None:
            return message
        await every.wait()
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            echoed.append(message["text"])
            if len(echoed) == expected:
                every.set()

    await app(_scope(), receive, send)
    return echoed


def _time_in_process(loop: asyncio.AbstractEventLoop, app: Any, texts: list[str]) -> float:
    """Messages per second of one connection of ``texts``."""
    started = time.perf_counter()
    echoed = loop.run_until_complete(echo_in_process(app, texts))
    elapsed = time.perf_counter() - started
    if echoed != texts:
        raise AssertionError(f"{app!r} echoed {len(echoed)} of {len(texts)} messages, or wrongly")
    return len(texts) / elapsed


# -- over the wire --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frames:
    """A prepared run: the client's masked frames, and the server's echo as it must arrive."""

    count: int
    outgoing: bytes
    expected: bytes

    @classmethod
    def build(cls, count: int) -> Frames:
        """``count`` messages as masked text frames, and their unmasked echoes."""
        out, back = bytearray(), bytearray()
        for text in messages(count):
            payload = text.encode()
            key = os.urandom(4)
            masked = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
            out += bytes([0x80 | _OP_TEXT, 0x80 | len(payload)]) + key + masked
            back += bytes([0x80 | _OP_TEXT, len(payload)]) + payload
        return cls(count, bytes(out), bytes(back))


async def echo_over_the_wire(server: RunningServer, frames: Frames, timeout: float = 60.0) -> float:
    """One WebSocket to ``server``'s echo: write every frame, read every echo; messages/s.

    Raises:
        AssertionError: the handshake failed or the echoes were not the messages, in order.
    """
    reader, writer = await asyncio.open_connection(server.host, server.port, limit=1 << 20)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {ECHO_PATH} HTTP/1.1\r\nhost: {server.authority}\r\nupgrade: websocket\r\n"
            f"connection: Upgrade\r\nsec-websocket-key: {key}\r\n"
            "sec-websocket-version: 13\r\n\r\n"
        )
        writer.write(request.encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        if not head.startswith(b"HTTP/1.1 101"):
            raise AssertionError(f"the handshake was answered {head[:60]!r}")
        received = bytearray()

        async def read() -> None:
            while len(received) < len(frames.expected):
                data = await reader.read(1 << 20)
                if not data:
                    raise AssertionError("the server closed the connection mid-run")
                received.extend(data)

        started = time.perf_counter()
        reading = asyncio.ensure_future(read())
        writer.write(frames.outgoing)
        await writer.drain()
        await asyncio.wait_for(reading, timeout)
        elapsed = time.perf_counter() - started
        if received != frames.expected:
            raise AssertionError("the echoes were not the messages, in order")
        writer.write(bytes([0x88, 0x82]) + b"\0\0\0\0" + b"\x03\xe8")  # close 1000, zero mask
        await writer.drain()
        return frames.count / elapsed
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 5)


def variants() -> list[str]:
    """The installed variants that speak WebSocket."""
    return [name for name, spec in available().items() if spec.supports(Capability.WEBSOCKET)]


# -- the measurement ------------------------------------------------------------------------------


@dataclass(slots=True)
class WebSocketResult:
    """Messages per second: in process, and by variant; the apps left out and why."""

    apps: list[str]
    count: int = 0
    wire_count: int = 0
    rounds: int = 0
    in_process: Samples = field(default_factory=Samples)
    wire: dict[str, Samples] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def measure(
    *,
    apps: Sequence[str] | None = None,
    count: int = 20_000,
    wire_count: int = 20_000,
    rounds: int = 7,
    variants_: Sequence[str] | None = None,
    seed: int = 6,
    progress: Callable[[str], None] = lambda line: None,
) -> WebSocketResult:
    """Run measurement 6.

    Args:
        apps: names from :data:`APPS` (default: every installed one; raw is always in).
        count: messages per in-process connection.
        wire_count: messages per connection under a server.
        rounds: interleaved rounds, in process and per variant.
        variants_: the variants (default: every installed one with WebSocket).
        seed: the seed of the per-round shuffles.
        progress: called with a line of progress now and then.
    """
    names = list(dict.fromkeys([BASELINE, *(apps or installed())]))
    result = WebSocketResult(names, count=count, wire_count=wire_count, rounds=rounds)
    shuffler = random.Random(seed)
    texts = messages(count)
    loaded = {name: load(name) for name in names}
    loop = asyncio.new_event_loop()
    try:
        for name in names:  # a warm-up, and the check that each one echoes right
            _time_in_process(loop, loaded[name], texts[:200])
        for _ in range(rounds):
            order = list(names)
            shuffler.shuffle(order)
            result.in_process.add_round(
                {name: _time_in_process(loop, loaded[name], texts) for name in order}
            )
        medians = ", ".join(f"{n} {result.in_process.summary(n).median:,.0f}" for n in names)
        progress(f"websocket in process, messages/s: {medians}")
        frames = Frames.build(wire_count)
        for variant in variants_ or variants():
            try:
                result.wire[variant] = _measure_variant(
                    loop, variant, names, frames, rounds, shuffler
                )
            except Exception as error:  # a server that cannot run this is reported, not fatal
                result.skipped[variant] = f"{type(error).__name__}: {error}"[:300]
                progress(f"websocket {variant}: left out ({result.skipped[variant]})")
                continue
            samples = result.wire[variant]
            medians = ", ".join(f"{n} {samples.summary(n).median:,.0f}" for n in names)
            progress(f"websocket {variant}, messages/s: {medians}")
    finally:
        loop.close()
    return result


def _measure_variant(
    loop: asyncio.AbstractEventLoop,
    variant: str,
    names: list[str],
    frames: Frames,
    rounds: int,
    shuffler: random.Random,
) -> Samples:
    spec = available()[variant]
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    }
    samples = Samples()
    with ExitStack() as stack:
        servers = {
            name: stack.enter_context(
                launch(spec, APPS[name], cwd=str(REPO_ROOT), env=env, startup_timeout=30)
            )
            for name in names
        }
        warm = Frames.build(500)
        for server in servers.values():
            loop.run_until_complete(echo_over_the_wire(server, warm))
        for _ in range(rounds):
            order = list(names)
            shuffler.shuffle(order)
            samples.add_round(
                {n: loop.run_until_complete(echo_over_the_wire(servers[n], frames)) for n in order}
            )
    return samples


def render(result: WebSocketResult) -> str:
    """The tables: messages/s and the ratio to raw, in process and per variant."""
    names = result.apps
    head = "| where | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names) + "\n"
    lines = [
        f"{result.count:,} messages of {MESSAGE} bytes per connection in process, "
        f"{result.wire_count:,} over the wire; {result.rounds} rounds. Messages per second "
        "(median), then each framework's rate as a share of raw's, taken within each round "
        "(median, with the interquartile range).\n\n",
        head,
    ]

    def row(where: str, samples: Samples) -> str:
        cells = []
        for name in names:
            rate = samples.summary(name).median
            if name == BASELINE:
                cells.append(f"{rate:,.0f}")
            else:
                cells.append(f"{rate:,.0f} ({samples.ratio(name, BASELINE).format(2, 'x')})")
        return f"| {where} | " + " | ".join(cells) + " |\n"

    lines.append(row("in process", result.in_process))
    for variant, samples in result.wire.items():
        lines.append(row(variant, samples))
    for variant, why in result.skipped.items():
        lines.append(f"\n{variant} left out: {why}\n")
    return "".join(lines)
