"""Measurement 3: a 1 GiB body each way, per server: throughput and the server's peak RSS.

For each variant, the raw and reference apps run side by side (two server processes) and are
driven in turn, alternating which goes first, by ``curl`` (HTTP/1.1, or h2c with prior
knowledge): ``GET /download?size=N`` streams N bytes in 64 KiB blocks with a Content-Length
(reference: ``resp.set_stream``), and ``POST /upload`` sends N bytes (from a sparse file, so the
client reads no disk) that the app reads chunk by chunk (reference: ``async for chunk in
req.stream``) and answers with the count, which is checked. While each transfer runs, the RSS
of the server's process group is sampled every 5 ms (:class:`bench.serving.MemoryWatch`); the
growth is the peak over the RSS the server had after its warm-up, before any big transfer.

Run alone: ``python -m bench streaming``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from servers import HTTPProtocol, RunningServer, get

from .serving import MemoryWatch, group_rss, serve, wait_quiet
from .stats import Samples
from .tools import ToolMissing, curl_transfer, find

__all__ = ["DIRECTIONS", "GIB", "VARIANTS", "StreamingResult", "measure", "render", "transfer"]

GIB: Final = 1 << 30
MIB: Final = 1 << 20
VARIANTS: Final = (
    "uvicorn-h11",
    "uvicorn-httptools",
    "hypercorn",
    "hypercorn-h2c",
    "daphne",
    "granian",
    "granian-h2c",
)
APPS: Final = ("raw", "reference_app")
DIRECTIONS: Final = ("download", "upload")
#: Targets: reference throughput at least this share of raw; RSS growth under this.
THROUGHPUT_TARGET: Final = 0.9
RSS_TARGET: Final = 32 * MIB


@dataclass(slots=True)
class StreamingResult:
    """Throughput samples (MB/s) and peak RSS growths (bytes) by ``(variant, direction)``."""

    size: int = GIB
    sizes: dict[str, int] = field(default_factory=dict)
    throughput: dict[tuple[str, str], Samples] = field(default_factory=dict)
    growth: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    rounds: int = 0


def transfer(
    server: RunningServer, direction: str, size: int, upload_file: Path, baseline: int
) -> tuple[float, int]:
    """One transfer of ``size`` bytes; returns (MB/s, peak RSS growth over ``baseline``).

    Raises:
        AssertionError: the transfer was not complete and correct.
    """
    h2 = server.spec.protocol is HTTPProtocol.H2C
    with MemoryWatch(server.pid) as watch:
        if direction == "download":
            done = curl_transfer(f"{server.base_url}/download?size={size}", http2=h2)
            assert done.status == 200, f"download: status {done.status}"
            assert done.downloaded == size, f"download: {done.downloaded} of {size} bytes"
        else:
            done = curl_transfer(
                f"{server.base_url}/upload", http2=h2, upload=upload_file, keep_body=True
            )
            assert done.status == 200, f"upload: status {done.status}, {done.body[:200]!r}"
            assert done.body == str(size).encode(), f"upload: the app counted {done.body!r}"
            assert done.uploaded == size, f"upload: curl sent {done.uploaded} of {size} bytes"
    return size / done.seconds / 1e6, watch.peak - baseline


def measure(
    *,
    variants: Sequence[str] = VARIANTS,
    size: int = GIB,
    sizes: dict[str, int] | None = None,
    rounds: int = 2,
    progress: Callable[[str], None] = lambda line: None,
) -> StreamingResult:
    """Run measurement 3.

    Args:
        variants: server variants.
        size: the body size each way.
        sizes: a smaller size for some variants (e.g. one that buffers whole bodies in memory),
            reported as such.
        rounds: transfers per app, per direction, per variant.
        progress: called with a line of progress.
    """
    result = StreamingResult(size=size, rounds=rounds)
    try:
        find("curl")
    except ToolMissing as missing:
        result.skipped = {name: str(missing) for name in variants}
        progress(f"streaming skipped: {missing}")
        return result
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        for name in variants:
            spec = get(name)
            if not spec.available():
                result.skipped[name] = f"{spec.server} is not installed"
                continue
            if spec.protocol not in (HTTPProtocol.HTTP1, HTTPProtocol.H2C):
                result.skipped[name] = f"{spec.protocol.value}: TLS would be measured"
                continue
            variant_size = (sizes or {}).get(name, size)
            result.sizes[name] = variant_size
            upload_file = Path(tmp) / f"upload-{variant_size}"
            if not upload_file.exists():
                with open(upload_file, "wb") as sparse:
                    os.truncate(sparse.fileno(), variant_size)  # a hole: reads as zeros
            with serve(spec, APPS[0]) as raw, serve(spec, APPS[1]) as ref:
                running = {APPS[0]: raw, APPS[1]: ref}
                baseline = {}
                for app, server in running.items():
                    for direction in DIRECTIONS:  # warm-up, small
                        transfer(server, direction, 4 * MIB, _small(tmp), 0)
                    wait_quiet()
                    baseline[app] = group_rss(MemoryWatch(server.pid).pids)
                for direction in DIRECTIONS:
                    samples = result.throughput[name, direction] = Samples()
                    for index in range(rounds):
                        order = APPS if index % 2 == 0 else APPS[::-1]
                        measured = {}
                        for app in order:
                            rate, growth = transfer(
                                running[app], direction, variant_size, upload_file, baseline[app]
                            )
                            measured[app] = rate
                            result.growth.setdefault((name, direction, app), []).append(growth)
                            wait_quiet()
                        samples.add_round(measured)
                    progress(
                        f"streaming {name} {direction} {variant_size // MIB} MiB: "
                        + ", ".join(
                            f"{app} {samples.summary(app).median:.0f} MB/s "
                            f"+{max(result.growth[name, direction, app]) / MIB:.1f} MiB"
                            for app in APPS
                        )
                        + f", ratio {samples.ratio(APPS[1], APPS[0]).format(3, 'x')}"
                    )
    return result


def _small(tmp: str) -> Path:
    path = Path(tmp) / "upload-small"
    if not path.exists():
        with open(path, "wb") as sparse:
            os.truncate(sparse.fileno(), 4 * MIB)
    return path


def render(result: StreamingResult) -> str:
    """The markdown table of measurement 3."""
    out = [
        "| server | direction | size | raw MB/s | reference MB/s | reference/raw | ≥ 0.9x "
        "| raw peak RSS growth | reference peak RSS growth | reference < 32 MiB |\n",
        "|---|---|---:|---:|---:|---:|:---:|---:|---:|:---:|\n",
    ]
    for (variant, direction), samples in result.throughput.items():
        ratio = samples.ratio(APPS[1], APPS[0])
        grow = {app: max(result.growth[variant, direction, app]) for app in APPS}
        size = result.sizes[variant]
        out.append(
            f"| {variant} | {direction} | {_size(size)} "
            f"| {samples.summary(APPS[0]).format(0)} | {samples.summary(APPS[1]).format(0)} "
            f"| {ratio.format(3, 'x')} "
            f"| {'yes' if ratio.median >= THROUGHPUT_TARGET else '**no**'} "
            f"| {grow[APPS[0]] / MIB:.1f} MiB | {grow[APPS[1]] / MIB:.1f} MiB "
            f"| {'yes' if grow[APPS[1]] < RSS_TARGET else '**no**'} |\n"
        )
    for variant, reason in result.skipped.items():
        out.append(f"| {variant} | - | - | skipped: {reason} | | | | | | |\n")
    return "".join(out)


def _size(size: int) -> str:
    return f"{size / GIB:g} GiB" if size >= GIB else f"{size // MIB} MiB"
