"""WebSocket clients: the ``websockets`` library, a raw one (h11 + wsproto), and one over HTTP/2.

* :func:`ws_connect`: the ordinary path, through the ``websockets`` library, a well-behaved
  client (RFC 6455 handshake, masking, fragmentation and close handshake all done for it).
* :class:`RawWebSocket`: what a well-behaved client never does, over HTTP/1.1: a handshake
  written by hand and parsed by h11 (so a refusal of any shape is read, a close-delimited body
  included), then frames through wsproto's frame layer, plus hand-made frames
  (:func:`encode_frame`: unmasked, oversized control frames, invalid UTF-8, fragments) and a
  client that vanishes without a close frame.
* :class:`H2WebSocket`: the same frame-level API over HTTP/2 with the extended CONNECT method
  of RFC 8441 (the ``h2`` library), one stream of one connection.

Both raw clients turn what the server sends into :data:`Received` values (:class:`Message`,
:class:`Close`, :class:`Pong`, :class:`Ended`); pings from the server are answered at once.
Every wait has a deadline, and everything sent and received goes to the running case's evidence.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import h2.config
import h2.connection
import h2.events
import h2.settings
import h11
import websockets.asyncio.client
from wsproto.connection import Connection, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Message as WSMessage,
    Ping,
    Pong as WSPong,
    TextMessage,
)

from servers import RunningServer

from .. import evidence
from ._common import TIMEOUT

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONTINUATION",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Close",
    "Ended",
    "H2WebSocket",
    "Handshake",
    "Message",
    "Pong",
    "RawWebSocket",
    "Received",
    "accept_key",
    "encode_frame",
    "ws_connect",
]

#: RFC 6455 §5.2 opcodes.
OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

#: RFC 6455 §1.3: the GUID appended to Sec-WebSocket-Key.
_GUID: Final = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_READ: Final = 65536


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1((key + _GUID).encode("ascii")).digest()  # RFC 6455 names SHA-1
    return base64.b64encode(digest).decode("ascii")


def encode_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    mask: bool = True,
    rsv: int = 0,
) -> bytes:
    """One WebSocket frame, as a client would send it (masked unless ``mask`` is False).

    RFC 6455 §5.2: FIN, three RSV bits, the opcode, the MASK bit, a 7-, 16- or 64-bit
    payload length, the masking key, the (masked) payload. Nothing is checked: this makes
    the frames a well-behaved client never sends.
    """
    head = bytes([(0x80 if fin else 0) | (rsv & 0x7) << 4 | (opcode & 0xF)])
    length = len(payload)
    bit = 0x80 if mask else 0
    if length < 126:
        head += bytes([bit | length])
    elif length < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    repeated = (key * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        length, "big"
    )
    return head + key + masked


@dataclass(frozen=True, slots=True)
class Handshake:
    """The server's answer to an opening handshake.

    Attributes:
        status: 101 (HTTP/1.1) or 200 (HTTP/2) when accepted; the refusal's status otherwise.
        headers: the response headers, names lowercased, in order.
        body: the refusal's body (empty when accepted).
        accepted: whether the connection is now a WebSocket.
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    accepted: bool = False

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        key = name.lower()
        return next((value for raw, value in self.headers if raw == key), None)

    def header_list(self, name: str) -> list[str]:
        """Every value of header ``name``."""
        key = name.lower()
        return [value for raw, value in self.headers if raw == key]

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server chose (``Sec-WebSocket-Protocol``), or None."""
        return self.header("sec-websocket-protocol")


@dataclass(frozen=True, slots=True)
class Message:
    """A whole data message from the server: ``text`` for a text message, else ``data``."""

    text: str | None = None
    data: bytes | None = None
    frames: int = 1

    @property
    def kind(self) -> str:
        """``"text"`` or ``"bytes"``."""
        return "text" if self.text is not None else "bytes"

    @property
    def size(self) -> int:
        """The payload's length (characters for text)."""
        return len(self.text) if self.text is not None else len(self.data or b"")


@dataclass(frozen=True, slots=True)
class Close:
    """A close frame from the server (``code`` None: a close frame without a status code)."""

    code: int | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Pong:
    """A pong frame from the server."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Ended:
    """The TCP connection (or the HTTP/2 stream) ended without a close frame."""

    how: str


#: What :meth:`RawWebSocket.receive` returns.
Received = Message | Close | Pong | Ended


#: How much of a message's payload a description shows.
_SHOWN: Final = 120


def _describe(item: Received) -> str:
    """One line for the transcript or a failure: a long payload is cut (not copied whole)."""
    if isinstance(item, Message):
        payload: str | bytes = item.text if item.text is not None else (item.data or b"")
        shown = repr(payload[:_SHOWN]) + ("..." if len(payload) > _SHOWN else "")
        return f"{item.kind} message, {item.size} long, {item.frames} frame(s): {shown}"
    return repr(item)


class _Frames:
    """The frame layer both raw clients share: wsproto for parsing, answers to pings."""

    kind = "ws"

    def __init__(self) -> None:
        self.handshake: Handshake | None = None
        self.received: list[tuple[float, Received]] = []
        self._frames: Connection | None = None
        self._pending: list[Received] = []
        self._parts: list[str | bytes] = []
        self._fragments = 0
        self._ended = False

    # -- transport, per client ----------------------------------------------------------------

    async def _write(self, data: bytes) -> None:
        raise NotImplementedError

    async def _read(self, timeout: float) -> bytes | None:
        """The next bytes of the WebSocket stream, or None once it ended."""
        raise NotImplementedError

    # -- sending ----------------------------------------------------------------------------

    def _connection(self) -> Connection:
        if self._frames is None:
            raise RuntimeError("the handshake was not accepted: no WebSocket to use")
        return self._frames

    async def send_text(self, text: str) -> None:
        """Send a text message in one frame."""
        evidence.wire(self, self.kind, ">", f"text {len(text)}: {text[:100]!r}")
        await self._write(self._connection().send(TextMessage(data=text)))

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message in one frame."""
        evidence.wire(self, self.kind, ">", f"bytes {len(data)}: {data[:100]!r}")
        await self._write(self._connection().send(BytesMessage(data=data)))

    async def send_fragment(self, part: str | bytes, *, last: bool) -> None:
        """Send one fragment of a message (RFC 6455 §5.4); ``last`` ends the message."""
        event: WSMessage[Any] = (
            TextMessage(data=part, message_finished=last)
            if isinstance(part, str)
            else BytesMessage(data=part, message_finished=last)
        )
        evidence.wire(self, self.kind, ">", f"fragment last={last}: {part[:100]!r}")
        await self._write(self._connection().send(event))

    async def ping(self, payload: bytes = b"") -> None:
        """Send a ping frame."""
        evidence.wire(self, self.kind, ">", f"ping {payload!r}")
        await self._write(self._connection().send(Ping(payload=payload)))

    async def close(self, code: int | None = 1000, reason: str = "") -> None:
        """Send a close frame: with ``code`` and ``reason``, or with no payload (``code`` None)."""
        evidence.wire(self, self.kind, ">", f"close {code} {reason!r}")
        if code is None:
            await self.send_raw(encode_frame(OP_CLOSE, b""))
            return
        await self._write(self._connection().send(CloseConnection(code=code, reason=reason)))

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (hand-made frames, see :func:`encode_frame`)."""
        evidence.wire(self, self.kind, ">", data)
        await self._write(data)

    # -- receiving --------------------------------------------------------------------------

    async def receive(self, timeout: float = TIMEOUT) -> Received:
        """The next message, close frame, pong or end of the connection.

        Raises:
            TimeoutError: nothing arrived within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while not self._pending:
            if self._ended:
                return Ended("already ended")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"nothing from the server within {timeout} s")
            data = await self._read(remaining)
            await self._feed(data)
        return self._pending.pop(0)

    async def receive_message(self, timeout: float = TIMEOUT) -> Message:
        """The next data message (pongs are skipped).

        Raises:
            AssertionError: the server closed or ended the connection instead.
            TimeoutError: no message within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while True:
            item = await self.receive(max(deadline - time.monotonic(), 0.001))
            if isinstance(item, Message):
                return item
            if not isinstance(item, Pong):
                raise AssertionError(f"expected a message, the server sent {_describe(item)}")

    async def until_closed(self, timeout: float = TIMEOUT) -> Close | Ended:
        """Read (and keep) everything until a close frame or the end of the connection."""
        deadline = time.monotonic() + timeout
        while True:
            item = await self.receive(max(deadline - time.monotonic(), 0.001))
            if isinstance(item, Close | Ended):
                return item

    def messages(self) -> list[Message]:
        """Every data message received so far."""
        return [item for _, item in self.received if isinstance(item, Message)]

    async def _feed(self, data: bytes | None) -> None:
        frames = self._connection()
        if data is None:
            self._ended = True
            self._deliver(Ended("the connection closed without a close frame"))
            return
        frames.receive_data(data)
        for event in frames.events():
            if isinstance(event, TextMessage | BytesMessage):
                part = event.data
                self._parts.append(part if isinstance(part, str) else bytes(part))
                self._fragments += int(event.frame_finished)
                if event.message_finished:
                    self._deliver(self._assemble())
            elif isinstance(event, Ping):
                evidence.wire(self, self.kind, "<", f"ping {bytes(event.payload)!r}")
                with contextlib.suppress(Exception):
                    await self._write(frames.send(event.response()))
            elif isinstance(event, WSPong):
                self._deliver(Pong(bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                self._deliver(Close(_close_code(event.code), event.reason or ""))

    def _assemble(self) -> Message:
        parts, frames = self._parts, max(self._fragments, 1)
        self._parts, self._fragments = [], 0
        if parts and isinstance(parts[0], str):
            return Message(text="".join(str(p) for p in parts), frames=frames)
        return Message(data=b"".join(p for p in parts if isinstance(p, bytes)), frames=frames)

    def _deliver(self, item: Received) -> None:
        if evidence.current() is not None:
            evidence.wire(self, self.kind, "<", _describe(item))
        self.received.append((time.monotonic(), item))
        self._pending.append(item)


def _close_code(code: int) -> int | None:
    # wsproto reports a close frame without a payload as 1005 (RFC 6455 §7.1.5).
    return None if code == 1005 else int(code)


def _request_headers(
    server: RunningServer,
    key: str,
    subprotocols: Sequence[str],
    headers: Iterable[tuple[str, str]],
) -> list[tuple[str, str]]:
    lines = [
        ("host", server.authority),
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-key", key),
        ("sec-websocket-version", "13"),
    ]
    if subprotocols:
        lines.append(("sec-websocket-protocol", ", ".join(subprotocols)))
    return [*lines, *headers]


class RawWebSocket(_Frames):
    """A raw WebSocket client over HTTP/1.1 (TLS for TLS variants).

    ``async with RawWebSocket(server, "/path") as ws``: the handshake is done on entry and
    kept in :attr:`handshake`, accepted or not (a refusal is no error: read its status). No
    extension is offered, so frames are plain RFC 6455 frames.

    Args:
        server: the server under test.
        path: the request target (path and query).
        subprotocols: offered in ``Sec-WebSocket-Protocol``, in order.
        headers: further request headers.
        read_limit: the stream reader's buffer; a client that stops calling :meth:`receive`
            stops reading the socket once about twice this much is buffered.
    """

    kind = "ws-raw"

    def __init__(
        self,
        server: RunningServer,
        path: str,
        *,
        subprotocols: Sequence[str] = (),
        headers: Iterable[tuple[str, str]] = (),
        read_limit: int = _READ,
    ) -> None:
        super().__init__()
        self.server = server
        self.path = path
        self.subprotocols = list(subprotocols)
        self.extra_headers = list(headers)
        self.read_limit = read_limit
        self.key = base64.b64encode(os.urandom(16)).decode("ascii")
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawWebSocket:
        ssl_context = self.server.client_ssl_context() if self.server.spec.tls else None
        if ssl_context is not None:
            ssl_context.set_alpn_protocols(["http/1.1"])
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(
                self.server.host, self.server.port, ssl=ssl_context, limit=self.read_limit
            ),
            TIMEOUT,
        )
        try:
            await self._handshake()
        except BaseException:
            await self.vanish()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.vanish()

    async def _handshake(self) -> None:
        parser = h11.Connection(h11.CLIENT)
        headers = _request_headers(self.server, self.key, self.subprotocols, self.extra_headers)
        request = h11.Request(method="GET", target=self.path, headers=headers)
        evidence.wire(self, self.kind, ">", f"GET {self.path} {headers}")
        await self._write(parser.send(request))
        status, response_headers, body = 0, [], bytearray()
        deadline = time.monotonic() + TIMEOUT
        while True:
            event = parser.next_event()
            if event is h11.NEED_DATA:
                data = await self._read(max(deadline - time.monotonic(), 0.001))
                parser.receive_data(data or b"")
                continue
            if isinstance(event, h11.InformationalResponse) and event.status_code == 101:
                decoded = _decode_headers(event.headers)
                self.handshake = Handshake(101, decoded, accepted=True)
                evidence.wire(self, self.kind, "<", f"101 {decoded}")
                trailing, _ = parser.trailing_data
                self._frames = Connection(ConnectionType.CLIENT, trailing_data=bytes(trailing))
                if trailing:
                    await self._feed(b"")
                return
            if isinstance(event, h11.Response):
                status, response_headers = event.status_code, _decode_headers(event.headers)
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                if not status:
                    raise ConnectionError("the server closed the connection without a response")
                self.handshake = Handshake(status, response_headers, bytes(body))
                evidence.wire(self, self.kind, "<", f"{status} {response_headers} {bytes(body)!r}")
                return

    async def _write(self, data: bytes) -> None:
        assert self._writer is not None
        if self._writer.is_closing():
            raise ConnectionError("the connection is closed")
        self._writer.write(data)
        await self._writer.drain()

    async def _read(self, timeout: float) -> bytes | None:
        assert self._reader is not None
        try:
            data = await asyncio.wait_for(self._reader.read(_READ), timeout)
        except (ConnectionResetError, BrokenPipeError):
            return None
        return data or None

    async def vanish(self) -> None:
        """Close the TCP connection without a close frame (a client that went away)."""
        if self._writer is not None and not self._writer.is_closing():
            evidence.wire(self, self.kind, ">", "<TCP close, no close frame>")
            self._writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self._writer.wait_closed(), TIMEOUT)

    def abort(self) -> None:
        """Reset the TCP connection (RST): a client that crashed."""
        if self._writer is not None and not self._writer.is_closing():
            evidence.wire(self, self.kind, ">", "<TCP reset>")
            sock = self._writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._writer.transport.abort()


class H2WebSocket(_Frames):
    """A WebSocket over one HTTP/2 stream, opened with extended CONNECT (RFC 8441 §4).

    ``async with H2WebSocket(server, "/path") as ws``: the connection preface, the server's
    SETTINGS (:attr:`connect_protocol` tells whether it sent
    ``SETTINGS_ENABLE_CONNECT_PROTOCOL = 1``), then a CONNECT request with
    ``:protocol = websocket`` if it did. :attr:`handshake` is the response (200: accepted).
    """

    kind = "ws-h2"

    def __init__(
        self,
        server: RunningServer,
        path: str,
        *,
        subprotocols: Sequence[str] = (),
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__()
        self.server = server
        self.path = path
        self.subprotocols = list(subprotocols)
        self.extra_headers = list(headers)
        self.connect_protocol = False
        self.stream_id = 0
        self.reset: int | None = None
        self._h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._inbox: list[bytes | None] = []

    async def __aenter__(self) -> H2WebSocket:
        ssl_context = None
        if self.server.spec.tls:
            ssl_context = self.server.client_ssl_context()
            ssl_context.set_alpn_protocols(["h2"])
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.server.host, self.server.port, ssl=ssl_context),
            TIMEOUT,
        )
        try:
            await self._open()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self._writer.wait_closed(), TIMEOUT)

    async def _flush(self) -> None:
        assert self._writer is not None
        data = self._h2.data_to_send()
        if data:
            self._writer.write(data)
            await self._writer.drain()

    async def _open(self) -> None:
        self._h2.initiate_connection()
        await self._flush()
        deadline = time.monotonic() + TIMEOUT
        settings = False
        while not settings:
            settings = any(
                isinstance(e, h2.events.RemoteSettingsChanged)
                for e in await self._pump(deadline - time.monotonic())
            )
        enable = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL
        self.connect_protocol = self._h2.remote_settings.get(enable, 0) == 1
        evidence.wire(
            self, self.kind, "<", f"SETTINGS enable_connect_protocol={int(self.connect_protocol)}"
        )
        if not self.connect_protocol:
            return
        self.stream_id = self._h2.get_next_available_stream_id()
        headers = [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", self.server.spec.scheme),
            (":path", self.path),
            (":authority", self.server.authority),
            ("sec-websocket-version", "13"),
        ]
        if self.subprotocols:
            headers.append(("sec-websocket-protocol", ", ".join(self.subprotocols)))
        headers += self.extra_headers
        evidence.wire(self, self.kind, ">", f"HEADERS stream={self.stream_id} {headers}")
        self._h2.send_headers(self.stream_id, headers, end_stream=False)
        await self._flush()
        while self.handshake is None:
            if self.reset is not None:
                raise ConnectionError(f"the server reset the CONNECT stream ({self.reset})")
            await self._pump(deadline - time.monotonic())

    async def _pump(self, timeout: float) -> list[Any]:
        """Read one batch of frames and handle them; the h2 events."""
        assert self._reader is not None
        if timeout <= 0:
            raise TimeoutError("no answer from the HTTP/2 server in time")
        try:
            data = await asyncio.wait_for(self._reader.read(_READ), timeout)
        except ConnectionResetError:
            data = b""
        if not data:
            self._inbox.append(None)
            raise ConnectionError("the server closed the HTTP/2 connection")
        events = self._h2.receive_data(data)
        for event in events:
            self._on(event)
        await self._flush()
        return list(events)

    def _on(self, event: Any) -> None:
        stream = getattr(event, "stream_id", None)
        if isinstance(event, h2.events.ResponseReceived) and stream == self.stream_id:
            headers = _decode_headers(event.headers)
            status = int(next((v for n, v in headers if n == ":status"), "0"))
            plain = [(n, v) for n, v in headers if not n.startswith(":")]
            self.handshake = Handshake(status, plain, accepted=200 <= status < 300)
            evidence.wire(self, self.kind, "<", f"HEADERS :status {status} {plain}")
            if self.handshake.accepted:
                self._frames = Connection(ConnectionType.CLIENT)
        elif isinstance(event, h2.events.DataReceived) and stream == self.stream_id:
            self._h2.acknowledge_received_data(event.flow_controlled_length, self.stream_id)
            self._inbox.append(bytes(event.data))
        elif isinstance(event, h2.events.StreamEnded) and stream == self.stream_id:
            self._inbox.append(None)
        elif isinstance(event, h2.events.StreamReset) and stream == self.stream_id:
            self.reset = int(event.error_code)
            self._inbox.append(None)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._inbox.append(None)

    async def _write(self, data: bytes) -> None:
        self._h2.send_data(self.stream_id, data)
        await self._flush()

    async def _read(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while not self._inbox:
            try:
                await self._pump(deadline - time.monotonic())
            except ConnectionError:
                break
        return self._inbox.pop(0) if self._inbox else None


def _decode_headers(headers: Iterable[tuple[Any, Any]]) -> list[tuple[str, str]]:
    def text(value: Any) -> str:
        return value.decode("latin-1") if isinstance(value, bytes | bytearray) else str(value)

    return [(text(name).lower(), text(value)) for name, value in headers]


@dataclass(slots=True)
class WSClient:
    """A ``websockets`` client connection, telling the case's evidence what it exchanges.

    Attributes:
        connection: the ``websockets`` connection, for anything not wrapped here.
        handshake: the server's 101 response.
    """

    connection: websockets.asyncio.client.ClientConnection
    handshake: Handshake
    received: list[str | bytes] = field(default_factory=list)

    async def send(self, message: str | bytes) -> None:
        """Send a text (str) or binary (bytes) message."""
        kind = "text" if isinstance(message, str) else "bytes"
        evidence.wire(self, "ws", ">", f"{kind} {len(message)}: {message[:100]!r}")
        await self.connection.send(message)

    async def recv(self, timeout: float = TIMEOUT) -> str | bytes:
        """The next message (str for text, bytes for binary).

        Raises:
            websockets.ConnectionClosed: the connection closed first.
            TimeoutError: nothing within ``timeout``.
        """
        message = await asyncio.wait_for(self.connection.recv(), timeout)
        kind = "text" if isinstance(message, str) else "bytes"
        evidence.wire(self, "ws", "<", f"{kind} {len(message)}: {message[:100]!r}")
        self.received.append(message)
        return message

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Run the closing handshake (RFC 6455 §7.1.2)."""
        evidence.wire(self, "ws", ">", f"close {code} {reason!r}")
        await asyncio.wait_for(self.connection.close(code, reason), TIMEOUT)

    @property
    def close_code(self) -> int | None:
        """The code of the server's close frame, once closed (None if it sent none)."""
        frame = self.connection.protocol.close_rcvd
        return frame.code if frame is not None else None

    @property
    def close_reason(self) -> str | None:
        """The reason of the server's close frame, once closed."""
        frame = self.connection.protocol.close_rcvd
        return frame.reason if frame is not None else None


@contextlib.asynccontextmanager
async def ws_connect(
    server: RunningServer,
    path: str,
    *,
    subprotocols: Sequence[str] = (),
    headers: Iterable[tuple[str, str]] = (),
    max_size: int | None = None,
    **options: Any,
) -> AsyncIterator[WSClient]:
    """Open a WebSocket with the ``websockets`` library (``ws://`` or ``wss://``).

    No extension is offered (no compression), so what the server receives is what was sent.
    Extra ``options`` go to ``websockets.asyncio.client.connect``.

    Raises:
        websockets.InvalidStatus: the server refused the handshake.
    """
    scheme = "wss" if server.spec.tls else "ws"
    uri = f"{scheme}://{server.authority}{path}"
    ssl_context = server.client_ssl_context() if server.spec.tls else None
    offered = list(subprotocols)
    extra = list(headers)
    evidence.wire(uri, "ws", ">", f"GET {path} subprotocols={offered} {extra}")
    connection = await websockets.asyncio.client.connect(
        uri,
        ssl=ssl_context,
        subprotocols=[websockets.Subprotocol(p) for p in offered] or None,
        additional_headers=extra,
        compression=None,
        max_size=max_size,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
        ping_interval=None,
        **options,
    )
    response = connection.response
    assert response is not None
    handshake = Handshake(
        response.status_code,
        [(name.lower(), value) for name, value in response.headers.raw_items()],
        accepted=True,
    )
    client = WSClient(connection, handshake)
    evidence.wire(client, "ws", "<", f"{handshake.status} {handshake.headers}")
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), TIMEOUT)
