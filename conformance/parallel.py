"""Run the selected variants concurrently: shards of variants, in processes of their own.

Most of a case's time is waiting (server start, gates, absence windows, disconnect latency),
so variants run side by side: each variant is a *shard*, an ``asgi-conformance run -j 1`` of
that variant alone in a child process, with its own server process, event loop and deadlines,
writing its own run document. A variant estimated to take much longer than the others is
split by family into several shards (each with a server of its own), so that the run is not
as long as its slowest variant (:func:`plan_shards`). At most ``jobs`` shards run at once;
the longest-looking start first so that the last one to finish is short. The shards'
documents are then merged (:func:`conformance.report.merge.merge`) into the run's one
document, exactly as a CI matrix's shards are: the same code judges a local run and a
sharded one.

Children speak the plain progress format (``[ k/N] VARIANT CASE: VERDICT (S s)``); the parent
reads it to show one progress display and keeps everything else a child prints in that
shard's log, shown when the shard fails to produce a document.

Signals: SIGINT and SIGTERM stop the run the same way. The parent passes SIGINT to every
running shard (each writes what it has, as an interrupted run does), waits for them, and merges
what was written; the run's exit status is then 2.
"""

from __future__ import annotations

import os
import queue
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

from servers import HTTPProtocol, ServerSpec, _groups

from .cases import FAMILIES

__all__ = [
    "FAMILY_SECONDS",
    "Shard",
    "ShardOutcome",
    "default_jobs",
    "estimate",
    "order_shards",
    "plan_shards",
    "run_shards",
]

#: A child's line for one finished case (the plain progress format of ``run``).
_CASE_LINE: Final = re.compile(
    r"^\[\s*\d+/\d+\]\s+(?P<variant>\S+)\s+(?P<case>\S+?)(?: run (?P<run>\d+))?: "
    r"(?P<verdict>[a-z-]+) \((?P<duration>[0-9.]+) s\)$"
)
#: A child's announcement of how many case runs it has.
_TOTAL_LINE: Final = re.compile(r"^asgi-conformance: (?P<total>\d+) case runs? on ")
#: How long a follower waits for more output once its shard has exited.
_DRAIN: Final = 0.2
#: How long an interrupted shard may take to write its document before it is killed.
_INTERRUPT_GRACE: Final = 30.0
#: About how long each family takes on a variant that passes it, over HTTP/1.1 and over HTTP/2,
#: and what each expected failure adds (a case a server fails mostly waits out the bound the
#: server did not meet): seconds, with every variant side by side on two cores, as
#: ``python -m bench suite`` measures them. Only a scheduling hint: a wrong figure makes a run
#: slower, never different. ``errors`` and ``lifecycle`` launch servers of their own.
FAMILY_SECONDS: Final[Mapping[str, tuple[float, float, float]]] = {
    "streaming": (4.0, 3.0, 1.0),
    "sse": (0.5, 0.5, 2.0),
    "push": (0.1, 0.1, 0.1),
    "body": (3.0, 5.0, 1.4),
    "jobs": (3.0, 3.0, 0.8),
    "lifecycle": (4.0, 4.0, 0.2),
    "errors": (7.0, 6.0, 1.4),
    "scope": (0.5, 0.5, 0.6),
    "headers": (6.0, 2.0, 0.1),
    "extensions": (0.2, 0.2, 0.1),
    "connection": (1.0, 0.1, 0.3),
    "websocket": (7.0, 0.2, 0.5),
}
#: A variant is split when its estimate is above this many times the median variant's.
_SPLIT_ABOVE: Final = 1.2


def default_jobs() -> int:
    """How many shards run at once by default: eight per core (sixteen on two cores).

    A shard spends most of its time waiting (server starts, gates, absence windows, a
    deviating server's timeouts), not computing: the installed variants side by side (and the
    slowest of them split in two, :func:`plan_shards`) keep two cores about three quarters
    busy, the matrix gives the same verdicts as serially, and its wall time is the longest
    shard's rather than a sum. Timing judgements wait on observed events, so the extra load
    slows them without changing them; ``--verify N`` under a CPU hog is how that is checked.
    """
    return 8 * max(1, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class Shard:
    """One variant run alone, on all the run's families or on some of them.

    Attributes:
        variant: the variant's name.
        option: the ``--server`` value that selects it alone (a name or a command).
        spec: the variant.
        families: the families this shard runs (empty: every family the run selects).
        estimate: its estimated seconds (:func:`estimate`), for scheduling.
    """

    variant: str
    option: str
    spec: ServerSpec
    families: tuple[str, ...] = ()
    estimate: float = 0.0

    @property
    def name(self) -> str:
        """The variant, and the families when it runs some of them: ``daphne[errors,body]``."""
        return f"{self.variant}[{','.join(self.families)}]" if self.families else self.variant

    def words(self) -> list[str]:
        """The ``run`` arguments that select this shard's variant and families."""
        return ["--server", self.option, *(w for f in self.families for w in ("--family", f))]


def estimate(spec: ServerSpec, family: str, expected_failures: int) -> float:
    """The hint of how long ``family`` takes on ``spec`` (see :data:`FAMILY_SECONDS`)."""
    http1, http2, failure = FAMILY_SECONDS.get(family, (1.0, 1.0, 1.0))
    seconds = http1 if spec.protocol is HTTPProtocol.HTTP1 else http2
    return seconds + failure * expected_failures


def plan_shards(
    variants: Sequence[tuple[str, ServerSpec]],
    *,
    families: Sequence[str] = (),
    expected: Mapping[str, Mapping[str, int]] | None = None,
    jobs: int,
    split: bool = True,
) -> list[Shard]:
    """The shards of a run, longest first: one per variant, the outliers split by family.

    While there are more jobs than shards, the variant with the longest estimate per shard is
    given one shard more, as long as that estimate is above :data:`_SPLIT_ABOVE` times the
    median variant's and above the run's total over ``jobs``; its families are then dealt,
    longest first, to its shortest shard. A family is never split: its cases may share a
    server scenario. Each extra shard costs a server start and an interpreter (about a
    CPU-second), so only outliers are split, and never into more shards than run at once.

    Args:
        variants: (``--server`` option, variant) pairs, in selection order.
        families: the families the run selects (empty: all of them).
        expected: per variant, how many expected failures each family has in its manifest.
        jobs: how many shards run at once.
        split: whether a variant may be split at all (not when cases are picked by id or -k).
    """
    chosen = tuple(families) or FAMILIES
    expected = expected or {}
    costs = {
        spec.name: {
            family: estimate(spec, family, expected.get(spec.name, {}).get(family, 0))
            for family in chosen
        }
        for _, spec in variants
    }
    totals = {name: sum(cost.values()) for name, cost in costs.items()}
    ordered = sorted(totals.values())
    median = ordered[len(ordered) // 2] if ordered else 0.0
    bound = max(_SPLIT_ABOVE * median, sum(ordered) / max(1, jobs))
    parts = dict.fromkeys(totals, 1)
    spare = max(0, jobs - len(variants)) if split else 0
    while spare:
        name = max(parts, key=lambda n: totals[n] / parts[n])
        if totals[name] / parts[name] <= bound or parts[name] >= len(chosen):
            break
        parts[name] += 1
        spare -= 1
    shards: list[Shard] = []
    for option, spec in variants:
        count = parts[spec.name]
        if count == 1:
            shards.append(Shard(spec.name, option, spec, tuple(families), totals[spec.name]))
            continue
        groups: list[list[str]] = [[] for _ in range(count)]
        loads = [0.0] * count
        for family in sorted(chosen, key=lambda f: -costs[spec.name][f]):
            smallest = loads.index(min(loads))
            groups[smallest].append(family)
            loads[smallest] += costs[spec.name][family]
        for group, load in zip(groups, loads, strict=True):
            ordered_group = tuple(f for f in chosen if f in group)
            shards.append(Shard(spec.name, option, spec, ordered_group, load))
    return order_shards(shards)


@dataclass(slots=True)
class ShardOutcome:
    """What one shard left: its document (if written), its status and its log."""

    shard: Shard
    document_path: Path
    log_path: Path
    returncode: int | None = None
    total: int = 0
    done: int = 0
    seconds: float = 0.0

    def tail(self, count: int = 5) -> str:
        """The last lines the shard printed that are not progress lines."""
        path = self.log_path
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        lines = [line for line in text.splitlines() if line.strip() and not _CASE_LINE.match(line)]
        return "\n".join(lines[-count:])


def order_shards(shards: Sequence[Shard]) -> list[Shard]:
    """Longest estimate first; then TLS, then HTTP/2, then the rest; else as given.

    Starting the long shards first keeps the tail of the run short when there are more shards
    than jobs (longest-processing-time-first scheduling).
    """

    def weight(shard: Shard) -> tuple[float, int]:
        spec = shard.spec
        return shard.estimate, 2 * spec.tls + (spec.protocol is not HTTPProtocol.HTTP1)

    return sorted(shards, key=weight, reverse=True)


def run_shards(
    shards: Sequence[Shard],
    child_args: Sequence[str],
    *,
    jobs: int,
    directory: Path | None = None,
    junit: bool = False,
    on_case: Callable[[str, str, str, float, int], None] | None = None,
    on_total: Callable[[str, int], None] | None = None,
) -> tuple[list[ShardOutcome], bool]:
    """Run every shard, at most ``jobs`` at once; their outcomes and whether interrupted.

    Args:
        shards: the shards, in start order.
        child_args: the ``run`` arguments every shard gets (the selection but the servers and
            the families, which each shard has: :meth:`Shard.words`).
        jobs: how many run at once.
        directory: where documents and logs go (a temporary directory if None; kept).
        junit: whether each shard writes JUnit XML beside its document.
        on_case: called with (variant, case, verdict, seconds, iteration) per finished case.
        on_total: called with (variant, case runs) when a shard knows its size (a variant
            split into several shards is announced once per shard).
    """
    directory = directory or Path(tempfile.mkdtemp(prefix="asgi-conformance-shards-"))
    directory.mkdir(parents=True, exist_ok=True)
    pending = list(shards)
    running: dict[int, tuple[subprocess.Popen[bytes], ShardOutcome, threading.Thread]] = {}
    outcomes: list[ShardOutcome] = []
    interrupted = threading.Event()
    lock = threading.Lock()
    ended: queue.Queue[int] = queue.Queue()  # shards whose output has ended, by index

    def stop(signum: int, frame: Any) -> None:
        interrupted.set()
        for process, _, _ in list(running.values()):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)

    previous = {
        s: signal.signal(s, stop)
        for s in (signal.SIGINT, signal.SIGTERM)
        if threading.current_thread() is threading.main_thread()
    }
    try:
        while pending or running:
            while pending and len(running) < jobs and not interrupted.is_set():
                shard = pending.pop(0)
                index = len(outcomes)
                outcome = ShardOutcome(
                    shard,
                    directory / f"{index:02d}-{_safe(shard.name)}.json",
                    directory / f"{index:02d}-{_safe(shard.name)}.log",
                )
                outcomes.append(outcome)
                argv = [
                    sys.executable,
                    "-m",
                    "conformance",
                    "run",
                    "-j",
                    "1",
                    *shard.words(),
                    "--json",
                    str(outcome.document_path),
                    "--progress",
                    "plain",
                ]
                if junit:
                    argv += ["--junit", str(outcome.document_path.with_suffix(".xml"))]
                argv += list(child_args)
                outcome.document_path.unlink(missing_ok=True)
                read_end, write_end = os.pipe()
                try:
                    process = _groups.spawn(argv, log_fd=write_end, env=os.environ, cwd=None)
                except BaseException:
                    os.close(read_end)
                    raise
                finally:
                    os.close(write_end)
                follower = _Follower(process, read_end, outcome, lock, on_case, on_total)
                reader = threading.Thread(target=follower.run, args=(index, ended), daemon=True)
                reader.start()
                running[index] = (process, outcome, reader)
            if pending and interrupted.is_set():
                pending.clear()
            try:
                index = ended.get(timeout=1.0)
            except queue.Empty:
                continue
            process, outcome, reader = running.pop(index)
            reader.join()
            process.wait()
            outcome.returncode = process.returncode
            _groups.forget(process.pid)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for process, outcome, reader in running.values():
            _reap(process)
            reader.join(timeout=5)
            outcome.returncode = process.returncode
    return outcomes, interrupted.is_set()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:60]


@dataclass(slots=True)
class _Follower:
    """Reads a shard's output from its pipe as it comes, into its log and its progress lines.

    The reader blocks on the pipe (no polling) until the output ends: at end of file, or once
    the shard has exited and nothing more came for :data:`_DRAIN` seconds (a process the
    shard started may hold the pipe open).
    """

    process: subprocess.Popen[bytes]
    fd: int
    outcome: ShardOutcome
    lock: threading.Lock
    on_case: Callable[[str, str, str, float, int], None] | None
    on_total: Callable[[str, int], None] | None
    started: float = field(default_factory=time.monotonic)

    def run(self, index: int, ended: queue.Queue[int]) -> None:
        """Follow to the end, then put ``index`` on ``ended``."""
        try:
            with self.outcome.log_path.open("wb") as log:
                self._copy(log)
        finally:
            os.close(self.fd)
            self.outcome.seconds = time.monotonic() - self.started
            ended.put(index)

    def _copy(self, log: BinaryIO) -> None:
        partial = b""
        while True:
            exited = self.process.poll() is not None
            readable, _, _ = select.select([self.fd], [], [], _DRAIN if exited else 1.0)
            data = os.read(self.fd, 65536) if readable else b""
            if not data:
                if readable or exited:
                    break
                continue
            log.write(data)
            partial += data
            *lines, partial = partial.split(b"\n")
            for line in lines:
                self._note(line.decode("utf-8", "replace"))
        if partial:
            self._note(partial.decode("utf-8", "replace"))

    def _note(self, text: str) -> None:
        """Count a finished case or learn the shard's size from one line of its output."""
        outcome = self.outcome
        found = _CASE_LINE.match(text)
        if found is not None:
            outcome.done += 1
            if self.on_case is not None:
                with self.lock:
                    self.on_case(
                        found["variant"],
                        found["case"],
                        found["verdict"],
                        float(found["duration"]),
                        int(found["run"] or 1),
                    )
            return
        total = _TOTAL_LINE.match(text)
        if total is not None:
            outcome.total = int(total["total"])
            if self.on_total is not None:
                with self.lock:
                    self.on_total(outcome.shard.variant, outcome.total)


def _reap(process: subprocess.Popen[bytes]) -> None:
    """Wait for an interrupted shard to write its document; kill its group past the grace."""
    try:
        process.wait(timeout=_INTERRUPT_GRACE)
    except subprocess.TimeoutExpired:
        _groups.signal_group(process.pid, signal.SIGKILL)
        process.wait()
    _groups.forget(process.pid)
