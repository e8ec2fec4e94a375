"""The /proc memory probe (conformance.memory)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conformance.memory import Growth, group_rss, self_rss


def test_a_process_group_rss_counts_every_member() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; data = bytearray(40 * 2**20); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        # The child allocated 40 MiB; wait until its RSS shows it (no sleeping: poll /proc).
        for _ in range(10_000):
            if group_rss(child.pid) > 40 * 2**20:
                break
        assert group_rss(child.pid) > 40 * 2**20
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)


def test_an_empty_group_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no live process"):
        group_rss(2**22 + 12345)


def test_self_rss_is_positive() -> None:
    assert self_rss() > 1024 * 1024
    assert group_rss(os.getpgid(0)) >= self_rss()


def test_growth_catches_a_burst_between_samples() -> None:
    """A process that allocates and frees 48 MiB between two samples: the peak still shows it."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "sys.stdin.readline()\n"
            "data = bytearray(48 * 2**20)\n"
            "for i in range(0, len(data), 4096): data[i] = 1\n"
            "del data\n"
            "print('freed', flush=True)\n"
            "sys.stdin.readline()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        growth = Growth(child.pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "freed\n"
        growth.sample()
        assert growth.sampled < 16 * 2**20, "the burst was freed before the sample"
        if growth.peaks:
            assert growth.largest > 40 * 2**20, growth.describe()
            assert "peak" in growth.describe()
    finally:
        child.stdin.close()
        child.wait(10)
        child.stdout.close()
