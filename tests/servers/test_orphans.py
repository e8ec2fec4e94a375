"""No server process outlives the harness, however the harness ends.

Granian and hypercorn fork workers, which the parent-death signal does not reach; they are the
variants that prove the whole group dies, not only its first process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from servers import RunningServer, _groups, get
from tests.servers.support import HERE, TIMEOUT, live_members_from_ps, wait_until_no_members

REPO = HERE.parent.parent
WITH_WORKERS = ["granian", "hypercorn"]


@pytest.fixture
def script() -> Iterator[list[subprocess.Popen[str]]]:
    """Collect the orphan scripts started by a test and make sure they are gone after it."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.kill()
        process.communicate()


def run_script(
    started: list[subprocess.Popen[str]], variant: str, mode: str
) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(HERE / "orphan_script.py"), variant, mode],
        cwd=HERE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    started.append(process)
    return process


def read_group(process: subprocess.Popen[str]) -> tuple[int, list[int]]:
    """Read the script's ``PGID <pgid> <members...>`` line."""
    assert process.stdout is not None
    word, pgid, *members = process.stdout.readline().split()
    assert word == "PGID"
    return int(pgid), [int(pid) for pid in members]


@pytest.mark.parametrize("variant", WITH_WORKERS)
def test_sigkill_of_the_harness_takes_the_whole_group_down(
    variant: str, script: list[subprocess.Popen[str]]
) -> None:
    harness = run_script(script, variant, "hang")
    pgid, members = read_group(harness)
    assert len(members) >= 2, f"expected a worker besides the server itself: {members}"
    harness.send_signal(signal.SIGKILL)
    harness.wait()
    assert wait_until_no_members(pgid) == []


@pytest.mark.parametrize("variant", WITH_WORKERS)
def test_atexit_kills_servers_left_running(
    variant: str, script: list[subprocess.Popen[str]]
) -> None:
    harness = run_script(script, variant, "exit")
    pgid, members = read_group(harness)
    assert len(members) >= 2
    out, _ = harness.communicate(timeout=TIMEOUT)
    assert out.split() == ["LEFT"]  # nobody left when the script's last atexit handler ran
    assert live_members_from_ps(pgid) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_spawned_processes_get_sigkill_as_parent_death_signal(tmp_path: Path) -> None:
    # PR_GET_PDEATHSIG (2) stores the signal in an int the child prints; no server needed.
    code = (
        "import ctypes; v = ctypes.c_int(); "
        "ctypes.CDLL(None).prctl(2, ctypes.byref(v), 0, 0, 0); print(v.value)"
    )
    log = tmp_path / "pdeathsig.log"
    with log.open("wb") as sink:
        child = _groups.spawn(
            [sys.executable, "-c", code], log_fd=sink.fileno(), env=os.environ, cwd=None
        )
    assert child.wait(timeout=TIMEOUT) == 0
    assert live_members_from_ps(child.pid) == []
    _groups.forget(child.pid)
    assert log.read_text().strip() == str(int(signal.SIGKILL))


def test_a_server_started_from_a_short_lived_thread_survives_the_thread(
    serve: Callable[..., RunningServer],
) -> None:
    # The parent-death signal fires when the forking *thread* exits; the launcher forks from
    # its own long-lived thread, so a caller's worker thread may come and go.
    started: list[RunningServer] = []
    thread = threading.Thread(target=lambda: started.append(serve(get("uvicorn-h11"))))
    thread.start()
    thread.join()
    (server,) = started
    assert httpx.get(server.base_url, timeout=TIMEOUT).status_code == 200
    assert server.running
