"""Sending one hostile request over a real socket and reading whatever comes back, bounded.

The client writes the request's pieces, then reads. Every request asks ``connection: close``, so a
server that answers closes; one that waits for more (a body shorter than its Content-Length, a
chunked body without its last chunk) gets a half-close after :data:`IDLE` seconds without a byte,
as a client that has nothing more to send would. Whatever happens, the exchange ends within
``bound`` seconds, or it is a hang. The responses are parsed by h11, as a client would.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field
from typing import Final

import h11

__all__ = ["IDLE", "Outcome", "exchange", "statuses"]

#: Seconds without a byte from the server after which the client half-closes.
IDLE: Final = 0.25
_STATUS_LINE: Final = re.compile(rb"^HTTP/1\.[01] ([0-9]{3})", re.MULTILINE)


@dataclass(slots=True)
class Outcome:
    """What one hostile request got back."""

    received: bytes
    statuses: list[int] = field(default_factory=list)
    hung: bool = False
    half_closed: bool = False
    seconds: float = 0.0


def statuses(data: bytes, method: str) -> list[int]:
    """The status codes of the complete responses in ``data`` (h11; a regex if h11 refuses)."""
    parser = h11.Connection(h11.CLIENT)
    head = method.upper() == "HEAD"
    found: list[int] = []
    try:
        parser.send(
            h11.Request(method=b"HEAD" if head else b"GET", target="/", headers=[("host", "x")])
        )
        parser.send(h11.EndOfMessage())
        parser.receive_data(data)
        parser.receive_data(b"")
        while True:
            event = parser.next_event()
            if isinstance(event, h11.Response):
                found.append(event.status_code)
            elif isinstance(event, h11.EndOfMessage):
                if parser.their_state is not h11.DONE or parser.our_state is not h11.DONE:
                    break
                parser.start_next_cycle()
                parser.send(h11.Request(method=b"GET", target="/", headers=[("host", "x")]))
                parser.send(h11.EndOfMessage())
            elif event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                break
    except h11.ProtocolError:
        return [int(code) for code in _STATUS_LINE.findall(data)]
    return found


def exchange(host: str, port: int, pieces: tuple[bytes, ...], method: str, bound: float) -> Outcome:
    """Send ``pieces`` on a fresh connection and read until the server closes, or ``bound``."""
    started = time.monotonic()
    deadline = started + bound
    outcome = Outcome(b"")
    received = bytearray()
    with socket.create_connection((host, port), timeout=bound) as sock:
        try:
            for piece in pieces:
                sock.sendall(piece)
        except OSError:
            pass  # the server may refuse and close before the whole request is written
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome.hung = True
                break
            sock.settimeout(remaining if outcome.half_closed else min(IDLE, remaining))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                if outcome.half_closed:
                    continue  # (the deadline check above ends it)
                outcome.half_closed = True
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    break
                continue
            except OSError:
                break  # reset: the server dropped the connection
            if not data:
                break
            received += data
    outcome.received = bytes(received)
    outcome.statuses = statuses(outcome.received, method)
    outcome.seconds = time.monotonic() - started
    return outcome
