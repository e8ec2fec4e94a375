"""The observation channel: what happened inside the app, told to the test over HTTP.

The suites judge with facts from both sides of the socket, never with sleeps. Inside the server
process, the contract app records *events* per test *token* (``produced``, ``finalized``,
``closed``, ``job-start``...), each with a ``time.monotonic()`` stamp (one clock for every
process on Linux, so comparable with the client's), and lets the test open *gates*: a gated
stream produces its next chunk only when the test says so, which proves ordering without
timing.

Endpoints (served by :mod:`conformance.contract`):

* ``GET /observe/{token}``: ``{"events": [...], "counters": {...}}``
* ``GET /observe/{token}/wait?event=E&count=N&timeout=S``: long-polls until ``N`` events
  named ``E`` were recorded (or counter ``E`` reached ``N``); ``{"ok": bool, ...}``
* ``POST /gate/{token}/{name}?n=N``: lets ``N`` more steps through gate ``name``
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any, Final

__all__ = ["MAX_TOKENS", "Observations", "TokenLog"]

#: How many tokens are remembered (oldest forgotten first), so memory stays bounded.
MAX_TOKENS: Final = 2000


class TokenLog:
    """Events, counters and gates of one token."""

    __slots__ = ("changed", "counters", "events", "gates")

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.counters: dict[str, int] = {}
        self.gates: dict[str, asyncio.Semaphore] = {}
        self.changed = asyncio.Event()

    def snapshot(self) -> dict[str, Any]:
        """The JSON form."""
        return {"events": list(self.events), "counters": dict(self.counters)}


class Observations:
    """All tokens' logs, in one process."""

    def __init__(self) -> None:
        self._logs: OrderedDict[str, TokenLog] = OrderedDict()

    def log(self, token: str) -> TokenLog:
        """The log of ``token``, created on first use."""
        log = self._logs.get(token)
        if log is None:
            log = self._logs[token] = TokenLog()
            while len(self._logs) > MAX_TOKENS:
                self._logs.popitem(last=False)
        return log

    def record(self, token: str, event: str, **data: Any) -> None:
        """Record ``event`` (with ``data``) now."""
        log = self.log(token)
        log.events.append({"event": event, "t": time.monotonic(), **data})
        log.changed.set()

    def count(self, token: str, counter: str, amount: int = 1) -> int:
        """Add to a counter (cheaper than an event per occurrence); return the new value."""
        log = self.log(token)
        value = log.counters.get(counter, 0) + amount
        log.counters[counter] = value
        log.changed.set()
        return value

    def seen(self, token: str, event: str) -> int:
        """How many ``event`` events were recorded, or the value of counter ``event``."""
        log = self.log(token)
        return max(sum(1 for e in log.events if e["event"] == event), log.counters.get(event, 0))

    async def wait(self, token: str, event: str, count: int, timeout: float) -> bool:
        """Wait until :meth:`seen` reaches ``count``; False on timeout."""
        log = self.log(token)
        try:
            async with asyncio.timeout(timeout):
                while self.seen(token, event) < count:
                    log.changed.clear()
                    await log.changed.wait()
        except TimeoutError:
            return False
        return True

    def gate(self, token: str, name: str) -> asyncio.Semaphore:
        """The gate ``name`` of ``token`` (closed until released)."""
        log = self.log(token)
        gate = log.gates.get(name)
        if gate is None:
            gate = log.gates[name] = asyncio.Semaphore(0)
        return gate

    def release(self, token: str, name: str, steps: int = 1) -> None:
        """Let ``steps`` more steps through a gate."""
        gate = self.gate(token, name)
        for _ in range(steps):
            gate.release()
