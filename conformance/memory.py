"""Memory of a server under test, read from ``/proc`` (Linux): the whole process group counts.

Granian forks a worker and daphne may run threads; the resident set of every process in the
server's process group is summed, so "bounded memory" means the server as a whole.

Sampling alone can miss a burst between two samples (daphne queues a whole 64 MiB upload to
the app at once), so :class:`Growth` also resets and reads each process's peak resident set
(``VmHWM``, reset by writing ``5`` to ``/proc/PID/clear_refs``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

__all__ = ["Growth", "group_peak", "group_processes", "group_rss", "reset_peaks", "self_rss"]

_PROC = Path("/proc")


def group_processes(pgid: int) -> list[Path]:
    """The ``/proc`` entries of the live processes of process group ``pgid``.

    Raises:
        RuntimeError: ``/proc`` is not there (not Linux).
    """
    if not _PROC.is_dir():
        raise RuntimeError("memory probes need /proc (Linux)")
    found = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                # Fields after the parenthesised command: state, ppid, pgrp, ...
                if int(stat[stat.rindex(")") + 2 :].split()[2]) == pgid:
                    found.append(entry)
    return found


def _status_kib(entry: Path, field: str) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in (entry / "status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    return None  # the process went away meanwhile


def _sum(pgid: int, field: str) -> int:
    values = [_status_kib(entry, field) for entry in group_processes(pgid)]
    present = [value for value in values if value is not None]
    if not present:
        raise RuntimeError(f"no live process in group {pgid}")
    return sum(present) * 1024


def group_rss(pgid: int) -> int:
    """Sum of ``VmRSS`` (bytes) over the live processes of process group ``pgid``.

    Raises:
        RuntimeError: not Linux, or no process is in the group.
    """
    return _sum(pgid, "VmRSS:")


def reset_peaks(pgid: int) -> bool:
    """Reset the peak resident set (``VmHWM``) of the group's processes; False if not allowed."""
    try:
        for entry in group_processes(pgid):
            (entry / "clear_refs").write_text("5")
    except OSError:
        return False
    return True


def group_peak(pgid: int) -> int:
    """Sum of the peak resident sets (``VmHWM``, bytes) of the group's processes."""
    return _sum(pgid, "VmHWM:")


def self_rss() -> int:
    """This process's ``VmRSS`` in bytes."""
    kib = _status_kib(_PROC / "self", "VmRSS:")
    if kib is None:
        raise RuntimeError("no VmRSS in /proc/self/status")
    return kib * 1024


class Growth:
    """How much a server's memory grows during an operation: sampled, and at its peak.

    Create it before the operation (it records the baseline and resets the peaks), call
    :meth:`sample` during it, and read :attr:`largest` after.
    """

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self.before = group_rss(pgid)
        self.peaks = reset_peaks(pgid)
        self.sampled = 0

    def sample(self) -> int:
        """Record the growth now; return it."""
        growth = group_rss(self.pgid) - self.before
        self.sampled = max(self.sampled, growth)
        return growth

    @property
    def peak(self) -> int | None:
        """The growth of the summed peak resident sets, or None where peaks cannot be reset."""
        return group_peak(self.pgid) - self.before if self.peaks else None

    @property
    def largest(self) -> int:
        """The largest growth seen: sampled now, sampled before, or at the peak."""
        return max(self.sample(), self.peak or 0)

    def describe(self) -> str:
        """The figures, for a failure message."""
        peak = self.peak
        return (
            f"{self.sampled // 2**20} MiB sampled, "
            f"peak {'unknown' if peak is None else f'{peak // 2**20} MiB'}"
        )
