"""Running the bench apps under real servers, and watching the servers' memory.

:func:`serve` starts ``bench.apps.<name>:app`` under a variant with :func:`servers.launch`, from the
repository root (``bench`` is not an installed package), on loopback. :class:`MemoryWatch` samples
the resident set of the server's whole process group (hypercorn and granian serve from a child
process) while a transfer runs, and keeps the peak.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from servers import RunningServer, ServerSpec, launch

from .apps import APPS

__all__ = ["REPO_ROOT", "MemoryWatch", "group_cpu", "group_pids", "group_rss", "serve"]

#: The repository root: the servers' working directory.
REPO_ROOT: Final = Path(__file__).resolve().parent.parent
_PAGE: Final = os.sysconf("SC_PAGE_SIZE")
_TICK: Final = os.sysconf("SC_CLK_TCK")


@contextmanager
def serve(spec: ServerSpec, app: str, *, startup_timeout: float = 30.0) -> Iterator[RunningServer]:
    """Run the bench app ``app`` (a key of :data:`bench.apps.APPS`, or an import string) under
    ``spec``."""
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    }
    with launch(
        spec,
        APPS.get(app, app),
        cwd=str(REPO_ROOT),
        env=env,
        startup_timeout=startup_timeout,
        ready_path="/plaintext",
    ) as server:
        yield server


def group_pids(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after "(comm)": state, ppid, pgrp, ...
            pids.append(int(entry))
    return pids


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def group_cpu(pids: list[int]) -> float:
    """The CPU seconds (user + system) ``pids`` have used so far."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / _TICK


def group_rss(pids: list[int]) -> int:
    """The summed resident set size of ``pids``, in bytes."""
    return sum(_rss(pid) for pid in pids)


class MemoryWatch:
    """Samples the RSS of a process group every ``interval`` seconds in a thread; keeps the peak.

    Use as a context manager around a transfer: ``before`` is the RSS at entry, ``peak`` the
    highest sample (including the last one, taken at exit).
    """

    def __init__(self, pgid: int, interval: float = 0.005) -> None:
        self.pids = group_pids(pgid)
        self.interval = interval
        self.before = 0
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)

    def _sample(self) -> None:
        rss = group_rss(self.pids)
        self.samples += 1
        self.peak = max(self.peak, rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> MemoryWatch:
        self.before = self.peak = group_rss(self.pids)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()

    @property
    def growth(self) -> int:
        """Peak minus the RSS at entry, in bytes."""
        return self.peak - self.before


def wait_quiet(seconds: float = 0.2) -> None:
    """Let a server settle (free what the last transfer left) before the next measurement."""
    time.sleep(seconds)
