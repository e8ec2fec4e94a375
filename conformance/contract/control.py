"""The control channel: the test and the app's process talk while the server speaks no HTTP.

The observation channel (:mod:`conformance.observe`) reaches the app over HTTP, so it is blind
exactly where the lifecycle cases look: before the server's lifespan startup has completed (the
server must not serve yet) and once it has begun to stop (it must not accept connections). For
those moments a case opens a :class:`ControlChannel`, a Unix stream socket it listens on, and
launches the server with :data:`ENV` naming its path; the app's process then connects to it:

* :func:`tell` reports an event (``{"event": ..., "t": ...}``, one JSON line, no answer): it is
  synchronous, so it still works in a ``finally`` of a task being cancelled;
* :func:`ask` reports an event and waits for the test's answer (one JSON line back): a gate
  the test opens while the server answers no HTTP, e.g. "let startup complete now".

Every event carries a ``time.monotonic()`` stamp (one clock for every process on Linux) and the
process id. Without :data:`ENV` both functions do nothing (:func:`ask` answers
:data:`NO_CHANNEL` at once), so the contract app behaves as usual under the normal launch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

__all__ = ["ENV", "NO_CHANNEL", "ControlChannel", "ControlMessage", "address", "ask", "tell"]

#: The environment variable naming the channel's socket path, set for the server process.
ENV: Final = "ASGI_CONFORMANCE_CONTROL"
#: What :func:`ask` answers when no channel is configured.
NO_CHANNEL: Final = "no-channel"
#: How long a :func:`tell` may block the app's process (the test listens on loopback).
_TELL_TIMEOUT: Final = 2.0


def address() -> str | None:
    """The channel's socket path in this process, or None (no channel configured)."""
    return os.environ.get(ENV) or None


def _line(event: str, ask: bool, data: dict[str, Any]) -> bytes:
    record = {"event": event, "ask": ask, "t": time.monotonic(), "pid": os.getpid(), **data}
    return json.dumps(record).encode() + b"\n"


def tell(event: str, **data: Any) -> None:
    """Report ``event`` (with ``data``) to the test, if a channel is configured; never raises."""
    path = address()
    if path is None:
        return
    with (
        contextlib.suppress(OSError),
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock,
    ):
        sock.settimeout(_TELL_TIMEOUT)
        sock.connect(path)
        sock.sendall(_line(event, False, data))


async def ask(event: str, **data: Any) -> str:
    """Report ``event`` and wait for the test's answer; :data:`NO_CHANNEL` without a channel.

    Raises:
        ConnectionError: the test closed the channel without answering.
    """
    path = address()
    if path is None:
        return NO_CHANNEL
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        writer.write(_line(event, True, data))
        await writer.drain()
        reply = await reader.readline()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if not reply:
        raise ConnectionError(f"the control channel closed without answering {event!r}")
    answer: str = json.loads(reply)["reply"]
    return answer


@dataclass(slots=True)
class ControlMessage:
    """One event the app's process reported.

    Attributes:
        name: the event, e.g. ``"startup"``.
        t: when the app reported it (``time.monotonic()`` in the app's process).
        pid: the reporting process.
        data: the event's other fields.
        asks: whether the app waits for an answer (see :meth:`reply`).
    """

    name: str
    t: float
    pid: int
    data: dict[str, Any]
    asks: bool
    _writer: asyncio.StreamWriter | None = field(default=None, repr=False)

    async def reply(self, answer: str) -> None:
        """Answer the app's :func:`ask` (once); a vanished asker is ignored.

        Raises:
            ValueError: the event was a :func:`tell`, or was already answered.
        """
        writer, self._writer = self._writer, None
        if writer is None:
            raise ValueError(f"{self.name!r} is not waiting for an answer")
        with contextlib.suppress(OSError):
            writer.write(json.dumps({"reply": answer}).encode() + b"\n")
            await writer.drain()
        writer.close()


class ControlChannel:
    """The test's end: a Unix socket the app's process reports to (``async with``).

    Give :attr:`env` to the server's launch. Events are kept in arrival order
    (:attr:`messages`) and queued by name for :meth:`next`; :meth:`answer_all` answers every
    pending and future :func:`ask` of one name the same way.
    """

    def __init__(self) -> None:
        self._directory = Path(tempfile.mkdtemp(prefix="asgi-ctl-"))
        self.path = self._directory / "control.sock"
        self.messages: list[ControlMessage] = []
        self._queues: defaultdict[str, asyncio.Queue[ControlMessage]] = defaultdict(asyncio.Queue)
        self._standing: dict[str, str] = {}
        self._server: asyncio.Server | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment that points a server's app at this channel."""
        return {ENV: str(self.path)}

    async def __aenter__(self) -> ControlChannel:
        self._server = await asyncio.start_unix_server(self._accept, path=str(self.path))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
        for message in self.messages:
            if message._writer is not None:
                message._writer.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        if not line:
            writer.close()
            return
        record = json.loads(line)
        name, asks = str(record.pop("event")), bool(record.pop("ask"))
        t, pid = float(record.pop("t")), int(record.pop("pid"))
        message = ControlMessage(name, t, pid, record, asks, writer if asks else None)
        self.messages.append(message)
        if not asks:
            writer.close()
        elif name in self._standing:
            await message.reply(self._standing[name])
            return
        self._queues[name].put_nowait(message)

    async def next(self, name: str, timeout: float) -> ControlMessage:
        """The next unconsumed event called ``name``, waiting up to ``timeout`` seconds.

        Raises:
            TimeoutError: none came in time.
        """
        return await asyncio.wait_for(self._queues[name].get(), timeout)

    async def answer_all(self, name: str, answer: str) -> None:
        """Answer every pending and every future :func:`ask` of ``name`` with ``answer``."""
        self._standing[name] = answer
        queue = self._queues[name]
        while not queue.empty():
            message = queue.get_nowait()
            if message._writer is not None:
                await message.reply(answer)

    def seen(self, name: str) -> list[ControlMessage]:
        """Every event called ``name`` so far, in arrival order."""
        return [m for m in self.messages if m.name == name]
