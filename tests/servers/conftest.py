"""Fixtures of the server-launcher tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from servers import RunningServer, ServerSpec, launch
from tests.servers.support import APP, HERE


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Launch a test app (``asgi_apps:app`` by default) from this directory; stop at teardown.

    Keyword arguments go to :func:`servers.launch`; the log goes to ``tmp_path``.
    """
    started: list[RunningServer] = []

    def serve(spec: ServerSpec, app: str = APP, **options: Any) -> RunningServer:
        options.setdefault("log_dir", tmp_path)
        server = launch(spec, app, cwd=str(HERE), **options)
        started.append(server)
        return server

    yield serve
    for server in started:
        server.stop()
