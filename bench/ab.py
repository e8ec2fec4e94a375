"""A/B of a reference_app change: the working tree against a git revision, side by side.

``python -m bench.ab [REV] [WORKLOADS] [ROUNDS]`` (defaults: ``HEAD``, ``abcdefgh``, ``21``) copies
``reference_app`` as it is at REV into a temporary package, builds the bench reference app on
both copies, and times raw, before and after in interleaved rounds on the in-process workloads.
It prints, per workload, each one's median µs/request, before and after as ratios to the raw
floor, and the median per-round after/before ratio: the figure a performance commit quotes.
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

from .apps import raw, reference
from .driver import ASGIApp, call, run_batch
from .serving import REPO_ROOT
from .workloads import by_key

__all__ = ["main", "reference_app_at"]


def reference_app_at(revision: str, directory: Path) -> ASGIApp:
    """The bench reference app built on ``reference_app`` as it is at ``revision``."""
    sha = subprocess.check_output(
        ["git", "-C", str(REPO_ROOT), "rev-parse", revision], text=True
    ).strip()
    package = f"reference_app_{sha[:12]}"
    target = directory / package
    target.mkdir()
    names = subprocess.check_output(
        ["git", "-C", str(REPO_ROOT), "ls-tree", "--name-only", sha, "reference_app/"], text=True
    ).split()
    for name in names:
        data = subprocess.check_output(["git", "-C", str(REPO_ROOT), "show", f"{sha}:{name}"])
        (target / Path(name).name).write_bytes(data)
    sys.path.insert(0, str(directory))
    source = Path(reference.__file__).read_text()
    source = source.replace("from reference_app import", f"from {package} import")
    source = source.replace("from . import", "from bench.apps import")
    source = source.replace("from .", "from bench.apps.")
    module = types.ModuleType(f"bench_reference_{sha[:12]}")
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    app: ASGIApp = module.app
    return app


def main(argv: list[str]) -> None:
    """Run the A/B and print it."""
    revision = argv[0] if argv else "HEAD"
    keys = argv[1] if len(argv) > 1 else "abcdefgh"
    rounds = int(argv[2]) if len(argv) > 2 else 21
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        apps: dict[str, ASGIApp] = {
            "raw": raw.app,
            "before": reference_app_at(revision, Path(tmp)),
            "after": reference.app,
        }
        loop = asyncio.new_event_loop()
        shuffle = random.Random(1).shuffle
        for key in keys:
            workload = by_key(key)
            scope, request = workload.scope(), workload.request()
            for app in apps.values():
                workload.check(loop.run_until_complete(call(app, scope, request)))

            def timed(
                app: ASGIApp,
                count: int,
                scope: dict[str, object] = scope,
                request: dict[str, object] = request,
            ) -> float:
                gc.collect()
                started = time.perf_counter()
                loop.run_until_complete(run_batch(app, scope, request, count))
                return (time.perf_counter() - started) / count * 1e6

            sizes = {}
            for name, app in apps.items():
                timed(app, 100)
                sizes[name] = max(20, int(20_000 / min(timed(app, 50) for _ in range(3))))
            samples: dict[str, list[float]] = {name: [] for name in apps}
            for _ in range(rounds):
                order = list(apps)
                shuffle(order)
                for name in order:
                    samples[name].append(timed(apps[name], sizes[name]))
            median = {name: statistics.median(values) for name, values in samples.items()}

            def ratio(a: str, b: str, samples: dict[str, list[float]] = samples) -> float:
                return statistics.median(x / y for x, y in zip(samples[a], samples[b], strict=True))

            print(
                f"({key}) raw {median['raw']:.2f} µs | before {median['before']:.2f} µs = "
                f"{ratio('before', 'raw'):.2f}x raw | after {median['after']:.2f} µs = "
                f"{ratio('after', 'raw'):.2f}x raw | after/before {ratio('after', 'before'):.2f}"
            )
        loop.close()


if __name__ == "__main__":
    main(sys.argv[1:])
