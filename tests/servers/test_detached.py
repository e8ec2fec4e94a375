"""A server that detaches a process from its group is still stopped with it (child subreaper)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import httpx

from servers import ServerSpec, _groups, launch

HERE = Path(__file__).resolve().parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_a_detached_worker_dies_with_its_server(tmp_path: Path) -> None:
    pidfile = tmp_path / "worker.pid"
    spec = ServerSpec.from_command(
        "detacher",
        [
            sys.executable,
            str(HERE / "detaching_server.py"),
            str(pidfile),
            "{host}",
            "{port}",
            "{app}",
        ],
    )
    with launch(spec, "ignored:app", startup_timeout=15) as server:
        assert httpx.get(server.base_url + "/", timeout=5).status_code == 200
        worker = int(pidfile.read_text())
        assert worker not in _groups.live_members(server.pid), "the worker left the group"
    # the group is gone; the worker was adopted by the harness and killed, not left running
    deadline = time.monotonic() + 5
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker), f"the detached worker {worker} outlived its server"
    assert worker not in _groups.inherited()
