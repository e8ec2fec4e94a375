"""Measurement 4: SSE fan-out, 1,000 concurrent clients on one server process.

For each HTTP/1.1 variant, for the raw and the reference app in turn (alternating which goes
first), ``clients`` connections open ``GET /fanout/subscribe`` (in batches, so that a short
accept backlog is not overrun) and each waits for its ``: ready`` comment, which proves the
subscription exists (and flushes the headers on servers that defer them). The RSS of the server
is taken before and after: the growth divided by the clients is the memory per client. Then one
``POST /fanout/publish?n=K`` makes the app put K events into every subscriber's bounded queue
and end every stream; the clock runs until the last client has its whole response, and every
client is checked to have received exactly K events. Events per second delivered is
``clients x K / seconds``. The client side is one asyncio process of cheap protocols that only
count bytes: it shares the two cores with the server, equally for both apps.

Run alone: ``python -m bench fanout``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from servers import HTTPProtocol, RunningServer, get

from .serving import MemoryWatch, group_rss, serve, wait_quiet
from .stats import Samples, summarize

__all__ = ["VARIANTS", "FanoutResult", "measure", "render", "run_fanout"]

VARIANTS: Final = ("uvicorn-h11", "uvicorn-httptools", "hypercorn", "daphne", "granian")
APPS: Final = ("raw", "reference_app")
#: How many connections are opened at once.
CONNECT_BATCH: Final = 50
_END: Final = b"\r\n0\r\n\r\n"  # the last chunk of a chunked HTTP/1.1 body
_EVENT: Final = b"data: tick "


class _Subscriber(asyncio.Protocol):
    """One SSE client: sends its request, counts what arrives, notes ready and done."""

    def __init__(self, request: bytes, ready: Callable[[], None], done: Callable[[], None]):
        self.request = request
        self.parts: list[bytes] = []
        self.ready = False
        self.done = False
        self._on_ready = ready
        self._on_done = done
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.parts.append(data)
        if not self.ready and b": ready" in b"".join(self.parts[-2:]):
            self.ready = True
            self._on_ready()
        if not self.done and (b"".join(self.parts[-2:])).endswith(_END):
            self.done = True
            self._on_done()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done:
            self.done = True
            self._on_done()

    def events(self) -> int:
        return b"".join(self.parts).count(_EVENT)


def _factory(subscriber: _Subscriber) -> Callable[[], _Subscriber]:
    return lambda: subscriber


class _Counter:
    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0
        self.event = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        if self.count >= self.target:
            self.event.set()


async def _post(host: str, port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-length: 0\r\n"
        "connection: close\r\n\r\n".encode()
    )
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


@dataclass(frozen=True, slots=True)
class FanoutRun:
    """One fan-out run."""

    clients: int
    events: int
    seconds: float
    rss_per_client: float

    @property
    def rate(self) -> float:
        """Events delivered per second."""
        return self.clients * self.events / self.seconds


async def run_fanout(
    server: RunningServer, clients: int, events: int, timeout: float = 120.0
) -> FanoutRun:
    """One fan-out run against ``server``.

    Raises:
        AssertionError: a client did not get exactly ``events`` events, or the publisher did
            not see every client.
        TimeoutError: the run took longer than ``timeout``.
    """
    loop = asyncio.get_running_loop()
    host, port = server.host, server.port
    request = f"GET /fanout/subscribe HTTP/1.1\r\nhost: {host}:{port}\r\n\r\n".encode()
    ready, done = _Counter(clients), _Counter(clients)
    pids = MemoryWatch(server.pid).pids
    before = group_rss(pids)
    subscribers: list[_Subscriber] = []
    try:
        async with asyncio.timeout(timeout):
            for start in range(0, clients, CONNECT_BATCH):
                batch = [
                    _Subscriber(request, ready, done)
                    for _ in range(min(CONNECT_BATCH, clients - start))
                ]
                await asyncio.gather(
                    *(loop.create_connection(_factory(s), host, port) for s in batch)
                )
                subscribers += batch
            await ready.event.wait()
            connected = group_rss(pids)
            started = time.perf_counter()
            answer = await _post(host, port, f"/fanout/publish?n={events}")
            await done.event.wait()
            seconds = time.perf_counter() - started
    finally:
        for subscriber in subscribers:
            if subscriber.transport is not None:
                subscriber.transport.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert answer.endswith(str(clients).encode()), f"the publisher saw: {answer[-50:]!r}"
    counts = [s.events() for s in subscribers]
    wrong = [c for c in counts if c != events]
    assert not wrong, f"{len(wrong)} clients got a wrong number of events, e.g. {wrong[:5]}"
    return FanoutRun(clients, events, seconds, (connected - before) / clients)


@dataclass(slots=True)
class FanoutResult:
    """Samples by variant: events/s, and RSS per client by app."""

    clients: int = 1000
    events: int = 50
    rate: dict[str, Samples] = field(default_factory=dict)
    per_client: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def measure(
    *,
    variants: Sequence[str] = VARIANTS,
    clients: int = 1000,
    events: int = 50,
    rounds: int = 2,
    progress: Callable[[str], None] = lambda line: None,
) -> FanoutResult:
    """Run measurement 4."""
    result = FanoutResult(clients=clients, events=events)
    for name in variants:
        spec = get(name)
        if not spec.available():
            result.skipped[name] = f"{spec.server} is not installed"
            continue
        if spec.protocol is not HTTPProtocol.HTTP1:
            result.skipped[name] = "the fan-out client speaks HTTP/1.1 only"
            continue
        with serve(spec, APPS[0]) as raw, serve(spec, APPS[1]) as ref:
            running = {APPS[0]: raw, APPS[1]: ref}
            for server in running.values():  # warm-up
                asyncio.run(run_fanout(server, 20, 5))
            samples = result.rate[name] = Samples()
            for index in range(rounds):
                order = APPS if index % 2 == 0 else APPS[::-1]
                measured = {}
                for app in order:
                    wait_quiet()
                    run = asyncio.run(run_fanout(running[app], clients, events))
                    measured[app] = run.rate
                    result.per_client.setdefault((name, app), []).append(run.rss_per_client)
                samples.add_round(measured)
            progress(
                f"fanout {name}: "
                + ", ".join(
                    f"{app} {samples.summary(app).median:.0f} events/s "
                    f"{summarize(result.per_client[name, app]).median / 1024:.1f} KiB/client"
                    for app in APPS
                )
                + f", ratio {samples.ratio(APPS[1], APPS[0]).format(3, 'x')}"
            )
    return result


def render(result: FanoutResult) -> str:
    """The markdown table of measurement 4."""
    out = [
        f"{result.clients} clients, {result.events} events each.\n\n",
        "| server | raw events/s | reference events/s | reference/raw "
        "| raw KiB/client | reference KiB/client |\n",
        "|---|---:|---:|---:|---:|---:|\n",
    ]
    for variant, samples in result.rate.items():
        kib = {app: summarize(result.per_client[variant, app]).median / 1024 for app in APPS}
        out.append(
            f"| {variant} | {samples.summary(APPS[0]).format(0)} "
            f"| {samples.summary(APPS[1]).format(0)} "
            f"| {samples.ratio(APPS[1], APPS[0]).format(3, 'x')} "
            f"| {kib[APPS[0]]:.1f} | {kib[APPS[1]]:.1f} |\n"
        )
    for variant, reason in result.skipped.items():
        out.append(f"| {variant} | skipped: {reason} | | | | |\n")
    return "".join(out)
