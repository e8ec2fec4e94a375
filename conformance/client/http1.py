"""A raw HTTP/1.1 connection, for what a polite client never sends; responses parsed by h11.

Responses can be read whole (:meth:`RawHTTP1.response`) or as they arrive
(:meth:`RawHTTP1.response_head`, then :meth:`RawHTTP1.body`), from a socket with a small receive
buffer if the case needs a client that reads slowly.
"""

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
from ._common import TIMEOUT, connect

__all__ = ["RawHTTP1", "RawResponse", "Transcript", "request_bytes"]


#: How many bytes a transcript keeps whole; past that, each entry keeps its first
#: :data:`KEPT_PREFIX` bytes (a 64 MiB body needs no 64 MiB transcript).
MAX_KEPT = 4 * 1024 * 1024
KEPT_PREFIX = 256


@dataclass(slots=True)
class Transcript:
    """What crossed the wire, with ``time.monotonic()`` stamps: ``(t, "out"|"in", bytes)``.

    Entries keep their bytes whole up to :data:`MAX_KEPT` bytes in all, then only a prefix
    (:attr:`cut` counts the bytes left out).
    """

    entries: list[tuple[float, str, bytes]] = field(default_factory=list)
    kept: int = 0
    cut: int = 0

    def add(self, direction: str, data: bytes) -> None:
        """Record ``data`` going ``direction`` now."""
        evidence.wire(self, "raw", ">" if direction == "out" else "<", data)
        if self.kept + len(data) > MAX_KEPT and len(data) > KEPT_PREFIX:
            self.cut += len(data) - KEPT_PREFIX
            data = data[:KEPT_PREFIX]
        self.kept += len(data)
        self.entries.append((time.monotonic(), direction, data))

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
    """A response parsed by h11 from a raw connection.

    ``trailers`` is the chunked body's trailer section (set once :meth:`RawHTTP1.response`
    or :meth:`RawHTTP1.body` reached the end); ``informational_headers`` the header fields
    of each informational (1xx) response, in the order of ``informational``.
    """

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    informational: list[int]
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    informational_headers: list[list[tuple[bytes, bytes]]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, or None."""
        key = name.lower().encode()
        for raw, value in self.headers:
            if raw == key:
                return value.decode("latin-1")
        return None


class RawHTTP1:
    """One raw HTTP/1.1 connection to ``server`` (TLS for TLS variants).

    Args:
        server: the server to connect to.
        receive_buffer: ``SO_RCVBUF`` of the socket (see :func:`conformance.client.connect`),
            for a client that reads slowly; the kernel's default (autotuned) if None.
    """

    def __init__(self, server: RunningServer, *, receive_buffer: int | None = None) -> None:
        self.server = server
        self.receive_buffer = receive_buffer
        self.transcript = Transcript()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = h11.Connection(h11.CLIENT)
        self._leftover = b""
        #: The trailer section of the last response read to its end (empty if none).
        self.trailers: list[tuple[bytes, bytes]] = []

    async def __aenter__(self) -> RawHTTP1:
        self._reader, self._writer = await connect(
            self.server, alpn="http/1.1", receive_buffer=self.receive_buffer
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

    async def recv(self, timeout: float = TIMEOUT, size: int = 65536) -> bytes:
        """Read whatever arrives next, at most ``size`` bytes (b"" at EOF)."""
        assert self._reader is not None
        data = await asyncio.wait_for(self._reader.read(size), timeout)
        self.transcript.add("in", data if data else b"<EOF>")
        return data

    async def response(self, timeout: float = TIMEOUT, *, head: bool = False) -> RawResponse:
        """Read and parse the next complete response (1xx responses are collected on the way).

        Raises:
            TimeoutError: no complete response within ``timeout``.
            ConnectionError: the server closed the connection first.
        """
        deadline = time.monotonic() + timeout
        try:
            response = await self.response_head(timeout, head=head)
            body = bytearray()
            while (chunk := await self.body(max(0.0, deadline - time.monotonic()))) is not None:
                body += chunk
        except TimeoutError:
            raise TimeoutError(f"no complete response within {timeout} s") from None
        response.body = bytes(body)
        response.trailers = self.trailers
        return response

    async def response_head(self, timeout: float = TIMEOUT, *, head: bool = False) -> RawResponse:
        """Read the next response's status line and headers (1xx responses collected on the
        way); its body, still unread, is empty in what this returns: read it with :meth:`body`.

        Raises:
            TimeoutError: no response head within ``timeout``.
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
        informational_headers: list[list[tuple[bytes, bytes]]] = []
        self.trailers = []
        deadline = time.monotonic() + timeout
        while True:
            event = await self._event(deadline, "a response")
            if isinstance(event, h11.InformationalResponse):
                informational.append(event.status_code)
                informational_headers.append(list(event.headers))
            elif isinstance(event, h11.Response):
                return RawResponse(
                    event.status_code,
                    list(event.headers),
                    b"",
                    informational,
                    informational_headers=informational_headers,
                )
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection without a response")

    async def body(self, timeout: float = TIMEOUT, size: int = 65536) -> bytes | None:
        """The next piece of the current response's body (at most about ``size`` bytes read
        from the socket); None at the end of the response.

        Raises:
            TimeoutError: nothing within ``timeout``.
            ConnectionError: the server closed the connection mid-response.
        """
        deadline = time.monotonic() + timeout
        while True:
            event = await self._event(deadline, "the rest of the response", size)
            if isinstance(event, h11.Data):
                return bytes(event.data)
            if isinstance(event, h11.EndOfMessage):
                self.trailers = list(event.headers)
                return None
            if isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection mid-response")

    async def _event(self, deadline: float, what: str, size: int = 65536) -> object:
        """The parser's next event, reading from the socket as needed."""
        while True:
            event = self._parser.next_event()
            if event is not h11.NEED_DATA:
                return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{what} did not arrive in time")
            data = await self.recv(remaining, size)
            if not data:
                self._parser.receive_data(b"")
                if self._parser.their_state is h11.CLOSED:
                    return h11.ConnectionClosed()
                continue
            self._parser.receive_data(data)

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
