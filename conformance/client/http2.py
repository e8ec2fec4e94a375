"""The raw HTTP/2 client (the ``h2`` library): one connection driven frame by frame.

:class:`H2Session` is the one raw HTTP/2 client of the suites. It does what a polite client
never does, and sees what httpx hides:

* requests with any header block (an invalid ``content-length`` too), DATA frames as the case
  says (past or short of the declared length, after the response ended), RST_STREAM;
* every frame-level event: informational (1xx) responses, trailers, PUSH_PROMISE frames (with
  ``SETTINGS_ENABLE_PUSH`` on or off), RST_STREAM and GOAWAY with their error codes, the server
  closing the connection;
* incremental reads with a timestamp per DATA frame, and, with ``auto_acknowledge=False``,
  flow control driven by what the case reads: a client that stops reading stops opening the
  window, as a slow reader does;
* a wire transcript: every frame sent and received, stamped with ``time.monotonic()``, kept in
  :attr:`H2Result.log` (:meth:`H2Result.describe` renders it for failure messages) and
  reported to the running case's evidence (:mod:`conformance.evidence`).

:class:`H2Client` is the one-request shorthand over it (GET a page and every pushed stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from servers import RunningServer

from .. import evidence
from ._common import TIMEOUT, connect

__all__ = ["H2Client", "H2Result", "H2Session", "H2Stream", "error_name"]

#: The most transcript lines an :class:`H2Result` keeps (the first ones, then the last ones).
MAX_LOG: Final = 400
#: The flow-control window of a stream and of the connection before any setting (RFC 9113 §6.9.2).
DEFAULT_WINDOW: Final = 65_535


def error_name(code: int | None) -> str:
    """The name of an HTTP/2 error code (``PROTOCOL_ERROR``), or the number if unknown."""
    if code is None:
        return "none"
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return str(code)


@dataclass(slots=True)
class H2Stream:
    """One HTTP/2 stream as the raw client saw it.

    Attributes:
        headers: the final response's header block (pseudo-headers included).
        ended: the server ended the stream (END_STREAM).
        reset: the error code of the server's RST_STREAM, or None.
        informational: the statuses of the informational (1xx) responses, in order.
        informational_headers: the header blocks of those responses (pseudo-headers
            included), in the same order.
        trailers: the trailer section, if any.
        frames: ``(time.monotonic(), length)`` of every DATA frame, in order of arrival.
        consumed: how many body bytes :meth:`H2Session.read` has returned so far.
    """

    headers: list[tuple[str, str]] = field(default_factory=list)
    ended: bool = False
    reset: int | None = None
    informational: list[int] = field(default_factory=list)
    informational_headers: list[list[tuple[str, str]]] = field(default_factory=list)
    trailers: list[tuple[str, str]] = field(default_factory=list)
    frames: list[tuple[float, int]] = field(default_factory=list)
    consumed: int = 0
    _body: bytearray = field(default_factory=bytearray, repr=False)
    _dropped: int = 0

    @property
    def status(self) -> int:
        """The ``:status`` pseudo-header as an int (0 if none)."""
        for name, value in self.headers:
            if name == ":status":
                return int(value)
        return 0

    @property
    def data(self) -> bytes:
        """The body received (what :meth:`H2Session.read` discarded excepted)."""
        return bytes(self._body)

    @property
    def received(self) -> int:
        """How many body bytes arrived in all."""
        return self._dropped + len(self._body)

    @property
    def done(self) -> bool:
        """Whether the stream ended or was reset."""
        return self.ended or self.reset is not None


@dataclass(slots=True)
class H2Result:
    """What an HTTP/2 connection carried: the streams, the pushes, GOAWAY, the transcript.

    Attributes:
        streams: every stream by id (the client's requests, and promised ones).
        pushes: ``(parent, promised, request headers)`` of each PUSH_PROMISE, in order.
        events: ``(time.monotonic(), h2 event name)`` of every event received.
        goaway: the error code of the server's GOAWAY, or None.
        closed: the server closed the connection (or broke the protocol).
        log: the transcript: ``(time.monotonic(), ">"|"<"|"!", text)`` per frame sent,
            received, or error seen.
    """

    streams: dict[int, H2Stream]
    pushes: list[tuple[int, int, list[tuple[str, str]]]]
    events: list[tuple[float, str]]
    goaway: int | None = None
    closed: bool = False
    log: list[tuple[float, str, str]] = field(default_factory=list)
    dropped: int = 0

    def note(self, direction: str, text: str) -> None:
        """Add a transcript line now (also to the running case's evidence)."""
        if len(self.log) >= MAX_LOG:
            del self.log[MAX_LOG // 2]  # keep the opening exchange and the latest frames
            self.dropped += 1
        self.log.append((time.monotonic(), direction, text))
        evidence.wire(self, "h2", direction, text)

    def describe(self, limit: int = 4000) -> str:
        """The transcript, one line per frame, for failure messages."""
        if not self.log:
            return "(nothing on the wire)"
        start = self.log[0][0]
        lines = [f"+{(t - start) * 1000:8.1f} ms {d} {text}" for t, d, text in self.log]
        if self.dropped:
            lines.insert(MAX_LOG // 2, f"... ({self.dropped} frames left out)")
        text = "\n".join(lines)
        return text if len(text) <= limit else text[: limit // 2] + "\n...\n" + text[-limit // 2 :]


class _GracefulConnection(h2.connection.H2Connection):
    """An h2 connection that stays open after a GOAWAY with NO_ERROR (RFC 9113 §6.8).

    The sender of a graceful GOAWAY may still complete the streams up to its last stream id,
    and may PING before a second GOAWAY; h2 closes its connection state at the first GOAWAY
    and refuses every frame after it.
    """

    def _receive_goaway_frame(self, frame: Any) -> tuple[list[Any], list[Any]]:
        frames, events = super()._receive_goaway_frame(frame)
        if frame.error_code == h2.errors.ErrorCodes.NO_ERROR:
            self.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        return frames, events


class H2Session:
    """A raw HTTP/2 connection driven step by step (``async with H2Session(server) as h2:``).

    Args:
        server: the server to connect to (prior knowledge, or TLS with ALPN ``h2``).
        enable_push: the client's ``SETTINGS_ENABLE_PUSH``.
        auto_acknowledge: acknowledge every DATA frame as it arrives (the window never
            closes). With False, only what :meth:`read` returns is acknowledged: a case that
            stops reading lets the server's flow-control window run out.
        window: the client's ``SETTINGS_INITIAL_WINDOW_SIZE`` (h2's default 65 535 if None).
        validate_headers: let h2 refuse malformed outbound header blocks; False to send
            whatever the case says (an invalid ``content-length``, say).
        receive_buffer: ``SO_RCVBUF`` of the socket (see :func:`conformance.client.connect`).
        keep_body: keep every body byte in :attr:`H2Stream.data`; with False, what
            :meth:`read` returns is dropped (a 64 MiB stream needs no 64 MiB client).
        follow_goaway: after a GOAWAY with NO_ERROR, go on receiving what the server still
            sends (the streams it spares, PING): a graceful shutdown (RFC 9113 §6.8). By
            default h2 treats every frame after a GOAWAY as a protocol error.
    """

    def __init__(
        self,
        server: RunningServer,
        *,
        enable_push: bool = False,
        auto_acknowledge: bool = True,
        window: int | None = None,
        validate_headers: bool = True,
        receive_buffer: int | None = None,
        keep_body: bool = True,
        follow_goaway: bool = False,
    ) -> None:
        self.server = server
        self.enable_push = enable_push
        self.auto_acknowledge = auto_acknowledge
        self.window = window
        self.receive_buffer = receive_buffer
        self.keep_body = keep_body
        self.result = H2Result(streams={}, pushes=[], events=[])
        connection = _GracefulConnection if follow_goaway else h2.connection.H2Connection
        self._connection = connection(
            h2.config.H2Configuration(
                client_side=True,
                validate_outbound_headers=validate_headers,
                normalize_outbound_headers=validate_headers,
            )
        )
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    # -- the connection ------------------------------------------------------------------------

    @property
    def closed_by_server(self) -> bool:
        """Whether the server closed the connection (EOF, protocol error, or GOAWAY)."""
        return self.result.closed or self.result.goaway is not None

    @property
    def streams(self) -> dict[int, H2Stream]:
        """The streams by id (:attr:`H2Result.streams`)."""
        return self.result.streams

    @property
    def goaway(self) -> int | None:
        """The error code of the server's GOAWAY, or None."""
        return self.result.goaway

    async def __aenter__(self) -> H2Session:
        self._reader, self._writer = await connect(
            self.server, alpn="h2", receive_buffer=self.receive_buffer
        )
        self._connection.initiate_connection()
        settings: dict[h2.settings.SettingCodes | int, int] = {
            h2.settings.SettingCodes.ENABLE_PUSH: int(self.enable_push)
        }
        if self.window is not None:
            settings[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = self.window
        self._connection.update_settings(settings)
        self.result.note(">", f"preface + SETTINGS {_settings(settings)}")
        if self.window is not None and self.window > DEFAULT_WINDOW:
            # The connection's window is no setting: open it as wide as each stream's.
            self._connection.increment_flow_control_window(self.window - DEFAULT_WINDOW)
            self.result.note(">", f"WINDOW_UPDATE stream=0 +{self.window - DEFAULT_WINDOW}")
        await self._flush()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection (TCP FIN, no GOAWAY), as a client that simply leaves."""
        if self._writer is not None and not self._writer.is_closing():
            self.result.note(">", "<close>")
            await _close_writer(self._writer)

    async def _flush(self) -> None:
        assert self._writer is not None
        data = self._connection.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()

    # -- sending ------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        headers: Iterable[tuple[str, str]] = (),
        *,
        end_stream: bool = True,
        flush: bool = True,
    ) -> int:
        """Open a stream with a request's header block; return its id.

        ``flush=False`` keeps the frames until the next send, so that HEADERS and DATA leave in
        one write (as a client sends a small request).
        """
        stream_id = self._connection.get_next_available_stream_id()
        scheme = "https" if self.server.spec.tls else "http"
        pseudo = [(":method", method), (":path", path), (":scheme", scheme)]
        pseudo.append((":authority", self.server.authority))
        headers = list(headers)
        self._connection.send_headers(stream_id, [*pseudo, *headers], end_stream=end_stream)
        self.result.streams[stream_id] = H2Stream()
        self.result.note(
            ">", f"HEADERS stream={stream_id} {method} {path} {headers}{_end(end_stream)}"
        )
        if flush:
            await self._flush()
        return stream_id

    async def send_data(self, stream_id: int, data: bytes, *, end_stream: bool = False) -> None:
        """Send a DATA frame on ``stream_id`` (it must fit the flow-control window)."""
        self._connection.send_data(stream_id, data, end_stream=end_stream)
        self.result.note(">", f"DATA stream={stream_id} {len(data)} bytes{_end(end_stream)}")
        await self._flush()

    async def reset(self, stream_id: int, code: int = h2.errors.ErrorCodes.CANCEL) -> None:
        """Send RST_STREAM with ``code`` (CANCEL by default): the client leaves the stream."""
        self._connection.reset_stream(stream_id, code)
        self.result.note(">", f"RST_STREAM stream={stream_id} {error_name(code)}")
        await self._flush()

    # -- receiving ----------------------------------------------------------------------------

    async def _receive(self) -> bool:
        """Read once from the socket and apply what came; False once the connection is over."""
        assert self._reader is not None
        if self.result.closed:
            return False
        try:
            data = await self._reader.read(65536)
        except (ConnectionError, ssl.SSLError) as error:
            self.result.note("!", f"connection error {error!r}")
            data = b""
        if not data:
            self.result.closed = True
            self.result.note("<", "<EOF>")
            return False
        try:
            events = self._connection.receive_data(data)
        except h2.exceptions.ProtocolError as error:
            self.result.closed = True
            self.result.note("!", f"protocol error {error!r}")
            return False
        for event in events:
            self._apply(event)
        await self._flush()
        return True

    async def until(self, done: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        """Read frames until ``done()`` holds or the connection is over (no error for that).

        Raises:
            TimeoutError: neither happened within ``timeout``.
        """
        async with asyncio.timeout(timeout):
            while not done() and await self._receive():
                pass

    def finished(self, stream_id: int) -> Callable[[], bool]:
        """A ``done`` for :meth:`until`: the stream ended, was reset, or the connection went."""
        stream = self.result.streams[stream_id]
        return lambda: stream.done or self.closed_by_server

    async def until_ended(self, *stream_ids: int, timeout: float = TIMEOUT) -> None:
        """Read frames until every stream in ``stream_ids`` has ended or was reset.

        Raises:
            ConnectionError: the server closed the connection (or sent GOAWAY) first.
            TimeoutError: not within ``timeout``.
        """
        streams = self.result.streams

        def done() -> bool:
            return all(streams[i].done for i in stream_ids) or self.closed_by_server

        await self.until(done, timeout)
        if not all(streams[i].done for i in stream_ids):
            if self.result.goaway is not None:
                raise ConnectionError(f"the server sent GOAWAY ({error_name(self.result.goaway)})")
            raise ConnectionError("the server closed the HTTP/2 connection")

    async def response(self, stream_id: int, timeout: float = TIMEOUT) -> H2Stream:
        """Wait for the final response's headers on ``stream_id`` (or the stream's end).

        Raises:
            TimeoutError: no headers within ``timeout``.
        """
        stream = self.result.streams[stream_id]
        await self.until(
            lambda: bool(stream.headers) or stream.done or self.closed_by_server, timeout
        )
        return stream

    async def read(self, stream_id: int, size: int = 65536, timeout: float = TIMEOUT) -> bytes:
        """The next at most ``size`` unread body bytes of ``stream_id``; b"" at its end.

        Waits for at least one byte. What it returns is acknowledged to the server when the
        session does not acknowledge by itself, opening the flow-control window by as much.

        Raises:
            TimeoutError: nothing arrived within ``timeout`` and the stream is not over.
        """
        stream = self.result.streams[stream_id]
        offset = stream.consumed - stream._dropped
        await self.until(
            lambda: len(stream._body) > offset or stream.done or self.closed_by_server, timeout
        )
        chunk = bytes(stream._body[offset : offset + size])
        stream.consumed += len(chunk)
        if not self.keep_body:
            del stream._body[: offset + len(chunk)]
            stream._dropped += offset + len(chunk)
        if chunk and not self.auto_acknowledge:
            with contextlib.suppress(h2.exceptions.StreamClosedError, KeyError):
                self._connection.acknowledge_received_data(len(chunk), stream_id)
            await self._flush()
        return chunk

    async def chunks(self, stream_id: int, timeout: float = TIMEOUT) -> AsyncIterator[bytes]:
        """The body of ``stream_id`` as it arrives, each wait bounded by ``timeout``."""
        while chunk := await self.read(stream_id, timeout=timeout):
            yield chunk

    def _apply(self, event: Any) -> None:
        result = self.result
        result.events.append((time.monotonic(), type(event).__name__))
        result.note("<", _describe(event))
        if isinstance(event, h2.events.InformationalResponseReceived):
            stream = result.streams.setdefault(event.stream_id, H2Stream())
            stream.informational.append(_status(event.headers or []))
            stream.informational_headers.append(_decode(event.headers or []))
        elif isinstance(event, h2.events.ResponseReceived):
            result.streams.setdefault(event.stream_id, H2Stream()).headers = _decode(
                event.headers or []
            )
        elif isinstance(event, h2.events.TrailersReceived):
            result.streams.setdefault(event.stream_id, H2Stream()).trailers = _decode(
                event.headers or []
            )
        elif isinstance(event, h2.events.PushedStreamReceived):
            parent, promised = event.parent_stream_id or 0, event.pushed_stream_id or 0
            result.pushes.append((parent, promised, _decode(event.headers or [])))
            result.streams.setdefault(promised, H2Stream())
        elif isinstance(event, h2.events.DataReceived):
            stream = result.streams.setdefault(event.stream_id, H2Stream())
            data = event.data or b""
            stream._body += data
            stream.frames.append((time.monotonic(), len(data)))
            if self.auto_acknowledge:
                self._connection.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
            elif len(data) < (event.flow_controlled_length or 0):
                # Padding is flow-controlled too, but no read() will ever return it.
                self._connection.acknowledge_received_data(
                    (event.flow_controlled_length or 0) - len(data), event.stream_id
                )
        elif isinstance(event, h2.events.StreamEnded):
            result.streams.setdefault(event.stream_id, H2Stream()).ended = True
        elif isinstance(event, h2.events.StreamReset):
            result.streams.setdefault(event.stream_id, H2Stream()).reset = int(event.error_code)
        elif isinstance(event, h2.events.ConnectionTerminated):
            result.goaway = int(event.error_code or 0)


class H2Client:
    """One request on a raw HTTP/2 connection of its own, read with every pushed stream."""

    def __init__(self, server: RunningServer, *, enable_push: bool = True) -> None:
        self.server = server
        self.enable_push = enable_push

    async def get(
        self, path: str, headers: Iterable[tuple[str, str]] = (), *, timeout: float = TIMEOUT
    ) -> H2Result:
        """GET ``path`` and read until the response and every promised stream have ended.

        Raises:
            ConnectionError: the server closed the connection first.
            TimeoutError: not within ``timeout``.
        """
        async with H2Session(self.server, enable_push=self.enable_push) as session:
            await session.request("GET", path, headers)
            streams = session.result.streams
            await session.until(
                lambda: all(s.done for s in streams.values()) or session.closed_by_server,
                timeout,
            )
            if not all(s.done for s in streams.values()):
                raise ConnectionError("the server closed the HTTP/2 connection")
        return session.result


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    """Close a connection and wait for it (an unawaited TLS close leaks a socket warning)."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), TIMEOUT)
    except (OSError, TimeoutError, ssl.SSLError):
        writer.transport.abort()


def _end(end_stream: bool) -> str:
    return " END_STREAM" if end_stream else ""


def _settings(settings: dict[Any, int]) -> str:
    return ", ".join(f"{getattr(k, 'name', k)}={v}" for k, v in settings.items())


def _describe(event: Any) -> str:
    """One transcript line about an h2 event."""
    name = type(event).__name__
    stream = getattr(event, "stream_id", None)
    text = name if not stream else f"{name} stream={stream}"
    if isinstance(
        event,
        h2.events.ResponseReceived
        | h2.events.TrailersReceived
        | h2.events.InformationalResponseReceived,
    ):
        text += f" {_decode(event.headers or [])}"
    elif isinstance(event, h2.events.PushedStreamReceived):
        text += f" promised={event.pushed_stream_id} {_decode(event.headers or [])}"
    elif isinstance(event, h2.events.DataReceived):
        data = event.data or b""
        text += f" {len(data)} bytes {data[:48]!r}"
    elif isinstance(event, h2.events.StreamReset | h2.events.ConnectionTerminated):
        text += f" {error_name(event.error_code)}"
        if isinstance(event, h2.events.ConnectionTerminated):
            text += f" last_stream={event.last_stream_id}"
    elif isinstance(event, h2.events.RemoteSettingsChanged):
        text += " " + ", ".join(
            f"{getattr(k, 'name', k)}={v.new_value}" for k, v in event.changed_settings.items()
        )
    elif isinstance(event, h2.events.WindowUpdated):
        text += f" +{event.delta}"
    return text


def _status(headers: Iterable[tuple[Any, Any]]) -> int:
    for name, value in _decode(headers):
        if name == ":status":
            return int(value)
    return 0


def _decode(headers: Iterable[tuple[Any, Any]]) -> list[tuple[str, str]]:
    """Header fields as text: UTF-8, with any other byte (obs-text) kept as a lone surrogate,
    so ``value.encode("utf-8", "surrogateescape")`` gives back the bytes received."""
    return [(_text(n), _text(v)) for n, v in headers]


def _text(value: Any) -> Any:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
