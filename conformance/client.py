"""The clients the cases speak with, over real sockets, in the variant's protocol.

* :func:`http_client`: an ``httpx.AsyncClient`` speaking HTTP/1.1, HTTP/2 with prior knowledge
  (h2c) or HTTP/2 over TLS with ALPN, as the variant requires.
* :class:`RawHTTP1`: a raw HTTP/1.1 connection for what a polite client never sends (a body
  longer or shorter than its Content-Length, pipelined requests, ``Expect: 100-continue``
  without the body); responses are parsed with h11, and every byte in and out is kept in a
  timestamped :class:`Transcript`.
* :class:`H2Client`: a raw HTTP/2 connection (the ``h2`` library) that sees PUSH_PROMISE frames
  and can turn push off (``SETTINGS_ENABLE_PUSH = 0``).
* :class:`Observer`: the observation channel of the contract app (:mod:`conformance.observe`).

Every wait has a deadline; nothing here sleeps to let time pass.

Inside a case run by the plugin, every client also reports what it sends and receives to the
case's evidence sink (:mod:`conformance.evidence`), so the report can show the wire transcript
and the app's observations of each case; outside a case this does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import h2.config
import h2.connection
import h2.events
import h2.settings
import h11
import httpx

from servers import HTTPProtocol, RunningServer

from . import evidence

__all__ = [
    "TIMEOUT",
    "H2Client",
    "H2Result",
    "H2Session",
    "Observer",
    "RawHTTP1",
    "RawResponse",
    "Transcript",
    "http_client",
    "new_token",
]

#: The default deadline of one wait, scaled by ``ASGI_CONFORMANCE_TIMEOUT_FACTOR``.
TIMEOUT: Final = 5.0 * float(os.environ.get("ASGI_CONFORMANCE_TIMEOUT_FACTOR", "1"))


def new_token() -> str:
    """A fresh token naming one probe in the observation channel."""
    token = uuid.uuid4().hex[:16]
    evidence.token_made(token)
    return token


def http_client(
    server: RunningServer,
    *,
    timeout: float = TIMEOUT,
    protocol: HTTPProtocol | None = None,
    record: bool = True,
) -> httpx.AsyncClient:
    """An httpx client for ``server`` in its variant's protocol (or in ``protocol``).

    With ``record`` (the default), what it sends and receives goes to the running case's
    evidence transcript, if any.
    """
    protocol = protocol or server.spec.protocol
    verify: ssl.SSLContext | bool = server.client_ssl_context() if server.spec.tls else True
    transport = httpx.AsyncHTTPTransport(
        http1=protocol is HTTPProtocol.HTTP1,
        http2=protocol is not HTTPProtocol.HTTP1,
        verify=verify,
    )
    return httpx.AsyncClient(
        base_url=server.base_url,
        transport=_RecordingTransport(transport) if record else transport,
        timeout=timeout,
    )


class _RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests through, telling the case's evidence sink what crossed the wire."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if evidence.current() is None:
            return await self.inner.handle_async_request(request)
        headers = ", ".join(f"{k}: {v}" for k, v in request.headers.multi_items())
        body = ""
        if isinstance(request.stream, httpx.ByteStream):
            size = len(request.content)
            body = f" + {size} byte body" if size else ""
        else:
            body = " + streamed body"
        target = request.url.raw_path.decode("ascii", "replace")
        evidence.wire(self, "http", ">", f"{request.method} {target} [{headers}]{body}")
        try:
            response = await self.inner.handle_async_request(request)
        except Exception as error:
            evidence.wire(self, "http", "!", f"{type(error).__name__}: {error}")
            raise
        version = response.extensions.get("http_version", b"")
        version = version.decode() if isinstance(version, bytes) else str(version)
        headers = ", ".join(f"{k}: {v}" for k, v in response.headers.multi_items())
        evidence.wire(self, "http", "<", f"{version} {response.status_code} [{headers}]")
        stream = response.stream
        if isinstance(stream, httpx.AsyncByteStream):
            response.stream = _RecordingStream(stream, self)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class _RecordingStream(httpx.AsyncByteStream):
    """A response body that tells the case's evidence sink about each chunk as it arrives."""

    def __init__(self, inner: httpx.AsyncByteStream, owner: object) -> None:
        self.inner = inner
        self.owner = owner
        self._chunks: AsyncIterator[bytes] | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._chunks = self.inner.__aiter__()
        return self

    async def __anext__(self) -> bytes:
        assert self._chunks is not None
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            evidence.wire(self.owner, "http", "<", "(end of body)")
            raise
        except Exception as error:
            evidence.wire(self.owner, "http", "!", f"{type(error).__name__}: {error}")
            raise
        evidence.wire(self.owner, "http", "<", f"body {len(chunk)} bytes {chunk[:48]!r}")
        return chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


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


class Observer:
    """The contract app's observation channel, on a connection of its own.

    Use it as ``async with Observer(server) as observer``. The channel is harness, not subject:
    it never shares a connection with the exchange under test (on HTTP/2 an unread stream
    would starve it of flow-control window), and it speaks HTTP/1.1, which every built-in
    variant's port also accepts, so it cannot trip over a bug of the protocol under test
    (hypercorn's HTTP/2 drops the whole connection when a request's last DATA frame arrives
    after the response, pgjones/hypercorn#329).
    """

    def __init__(self, server: RunningServer) -> None:
        # Its traffic is harness, not evidence: what it reads is kept as observations instead.
        self.client = http_client(server, protocol=HTTPProtocol.HTTP1, record=False)

    async def __aenter__(self) -> Observer:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.__aexit__()

    async def snapshot(self, token: str) -> dict[str, Any]:
        """Every event and counter of ``token``."""
        response = await self.client.get(f"/observe/{token}")
        response.raise_for_status()
        snapshot: dict[str, Any] = response.json()
        evidence.observed(token, snapshot)
        return snapshot

    async def events(self, token: str, name: str | None = None) -> list[dict[str, Any]]:
        """The events of ``token`` (only those called ``name`` if given)."""
        events: list[dict[str, Any]] = (await self.snapshot(token))["events"]
        return [e for e in events if name is None or e["event"] == name]

    async def wait(
        self, token: str, event: str, count: int = 1, timeout: float = TIMEOUT
    ) -> dict[str, Any]:
        """Wait until the app recorded ``event`` ``count`` times; return the snapshot.

        Raises:
            AssertionError: it did not happen within ``timeout`` (the events seen are listed).
        """
        response = await self.client.get(
            f"/observe/{token}/wait",
            params={"event": event, "count": count, "timeout": timeout},
            timeout=timeout + TIMEOUT,
        )
        response.raise_for_status()
        snapshot: dict[str, Any] = response.json()
        evidence.observed(token, snapshot)
        if not snapshot["ok"]:
            seen = [e["event"] for e in snapshot["events"]]
            raise AssertionError(
                f"the app did not record {event!r} x{count} within {timeout} s; "
                f"events: {seen}, counters: {snapshot['counters']}"
            )
        return snapshot

    async def happened(self, token: str, event: str, *, count: int = 1, timeout: float) -> bool:
        """Whether ``event`` reaches ``count`` within ``timeout`` (when its absence passes)."""
        response = await self.client.get(
            f"/observe/{token}/wait",
            params={"event": event, "count": count, "timeout": timeout},
            timeout=timeout + TIMEOUT,
        )
        response.raise_for_status()
        snapshot = response.json()
        evidence.observed(token, snapshot)
        return bool(snapshot["ok"])

    async def release(self, token: str, gate: str = "next", steps: int = 1) -> None:
        """Open gate ``gate`` of ``token`` for ``steps`` steps."""
        response = await self.client.post(f"/gate/{token}/{gate}", params={"n": steps})
        response.raise_for_status()
