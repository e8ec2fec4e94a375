"""Fixtures of the server-launcher tests.

The servers import the test apps from this directory (``cwd``), as ``asgi_apps:app``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from servers import RunningServer, ServerSpec, launch

HERE = Path(__file__).parent
APP = "asgi_apps:app"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Launch a test app (``asgi_apps:app`` by default) and stop it at teardown."""
    started: list[RunningServer] = []

    def serve(spec: ServerSpec, app: str = APP, **options: Any) -> RunningServer:
        options.setdefault("log_dir", tmp_path)
        server = launch(spec, app, cwd=str(HERE), **options)
        started.append(server)
        return server

    yield serve
    for server in started:
        server.stop()


@pytest.fixture
def group_members() -> Callable[[int], list[int]]:
    """Return a function listing the live (not zombie) pids of a process group, from ``ps``.

    An oracle independent of the harness's own /proc scan.
    """
    return live_members_from_ps


def live_members_from_ps(pgid: int) -> list[int]:
    """List the live pids of process group ``pgid`` as ``ps`` reports them."""
    table = subprocess.run(
        ["ps", "-e", "-o", "pid=,pgid=,stat="], capture_output=True, text=True, check=True
    ).stdout
    rows = (line.split() for line in table.splitlines() if line.strip())
    return [
        int(pid) for pid, group, stat in rows if int(group) == pgid and not stat.startswith("Z")
    ]
