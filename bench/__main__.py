"""``python -m bench``: run every measurement and write ``BENCHMARKS.md``.

Usage::

    python -m bench                      # all five measurements, writes BENCHMARKS.md
    python -m bench inprocess wire       # some of them, printed (add --output to write a file)
    python -m bench --quick              # a smoke run: small sizes, few rounds (not for the record)
    python -m bench --render             # BENCHMARKS.md again from the last full run's record

Measurements: ``inprocess`` (1), ``wire`` (2), ``streaming`` (3), ``fanout`` (4), ``suite`` (5),
``websocket`` (6).
Each is a module of this package; see its docstring for the method. Every figure is a ratio
measured side by side in the same run (interleaved rounds; median and interquartile range).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import fanout, inprocess, streaming, suite, websocket, wire
from .report import environment, load_average
from .serving import REPO_ROOT

PARTS = ("inprocess", "wire", "streaming", "fanout", "suite", "websocket")
ANALYSIS = Path(__file__).with_name("analysis.md")
#: The record of the last full run (what --render rebuilds BENCHMARKS.md from).
RECORD = Path(__file__).with_name("last-run.json")


def _yes(met: bool) -> str:
    return "yes" if met else "no"


def _progress(line: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("parts", nargs="*", default=[], metavar="PART", help=", ".join(PARTS))
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds")
    parser.add_argument("--output", type=Path, help="write the markdown document here")
    parser.add_argument("--rounds", type=int, help="in-process rounds (default 15)")
    parser.add_argument("--size-mib", type=int, help="streaming body size (default 1024)")
    parser.add_argument(
        "--render",
        action="store_true",
        help="no measurement: rebuild BENCHMARKS.md from the record",
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="measure the given parts again into the record of the last full run, and rebuild "
        "BENCHMARKS.md (it says which parts were measured when)",
    )
    args = parser.parse_args(argv)
    unknown = [part for part in args.parts if part not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    if args.update and (not args.parts or args.quick or args.render):
        parser.error("--update needs the parts to measure again, without --quick or --render")
    if args.update and not RECORD.exists():
        parser.error(f"--update needs the record of a full run ({RECORD}); run python -m bench")
    return args


def _part_of(target: str) -> str:
    """The part a target line of the record belongs to (records keep no part per target)."""
    for prefix, part in (
        ("the full conformance matrix", "suite"),
        ("over the wire", "wire"),
        ("streaming,", "streaming"),
    ):
        if target.startswith(prefix):
            return part
    return "inprocess"


def _settings(quick: bool) -> dict[str, dict[str, Any]]:
    if quick:
        return {
            "inprocess": {"rounds": 3, "batch_seconds": 0.005},
            "wire": {"rounds": 1, "seconds": 1, "variants": ("uvicorn-httptools", "hypercorn-h2c")},
            "streaming": {"size": 16 << 20, "rounds": 1, "variants": ("uvicorn-httptools",)},
            "fanout": {"clients": 100, "events": 10, "rounds": 1, "variants": ("uvicorn-h11",)},
            "websocket": {
                "count": 2000,
                "wire_count": 2000,
                "rounds": 2,
                "variants_": ("uvicorn-h11",),
            },
        }
    return {
        "inprocess": {"rounds": 15, "batch_seconds": 0.03},
        "wire": {"rounds": 8, "seconds": 2},
        "streaming": {"size": streaming.GIB, "rounds": 4},
        "fanout": {"clients": 1000, "events": 50, "rounds": 2},
        "websocket": {"count": 20_000, "wire_count": 20_000, "rounds": 7},
    }


def _runners(
    settings: dict[str, dict[str, Any]],
    sections: dict[str, str],
    targets: list[tuple[str, str, str]],
) -> dict[str, Callable[[], None]]:
    """One function per measurement, each filling ``sections`` and ``targets``."""

    def run_inprocess() -> None:
        result = inprocess.measure(progress=_progress, **settings["inprocess"])
        sections["inprocess"] = inprocess.render(result)
        targets.extend(inprocess.targets(result))

    def run_wire() -> None:
        result = wire.measure(progress=_progress, **settings["wire"])
        sections["wire"] = (
            f"Load: `{result.settings['wrk']}` (HTTP/1.1) and `{result.settings['h2load']}` "
            f"(h2c), {result.settings['rounds']} rounds per app and workload, alternating which "
            "app goes first, after a 1 s warm-up each.\n\n" + wire.render(result)
        )
        titles = {key: title for key, title, _ in wire.WORKLOADS}
        for (variant, key), samples in result.rps.items():
            if key not in wire.TARGET_WORKLOADS:
                continue  # the echo is reported in the table, not held to the target
            ratio = samples.ratio(wire.APPS[1], wire.APPS[0])
            targets.append(
                (
                    f"over the wire, {variant}, ({key}) {titles[key]}: reference ≥ "
                    f"{wire.TARGET}x raw req/s",
                    ratio.format(3, "x"),
                    _yes(ratio.median >= wire.TARGET),
                )
            )

    def run_streaming() -> None:
        result = streaming.measure(progress=_progress, **settings["streaming"])
        sections["streaming"] = streaming.render(result)
        for (variant, direction), samples in result.throughput.items():
            ratio = samples.ratio(streaming.APPS[1], streaming.APPS[0])
            grow = max(result.growth[variant, direction, streaming.APPS[1]])
            targets.append(
                (
                    f"streaming, {variant} {direction}: ≥ 0.9x raw throughput",
                    ratio.format(3, "x"),
                    _yes(ratio.median >= streaming.THROUGHPUT_TARGET),
                )
            )
            targets.append(
                (
                    f"streaming, {variant} {direction}: reference peak RSS growth < 32 MiB",
                    f"{grow / streaming.MIB:.1f} MiB",
                    _yes(grow < streaming.RSS_TARGET),
                )
            )

    def run_fanout() -> None:
        result = fanout.measure(progress=_progress, **settings["fanout"])
        sections["fanout"] = fanout.render(result)

    def run_suite() -> None:
        result = suite.measure(progress=_progress)
        sections["suite"] = suite.render(result)
        targets.append(
            (
                "the full conformance matrix in under 60 s",
                f"{result.wall:.1f} s",
                _yes(result.wall < suite.TARGET_SECONDS),
            )
        )

    def run_websocket() -> None:
        result = websocket.measure(progress=_progress, **settings["websocket"])
        sections["websocket"] = websocket.render(result)

    return {
        "websocket": run_websocket,
        "inprocess": run_inprocess,
        "wire": run_wire,
        "streaming": run_streaming,
        "fanout": run_fanout,
        "suite": run_suite,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the measurements asked for; write or print the document."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.render:
        record = json.loads(RECORD.read_text(encoding="utf-8"))
        (args.output or REPO_ROOT / "BENCHMARKS.md").write_text(_document(record), encoding="utf-8")
        return 0
    parts = args.parts or list(PARTS)
    output = args.output or (REPO_ROOT / "BENCHMARKS.md" if not args.parts else None)
    settings = _settings(args.quick)
    if args.rounds:
        settings["inprocess"]["rounds"] = args.rounds
    if args.size_mib:
        settings["streaming"]["size"] = args.size_mib << 20
    started = time.perf_counter()
    load_before = load_average()
    sections: dict[str, str] = {}
    targets: list[tuple[str, str, str]] = []
    runners = _runners(settings, sections, targets)
    for part in PARTS:
        if part in parts:
            _progress(f"--- {part}")
            runners[part]()
    command = "python -m bench" + (" " + " ".join(args.parts) if args.parts else "")
    if args.update:
        record = json.loads(RECORD.read_text(encoding="utf-8"))
        record["sections"].update(sections)
        record["targets"] = [t for t in record["targets"] if _part_of(t[0]) not in parts] + targets
        when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        record.setdefault("updated", {}).update(
            {part: f"{when}, `{command} --update`, load average {load_average()}" for part in parts}
        )
        RECORD.write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
        output = args.output or REPO_ROOT / "BENCHMARKS.md"
        output.write_text(_document(record), encoding="utf-8")
        _progress(f"updated {', '.join(parts)} in {RECORD.name}; wrote {output}")
        return 0
    record = {
        "command": command + (" --quick" if args.quick else ""),
        "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": time.perf_counter() - started,
        "load": [load_before, load_average()],
        "environment": environment(),
        "sections": sections,
        "targets": targets,
        "full": not args.parts,
    }
    document = _document(record)
    if not args.parts and not args.quick:
        RECORD.write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
    if output is not None:
        output.write_text(document, encoding="utf-8")
        _progress(f"wrote {output}")
    else:
        print(document)
    return 0


_TITLES = {
    "inprocess": "1. Framework overhead, in process",
    "wire": "2. Over the wire, per server",
    "streaming": "3. Streaming and memory (1 GiB each way)",
    "fanout": "4. SSE fan-out",
    "suite": "5. The conformance matrix itself",
    "websocket": "6. WebSocket echo",
}

_METHODS = {
    "inprocess": (
        "No server, no socket: each app is called through the same minimal driver "
        "(`bench/driver.py`) on one asyncio event loop; each framework is first checked to "
        "answer every workload correctly. In each round every framework runs one batch "
        "(about 30 ms) in a shuffled order; the ratio to the raw floor is taken within the "
        "round. Workloads: (a) `GET /plaintext`; (b) `POST /echo`, a 1 KiB JSON body parsed "
        "and serialized back; (c) `GET /api/users/42/posts/hello-world/rev/1.5`, three typed "
        "parameters (int, str, float), the route 26th of 50 of the same shape; (d) 64 KiB "
        "streamed in 4 KiB chunks; (e) one SSE event; and the routes people write: (f) the "
        "seed's `ChunkyBacon.on_get`, `GET /bacon/crispy?as=text` (`req.get_param`, "
        "`resp.set_header`, `resp.text`); (g) `GET /session` reading one of three cookies; (h) "
        "`GET /search?q=crispy+bacon&page=2&limit=10` reading three query parameters. The apps "
        "are in `bench/apps/`, written as each framework's documentation shows; the raw floor "
        "parses only what it reads, as a hand-written app would. The driver reuses one scope "
        "and one exchange per batch; its own cost is timed in every round (`driver`)."
    ),
    "wire": (
        "The raw and the reference app run under the same server variant at the same time "
        "(two processes, one worker each) and are loaded in turn, on loopback. Beside req/s: "
        "the server's CPU time per request (from /proc, the whole process group), and the "
        "app's own time per request inside the server (`bench/apps/timed.py`: time in the app "
        "minus time in the server's send() and receive(), one connection, one request at a "
        "time, a separate 2 s run per app)."
    ),
    "streaming": (
        "`curl` downloads `GET /download?size=1073741824` (64 KiB blocks with a Content-Length; "
        "reference: `resp.set_stream`) and uploads 1 GiB to `POST /upload` (the app counts the "
        "bytes of `async for chunk in req.stream`; the count is checked). The RSS of the "
        "server's whole process group is sampled every 5 ms; the growth is the peak over the "
        "RSS after a warm-up. Throughput is size / curl's total time."
    ),
    "fanout": (
        "One asyncio client process opens the SSE connections (HTTP/1.1 variants), waits for "
        "each one's `: ready` comment, then one `POST /fanout/publish?n=K` puts K events into "
        "every subscriber's bounded queue (depth 16, so a slow client slows the publisher); the "
        "clock runs until every client has its complete response, and each client's count of "
        "events is checked. Memory per client is the server's RSS growth while the clients "
        "are connected and idle, divided by their number."
    ),
    "suite": (
        "`asgi-conformance run` on every installed variant with the default concurrency, "
        "`-p bench.suite_timing` passed to every shard to time each case, each server start "
        "and each absence wait (`Observer.happened` running out its timeout: where the absence "
        "of an event is the pass condition); then the same run with `-j 1`."
    ),
    "websocket": (
        "The same echo (`WS /echo`, every text message sent back) as raw ASGI, reference_app "
        "(`@app.websocket`, `async for` over the messages), Falcon (`on_websocket`) and "
        "Starlette (`WebSocketRoute`), in `bench/websocket.py`. In process: one connection of "
        "N messages per app through a minimal driver on one event loop (the echoes checked). "
        "Under each server with WebSocket: the four apps run at once (four processes, one "
        "worker each); a raw client writes N masked text frames built before the clock starts "
        "while it reads the N echoes (checked byte for byte), so the rate is the server's and "
        "the app's. Rounds interleave the apps in a shuffled order; ratios to raw are taken "
        "within each round."
    ),
}


def _document(record: dict[str, Any]) -> str:
    out = [
        "# Benchmarks\n\n",
        "Every figure here is a ratio measured side by side in one run: the contenders are "
        "interleaved round by round and the ratio is taken within each round, so that the "
        "noise of a shared machine cancels out. Medians are given with their interquartile "
        "range `(q1-q3)`.\n\n",
        f"Command: `{record['command']}` (from the repository root, in the project's venv with "
        "the `bench` extra: `pip install -e '.[bench]'`; `apt-get install wrk nghttp2-client "
        f"curl` for the load tools). Generated {record['generated']} in "
        f"{record['seconds'] / 60:.1f} min; load average (1/5/15 min) before "
        f"{record['load'][0]}, after {record['load'][1]}. The record of the run is "
        "`bench/last-run.json`.\n\n",
        "## Machine and versions\n\n| | |\n|---|---|\n",
        *(f"| {what} | {value} |\n" for what, value in record["environment"]),
    ]
    targets = record["targets"]
    if targets:
        met = sum(v == "yes" for _, _, v in targets)
        out += [
            f"\n## Targets (issues 5 and 11): {met} of {len(targets)} met\n\n",
            "| target | measured | met |\n|---|---:|:---:|\n",
            *(f"| {t} | {m} | {inprocess.verdict(v)} |\n" for t, m, v in targets),
        ]
    sections = record["sections"]
    updated = record.get("updated", {})
    for part in PARTS:
        if part in sections:
            out += [f"\n## {_TITLES[part]}\n\n", _METHODS[part], "\n\n"]
            if part in updated:
                out.append(f"Measured again on its own: {updated[part]}.\n\n")
            out.append(sections[part])
    if ANALYSIS.exists() and record["full"]:
        # analysis.md links relative to bench/; BENCHMARKS.md sits at the root.
        out += ["\n", ANALYSIS.read_text(encoding="utf-8").replace("](../", "](")]
    return "".join(out)


if __name__ == "__main__":
    sys.exit(main())
