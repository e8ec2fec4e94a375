"""A raw HTTP/1.1 connection, for what a polite client never sends; responses parsed by h11."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import h11

from servers import RunningServer

from .. import evidence
from ._common import TIMEOUT

__all__ = ["RawHTTP1", "RawResponse", "Transcript", "request_bytes"]


@dataclass(slots=True)
class Transcript:
    """What crossed the wire, with ``time.monotonic()`` stamps: ``(t, "out"|"in", bytes)``."""

    entries: list[tuple[float, str, bytes]] = field(default_factory=list)

    def add(self, direction: str, data: bytes) -> None:
        """Record ``data`` going ``direction`` now."""
        self.entries.append((time.monotonic(), direction, data))
        evidence.wire(self, "raw", ">" if direction == "out" else "<", data)

    def render(self, limit: int = 4000) -> str:
        """A readable form, for failure messages and reports."""
        if not self.entries:
            return "(nothing on the wire)"
        start = self.entries[0][0]
        lines = [
            f"+{(t - start) * 1000:8.1f} ms {d:>3} {data[:200]!r}" for t, d, data in self.entries
        ]
        text = "\n".join(lines)
        return text if len(text) <= limit else text[:limit] + "\n..."


@dataclass(slots=True)
class RawResponse:
    """A response parsed by h11 from a raw connection."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    informational: list[int]

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, or None."""
        key = name.lower().encode()
        for raw, value in self.headers:
            if raw == key:
                return value.decode("latin-1")
        return None


class RawHTTP1:
    """One raw HTTP/1.1 connection to ``server`` (TLS for TLS variants)."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.transcript = Transcript()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = h11.Connection(h11.CLIENT)
        self._leftover = b""

    async def __aenter__(self) -> RawHTTP1:
        ssl_context = self.server.client_ssl_context() if self.server.spec.tls else None
        if ssl_context is not None:
            ssl_context.set_alpn_protocols(["http/1.1"])
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.server.host, self.server.port, ssl=ssl_context), TIMEOUT
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection (FIN)."""
        if self._writer is not None and not self._writer.is_closing():
            self._writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self._writer.wait_closed(), TIMEOUT)

    async def send(self, data: bytes) -> None:
        """Write raw bytes."""
        assert self._writer is not None
        self.transcript.add("out", data)
        self._writer.write(data)
        await self._writer.drain()

    def shutdown_write(self) -> None:
        """Half-close: send FIN, keep reading."""
        assert self._writer is not None
        self.transcript.add("out", b"<FIN>")
        self._writer.write_eof()

    async def recv(self, timeout: float = TIMEOUT) -> bytes:
        """Read whatever arrives next (b"" at EOF)."""
        assert self._reader is not None
        data = await asyncio.wait_for(self._reader.read(65536), timeout)
        self.transcript.add("in", data if data else b"<EOF>")
        return data

    async def response(self, timeout: float = TIMEOUT, *, head: bool = False) -> RawResponse:
        """Read and parse the next complete response (1xx responses are collected on the way).

        Raises:
            TimeoutError: no complete response within ``timeout``.
            ConnectionError: the server closed the connection first.
        """
        if self._parser.our_state is h11.DONE and self._parser.their_state is h11.DONE:
            self._parser.start_next_cycle()
        if self._parser.our_state is h11.IDLE:
            # The request was written raw: tell the parser what it was, without sending it.
            method = b"HEAD" if head else b"GET"
            self._parser.send(h11.Request(method=method, target="/", headers=[("host", "x")]))
            self._parser.send(h11.EndOfMessage())
        informational: list[int] = []
        status, headers, body = 0, [], bytearray()
        deadline = time.monotonic() + timeout
        while True:
            event = self._parser.next_event()
            if event is h11.NEED_DATA:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no complete response within {timeout} s")
                data = await self.recv(remaining)
                if not data:
                    self._parser.receive_data(b"")
                    if self._parser.their_state is h11.CLOSED and not status:
                        raise ConnectionError("the server closed the connection without a response")
                    continue
                self._parser.receive_data(data)
            elif isinstance(event, h11.InformationalResponse):
                informational.append(event.status_code)
            elif isinstance(event, h11.Response):
                status, headers = event.status_code, list(event.headers)
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return RawResponse(status, headers, bytes(body), informational)
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection mid-response")

    async def expect_closed(self, timeout: float = TIMEOUT) -> bytes:
        """Read until the server closes; return what arrived meanwhile."""
        received = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the server kept the connection open for {timeout} s")
            try:
                data = await self.recv(remaining)
            except (ConnectionResetError, ssl.SSLError):
                return bytes(received)
            if not data:
                return bytes(received)
            received += data


def request_bytes(
    method: str,
    target: str,
    authority: str,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> bytes:
    """Serialize a request by hand (no framing is added beyond what ``headers`` say)."""
    lines = [f"{method} {target} HTTP/1.1", f"host: {authority}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
