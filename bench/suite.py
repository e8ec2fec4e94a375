"""Measurement 5: the wall time of the full conformance matrix, and each server's share.

Runs ``python -m pytest --pyargs conformance.suites -q`` (every installed variant) once, with
:mod:`bench.suite_timing` loaded to time every test, every server start and every absence wait
(an ``Observer.happened`` that runs out its timeout: the waits the cases need by design). The
floor of a variant is its server start plus its absence waits; the rest is the cases' own work
(requests, observations, server stops). The slowest cases are listed with what their time is.

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

#: The command measured (the plugin is added to it).
COMMAND: Final = ("-m", "pytest", "--pyargs", "conformance.suites", "-q")
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
    #: The same matrix over two xdist workers (``-p xdist -n 2``): wall seconds and summary.
    parallel: tuple[float, str] | None = None


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
    *, parallel: bool = True, progress: Callable[[str], None] = lambda line: None
) -> SuiteResult:
    """Run the matrix once and time it; then once more over two xdist workers if ``parallel``."""
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        path = Path(tmp) / "timing.json"
        env = {**os.environ, "BENCH_SUITE_TIMING": str(path)}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        argv = [sys.executable, *COMMAND, "-p", "bench.suite_timing"]
        progress("suite: " + " ".join(["python", *COMMAND]) + " (timed)")
        started = time.perf_counter()
        done = subprocess.run(
            argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False
        )
        wall = time.perf_counter() - started
        result = analyse(json.loads(path.read_text()), wall)
    result.exit_code = done.returncode
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    result.summary = lines[-1] if lines else done.stderr[-300:]
    progress(f"suite: {wall:.1f} s wall, exit {done.returncode}: {result.summary}")
    if parallel:
        result.parallel = _parallel(progress)
    return result


def _parallel(progress: Callable[[str], None]) -> tuple[float, str]:
    argv = [sys.executable, *COMMAND, "-p", "xdist", "-n", "2"]
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    wall = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1] if lines else done.stderr[-300:]
    progress(f"suite, -p xdist -n 2: {wall:.1f} s wall: {summary}")
    return wall, summary


def render(result: SuiteResult, top: int = 12) -> str:
    """The markdown tables of measurement 5."""
    met = result.wall < TARGET_SECONDS
    out = [
        f"Wall time **{result.wall:.1f} s** (target < {TARGET_SECONDS:.0f} s: "
        f"{'met' if met else '**not met**'}); pytest said: `{result.summary}` "
        f"(exit {result.exit_code}). Outside the tests (interpreter, collection, report): "
        f"{result.outside:.1f} s.\n\n",
        *(
            [
                f"The same matrix over two xdist workers (`{' '.join(['python', *COMMAND])} "
                f"-p xdist -n 2`, no change to the suites): **{result.parallel[0]:.1f} s** "
                f"(`{result.parallel[1]}`).\n\n"
            ]
            if result.parallel
            else []
        ),
        "| variant | tests | seconds | server start | absence waits | floor | above the floor |\n",
        "|---|---:|---:|---:|---:|---:|---:|\n",
    ]
    for variant, share in sorted(result.variants.items(), key=lambda item: -item[1].seconds):
        out.append(
            f"| {variant} | {share.tests} | {share.seconds:.1f} | {share.startup:.1f} "
            f"| {share.absence_waits:.1f} | {share.floor:.1f} "
            f"| {share.seconds - share.floor:.1f} |\n"
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
