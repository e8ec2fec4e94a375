"""Memory of a server under test, read from ``/proc`` (Linux): the whole process group counts.

Granian forks a worker and daphne may run threads; the resident set of every process in the
server's process group is summed, so "bounded memory" means the server as a whole.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["group_rss", "self_rss"]


def group_rss(pgid: int) -> int:
    """Sum of ``VmRSS`` (bytes) over the live processes of process group ``pgid``.

    Raises:
        RuntimeError: ``/proc`` is not there (not Linux), or no process is in the group.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        raise RuntimeError("memory probes need /proc (Linux)")
    total, found = 0, False
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # Fields after the parenthesised command: state, ppid, pgrp, ...
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    found = True
        except (OSError, ValueError, IndexError):
            continue  # the process went away meanwhile
    if not found:
        raise RuntimeError(f"no live process in group {pgid}")
    return total


def self_rss() -> int:
    """This process's ``VmRSS`` in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")
