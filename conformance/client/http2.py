"""Raw HTTP/2 (the ``h2`` library): PUSH_PROMISE frames, ENABLE_PUSH=0, step-by-step streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings

from servers import RunningServer

from .. import evidence
from ._common import TIMEOUT

__all__ = ["H2Client", "H2Result", "H2Session", "H2Stream"]


@dataclass(slots=True)
class H2Stream:
    """One HTTP/2 stream as the raw client saw it."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    data: bytes = b""
    ended: bool = False
    reset: int | None = None

    @property
    def status(self) -> int:
        """The ``:status`` pseudo-header as an int (0 if none)."""
        for name, value in self.headers:
            if name == ":status":
                return int(value)
        return 0


@dataclass(slots=True)
class H2Result:
    """What an HTTP/2 exchange produced: the streams, and the pushes in arrival order."""

    streams: dict[int, H2Stream]
    pushes: list[tuple[int, int, list[tuple[str, str]]]]  # (parent, promised, request headers)
    events: list[tuple[float, str]]


class H2Client:
    """A raw HTTP/2 client: one connection, one request, every frame-level event kept."""

    def __init__(self, server: RunningServer, *, enable_push: bool = True) -> None:
        self.server = server
        self.enable_push = enable_push

    async def get(
        self, path: str, headers: Iterable[tuple[str, str]] = (), *, timeout: float = TIMEOUT
    ) -> H2Result:
        """GET ``path`` and read until the response and every promised stream have ended."""
        ssl_context = None
        if self.server.spec.tls:
            ssl_context = self.server.client_ssl_context()
            ssl_context.set_alpn_protocols(["h2"])
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.server.host, self.server.port, ssl=ssl_context), timeout
        )
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        connection.initiate_connection()
        connection.update_settings({h2.settings.SettingCodes.ENABLE_PUSH: int(self.enable_push)})
        stream_id = connection.get_next_available_stream_id()
        scheme = "https" if self.server.spec.tls else "http"
        connection.send_headers(
            stream_id,
            [
                (":method", "GET"),
                (":path", path),
                (":scheme", scheme),
                (":authority", self.server.authority),
                *headers,
            ],
            end_stream=True,
        )
        result = H2Result(streams={stream_id: H2Stream()}, pushes=[], events=[])
        evidence.wire(result, "h2", ">", f"HEADERS stream={stream_id} GET {path} {list(headers)}")
        try:
            writer.write(connection.data_to_send())
            await writer.drain()
            async with asyncio.timeout(timeout):
                while not all(s.ended or s.reset is not None for s in result.streams.values()):
                    data = await reader.read(65536)
                    if not data:
                        raise ConnectionError("the server closed the HTTP/2 connection")
                    for event in connection.receive_data(data):
                        _apply(event, result, connection)
                    writer.write(connection.data_to_send())
                    await writer.drain()
        finally:
            await _close_writer(writer)
        return result


class H2Session:
    """A raw HTTP/2 connection driven step by step (``async with H2Session(server) as h2:``).

    For exchanges a polite client never makes, such as a request body that ends after the
    response did.
    """

    def __init__(self, server: RunningServer, *, enable_push: bool = False) -> None:
        self.server = server
        self.enable_push = enable_push
        self.result = H2Result(streams={}, pushes=[], events=[])
        self.closed_by_server = False
        self._connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> H2Session:
        ssl_context = None
        if self.server.spec.tls:
            ssl_context = self.server.client_ssl_context()
            ssl_context.set_alpn_protocols(["h2"])
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.server.host, self.server.port, ssl=ssl_context), TIMEOUT
        )
        self._connection.initiate_connection()
        self._connection.update_settings(
            {h2.settings.SettingCodes.ENABLE_PUSH: int(self.enable_push)}
        )
        await self._flush()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            await _close_writer(self._writer)

    async def _flush(self) -> None:
        assert self._writer is not None
        data = self._connection.data_to_send()
        if data:
            self._writer.write(data)
            await self._writer.drain()

    async def request(
        self,
        method: str,
        path: str,
        headers: Iterable[tuple[str, str]] = (),
        *,
        end_stream: bool = True,
    ) -> int:
        """Open a stream with a request's header block; return its id."""
        stream_id = self._connection.get_next_available_stream_id()
        scheme = "https" if self.server.spec.tls else "http"
        pseudo = [(":method", method), (":path", path), (":scheme", scheme)]
        pseudo.append((":authority", self.server.authority))
        headers = list(headers)
        self._connection.send_headers(stream_id, [*pseudo, *headers], end_stream=end_stream)
        self.result.streams[stream_id] = H2Stream()
        evidence.wire(
            self.result,
            "h2",
            ">",
            f"HEADERS stream={stream_id} {method} {path} {headers} end_stream={end_stream}",
        )
        await self._flush()
        return stream_id

    async def send_data(self, stream_id: int, data: bytes, *, end_stream: bool) -> None:
        """Send a DATA frame on ``stream_id``."""
        self._connection.send_data(stream_id, data, end_stream=end_stream)
        evidence.wire(
            self.result,
            "h2",
            ">",
            f"DATA stream={stream_id} {len(data)} bytes end_stream={end_stream}",
        )
        await self._flush()

    async def until_ended(self, *stream_ids: int, timeout: float = TIMEOUT) -> None:
        """Read frames until every stream in ``stream_ids`` has ended or was reset.

        Raises:
            ConnectionError: the server closed the connection first.
            TimeoutError: not within ``timeout``.
        """
        assert self._reader is not None
        streams = self.result.streams

        def done() -> bool:
            return all(streams[i].ended or streams[i].reset is not None for i in stream_ids)

        async with asyncio.timeout(timeout):
            while not done():
                data = await self._reader.read(65536)
                if not data:
                    self.closed_by_server = True
                    raise ConnectionError("the server closed the HTTP/2 connection")
                for event in self._connection.receive_data(data):
                    _apply(event, self.result, self._connection)
                    if isinstance(event, h2.events.ConnectionTerminated):
                        self.closed_by_server = True
                        raise ConnectionError(f"the server sent GOAWAY ({event.error_code!r})")
                await self._flush()


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    """Close a connection and wait for it (an unawaited TLS close leaks a socket warning)."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), TIMEOUT)
    except (OSError, TimeoutError):
        writer.transport.abort()


def _apply(event: Any, result: H2Result, connection: h2.connection.H2Connection) -> None:
    now = time.monotonic()
    result.events.append((now, type(event).__name__))
    if evidence.current() is not None:
        evidence.wire(result, "h2", "<", _describe_h2(event))
    if isinstance(event, h2.events.ResponseReceived):
        result.streams.setdefault(event.stream_id, H2Stream()).headers = _decode(event.headers)
    elif isinstance(event, h2.events.PushedStreamReceived):
        parent, promised = event.parent_stream_id or 0, event.pushed_stream_id or 0
        result.pushes.append((parent, promised, _decode(event.headers or [])))
        result.streams.setdefault(promised, H2Stream())
    elif isinstance(event, h2.events.DataReceived):
        stream = result.streams.setdefault(event.stream_id, H2Stream())
        stream.data += event.data
        connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
    elif isinstance(event, h2.events.StreamEnded):
        result.streams.setdefault(event.stream_id, H2Stream()).ended = True
    elif isinstance(event, h2.events.StreamReset):
        result.streams.setdefault(event.stream_id, H2Stream()).reset = event.error_code


def _describe_h2(event: Any) -> str:
    """One line about an h2 event, for the evidence transcript."""
    name = type(event).__name__
    stream = getattr(event, "stream_id", None)
    text = name if stream is None else f"{name} stream={stream}"
    if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
        text += f" {_decode(event.headers or [])}"
    elif isinstance(event, h2.events.PushedStreamReceived):
        text += f" promised={event.pushed_stream_id} {_decode(event.headers or [])}"
    elif isinstance(event, h2.events.DataReceived):
        text += f" {len(event.data or b'')} bytes {(event.data or b'')[:64]!r}"
    elif isinstance(event, h2.events.StreamReset | h2.events.ConnectionTerminated):
        text += f" error_code={event.error_code!r}"
    return text


def _decode(headers: Iterable[tuple[Any, Any]]) -> list[tuple[str, str]]:
    return [
        (n.decode() if isinstance(n, bytes) else n, v.decode() if isinstance(v, bytes) else v)
        for n, v in headers
    ]
