"""An in-process ASGI driver for testing apps: stream, disconnect at any point, record everything.

httpx's ``ASGITransport`` buffers whole responses and never delivers ``http.disconnect`` mid
stream, so it cannot test streaming, SSE or disconnect handling. This driver plays the server:

* it delivers the request body as the messages you give (any chunking, complete or not);
* after the body, ``receive()`` blocks until the response is complete and then returns
  ``http.disconnect``, as every real server does
  (docs/server-behaviour.md#disconnect-after-response);
* :meth:`Exchange.disconnect` makes every pending and later ``receive()`` return
  ``http.disconnect`` and every later ``send()`` a no-op (what all probed servers do);
* every message is validated against the ASGI HTTP spec 2.5 message rules and recorded with a
  timestamp; a violation raises :class:`ASGIProtocolError` out of ``send()``, as a strict server
  would, and fails the exchange.

:meth:`ASGIDriver.websocket` plays the server of a WebSocket connection the same way
(:class:`WebSocketSession`): the handshake, messages both ways, a close from either side or a
client that vanishes, each app message validated against the ASGI WebSocket spec 2.5.

This is for testing an app in process. It is never evidence about a server: the conformance
suites run real servers over real sockets.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from . import spec
from .types import ASGIApp, Headers, Message, Scope

__all__ = [
    "ASGIDriver",
    "ASGIProtocolError",
    "AppClosed",
    "Exchange",
    "LifespanFailed",
    "Record",
    "Result",
    "WSHandshake",
    "WebSocketSession",
    "lifespan",
]


class ASGIProtocolError(AssertionError):
    """The app sent a message the ASGI spec does not allow at that point."""


class LifespanFailed(Exception):
    """The app answered ``lifespan.startup.failed`` (the message is the app's)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One message through the driver: when, which way (``send``/``receive``), what."""

    at: float
    direction: str
    message: Message


@dataclass(slots=True)
class Result:
    """A finished exchange."""

    status: int
    headers: Headers
    body: bytes
    chunks: list[bytes]
    pushes: list[Message]
    records: list[Record]
    disconnected: bool = False

    def header(self, name: str) -> str | None:
        """The first value of a response header (case-insensitive), or None."""
        key = name.lower().encode("latin-1")
        for raw, value in self.headers:
            if raw == key:
                return value.decode("latin-1")
        return None

    def header_list(self, name: str) -> list[str]:
        """All values of a response header."""
        key = name.lower().encode("latin-1")
        return [value.decode("latin-1") for raw, value in self.headers if raw == key]

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode()

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def sent(self, kind: str | None = None) -> list[Message]:
        """Messages the app sent, optionally only those of type ``kind``."""
        return [
            r.message
            for r in self.records
            if r.direction == "send" and (kind is None or r.message["type"] == kind)
        ]

    def received(self) -> list[Message]:
        """Messages the app received."""
        return [r.message for r in self.records if r.direction == "receive"]


@dataclass(slots=True)
class _State:
    started: bool = False
    complete: bool = False
    status: int = 0
    headers: Headers = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    pushes: list[Message] = field(default_factory=list)


class Exchange:
    """One request in flight: drive it step by step from a test.

    Create it with :meth:`ASGIDriver.stream`.
    """

    def __init__(
        self,
        app: ASGIApp,
        scope: Scope,
        body: list[bytes],
        complete: bool,
        raise_after_disconnect: bool = False,
    ) -> None:
        self.scope = scope
        self._raise_after_disconnect = raise_after_disconnect
        self.records: list[Record] = []
        self._app = app
        self._incoming: asyncio.Queue[Message] = asyncio.Queue()
        for index, chunk in enumerate(body):
            more = index < len(body) - 1 or not complete
            self._incoming.put_nowait({"type": spec.HTTP_REQUEST, "body": chunk, "more_body": more})
        if not body and complete:
            self._incoming.put_nowait({"type": spec.HTTP_REQUEST, "body": b"", "more_body": False})
        self._body_complete = complete
        self._final_queued = complete
        self._disconnected = False
        self._state = _State()
        self._events: asyncio.Queue[Message] = asyncio.Queue()
        self._changed = asyncio.Event()
        #: The first violation send() raised: the exchange fails with it even if the app
        #: caught it (an app may take a raising send() for a server that will take no more).
        self._violation: ASGIProtocolError | None = None
        self.task: asyncio.Task[None] | None = None

    # -- the server side ------------------------------------------------------------------------

    async def _receive(self) -> Message:
        while True:
            # Body bytes the client sent before it left are delivered first, as servers do.
            if self._disconnected and self._incoming.empty():
                return self._record("receive", {"type": spec.HTTP_DISCONNECT})
            if not self._incoming.empty():
                message = self._incoming.get_nowait()
                if message["type"] == spec.HTTP_REQUEST and not message["more_body"]:
                    self._body_complete = True
                return self._record("receive", message)
            if self._body_complete and self._state.complete:
                return self._record("receive", {"type": spec.HTTP_DISCONNECT})
            self._changed.clear()
            await self._changed.wait()

    async def _send(self, message: Message) -> None:
        self._record("send", message)
        if self._disconnected:
            if self._raise_after_disconnect:
                raise ConnectionResetError("the client disconnected (ASGI spec 2.4 behaviour)")
            return  # no-op after disconnect, as on every probed server
        try:
            self._validate(message)
        except ASGIProtocolError as violation:
            if self._violation is None:
                self._violation = violation
            raise
        self._events.put_nowait(message)
        self._changed.set()

    def _validate(self, message: Message) -> None:
        kind = message.get("type")
        state = self._state
        if not isinstance(kind, str):
            raise ASGIProtocolError(f"message without a str type: {message!r}")
        if state.complete:
            raise ASGIProtocolError(f"{kind!r} sent after the response was complete")
        if kind == spec.HTTP_RESPONSE_START:
            if state.started:
                raise ASGIProtocolError("http.response.start sent twice")
            status = message.get("status")
            if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
                raise ASGIProtocolError(f"invalid status {status!r}")
            _check_headers(message.get("headers", []))
            state.started, state.status = True, status
            state.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
        elif kind == spec.HTTP_RESPONSE_BODY:
            if not state.started:
                raise ASGIProtocolError("http.response.body before http.response.start")
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if not isinstance(body, bytes):
                raise ASGIProtocolError(f"body must be bytes, got {type(body).__name__}")
            if not isinstance(more, bool):
                raise ASGIProtocolError(f"more_body must be bool, got {more!r}")
            state.chunks.append(body)
            state.complete = not more
        elif kind == spec.HTTP_RESPONSE_PUSH:
            if not state.started:
                raise ASGIProtocolError("http.response.push before http.response.start")
            if spec.EXT_PUSH not in (self.scope.get("extensions") or {}):
                raise ASGIProtocolError("http.response.push without the extension in the scope")
            path = message.get("path")
            if not isinstance(path, str) or not path.startswith("/"):
                raise ASGIProtocolError(f"push path must be an absolute path str, got {path!r}")
            _check_headers(message.get("headers", []))
            state.pushes.append(message)
        else:
            raise ASGIProtocolError(f"unknown message type {kind!r}")

    def _record(self, direction: str, message: Message) -> Message:
        self.records.append(Record(time.monotonic(), direction, dict(message)))
        return message

    # -- the client side ------------------------------------------------------------------------

    @property
    def status(self) -> int:
        """The status, once the response has started (0 before)."""
        return self._state.status

    @property
    def headers(self) -> Headers:
        """The response headers, once started."""
        return self._state.headers

    @property
    def complete(self) -> bool:
        """True once the final body message has been sent."""
        return self._state.complete

    def send_body(self, chunk: bytes, more_body: bool = True) -> None:
        """Deliver another request body message (for a body given as incomplete)."""
        if self._body_complete or self._final_queued:
            raise RuntimeError("the request body is already complete")
        self._final_queued = not more_body
        self._incoming.put_nowait(
            {"type": spec.HTTP_REQUEST, "body": chunk, "more_body": more_body}
        )
        self._changed.set()

    def disconnect(self) -> None:
        """The client goes away: once the body messages already given are received,
        ``receive()`` returns ``http.disconnect``, and ``send()`` is a no-op from now on."""
        self._disconnected = True
        self._changed.set()

    async def next_message(self, timeout: float = 5.0) -> Message:
        """Wait for the next message the app sends (validated)."""
        try:
            async with asyncio.timeout(timeout):
                return await self._events.get()
        except TimeoutError:
            raise TimeoutError(f"the app sent nothing for {timeout} s") from None

    async def start(self, timeout: float = 5.0) -> int:
        """Wait for ``http.response.start``; return the status."""
        while not self._state.started:
            await self._next_or_done(timeout)
        return self._state.status

    async def next_chunk(self, timeout: float = 5.0) -> bytes | None:
        """Return the next non-empty body chunk, or None once the body is complete."""
        while True:
            if self._state.complete and self._events.empty():
                return None
            message = await self._next_or_done(timeout)
            if message is None:
                return None
            if message["type"] == spec.HTTP_RESPONSE_BODY and message.get("body"):
                body: bytes = message["body"]
                return body

    async def _next_or_done(self, timeout: float) -> Message | None:
        get = asyncio.ensure_future(self._events.get())
        assert self.task is not None
        done, _ = await asyncio.wait(
            (get, self.task), timeout=timeout, return_when="FIRST_COMPLETED"
        )
        if get in done:
            return get.result()
        get.cancel()
        if self.task in done:
            self.task.result()  # re-raise the app's exception
            if self._violation is not None:
                raise self._violation
            if not self._state.started:
                raise ASGIProtocolError("the app returned without starting a response")
            return None
        raise TimeoutError(f"the app sent nothing for {timeout} s")

    async def finish(self, timeout: float = 5.0) -> Result:
        """Wait for the app to return and collect the result (re-raises the app's exception)."""
        assert self.task is not None
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self.task)
        except TimeoutError:
            raise TimeoutError(f"the app did not return within {timeout} s") from None
        if self._violation is not None:
            raise self._violation
        state = self._state
        if not self._disconnected:
            if not state.started:
                raise ASGIProtocolError("the app returned without starting a response")
            if not state.complete:
                raise ASGIProtocolError("the app returned before the final body message")
        return Result(
            status=state.status,
            headers=state.headers,
            body=b"".join(state.chunks),
            chunks=list(state.chunks),
            pushes=list(state.pushes),
            records=self.records,
            disconnected=self._disconnected,
        )


class ASGIDriver:
    """Plays the server for an ASGI app, in process.

    Args:
        app: the ASGI application.
        extensions: ``scope["extensions"]`` for every request (e.g. to advertise push).
        state: ``scope["state"]`` for every request (shallow-copied per request).
        http_version: ``scope["http_version"]``.
        send_raises_after_disconnect: make ``send()`` raise an OSError subclass after a
            disconnect, as ASGI HTTP spec 2.4 says a server should (none of the probed servers
            does; by default it is a no-op, as they do).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        extensions: Mapping[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        http_version: str = "1.1",
        send_raises_after_disconnect: bool = False,
    ) -> None:
        self.app = app
        self.send_raises_after_disconnect = send_raises_after_disconnect
        self.extensions = dict(extensions) if extensions is not None else None
        self.state = state
        self.http_version = http_version

    def scope(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Iterable[tuple[str, str]] = (),
        scheme: str = "http",
    ) -> Scope:
        """Build an HTTP connection scope as a server would."""
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        if not any(name == b"host" for name, _ in raw):
            raw.insert(0, (b"host", b"testserver"))
        scope: Scope = {
            "type": spec.HTTP,
            "asgi": {"version": "3.0", "spec_version": "2.5"},
            "http_version": self.http_version,
            "method": method.upper(),
            "scheme": scheme,
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": raw,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        if self.extensions is not None:
            scope["extensions"] = self.extensions
        if self.state is not None:
            scope["state"] = dict(self.state)
        return scope

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | Iterable[bytes] = b"",
        body_complete: bool = True,
        timeout: float = 5.0,
    ) -> AsyncIterator[Exchange]:
        """Start a request and yield its :class:`Exchange`; on exit, disconnect if unfinished.

        Args:
            body: the request body: bytes (one message) or the messages' bodies in order.
            body_complete: False leaves the body open (``more_body=True`` on the last message);
                feed more with :meth:`Exchange.send_body` or end it with a disconnect.
            timeout: the most the exit waits for the app to return after a disconnect; past
                it the app is cancelled and ``TimeoutError`` is raised.
        """
        chunks = [body] if isinstance(body, bytes | bytearray) else list(body)
        if chunks == [b""]:
            chunks = []
        scope = self.scope(method, path, query=query, headers=headers)
        exchange = Exchange(
            self.app,
            scope,
            [bytes(c) for c in chunks],
            body_complete,
            self.send_raises_after_disconnect,
        )
        exchange.task = asyncio.ensure_future(self.app(scope, exchange._receive, exchange._send))
        try:
            yield exchange
        finally:
            await _end(exchange.task, exchange.disconnect, timeout, "the client disconnected")

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | Iterable[bytes] = b"",
        timeout: float = 5.0,
    ) -> Result:
        """Send a whole request, wait for the whole response, and return it."""
        async with self.stream(
            method, path, query=query, headers=headers, body=body, timeout=timeout
        ) as exchange:
            return await exchange.finish(timeout)

    async def get(self, path: str, **kwargs: Any) -> Result:
        """``request("GET", path, ...)``."""
        return await self.request("GET", path, **kwargs)

    @asynccontextmanager
    async def websocket(
        self,
        path: str,
        *,
        query: str = "",
        headers: Iterable[tuple[str, str]] = (),
        subprotocols: Iterable[str] = (),
        denial: bool = False,
        spec_version: str = "2.5",
        timeout: float = 5.0,
    ) -> AsyncIterator[WebSocketSession]:
        """Open a WebSocket connection to the app and yield its :class:`WebSocketSession`.

        Args:
            subprotocols: ``scope["subprotocols"]``, as the client offered them.
            denial: advertise the ``websocket.http.response`` extension (a server that can
                send the app's own denial response).
            spec_version: ``scope["asgi"]["spec_version"]``.
            timeout: the most the exit waits for the app to return after the client
                vanished (code 1006); past it the app is cancelled and ``TimeoutError`` raised.
        """
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        offered = list(subprotocols)
        if offered:
            raw.append((b"sec-websocket-protocol", ", ".join(offered).encode("latin-1")))
        scope: Scope = {
            "type": spec.WEBSOCKET,
            "asgi": {"version": "3.0", "spec_version": spec_version},
            "http_version": self.http_version,
            "scheme": "ws",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": [(b"host", b"testserver"), *raw],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "subprotocols": offered,
        }
        if denial:
            scope["extensions"] = {_EXT_DENIAL: {}}
        if self.state is not None:
            scope["state"] = dict(self.state)
        session = WebSocketSession(scope, self.send_raises_after_disconnect)
        session.task = asyncio.ensure_future(self.app(scope, session._receive, session._send))
        try:
            yield session
        finally:
            await _end(session.task, session.vanish, timeout, "the WebSocket client vanished")


_WS_ACCEPT = "websocket.accept"
_WS_SEND = "websocket.send"
_WS_RECEIVE = "websocket.receive"
_WS_DISCONNECT = "websocket.disconnect"
_WS_DENIAL_START = "websocket.http.response.start"
_WS_DENIAL_BODY = "websocket.http.response.body"
_EXT_DENIAL = "websocket.http.response"


class AppClosed(Exception):
    """The app closed the WebSocket (or denied the handshake) while the test waited."""

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"the app closed the WebSocket with {code} {reason!r}")


@dataclass(frozen=True, slots=True)
class WSHandshake:
    """How the app answered the opening handshake.

    Attributes:
        accepted: True for ``websocket.accept``.
        status: what the server would answer: 101 accepted, 403 for a close before accept, or
            the app's own status (``websocket.http.response.start``).
        subprotocol: the subprotocol the app chose.
        headers: the accept headers, or the denial response's headers.
        body: the denial response's body.
    """

    accepted: bool
    status: int
    subprotocol: str | None = None
    headers: Headers = field(default_factory=list)
    body: bytes = b""


class WebSocketSession:
    """One WebSocket connection in flight; create it with :meth:`ASGIDriver.websocket`.

    The test is the client: :meth:`handshake`, :meth:`send_text`/:meth:`send_bytes`,
    :meth:`receive`, :meth:`close` (a close frame with a code and reason) or :meth:`vanish`
    (the connection lost: code 1006), then :meth:`finish`.
    """

    def __init__(self, scope: Scope, raise_after_disconnect: bool = False) -> None:
        self.scope = scope
        self.records: list[Record] = []
        self.task: asyncio.Task[None] | None = None
        self._raise_after_disconnect = raise_after_disconnect
        self._incoming: asyncio.Queue[Message] = asyncio.Queue()
        self._incoming.put_nowait({"type": spec.WEBSOCKET_CONNECT})
        self._outgoing: asyncio.Queue[Message] = asyncio.Queue()
        self._handshake: WSHandshake | None = None
        self._denial: tuple[int, Headers] | None = None
        self._denial_body: list[bytes] = []
        self._client_gone = False
        #: The app's close: (code, reason), once it closed an accepted connection.
        self.app_close: tuple[int, str] | None = None

    # -- the server side ------------------------------------------------------------------------

    async def _receive(self) -> Message:
        message = await self._incoming.get()
        if message["type"] == _WS_DISCONNECT:
            self._incoming.put_nowait(message)  # every later receive gets it too
        self.records.append(Record(time.monotonic(), "receive", dict(message)))
        return message

    async def _send(self, message: Message) -> None:
        self.records.append(Record(time.monotonic(), "send", dict(message)))
        if self._client_gone and self.app_close is None:
            if self._raise_after_disconnect:
                raise ConnectionResetError("the client disconnected (ASGI spec 2.4 behaviour)")
            return
        self._validate(message)
        self._outgoing.put_nowait(message)

    def _validate(self, message: Message) -> None:
        kind = message.get("type")
        if self.app_close is not None or (self._handshake and not self._handshake.accepted):
            raise ASGIProtocolError(f"{kind!r} sent after the app closed the WebSocket")
        if self._denial is not None:
            self._validate_denial_body(message)
        elif self._handshake is None:
            self._validate_handshake(message)
        elif kind == _WS_SEND:
            text, data = message.get("text"), message.get("bytes")
            if (text is None) == (data is None):
                raise ASGIProtocolError(f"exactly one of text and bytes must be set: {message!r}")
            if text is not None and not isinstance(text, str):
                raise ASGIProtocolError(f"text must be str, got {type(text).__name__}")
            if data is not None and not isinstance(data, bytes):
                raise ASGIProtocolError(f"bytes must be bytes, got {type(data).__name__}")
        elif kind == spec.WEBSOCKET_CLOSE:
            code, reason = message.get("code", 1000), message.get("reason") or ""
            if not isinstance(code, int) or not isinstance(reason, str):
                raise ASGIProtocolError(f"invalid close message {message!r}")
            self.app_close = (code, reason)
            self._disconnect(code, reason)
        else:
            raise ASGIProtocolError(f"unexpected message {kind!r} on an open WebSocket")

    def _validate_handshake(self, message: Message) -> None:
        kind = message.get("type")
        if kind == _WS_ACCEPT:
            subprotocol = message.get("subprotocol")
            if subprotocol is not None and subprotocol not in self.scope["subprotocols"]:
                raise ASGIProtocolError(f"subprotocol {subprotocol!r} was not offered")
            headers = message.get("headers", [])
            _check_headers(headers)
            if any(name == b"sec-websocket-protocol" for name, _ in headers):
                raise ASGIProtocolError("sec-websocket-protocol in the accept headers")
            self._handshake = WSHandshake(True, 101, subprotocol, list(headers))
        elif kind == spec.WEBSOCKET_CLOSE:
            self._handshake = WSHandshake(False, 403)
        elif kind == _WS_DENIAL_START:
            if _EXT_DENIAL not in (self.scope.get("extensions") or {}):
                raise ASGIProtocolError(f"{kind} without the extension in the scope")
            status = message.get("status")
            if not isinstance(status, int) or not 100 <= status <= 599:
                raise ASGIProtocolError(f"invalid denial status {status!r}")
            _check_headers(message.get("headers", []))
            self._denial = (status, list(message.get("headers", [])))
        else:
            raise ASGIProtocolError(f"{kind!r} before the handshake was answered")

    def _validate_denial_body(self, message: Message) -> None:
        assert self._denial is not None
        if message.get("type") != _WS_DENIAL_BODY:
            raise ASGIProtocolError(f"{message.get('type')!r} in the middle of a denial response")
        body, more = message.get("body", b""), message.get("more_body", False)
        if not isinstance(body, bytes) or not isinstance(more, bool):
            raise ASGIProtocolError(f"invalid denial response body message {message!r}")
        self._denial_body.append(body)
        if not more:
            status, headers = self._denial
            self._handshake = WSHandshake(
                False, status, headers=headers, body=b"".join(self._denial_body)
            )

    def _disconnect(self, code: int, reason: str) -> None:
        self._incoming.put_nowait({"type": _WS_DISCONNECT, "code": code, "reason": reason})

    # -- the client side ------------------------------------------------------------------------

    async def handshake(self, timeout: float = 5.0) -> WSHandshake:
        """Wait until the app has answered the handshake; return the answer.

        Raises:
            ASGIProtocolError: the app returned without answering.
            TimeoutError: no answer within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while self._handshake is None:
            await self._next(max(deadline - time.monotonic(), 0.0))
        return self._handshake

    async def _next(self, timeout: float) -> Message:
        assert self.task is not None
        get = asyncio.ensure_future(self._outgoing.get())
        done, _ = await asyncio.wait(
            (get, self.task), timeout=timeout, return_when="FIRST_COMPLETED"
        )
        if get in done:
            return get.result()
        get.cancel()
        if self.task in done:
            self.task.result()  # re-raise the app's exception
            raise ASGIProtocolError("the app returned while the client waited for a message")
        raise TimeoutError(f"the app sent nothing for {timeout} s")

    async def receive(self, timeout: float = 5.0) -> str | bytes:
        """The next message the app sent: ``str`` (text) or ``bytes`` (binary).

        Raises:
            AppClosed: the app closed the connection (or denied the handshake) instead.
        """
        handshake = await self.handshake(timeout)
        if not handshake.accepted:
            raise AppClosed(None, "the handshake was denied")
        if self.app_close is not None and self._outgoing.empty():
            raise AppClosed(*self.app_close)
        message = await self._next(timeout)
        if message["type"] == spec.WEBSOCKET_CLOSE:
            raise AppClosed(*self.app_close or (1000, ""))
        payload: str | bytes = (
            message["text"] if message.get("text") is not None else message["bytes"]
        )
        return payload

    async def receive_close(self, timeout: float = 5.0) -> tuple[int, str]:
        """Wait for the app's close; return its code and reason (messages before it are lost).

        Raises:
            AssertionError: the app returned or the handshake was denied without a close.
        """
        while True:
            try:
                await self.receive(timeout)
            except AppClosed as closed:
                if closed.code is None:
                    raise AssertionError("the handshake was denied, not closed") from None
                return closed.code, closed.reason

    def send_text(self, text: str) -> None:
        """The client sends a text message."""
        self._incoming.put_nowait({"type": _WS_RECEIVE, "text": text})

    def send_bytes(self, data: bytes) -> None:
        """The client sends a binary message."""
        self._incoming.put_nowait({"type": _WS_RECEIVE, "bytes": data})

    def close(self, code: int = 1000, reason: str = "") -> None:
        """The client closes the connection with a close frame (``websocket.disconnect``)."""
        self._client_gone = True
        self._disconnect(code, reason)

    def vanish(self) -> None:
        """The connection is lost without a close frame (``websocket.disconnect`` 1006)."""
        self.close(1006)

    def inject(self, message: Message) -> None:
        """Deliver ``message`` to the app's ``receive()`` as it is (a malformed one, say)."""
        self._incoming.put_nowait(message)

    def sent(self, kind: str | None = None) -> list[Message]:
        """Messages the app sent, optionally only those of type ``kind``."""
        return [
            r.message
            for r in self.records
            if r.direction == "send" and (kind is None or r.message["type"] == kind)
        ]

    async def finish(self, timeout: float = 5.0) -> None:
        """Wait for the app to return (re-raising its exception)."""
        assert self.task is not None
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self.task)
        except TimeoutError:
            raise TimeoutError(f"the app did not return within {timeout} s") from None


@asynccontextmanager
async def lifespan(
    app: ASGIApp, *, state: dict[str, Any] | None = None, timeout: float = 5.0
) -> AsyncIterator[dict[str, Any]]:
    """Run the app's lifespan: startup on entry (yielding the state), shutdown on exit.

    Raises:
        LifespanFailed: the app answered ``lifespan.startup.failed``.
    """
    state = {} if state is None else state
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    scope: Scope = {
        "type": spec.LIFESPAN,
        "asgi": {"version": "3.0", "spec_version": "2.0"},
        "state": state,
    }

    async def send(message: Message) -> None:
        from_app.put_nowait(message)

    task = asyncio.ensure_future(app(scope, to_app.get, send))

    async def answer() -> Message:
        async with asyncio.timeout(timeout):
            return await from_app.get()

    try:
        to_app.put_nowait({"type": spec.LIFESPAN_STARTUP})
        reply = await answer()
        if reply["type"] == spec.LIFESPAN_STARTUP_FAILED:
            raise LifespanFailed(reply.get("message", ""))
        if reply["type"] != spec.LIFESPAN_STARTUP_COMPLETE:
            raise ASGIProtocolError(f"unexpected lifespan reply {reply!r}")
        yield state
        to_app.put_nowait({"type": spec.LIFESPAN_SHUTDOWN})
        reply = await answer()
        if reply["type"] == spec.LIFESPAN_SHUTDOWN_FAILED:
            raise LifespanFailed(reply.get("message", ""))
        if reply["type"] != spec.LIFESPAN_SHUTDOWN_COMPLETE:
            raise ASGIProtocolError(f"unexpected lifespan reply {reply!r}")
    finally:
        async with asyncio.timeout(timeout):
            await asyncio.wait((task,))
        task.result()


def _check_headers(headers: object) -> None:
    if not isinstance(headers, list | tuple):
        raise ASGIProtocolError(f"headers must be a list of pairs, got {type(headers).__name__}")
    for pair in headers:
        if len(pair) != 2 or not all(isinstance(part, bytes) for part in pair):
            raise ASGIProtocolError(f"a header must be a pair of bytes, got {pair!r}")
        name, value = pair
        if name != name.lower():
            raise ASGIProtocolError(f"header names must be lowercase, got {name!r}")
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name:
            raise ASGIProtocolError(f"CR or LF in header {name!r}: {value!r}")


async def _end(
    task: asyncio.Future[None] | None, leave: Callable[[], None], timeout: float, why: str
) -> None:
    """Let a still-running app see its client leave; cancel it if it does not return in time.

    Raises:
        TimeoutError: the app did not return within ``timeout`` after ``leave()``.
    """
    if task is None or task.done():
        return
    leave()
    done, _ = await asyncio.wait((task,), timeout=timeout)
    if not done:
        task.cancel()
        await asyncio.wait((task,))
        raise TimeoutError(
            f"the app did not return within {timeout} s after {why} (it was cancelled)"
        )
