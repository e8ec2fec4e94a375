"""The /proc memory probe (conformance.memory), on process groups of several processes.

Servers are process groups (hypercorn and granian run a worker beside the first process), so
every figure must count every member: each test runs a group of three processes (a leader
and two members it starts) and puts the memory in the members, not only in the leader.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from conformance.memory import Growth, group_processes, group_rss, reset_peaks, self_rss

MIB: Final = 2**20

# Each process says "ready" with one write(2) of a few bytes, which a pipe keeps whole
# (print() may write the text and the line end apart, and the members share the pipe).

#: A member: holds (touches) 24 MiB, says so, and waits for the end of its stdin.
HOLDER: Final = (
    "import os, sys\n"
    "data = bytearray(24 * 2**20)\n"
    "data[::4096] = b'\\x01' * len(range(0, len(data), 4096))\n"
    "os.write(1, b'ready\\n')\n"
    "sys.stdin.read()\n"
)
#: A member: on a line of stdin (exactly its 3 bytes: the members share the pipe), allocates
#: and touches 48 MiB, frees it, and says so.
BURST: Final = (
    "import os, sys\n"
    "os.write(1, b'ready\\n')\n"
    "os.read(0, 3)\n"
    "data = bytearray(48 * 2**20)\n"
    "data[::4096] = b'\\x01' * len(range(0, len(data), 4096))\n"
    "del data\n"
    "os.write(1, b'freed\\n')\n"
    "sys.stdin.read()\n"
)


def _leader(member: str, count: int) -> str:
    """A leader that starts ``count`` members (sharing its stdin and stdout) and waits."""
    return (
        "import os, subprocess, sys\n"
        f"member = [sys.executable, '-c', {member!r}]\n"
        f"members = [subprocess.Popen(member) for _ in range({count})]\n"
        "os.write(1, b'ready\\n')\n"
        "for process in members:\n"
        "    process.wait()\n"
    )


@pytest.fixture
def group_of(request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str]]:
    """A process group: a leader in a session of its own, and two members of ``param``."""
    member: str = request.param
    leader = subprocess.Popen(
        [sys.executable, "-c", _leader(member, 2)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert leader.stdout is not None
    assert leader.stdin is not None
    try:
        for _ in range(3):  # the leader and both members
            assert leader.stdout.readline() == "ready\n"
        yield leader
    finally:
        leader.stdin.close()
        leader.wait(10)
        leader.stdout.close()


def _rss(entry: Path) -> int:
    for line in (entry / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS in {entry}/status")


@pytest.mark.parametrize("group_of", [HOLDER], indirect=True, ids=["holders"])
def test_a_process_group_rss_counts_every_member(group_of: subprocess.Popen[str]) -> None:
    members = group_processes(group_of.pid)
    assert len(members) == 3, f"the group has 3 processes, found {members}"
    largest = max(_rss(entry) for entry in members)
    total = group_rss(group_of.pid)
    # Each member holds 24 MiB, the leader none: one member alone is well under 48 MiB.
    assert largest < 40 * MIB
    assert total >= 2 * 24 * MIB, f"{total // MIB} MiB: the members were not all counted"
    assert total >= sum(_rss(entry) for entry in members) - 4 * MIB


def test_an_empty_group_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no live process"):
        group_rss(2**22 + 12345)


def test_self_rss_is_positive() -> None:
    assert self_rss() > 1024 * 1024
    assert group_rss(os.getpgid(0)) >= self_rss()


@pytest.mark.parametrize("group_of", [BURST], indirect=True, ids=["bursts"])
def test_growth_catches_a_burst_in_a_member_between_samples(
    group_of: subprocess.Popen[str],
) -> None:
    """Both members allocate and free 48 MiB between two samples: the peak still shows it."""
    assert group_of.stdin is not None
    assert group_of.stdout is not None
    if not reset_peaks(group_of.pid):
        pytest.skip(
            f"the peak resident set cannot be reset here (writing /proc/{group_of.pid}/"
            "clear_refs is refused), so Growth falls back to sampling only"
        )
    growth = Growth(group_of.pid)
    assert growth.peaks
    group_of.stdin.write("go\ngo\n")  # one line for each member (the leader reads none)
    group_of.stdin.flush()
    assert group_of.stdout.readline() == "freed\n"
    assert group_of.stdout.readline() == "freed\n"
    growth.sample()
    assert growth.sampled < 16 * MIB, "the bursts were freed before the sample"
    peak = growth.peak
    assert peak is not None
    # 48 MiB in each member: a peak that counted only one process would show under 60 MiB.
    assert peak > 80 * MIB, growth.describe()
    assert growth.largest >= peak
    assert re.search(r"peak \d+ MiB", growth.describe()), growth.describe()
