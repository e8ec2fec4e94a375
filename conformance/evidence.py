"""What one case saw, collected while it runs, for the JSON report.

The plugin opens a :class:`Evidence` sink around each case (:func:`collecting`); the clients of
:mod:`conformance.client` append to the sink of the running case, if there is one, through a
context variable, so the suites need no code for it:

* the **transcript**: every request and response head, body chunk, raw byte string and HTTP/2
  event the case's clients sent or received, each stamped with ``time.monotonic()`` and
  labelled with the connection it belongs to (``http-1``, ``raw-2``, ``h2-3``...);
* the **tokens** the case made (:func:`conformance.client.new_token`), whose observations the
  plugin fetches from the app when the case ends;
* the **observations**: the last snapshot of each token the case (or the plugin) read from the
  observation channel, i.e. what the app saw.

Outside a case (no sink), every function here does nothing. The sink bounds what it keeps
(:data:`MAX_ENTRIES` entries, :data:`MAX_TEXT` characters each), so a 64 MiB stream does not
make a 64 MiB report; it says when it dropped something.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "MAX_ENTRIES",
    "MAX_TEXT",
    "Evidence",
    "collecting",
    "current",
    "observed",
    "token_made",
    "wire",
]

#: The most transcript entries one case keeps: the first 2/3 and the last 1/3 of this many.
MAX_ENTRIES: Final = 150
#: The most characters one transcript entry keeps.
MAX_TEXT: Final = 300
#: The most events kept per observed token.
MAX_EVENTS: Final = 200

_SINK: ContextVar[Evidence | None] = ContextVar("asgi_conformance_evidence", default=None)


@dataclass(slots=True)
class Evidence:
    """The evidence of one running case.

    Attributes:
        started: ``time.monotonic()`` when the case started; every ``t`` is relative to it.
        transcript: ``{"t", "channel", "dir", "text"}`` dicts; ``dir`` is ``">"`` (client to
            server), ``"<"`` (server to client) or ``"!"`` (an error the client saw).
        tokens: the observation tokens the case made, in order.
        observations: the last snapshot seen per token.
        dropped: how many transcript entries were left out in the middle.
    """

    started: float = field(default_factory=time.monotonic)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    observations: dict[str, dict[str, Any]] = field(default_factory=dict)
    dropped: int = 0
    _channels: dict[int, tuple[object, str]] = field(default_factory=dict)
    _counter: int = 0
    _tail: list[dict[str, Any]] = field(default_factory=list)

    def channel(self, owner: object, kind: str) -> str:
        """The label of ``owner``'s connection, e.g. ``"raw-2"`` (made on first use)."""
        known = self._channels.get(id(owner))
        if known is not None and known[0] is owner:
            return known[1]
        self._counter += 1
        label = f"{kind}-{self._counter}"
        # Keep a reference, so that id(owner) is not reused by another object meanwhile.
        self._channels[id(owner)] = (owner, label)
        return label

    def add(self, channel: str, direction: str, text: str) -> None:
        """Record one transcript entry now."""
        if len(text) > MAX_TEXT:
            text = text[:MAX_TEXT] + f"... ({len(text)} chars)"
        entry = {
            "t": round(time.monotonic() - self.started, 6),
            "channel": channel,
            "dir": direction,
            "text": text,
        }
        head = MAX_ENTRIES * 2 // 3
        if len(self.transcript) < head:
            self.transcript.append(entry)
            return
        self._tail.append(entry)
        if len(self._tail) > MAX_ENTRIES - head:
            self._tail.pop(0)
            self.dropped += 1

    def entries(self) -> list[dict[str, Any]]:
        """The transcript as kept: the head, a marker of what was dropped, the tail."""
        marker = []
        if self.dropped:
            marker = [
                {
                    "t": self._tail[0]["t"],
                    "channel": "-",
                    "dir": "!",
                    "text": f"({self.dropped} entries left out)",
                }
            ]
        return [*self.transcript, *marker, *self._tail]

    def observe(self, token: str, snapshot: dict[str, Any]) -> None:
        """Keep ``snapshot`` as what the app observed for ``token`` (the latest wins)."""
        events = list(snapshot.get("events", []))
        known = self.observations.get(token)
        if known is not None and len(known["events"]) > len(events):
            return  # an older, fuller snapshot (e.g. from a server since stopped) is kept
        kept = []
        for event in events[:MAX_EVENTS]:
            item = dict(event)
            if isinstance(item.get("t"), int | float):
                # One monotonic clock for every process on Linux: relative to the case start.
                item["t"] = round(item["t"] - self.started, 6)
            kept.append(item)
        self.observations[token] = {
            "events": kept,
            "counters": dict(snapshot.get("counters", {})),
            "events_total": len(events),
        }


def current() -> Evidence | None:
    """The sink of the running case, or None outside a case."""
    return _SINK.get()


@contextlib.contextmanager
def collecting() -> Iterator[Evidence]:
    """Open a sink for the code run inside (including tasks it starts)."""
    sink = Evidence()
    reset = _SINK.set(sink)
    try:
        yield sink
    finally:
        _SINK.reset(reset)


def wire(owner: object, kind: str, direction: str, data: bytes | str) -> None:
    """Record what ``owner`` (one connection) sent (``">"``) or received (``"<"``)."""
    sink = _SINK.get()
    if sink is None:
        return
    text = data if isinstance(data, str) else _bytes(data)
    sink.add(sink.channel(owner, kind), direction, text)


def token_made(token: str) -> None:
    """Note that the running case made ``token``."""
    sink = _SINK.get()
    if sink is not None and token not in sink.tokens:
        sink.tokens.append(token)


def observed(token: str, snapshot: dict[str, Any]) -> None:
    """Note a snapshot of ``token`` read from the observation channel."""
    sink = _SINK.get()
    if sink is not None:
        sink.observe(token, snapshot)


def _bytes(data: bytes) -> str:
    kept = MAX_TEXT // 2
    shown = repr(data[:kept])
    return shown if len(data) <= kept else f"{shown}... ({len(data)} bytes)"
