"""Measurement 5: the wall time of the full conformance matrix, and each server's share.

Runs ``asgi-conformance run`` (every installed variant, the default concurrency: variants side
by side, one shard process each) with :mod:`bench.suite_timing` loaded in every shard to time
every case, every server start and every absence wait (an ``Observer.happened`` that runs out
its timeout: the waits the cases declare, where the absence of an event is what passes). The
floor of a variant is its server start plus its absence waits: the irreducible part. The floor
of the matrix is what concurrency can reach: the longest variant's floor, or with ``J`` shards
at a time the sum of the floors over ``J`` if that is more. The gap between the wall time and
that floor is the run's own work (requests, observations, interpreters, server stops). The
same matrix run serially (``-j 1``) is timed beside it.

Run alone: ``python -m bench suite``. The suites belong to their own families; this only
measures them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .serving import REPO_ROOT

__all__ = ["COMMAND", "SuiteResult", "analyse", "measure", "render"]

#: The command measured (the timing plugin is passed on to every shard's pytest).
COMMAND: Final = ("-m", "conformance", "run", "--progress", "plain")
#: The target (issue 5): the whole matrix on all servers.
TARGET_SECONDS: Final = 60.0


@dataclass(slots=True)
class VariantShare:
    """One variant's share of the matrix."""

    tests: int = 0
    seconds: float = 0.0
    startup: float = 0.0
    absence_waits: float = 0.0

    @property
    def floor(self) -> float:
        """Start-up plus absence waits."""
        return self.startup + self.absence_waits


@dataclass(slots=True)
class SuiteResult:
    """The measured run."""

    wall: float = 0.0
    exit_code: int = 0
    summary: str = ""
    variants: dict[str, VariantShare] = field(default_factory=dict)
    cases: list[tuple[str, float, float, int]] = field(default_factory=list)
    #: By case: the slowest variant and its seconds.
    worst: dict[str, tuple[str, float]] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    outside: float = 0.0  # collection, plugin work, interpreter start: wall minus the tests
    #: How many shards ran at once.
    jobs: int = 1
    #: Each variant's shards, from start to end (seconds), when the run was concurrent (a
    #: variant the run split by family has several).
    shard_walls: dict[str, list[float]] = field(default_factory=dict)
    #: The same matrix run serially (``-j 1``): wall seconds and its exit line.
    serial: tuple[float, str] | None = None

    @property
    def floor(self) -> tuple[float, str]:
        """The matrix's floor and the variant that sets it (see the module docstring)."""
        if not self.variants:
            return 0.0, ""
        name, worst = max(self.variants.items(), key=lambda item: item[1].floor)
        spread = sum(share.floor for share in self.variants.values()) / max(1, self.jobs)
        return (worst.floor, name) if worst.floor >= spread else (spread, f"all / {self.jobs}")


def analyse(document: dict[str, Any], wall: float) -> SuiteResult:
    """Aggregate :mod:`bench.suite_timing`'s document."""
    result = SuiteResult(wall=wall)
    by_case: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    total = 0.0
    for record in document["tests"].values():
        seconds = sum(record.get(phase, 0.0) for phase in ("setup", "call", "teardown"))
        total += seconds
        variant = record.get("variant") or "(no server)"
        share = result.variants.setdefault(variant, VariantShare())
        share.tests += 1
        share.seconds += seconds
        share.absence_waits += record.get("absence_waits", 0.0)
        outcome = record.get("outcome", "passed")
        result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
        name = record.get("name", "?")
        if seconds > result.worst.get(name, ("", -1.0))[1]:
            result.worst[name] = (variant, seconds)
        case = by_case[name]
        case[0] += seconds
        case[1] += record.get("absence_waits", 0.0)
        case[2] += 1
    for variant, seconds in document["startup"].items():
        result.variants.setdefault(variant, VariantShare()).startup += seconds
    result.cases = sorted(
        ((name, s, w, int(n)) for name, (s, w, n) in by_case.items()),
        key=lambda row: -row[1],
    )
    result.outside = wall - total
    return result


def measure(
    *,
    serial: bool = True,
    jobs: int | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> SuiteResult:
    """Run the matrix (default concurrency, or ``jobs``), timed; then serially if ``serial``."""
    from conformance.parallel import default_jobs

    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        directory = Path(tmp)
        extra = [] if jobs is None else ["-j", str(jobs)]
        wall, done = _run(
            [*extra, "--json", str(directory / "run.json"), "--", "-p", "bench.suite_timing"],
            env_timing=str(directory / "timing"),
            progress=progress,
        )
        timings = [json.loads(p.read_text()) for p in sorted(directory.glob("timing.*.json"))]
        result = analyse(_combine(timings), wall)
        run_path = directory / "run.json"
        if run_path.exists():
            run = json.loads(run_path.read_text())["run"]
            for shard in run.get("shards", []):
                for variant in shard["variants"]:
                    result.shard_walls.setdefault(variant, []).append(shard["duration"])
    result.jobs = default_jobs() if jobs is None else jobs
    result.exit_code = done.returncode
    result.summary = _exit_line(done)
    progress(f"suite: {wall:.1f} s wall, -j {result.jobs}: {result.summary}")
    if serial:
        serial_wall, serial_done = _run(["-j", "1"], env_timing=None, progress=progress)
        result.serial = (serial_wall, _exit_line(serial_done))
        progress(f"suite, -j 1: {serial_wall:.1f} s wall: {result.serial[1]}")
    return result


def _run(
    args: list[str], *, env_timing: str | None, progress: Callable[[str], None]
) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    if env_timing:
        env["BENCH_SUITE_TIMING"] = env_timing
    argv = [sys.executable, *COMMAND, *args]
    progress("suite: " + " ".join(["python", *COMMAND, *args]))
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    return time.perf_counter() - started, done


def _exit_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stdout.splitlines() if line.startswith("exit status")]
    return lines[-1] if lines else (done.stdout + done.stderr).strip()[-300:]


def _combine(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """One timing document from every shard's."""
    combined: dict[str, Any] = {"tests": {}, "startup": {}}
    for document in documents:
        for node, record in document["tests"].items():
            combined["tests"][f"{record.get('variant')}::{node}"] = record
        for variant, seconds in document["startup"].items():
            combined["startup"][variant] = combined["startup"].get(variant, 0.0) + seconds
    return combined


def render(result: SuiteResult, top: int = 12) -> str:
    """The markdown tables of measurement 5."""
    met = result.wall < TARGET_SECONDS
    floor, by = result.floor
    out = [
        f"Wall time **{result.wall:.1f} s** with the default concurrency "
        f"({sum(map(len, result.shard_walls.values())) or len(result.variants)} shards, at most "
        f"{result.jobs} at a time; target < {TARGET_SECONDS:.0f} s: "
        f"{'met' if met else '**not met**'}); `{result.summary}`.\n\n",
        f"The floor concurrency can reach is **{floor:.1f} s** ({by}): the longest variant's "
        f"server start plus absence waits, or the sum of all variants' floors over "
        f"{result.jobs} if that is more (a variant split into shards by family has its absence "
        f"waits shared among them, so its floor here is an upper bound). The gap, "
        f"{result.wall - floor:.1f} s, is the run's own work: requests, observations, "
        "interpreters and server stops.\n\n",
        *(
            [
                f"The same matrix serially (`-j 1`): **{result.serial[0]:.1f} s** "
                f"(`{result.serial[1]}`).\n\n"
            ]
            if result.serial
            else []
        ),
        "| variant | cases | seconds in cases | server start | absence waits | floor | "
        "shard walls |\n",
        "|---|---:|---:|---:|---:|---:|---:|\n",
    ]
    for variant, share in sorted(result.variants.items(), key=lambda item: -item[1].floor):
        walls = ", ".join(f"{wall:.1f}" for wall in result.shard_walls.get(variant, []))
        out.append(
            f"| {variant} | {share.tests} | {share.seconds:.1f} | {share.startup:.1f} "
            f"| {share.absence_waits:.1f} | {share.floor:.1f} | {walls} |\n"
        )
    out += [
        f"\nThe {top} slowest cases, summed over the variants:\n\n",
        "| case | variants | seconds | of which absence waits | slowest variant |\n",
        "|---|---:|---:|---:|---|\n",
    ]
    for name, seconds, waits, count in result.cases[:top]:
        variant, worst = result.worst.get(name, ("?", 0.0))
        out.append(
            f"| `{name}` | {count} | {seconds:.1f} | {waits:.1f} | {variant} {worst:.1f} s |\n"
        )
    return "".join(out)
