"""The raw and reference apps wrapped to time themselves inside a real server.

Each wrapper adds up, per HTTP request, the time spent in the app and the time spent in the
server's ``send()`` and ``receive()``; the difference is the app's own time: what the framework
(or the raw code) costs per request under that server, with the server's own work (and any wait
for the request body) taken out. ``GET /__bench``
answers ``requests total_us send_us own_us`` (per-request means) and resets the counters.
:mod:`bench.wire` serves these after its req/s rounds.
"""

from __future__ import annotations

import time
from typing import Any

from . import raw as _raw, reference as _reference

__all__ = ["STATS_PATH", "Timed", "raw", "reference"]

#: The path that reads (and resets) the counters.
STATS_PATH = "/__bench"

_clock = time.perf_counter


class Timed:
    """An ASGI app that times the app it wraps (see the module docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests = 0
        self.total = 0.0
        self.sending = 0.0  # in send() and receive()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == STATS_PATH:
            await self._stats(send)
            return

        async def timed_send(message: Any) -> None:
            started = _clock()
            try:
                await send(message)
            finally:
                self.sending += _clock() - started

        async def timed_receive() -> Any:
            started = _clock()
            try:
                return await receive()
            finally:
                self.sending += _clock() - started

        started = _clock()
        try:
            await self.app(scope, timed_receive, timed_send)
        finally:
            self.total += _clock() - started
            self.requests += 1

    async def _stats(self, send: Any) -> None:
        count = max(self.requests, 1)
        body = (
            f"{self.requests} {self.total / count * 1e6:.3f} {self.sending / count * 1e6:.3f} "
            f"{(self.total - self.sending) / count * 1e6:.3f}"
        ).encode()
        self.requests, self.total, self.sending = 0, 0.0, 0.0
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


raw = Timed(_raw.app)
reference = Timed(_reference.app)
