"""One server's log file: the stdout and stderr of every attempt, plus the harness's notes.

The file outlives the server, so a report can quote it after the stop. Byte offsets cut it into
windows: take :meth:`LogFile.offset` before a test case and read from there afterwards.
"""

from __future__ import annotations

import os
import tempfile
from functools import cache
from pathlib import Path

__all__ = ["LogFile"]

#: The prefix of the lines the harness itself writes.
NOTE_PREFIX = "[servers] "


class LogFile:
    """An append-only log file, shared with the server processes through one descriptor.

    Attributes:
        path: The file, unique per server, in the given directory or a per-run temporary one.
    """

    def __init__(self, name: str, directory: Path | None = None) -> None:
        """Create an empty ``NAME-XXXX.log`` in ``directory`` (a per-run temporary one if None)."""
        fd, path = tempfile.mkstemp(prefix=f"{name}-", suffix=".log", dir=directory or _run_dir())
        os.close(fd)
        self.path = Path(path)
        self._fd: int | None = None

    def open(self) -> int:
        """Open the file for appending; return the descriptor to give the server."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        return self._fd

    def close(self) -> None:
        """Close the harness's descriptor (the file stays)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def note(self, text: str) -> None:
        """Append a ``[servers]`` line, if the file is open."""
        if self._fd is not None:
            os.write(self._fd, f"{NOTE_PREFIX}{text}\n".encode())

    def offset(self) -> int:
        """Return the current size in bytes: the start of the next window."""
        return self.path.stat().st_size

    def read(self, start: int = 0, end: int | None = None) -> str:
        """Return the text between byte offsets ``start`` and ``end`` (the end if None)."""
        with self.path.open("rb") as log:
            log.seek(start)
            data = log.read() if end is None else log.read(max(0, end - start))
        return data.decode("utf-8", errors="replace")

    def tail(self, chars: int = 4000) -> str:
        """Return about the last ``chars`` characters."""
        return self.read(max(0, self.offset() - chars))


@cache
def _run_dir() -> Path:
    # Kept after the run on purpose: reports read the logs after the servers stopped.
    return Path(tempfile.mkdtemp(prefix="asgi-servers-"))
