"""Measurement 2: over the wire, per server: the reference app against the raw app.

For each server variant, the raw app and the reference app run side by side (two server
processes, started together), and are loaded in turn, round after round, alternating which goes
first: ``wrk`` for HTTP/1.1, ``h2load`` (h2c, prior knowledge) for HTTP/2, at fixed connections
and duration, on three workloads: (a) ``GET /plaintext``, (b) ``POST /echo`` with the 1 KiB JSON
body and (f) the seed's route, ``GET /bacon/crispy?as=text``. Each app is checked over the wire
first (the right body, through the server). The figure is the per-round ratio of requests per
second, reference/raw; p50/p99 latencies are given too.

Run alone: ``python -m bench wire``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from servers import HTTPProtocol, RunningServer, ServerSpec, get

from .apps import PLAINTEXT
from .apps.timed import STATS_PATH
from .serving import group_cpu, group_pids, serve
from .stats import Samples, summarize
from .tools import LoadResult, ToolMissing, find, run_h2load, run_wrk
from .workloads import BACON_BODY, BACON_PATH, BACON_QUERY, JSON_PAYLOAD, JSON_PAYLOAD_BYTES

__all__ = ["APPS", "VARIANTS", "WireResult", "check_over_the_wire", "measure", "render"]

#: The variants measured, in table order (the TLS variant is left out: the load tools would
#: measure TLS, not the app).
VARIANTS: Final = (
    "uvicorn-h11",
    "uvicorn-httptools",
    "hypercorn",
    "hypercorn-h2c",
    "daphne",
    "granian",
    "granian-h2c",
)
#: The apps compared, baseline first.
APPS: Final = ("raw", "reference_app")
#: The seed's route, as requested over the wire.
BACON_TARGET: Final = f"{BACON_PATH}?{BACON_QUERY.decode()}"
#: The workloads: key, title, path.
WORKLOADS: Final = (
    ("a", "GET plain text", "/plaintext"),
    ("b", "POST 1 KiB JSON echo", "/echo"),
    ("f", "the seed's route", BACON_TARGET),
)
#: The workloads held to :data:`TARGET` (the echo is reported, not held).
TARGET_WORKLOADS: Final = ("a", "f")
#: h2load's shape: hypercorn's h2c serves at most about 500 requests/s per connection here
#: whatever the app (1, 2, 4 connections: 500, 1001, 2002 req/s), so enough connections are
#: opened for the server's CPU, not that pacing, to be the limit.
#: The target: the reference app's requests per second at least this share of the raw app's.
TARGET: Final = 0.95


@dataclass(slots=True)
class WireResult:
    """Samples by ``(variant, workload key)``, and why a variant was skipped."""

    settings: dict[str, object] = field(default_factory=dict)
    rps: dict[tuple[str, str], Samples] = field(default_factory=dict)
    #: The server's CPU µs per request, per round.
    cpu: dict[tuple[str, str], Samples] = field(default_factory=dict)
    runs: dict[tuple[str, str], dict[str, list[LoadResult]]] = field(default_factory=dict)
    #: The app's own µs per request inside the server (bench.apps.timed), by app.
    own: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def _tool(spec: ServerSpec) -> str:
    if spec.protocol is HTTPProtocol.HTTP1:
        return "wrk"
    if spec.protocol is HTTPProtocol.H2C:
        return "h2load"
    raise ToolMissing(f"{spec.name}: no load tool for {spec.protocol.value}")


def check_over_the_wire(server: RunningServer) -> None:
    """Check both workloads through ``server``: the right status and body.

    Raises:
        AssertionError: an answer is wrong.
    """
    h2 = server.spec.protocol is HTTPProtocol.H2C
    with httpx.Client(base_url=server.base_url, http1=not h2, http2=h2, timeout=30) as client:
        plain = client.get("/plaintext")
        assert plain.status_code == 200, f"GET /plaintext: {plain.status_code}"
        assert plain.content == PLAINTEXT, f"GET /plaintext: {plain.content[:100]!r}"
        echo = client.post(
            "/echo", content=JSON_PAYLOAD_BYTES, headers={"content-type": "application/json"}
        )
        assert echo.status_code == 200, f"POST /echo: {echo.status_code}"
        assert echo.json() == JSON_PAYLOAD, f"POST /echo: {echo.content[:100]!r}"
        bacon = client.get(BACON_TARGET)
        assert bacon.status_code == 200, f"GET {BACON_TARGET}: {bacon.status_code}"
        assert bacon.content == BACON_BODY, f"GET {BACON_TARGET}: {bacon.content[:100]!r}"
        assert plain.http_version == ("HTTP/2" if h2 else "HTTP/1.1"), plain.http_version


def _lua_post(directory: Path) -> Path:
    script = directory / "echo.lua"
    body = JSON_PAYLOAD_BYTES.decode()
    assert "]=]" not in body
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = [=[{body}]=]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return script


def measure(
    *,
    variants: Sequence[str] = VARIANTS,
    rounds: int = 3,
    seconds: float = 2.0,
    connections: int = 32,
    h2_connections: int = 16,
    h2_streams: int = 4,
    own_time: bool = True,
    progress: Callable[[str], None] = lambda line: None,
) -> WireResult:
    """Run measurement 2.

    Args:
        variants: server variants (names from :data:`servers.SERVERS`).
        rounds: load runs per app, per workload, per variant (alternating which app goes first).
        seconds: the duration of one load run.
        connections: wrk's connections (one thread).
        h2_connections: h2load's connections.
        h2_streams: h2load's concurrent streams per connection.
        own_time: then serve the apps wrapped by :mod:`bench.apps.timed` for one more run of
            each workload, to read each app's own time per request inside the server.
        progress: called with a line of progress.
    """
    result = WireResult()
    result.settings = {
        "rounds": rounds,
        "seconds": seconds,
        "wrk": f"wrk -t1 -c{connections} -d{seconds:g}s --latency",
        "h2load": f"h2load -t1 -c{h2_connections} -m{h2_streams} -D{seconds:g}",
    }
    with tempfile.TemporaryDirectory(prefix="bench-wire-") as tmp:
        directory = Path(tmp)
        lua = _lua_post(directory)
        payload = directory / "echo.json"
        payload.write_bytes(JSON_PAYLOAD_BYTES)
        for name in variants:
            spec = get(name)
            if not spec.available():
                result.skipped[name] = f"{spec.server} is not installed"
                progress(f"wire: {name} skipped: {result.skipped[name]}")
                continue
            try:
                tool = _tool(spec)
                find(tool)
            except ToolMissing as missing:
                result.skipped[name] = str(missing)
                progress(f"wire: {name} skipped: {missing}")
                continue
            result.tools[name] = tool

            def load(
                server: RunningServer,
                path: str,
                duration: float,
                tool: str = tool,
                single: bool = False,
            ) -> LoadResult:
                url = server.base_url + path
                post = path == "/echo"
                if tool == "wrk":
                    return run_wrk(
                        url,
                        connections=1 if single else connections,
                        seconds=duration,
                        script=lua if post else None,
                    )
                return run_h2load(
                    url,
                    connections=1 if single else h2_connections,
                    streams=1 if single else h2_streams,
                    seconds=duration,
                    log_file=directory / "h2load.log",
                    data=payload if post else None,
                    headers=("content-type: application/json",) if post else (),
                )

            with serve(spec, APPS[0]) as raw, serve(spec, APPS[1]) as ref:
                running = {APPS[0]: raw, APPS[1]: ref}
                pids = {app: group_pids(server.pid) for app, server in running.items()}
                for server in running.values():
                    check_over_the_wire(server)
                for key, title, path in WORKLOADS:
                    for server in running.values():
                        load(server, path, 1)  # warm-up
                    samples = result.rps[name, key] = Samples()
                    cpu = result.cpu[name, key] = Samples()
                    runs = result.runs[name, key] = {app: [] for app in APPS}
                    for index in range(rounds):
                        order = APPS if index % 2 == 0 else APPS[::-1]
                        measured, used = {}, {}
                        for app in order:
                            before = group_cpu(pids[app])
                            run = load(running[app], path, seconds)
                            if not run.clean:
                                raise RuntimeError(f"{name} {app} {path}: {run}")
                            used[app] = (group_cpu(pids[app]) - before) / run.requests * 1e6
                            runs[app].append(run)
                            measured[app] = run.rps
                        samples.add_round(measured)
                        cpu.add_round(used)
                    ratio = samples.ratio(APPS[1], APPS[0])
                    progress(
                        f"wire {name} ({key}) {title}: raw {samples.summary(APPS[0]).median:.0f} "
                        f"req/s, reference {samples.summary(APPS[1]).median:.0f} req/s, "
                        f"ratio {ratio.format(3, 'x')}; server CPU per request "
                        f"{cpu.summary(APPS[0]).median:.0f} / {cpu.summary(APPS[1]).median:.0f} µs"
                    )
            if own_time:
                _own_time(result, spec, name, load, progress)
    return result


def _own_time(
    result: WireResult,
    spec: ServerSpec,
    name: str,
    load: Callable[..., LoadResult],
    progress: Callable[[str], None],
) -> None:
    # One connection, one request at a time: the app's time is then its own alone (with
    # requests in flight together, a wait in one includes the others' work).
    targets = {app: f"bench.apps.timed:{'raw' if app == APPS[0] else 'reference'}" for app in APPS}
    with serve(spec, targets[APPS[0]]) as raw, serve(spec, targets[APPS[1]]) as ref:
        running = {APPS[0]: raw, APPS[1]: ref}
        for key, _, path in WORKLOADS:
            own = result.own[name, key] = {}
            for app, server in running.items():
                load(server, path, 1, single=True)  # warm-up
                _read_own(server)  # (resets the counters)
                load(server, path, 2, single=True)
                own[app] = _read_own(server)
            progress(
                f"wire {name} ({key}) own time per request: raw {own[APPS[0]]:.2f} µs, "
                f"reference {own[APPS[1]]:.2f} µs"
            )


def _read_own(server: RunningServer) -> float:
    h2 = server.spec.protocol is HTTPProtocol.H2C
    with httpx.Client(base_url=server.base_url, http1=not h2, http2=h2, timeout=30) as client:
        fields = client.get(STATS_PATH).text.split()
    return float(fields[3])


def render(result: WireResult) -> str:
    """The markdown table of measurement 2."""
    out = [
        "| server | tool | workload | raw req/s | reference req/s | reference/raw | ≥ 0.95x "
        "| raw p50 / p99 ms | reference p50 / p99 ms | server CPU µs/req raw / reference "
        "| CPU reference/raw | app's own µs/req raw / reference |\n",
        "|---|---|---|---:|---:|---:|:---:|---:|---:|---:|---:|---:|\n",
    ]
    for (variant, key), samples in result.rps.items():
        title = dict((k, t) for k, t, _ in WORKLOADS)[key]
        runs = result.runs[variant, key]
        ratio = samples.ratio(APPS[1], APPS[0])

        def latency(app: str, runs: dict[str, list[LoadResult]] = runs) -> str:
            p50 = summarize([r.p50_ms for r in runs[app]]).median
            p99 = summarize([r.p99_ms for r in runs[app]]).median
            return f"{p50:.2f} / {p99:.2f}"

        cpu = result.cpu[variant, key]
        out.append(
            f"| {variant} | {result.tools[variant]} | ({key}) {title} "
            f"| {samples.summary(APPS[0]).format(0)} | {samples.summary(APPS[1]).format(0)} "
            f"| {ratio.format(3, 'x')} | {'yes' if ratio.median >= TARGET else '**no**'} "
            f"| {latency(APPS[0])} | {latency(APPS[1])} "
            f"| {cpu.summary(APPS[0]).median:.0f} / {cpu.summary(APPS[1]).median:.0f} "
            f"| {cpu.ratio(APPS[1], APPS[0]).format(3, 'x')} "
            f"| {_own_cell(result, variant, key)} |\n"
        )
    for variant, reason in result.skipped.items():
        out.append(f"| {variant} | - | - | skipped: {reason} | | | | | | | | |\n")
    return "".join(out)


def _own_cell(result: WireResult, variant: str, key: str) -> str:
    own = result.own.get((variant, key))
    if not own:
        return "-"
    return f"{own[APPS[0]]:.1f} / {own[APPS[1]]:.1f}"


def to_json(result: WireResult) -> str:
    """The raw samples, for the record."""
    return json.dumps(
        {f"{v} {k}": s.rounds for (v, k), s in result.rps.items()}, indent=1, sort_keys=True
    )
