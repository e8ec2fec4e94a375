"""The /proc memory probe (conformance.memory)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conformance.memory import group_rss, self_rss


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
