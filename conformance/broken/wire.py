"""What wire breaks are made of: a loopback TCP proxy, and HTTP/1.1 and HTTP/2 framing.

A wire break is a :data:`conformance.broken.Proxy`: one coroutine per client connection,
given the client's streams and a fresh connection to the real server. It usually relays one
direction untouched (:func:`relay`) and rewrites the other, message by message
(:func:`requests` and :func:`responses` for HTTP/1.1) or frame by frame (:func:`h2_relay`).

Rules every proxy here keeps:

* an end of stream is passed on as a half-close (``write_eof``), so a client that shuts down
  its sending side is seen as such by the server;
* a client's reset is passed on as a reset (both connections are aborted); a server's reset
  ends the client's stream after every byte the server sent before it (a reset proxy would
  drop them);
* a connection that does not start with the HTTP/2 preface is relayed untouched by
  :func:`h2_relay` (the observation channel speaks HTTP/1.1 to every port);
* backpressure is kept: each write is drained before the next read, and the proxy holds at
  most a few hundred KiB (small kernel buffers on both of its sockets, small stream buffers).

:func:`serve` runs a proxy on loopback in front of a real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "DATA",
    "END_STREAM",
    "H2_PREFACE",
    "HEADERS",
    "PUSH_PROMISE",
    "RST_STREAM",
    "SETTINGS",
    "Frame",
    "Hangup",
    "Head",
    "Response",
    "Stop",
    "both",
    "h2_relay",
    "half_close",
    "read_frame",
    "read_head",
    "relay",
    "requests",
    "responses",
    "serve",
    "transparent",
]

_READ: Final = 65536
#: What the proxy itself may hold, so that a server's backpressure reaches the client: the
#: stream buffers pause reading at twice the limit, the kernel buffers are fixed (no
#: autotuning to megabytes), and every write is drained before the next read.
_LIMIT: Final = 128 * 1024
_KERNEL_BUFFER: Final = 64 * 1024

#: The client connection preface of HTTP/2 (RFC 9113 §3.4).
H2_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: Frame types (RFC 9113 §6).
DATA: Final = 0x0
HEADERS: Final = 0x1
RST_STREAM: Final = 0x3
SETTINGS: Final = 0x4
PUSH_PROMISE: Final = 0x5
#: The END_STREAM flag of DATA and HEADERS frames.
END_STREAM: Final = 0x1


class Hangup(Exception):
    """Raised by a proxy's filter: drop both connections at once (a server that crashed)."""


class Stop(Exception):
    """Raised by a proxy: close both connections gracefully (what was written is delivered)."""


def _only(kind: type[Exception], error: BaseException) -> bool:
    if isinstance(error, BaseExceptionGroup):
        return all(_only(kind, e) for e in error.exceptions)
    return isinstance(error, kind)


ProxyFunction = Callable[
    [asyncio.StreamReader, asyncio.StreamWriter, asyncio.StreamReader, asyncio.StreamWriter],
    Awaitable[None],
]


async def serve(
    proxy: ProxyFunction, host: str, port: int, upstream: tuple[str, int]
) -> asyncio.Server:
    """Listen on ``host:port``; run ``proxy`` for each connection, with one to ``upstream``.

    A connection that cannot reach the upstream server (not started yet) is closed at once,
    which a readiness probe takes for "not ready".
    """

    async def connection(client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        _small_buffer(client, socket.SO_SNDBUF)
        try:
            server_reader, server = await _connect(upstream)
        except OSError:
            client.transport.abort()
            return
        try:
            await proxy(client_reader, client, server_reader, server)
        except Exception as error:  # a Hangup, a reset, a malformed message: both see a reset
            if not _only(Stop, error):
                client.transport.abort()
                server.transport.abort()
        finally:
            for writer in (client, server):
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    return await asyncio.start_server(connection, host, port, limit=_LIMIT)


def _small_buffer(writer: asyncio.StreamWriter, option: int) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, option, _KERNEL_BUFFER)


async def _connect(
    upstream: tuple[str, int],
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the server with a small receive buffer (set before the handshake)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _KERNEL_BUFFER)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, upstream)
    except BaseException:
        sock.close()
        raise
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LIMIT, loop=loop)
    protocol = _ResetEnds(reader, loop=loop)
    transport, _ = await loop.create_connection(lambda: protocol, sock=sock)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


class _ResetEnds(asyncio.StreamReaderProtocol):
    """The server's side: a reset is an end of stream after every byte received before it.

    When a server resets a connection it stopped reading (a 4xx sent, then a close with the
    request still arriving), the response is in the kernel's buffer, but a stream reader
    that sees the reset (or the write failing on it) raises at once and the transport closes
    without reading it. The client must get those bytes, then the end of the stream.
    """

    def __init__(self, reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(reader, loop=loop)
        self._reader = reader
        self._connection: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._connection = transport
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, ConnectionResetError | BrokenPipeError):
            for data in _unread(self._connection):
                self._reader.feed_data(data)
            exc = None
        super().connection_lost(exc)


def _unread(transport: asyncio.BaseTransport | None) -> list[bytes]:
    """What the kernel still holds for ``transport``'s socket (still open at connection_lost)."""
    sock = None if transport is None else transport.get_extra_info("socket")
    if sock is None or sock.fileno() < 0:
        return []
    pieces = []
    with socket.fromfd(sock.fileno(), socket.AF_INET, socket.SOCK_STREAM) as duplicate:
        duplicate.setblocking(False)
        while True:
            try:
                data = duplicate.recv(_READ)
            except OSError:
                break
            if not data:
                break
            pieces.append(data)
    return pieces


async def both(*coroutines: Awaitable[None]) -> None:
    """Run the directions of a connection together; the first failure aborts the rest."""
    async with asyncio.TaskGroup() as group:
        for coroutine in coroutines:
            group.create_task(_as_coroutine(coroutine))


async def _as_coroutine(awaitable: Awaitable[None]) -> None:
    await awaitable


async def half_close(writer: asyncio.StreamWriter) -> None:
    """Half-close ``writer`` (FIN), unless it is closing already."""
    if not writer.is_closing() and writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()


async def relay(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    transform: Callable[[bytes], Iterable[bytes]] | None = None,
) -> None:
    """Copy ``reader`` to ``writer`` until the end of stream, then half-close ``writer``.

    ``transform`` maps each read to the pieces to write (each drained before the next). Once
    ``writer``'s peer is gone, the rest of ``reader`` is read and dropped (closing a socket
    with unread data would reset it, losing what it still had to send).
    """
    writing = True
    while data := await reader.read(_READ):
        writing = writing and not writer.transport.is_closing()
        if not writing:
            continue
        try:
            for piece in [data] if transform is None else transform(data):
                writer.write(piece)
                await writer.drain()
        except ConnectionError:
            writing = False
    if writing:
        await half_close(writer)


async def transparent(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """A proxy that changes nothing."""
    await both(relay(client_reader, server), relay(server_reader, client))


# -- HTTP/1.1 ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Head:
    """The head of an HTTP/1.1 message: start line and header fields, and its raw bytes."""

    raw: bytes
    start: tuple[bytes, ...]
    headers: tuple[tuple[bytes, bytes], ...]

    def get(self, name: bytes) -> bytes | None:
        """The last value of header ``name`` (lowercase), or None."""
        values = [value for key, value in self.headers if key == name]
        return values[-1] if values else None

    @property
    def chunked(self) -> bool:
        """Whether the message body has the chunked transfer coding."""
        coding = self.get(b"transfer-encoding") or b""
        return coding.lower().rstrip().endswith(b"chunked")

    @property
    def length(self) -> int | None:
        """The Content-Length, or None."""
        value = self.get(b"content-length")
        return int(value) if value is not None and value.strip().isdigit() else None

    def replace(self, headers: Iterable[tuple[bytes, bytes]]) -> Head:
        """The same start line with other header fields (raw bytes rebuilt)."""
        fields = tuple(headers)
        raw = b" ".join(self.start) + b"\r\n"
        raw += b"".join(name + b": " + value + b"\r\n" for name, value in fields) + b"\r\n"
        return Head(raw, self.start, fields)


async def read_head(reader: asyncio.StreamReader) -> Head | None:
    """Read one message head; None at a clean end of stream before it."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial:
            return None
        raise
    lines = raw[:-4].split(b"\r\n")
    start = tuple(lines[0].split(b" ", 2))
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower(), value.strip()))
    return Head(raw, start, tuple(headers))


async def _sized(reader: asyncio.StreamReader, size: int) -> AsyncIterator[tuple[bytes, bytes]]:
    while size > 0:
        data = await reader.read(min(size, _READ))
        if not data:
            raise asyncio.IncompleteReadError(b"", size)
        size -= len(data)
        yield data, data


async def _chunked(reader: asyncio.StreamReader) -> AsyncIterator[tuple[bytes, bytes]]:
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            trailer = b""
            while (field := await reader.readuntil(b"\r\n")) != b"\r\n":
                trailer += field
            yield line + trailer + b"\r\n", b""
            return
        data = await reader.readexactly(size)
        yield line + data + await reader.readexactly(2), data


async def _to_eof(reader: asyncio.StreamReader) -> AsyncIterator[tuple[bytes, bytes]]:
    while data := await reader.read(_READ):
        yield data, data


@dataclass(slots=True)
class Response:
    """One response read by :func:`responses`: its head, the request method, its body.

    Iterate :meth:`body` to the end before the next response is read.
    """

    head: Head
    method: bytes
    _reader: asyncio.StreamReader = field(repr=False)

    @property
    def status(self) -> int:
        """The status code."""
        return int(self.head.start[1])

    @property
    def has_body(self) -> bool:
        """Whether a body follows the head (RFC 9112 §6.3)."""
        no_body = self.status < 200 or self.status in (204, 304) or self.method == b"HEAD"
        return self.status == 101 or not no_body

    def body(self) -> AsyncIterator[tuple[bytes, bytes]]:
        """``(raw bytes, payload)`` pieces: chunk framing in raw only; nothing for no body."""
        if not self.has_body:
            return _sized(self._reader, 0)
        if self.status == 101:
            return _to_eof(self._reader)  # the upgraded protocol, relayed as it is
        if self.head.chunked:
            return _chunked(self._reader)
        if self.head.length is not None:
            return _sized(self._reader, self.head.length)
        return _to_eof(self._reader)


async def requests(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, methods: asyncio.Queue[bytes]
) -> None:
    """Relay the client's requests untouched, telling :func:`responses` their methods."""
    while (head := await read_head(reader)) is not None:
        methods.put_nowait(head.start[0])
        writer.write(head.raw)
        if head.get(b"upgrade") is not None:
            break  # the rest is the upgraded protocol (or the next request, relayed raw)
        pieces = _chunked(reader) if head.chunked else _sized(reader, head.length or 0)
        async for raw, _ in pieces:
            writer.write(raw)
            await writer.drain()
        await writer.drain()
    await relay(reader, writer)


async def responses(
    reader: asyncio.StreamReader, methods: asyncio.Queue[bytes]
) -> AsyncIterator[Response]:
    """The server's responses, each with the method of the request it answers."""
    method: bytes | None = None
    while (head := await read_head(reader)) is not None:
        if method is None:
            method = await methods.get()
        response = Response(head, method, reader)
        yield response
        if response.status >= 200 or response.status == 101:
            method = None


# -- HTTP/2 --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """One HTTP/2 frame (RFC 9113 §4.1)."""

    type: int
    flags: int
    stream_id: int
    payload: bytes

    def encode(self) -> bytes:
        """The frame's bytes."""
        size = len(self.payload).to_bytes(3, "big")
        stream = (self.stream_id & 0x7FFFFFFF).to_bytes(4, "big")
        return size + bytes((self.type, self.flags)) + stream + self.payload


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """Read one frame; None at a clean end of stream before it."""
    try:
        header = await reader.readexactly(9)
    except asyncio.IncompleteReadError as error:
        if not error.partial:
            return None
        raise
    size = int.from_bytes(header[:3], "big")
    stream_id = int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
    return Frame(header[3], header[4], stream_id, await reader.readexactly(size))


#: What a filter makes of one frame: the frames to pass on instead (may raise :class:`Hangup`).
FrameFilter = Callable[[Frame], Iterable[Frame]]


async def _frames(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, keep: FrameFilter | None
) -> None:
    while (frame := await read_frame(reader)) is not None:
        for out in [frame] if keep is None else keep(frame):
            writer.write(out.encode())
        await writer.drain()
    await half_close(writer)


async def _preface(reader: asyncio.StreamReader) -> bytes:
    """Read the client preface, or as much as shows it is not one."""
    seen = b""
    while len(seen) < len(H2_PREFACE) and H2_PREFACE.startswith(seen):
        data = await reader.read(len(H2_PREFACE) - len(seen))
        if not data:
            break
        seen += data
    return seen


async def h2_relay(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
    *,
    upstream: FrameFilter | None = None,
    downstream: FrameFilter | None = None,
) -> None:
    """Relay an HTTP/2 connection frame by frame through the filters (HTTP/1.1 untouched).

    ``upstream`` sees the client's frames, ``downstream`` the server's. A frame goes on only
    once it has arrived whole, which slows a transfer a client paces with small window
    updates (64 MiB to a slow reader: seconds more); fine for the cases a break claims.
    """
    preface = await _preface(client_reader)
    server.write(preface)
    if preface != H2_PREFACE:
        await transparent(client_reader, client, server_reader, server)
        return
    await both(_frames(client_reader, server, upstream), _frames(server_reader, client, downstream))
