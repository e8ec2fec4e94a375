"""Measurement 1: framework overhead in process (no server, no socket).

Every framework's app (:mod:`bench.apps`) is called through the same driver
(:mod:`bench.driver`) on one event loop. A framework is first checked on every workload
(:meth:`~bench.workloads.Workload.check`): one that answers wrongly is reported, never timed. Each
framework gets a batch size that takes about ``batch_seconds``; then, for each workload, every
round times one batch of each framework in a shuffled order, and the per-round ratio to the raw
floor is taken. The tables give the median µs/request and the median ratio, each with its
interquartile range. The driver's own cost (:func:`bench.driver.driver_cost`: an app that only
sends an empty 200, through the same loop) is timed in every round too and printed beside the
floor: it is part of every figure, the floor's included.

Run alone: ``python -m bench inprocess``.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .apps import APPS, available
from .driver import ASGIApp, null_app, run_batch
from .stats import Samples
from .workloads import WORKLOADS, Workload, WrongAnswer

__all__ = [
    "BASELINE",
    "REFERENCE",
    "InProcessResult",
    "Samples",
    "load_app",
    "measure",
    "render",
    "verify",
]

#: The floor every ratio is taken against, and the framework the targets are about.
BASELINE = "raw"
REFERENCE = "reference_app"
#: The driver's own cost, in the µs table (an app that sends an empty 200 and nothing else).
DRIVER = "driver"
#: The in-process targets (issues 5 and 11): at most this many times the floor on these
#: workloads (the seed's route among them).
FLOOR_TARGET = 3.0
FLOOR_TARGET_WORKLOADS = ("a", "b", "f")


def load_app(target: str) -> ASGIApp:
    """Import ``module:attribute``."""
    module, _, attribute = target.partition(":")
    app: ASGIApp = getattr(importlib.import_module(module), attribute)
    return app


def verify(
    loop: asyncio.AbstractEventLoop, app: ASGIApp, workloads: Sequence[Workload]
) -> dict[str, str]:
    """Check ``app`` on each workload; return the problems by workload key (empty: all good).

    The answer checked is the second of a batch, as timed: the scope and the exchange reused.
    """
    problems: dict[str, str] = {}
    for workload in workloads:
        try:
            batch = run_batch(app, workload.scope(), workload.request(), 2)
            workload.check(loop.run_until_complete(batch))
        except (WrongAnswer, Exception) as error:
            problems[workload.key] = f"{type(error).__name__}: {error}"
    return problems


def _time_batch(
    loop: asyncio.AbstractEventLoop, app: ASGIApp, workload: Workload, count: int
) -> float:
    """Seconds per request over one batch of ``count`` requests."""
    scope, request = workload.scope(), workload.request()
    gc.collect()
    started = time.perf_counter()
    loop.run_until_complete(run_batch(app, scope, request, count))
    return (time.perf_counter() - started) / count


def _calibrate(
    loop: asyncio.AbstractEventLoop, app: ASGIApp, workload: Workload, batch_seconds: float
) -> int:
    """A batch size that takes about ``batch_seconds`` (after a warm-up), at least 20."""
    _time_batch(loop, app, workload, 50)  # warm-up: imports, caches, specialisation
    per_request = min(_time_batch(loop, app, workload, 50) for _ in range(3))
    return max(20, int(batch_seconds / per_request))


@dataclass(slots=True)
class InProcessResult:
    """The samples of one run, by workload key (µs per request, per round)."""

    frameworks: list[str]
    workloads: list[Workload]
    samples: dict[str, Samples] = field(default_factory=dict)
    batch_sizes: dict[tuple[str, str], int] = field(default_factory=dict)
    wrong: dict[str, dict[str, str]] = field(default_factory=dict)
    rounds: int = 0
    seconds: float = 0.0


def measure(
    *,
    frameworks: Sequence[str] | None = None,
    workloads: Sequence[Workload] = WORKLOADS,
    rounds: int = 15,
    batch_seconds: float = 0.03,
    seed: int = 5,
    progress: Callable[[str], None] = lambda line: None,
) -> InProcessResult:
    """Run measurement 1 and return the samples.

    Args:
        frameworks: names from :data:`bench.apps.APPS` (default: every installed one); the
            floor is always in.
        workloads: the workloads to time.
        rounds: how many interleaved rounds.
        batch_seconds: about how long one batch of one framework takes.
        seed: the seed of the per-round shuffles.
        progress: called with a line of progress now and then.
    """
    names = list(dict.fromkeys([BASELINE, *(frameworks or available())]))
    missing = [name for name in APPS if name not in names and frameworks is None]
    if missing:
        progress(f"in-process: not installed, left out: {', '.join(missing)}")
    started = time.perf_counter()
    loop = asyncio.new_event_loop()
    shuffler = random.Random(seed)
    result = InProcessResult(names, list(workloads), rounds=rounds)
    try:
        apps = {name: load_app(APPS[name]) for name in names}
        for name, app in apps.items():
            problems = verify(loop, app, workloads)
            if problems:
                result.wrong[name] = problems
                progress(f"in-process: {name} answers wrongly, not timed there: {problems}")
        for workload in workloads:
            timed = [n for n in names if workload.key not in result.wrong.get(n, {})]
            if BASELINE not in timed:
                raise WrongAnswer(f"the raw floor answers workload {workload.key} wrongly")
            contenders = {DRIVER: null_app, **{n: apps[n] for n in timed}}
            sizes = {
                n: _calibrate(loop, app, workload, batch_seconds) for n, app in contenders.items()
            }
            for name, size in sizes.items():
                result.batch_sizes[name, workload.key] = size
            samples = result.samples[workload.key] = Samples()
            for _ in range(rounds):
                order = list(contenders)
                shuffler.shuffle(order)
                samples.add_round(
                    {n: _time_batch(loop, contenders[n], workload, sizes[n]) * 1e6 for n in order}
                )
            medians = ", ".join(f"{n} {samples.summary(n).median:.2f}" for n in contenders)
            progress(f"in-process ({workload.key}) {workload.title}: µs/req {medians}")
    finally:
        loop.close()
    result.seconds = time.perf_counter() - started
    return result


def _cell(result: InProcessResult, workload: Workload, name: str, ratio: bool) -> str:
    if workload.key in result.wrong.get(name, {}):
        return "wrong answer"
    samples = result.samples.get(workload.key)
    if samples is None or not samples.values(name):
        return "-"
    if ratio:
        return samples.ratio(name, BASELINE).format(2, "x")
    return samples.summary(name).format(2)


def render(result: InProcessResult) -> str:
    """The markdown tables of measurement 1 and its targets."""
    names = result.frameworks
    header = "| workload | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names) + "\n"
    timed = [DRIVER, *names]
    lines = [
        "### µs per request (median, interquartile range)\n\n",
        "`driver` is the driver's own cost (an app that only sends an empty 200, through the "
        "same loop): it is part of every figure, the raw floor's included.\n\n",
        "| workload | " + " | ".join(timed) + " |\n|---|" + "---:|" * len(timed) + "\n",
        *(
            f"| ({w.key}) {w.title} | "
            + " | ".join(_cell(result, w, n, False) for n in timed)
            + " |\n"
            for w in result.workloads
        ),
        "\n### Ratio to the raw ASGI floor (per-round ratio: median, interquartile range)\n",
        header,
        *(
            f"| ({w.key}) {w.title} | "
            + " | ".join(_cell(result, w, n, True) for n in names)
            + " |\n"
            for w in result.workloads
        ),
    ]
    lines.append("\n" + render_targets(result))
    return "".join(lines)


def targets(result: InProcessResult) -> list[tuple[str, str, str]]:
    """The issue's in-process targets: ``(target, measured, verdict)`` rows.

    A comparison with a rival is ``yes`` only when the reference app is faster in three rounds
    out of four (the upper quartile of the per-round ratio is below 1), ``tie`` when the
    interquartile range holds 1, else ``no``.
    """
    rows: list[tuple[str, str, str]] = []
    if REFERENCE not in result.frameworks:
        return rows
    for workload in result.workloads:
        samples = result.samples.get(workload.key)
        if samples is None or not samples.values(REFERENCE):
            continue
        if workload.key in FLOOR_TARGET_WORKLOADS:
            ratio = samples.ratio(REFERENCE, BASELINE)
            rows.append(
                (
                    f"({workload.key}) reference_app ≤ {FLOOR_TARGET:g}x the raw floor",
                    ratio.format(2, "x"),
                    "yes" if ratio.median <= FLOOR_TARGET else "no",
                )
            )
        for rival in result.frameworks:
            if rival in (BASELINE, REFERENCE) or not samples.values(rival):
                continue
            ratio = samples.ratio(REFERENCE, rival)
            rows.append(
                (
                    f"({workload.key}) reference_app faster than {rival}",
                    f"{ratio.format(2, 'x')} of {rival}'s time",
                    "yes" if ratio.q3 < 1.0 else "tie" if ratio.q1 <= 1.0 else "no",
                )
            )
    return rows


def verdict(value: str) -> str:
    """A verdict as shown in a table: a miss in bold."""
    return {"no": "**no**", "tie": "tie (within noise)"}.get(value, value)


def render_targets(result: InProcessResult) -> str:
    """The target table of measurement 1."""
    rows = targets(result)
    if not rows:
        return ""
    out = ["### In-process targets\n\n| target | measured | met |\n|---|---:|:---:|\n"]
    out += [f"| {t} | {m} | {verdict(v)} |\n" for t, m, v in rows]
    return "".join(out)
