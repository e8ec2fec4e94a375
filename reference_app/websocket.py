"""WebSocket connections: the object a ``on_websocket`` responder gets, and how it is served.

ASGI WebSocket spec 2.5 (``specs/www.rst`` in asgiref, "WebSocket"), RFC 6455.

States and transitions (one :class:`WebSocket` per connection)::

    HANDSHAKE ──accept()──────────────► OPEN ──close() / client closes / limit──► CLOSED
        │                                 ▲
        └──close(), or HTTPError, or no responder──► DENIED (403, or the app's response)

* In ``HANDSHAKE`` the server waits for the app's answer; ``accept()`` completes the handshake
  and ``close()`` (or an ``HTTPError`` raised by middleware or the responder) denies it: with a
  server that advertises ``websocket.http.response`` the error is rendered as an HTTP response,
  elsewhere it is a ``websocket.close``, which the server answers with 403.
* In ``OPEN``, while the responder receives between its sends (an echo, a request/reply
  protocol), ``receive()`` calls the server's ``receive`` itself: nothing runs in between. A
  responder that sends twice without receiving (a feed) gets a reader task, which moves the
  incoming messages into a small bounded buffer for the next ``receive()``: so it still learns
  at once that the client has gone, and one that never reads stops the reader, not memory.
  Either way, a message over the route's ``max_message_size`` closes the connection with 1009
  (RFC 6455 §7.4.1).
* Once ``CLOSED``, every receive and send raises :class:`WebSocketDisconnected` with the close
  code and reason (messages that arrived before the client's close are still delivered first).

The text/binary distinction is kept strictly: ``receive_text()`` on a binary message raises
:class:`PayloadTypeError` (and the reverse), ``send_text()`` takes only ``str`` and
``send_data()`` only bytes; nothing is converted behind the app's back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from enum import Enum
from typing import Any, Final

from . import spec
from .errors import OperationNotAllowed
from .media import DEFAULT_MEDIA_TYPE as JSON, Handlers
from .request import Request
from .response import Response
from .types import Receive, Scope, Send

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "EXT_WEBSOCKET_DENIAL",
    "RECEIVE_QUEUE",
    "PayloadTypeError",
    "WebSocket",
    "WebSocketDisconnected",
    "WebSocketRequest",
    "WebSocketState",
    "deny",
]

logger = logging.getLogger("reference_app")

#: The default limit of one incoming message (bytes; text is counted as UTF-8): 16 MiB.
DEFAULT_MAX_MESSAGE_SIZE: Final = 16 * 1024 * 1024
#: How many incoming messages are read ahead of the responder before the reader waits.
RECEIVE_QUEUE: Final = 4

#: ASGI WebSocket 2.5 message types (``websocket.connect``/``websocket.close`` are in
#: :mod:`reference_app.spec`), and the denial response extension (``docs/extensions.rst``).
WEBSOCKET_ACCEPT: Final = "websocket.accept"
WEBSOCKET_RECEIVE: Final = "websocket.receive"
WEBSOCKET_SEND: Final = "websocket.send"
WEBSOCKET_DISCONNECT: Final = "websocket.disconnect"
WEBSOCKET_HTTP_RESPONSE_START: Final = "websocket.http.response.start"
WEBSOCKET_HTTP_RESPONSE_BODY: Final = "websocket.http.response.body"
EXT_WEBSOCKET_DENIAL: Final = "websocket.http.response"

#: RFC 6455 §7.4.1/§7.4.2: codes an endpoint must not put in a close frame.
_RESERVED_CODES: Final = frozenset({1004, 1005, 1006, 1015})


class WebSocketState(Enum):
    """Where a connection is; see the module docstring for the transitions."""

    HANDSHAKE = "handshake"
    OPEN = "open"
    CLOSED = "closed"
    DENIED = "denied"


class WebSocketDisconnected(ConnectionError):
    """The connection is closed: the client left or closed it, or the app did.

    Raised by every receive and send once the connection is closed.

    Attributes:
        code: the close code (RFC 6455 §7.4): the client's, the app's, 1006 when the
            connection was lost without a close frame, 1009 past the message size limit.
        reason: the close reason, or ``""``.
    """

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"WebSocket closed with code {code}" + (f": {reason}" if reason else ""))


class PayloadTypeError(TypeError):
    """A message of the other kind arrived: text where bytes were expected, or the reverse.

    The message is consumed; it is kept in :attr:`payload` for an app that wants it anyway.
    """

    def __init__(self, expected: str, payload: str | bytes) -> None:
        self.expected = expected
        self.payload = payload
        got = "a text" if isinstance(payload, str) else "a binary"
        super().__init__(f"expected a {expected} message, got {got} message")


class WebSocketRequest(Request):
    """The request of a WebSocket handshake: a ``GET`` with the scope of the connection."""

    __slots__ = ()

    @property
    def method(self) -> str:
        """``GET``: the opening handshake is a GET request (RFC 6455 §4.1)."""
        return "GET"


class WebSocket:
    """One WebSocket connection, as an ``on_websocket(req, ws, **params)`` responder sees it.

    Args:
        scope: the ASGI WebSocket connection scope.
        receive: the ASGI receive callable (its ``websocket.connect`` already received).
        send: the ASGI send callable.
        media_handlers: the handlers ``receive_media()``/``send_media()`` use (JSON).
        max_message_size: the largest incoming message accepted, in bytes (None: no limit).
    """

    __slots__ = (
        "_buffer",
        "_reader",
        "_reader_done",
        "_receive",
        "_receiving",
        "_send",
        "_sends",
        "_space",
        "_waiter",
        "close_code",
        "close_reason",
        "max_message_size",
        "media_handlers",
        "scope",
        "state",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        media_handlers: Handlers | None = None,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.media_handlers = media_handlers if media_handlers is not None else Handlers()
        self.max_message_size = max_message_size
        self.state = WebSocketState.HANDSHAKE
        #: The close code once closed (the client's, the app's, 1006, 1009), else None.
        self.close_code: int | None = None
        #: The close reason once closed, else None.
        self.close_reason: str | None = None
        self._buffer: deque[str | bytes] = deque()
        self._waiter: asyncio.Future[str | bytes] | None = None  # a receive() waiting
        self._space: asyncio.Future[None] | None = None  # the reader waiting for room
        self._reader: asyncio.Task[None] | None = None
        self._reader_done = False
        self._receiving = False  # a direct receive() is waiting on the server
        self._sends = 0  # sends since the last receive()

    # -- the handshake ----------------------------------------------------------------------------

    @property
    def subprotocols(self) -> tuple[str, ...]:
        """The subprotocols the client offered, in its order of preference."""
        return tuple(self.scope.get("subprotocols") or ())

    @property
    def extensions(self) -> Mapping[str, Any]:
        """The ASGI extensions the server advertises for this connection."""
        extensions: Mapping[str, Any] = self.scope.get("extensions") or {}
        return extensions

    @property
    def unaccepted(self) -> bool:
        """True until the handshake is accepted or denied."""
        return self.state is WebSocketState.HANDSHAKE

    @property
    def ready(self) -> bool:
        """True while the connection is open for messages."""
        return self.state is WebSocketState.OPEN

    @property
    def closed(self) -> bool:
        """True once the connection is closed, by either side, or was denied."""
        return self.state in (WebSocketState.CLOSED, WebSocketState.DENIED)

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        """Complete the opening handshake.

        Args:
            subprotocol: the subprotocol chosen; it must be one the client offered (RFC 6455
                §4.2.2: the client fails a connection that names another).
            headers: extra response headers (ASGI WebSocket 2.1+); ``Sec-WebSocket-Protocol``
                is not allowed here, use ``subprotocol``.

        Raises:
            OperationNotAllowed: the handshake was already answered.
            ValueError: a subprotocol the client did not offer, or a forbidden header.
        """
        if self.state is not WebSocketState.HANDSHAKE:
            raise OperationNotAllowed(f"accept() on a WebSocket that is {self.state.value}")
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(
                f"subprotocol {subprotocol!r} was not offered by the client "
                f"(offered: {', '.join(self.subprotocols) or 'none'})"
            )
        message: dict[str, Any] = {"type": WEBSOCKET_ACCEPT, "subprotocol": subprotocol}
        if headers:
            message["headers"] = _accept_headers(headers)
        await self._send(message)
        self.state = WebSocketState.OPEN

    # -- receiving --------------------------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The next message: ``str`` for a text message, ``bytes`` for a binary one.

        Raises:
            WebSocketDisconnected: the connection is closed (after the messages that arrived
                before the client's close have been received).
            OperationNotAllowed: the handshake was not accepted yet.
        """
        # Messages that arrived before the close are delivered first; a message the reader
        # gets while this waits is handed over directly (see _read).
        buffer = self._buffer
        if buffer:
            space = self._space
            if space is not None and not space.done():
                space.set_result(None)
            return buffer.popleft()
        if self.state is not WebSocketState.OPEN or self._reader_done:
            if self.state is WebSocketState.HANDSHAKE:
                raise OperationNotAllowed("accept() the WebSocket before receiving")
            raise self._disconnected()
        self._sends = 0
        if self._reader is None:  # the direct path: the server's receive, nothing in between
            self._receiving = True
            try:
                message = await self._receive()
            finally:
                self._receiving = False
            if message["type"] == WEBSOCKET_RECEIVE:  # the common case, inline
                text = message.get("text")
                payload: str | bytes | None = text if text is not None else message.get("bytes")
                limit = self.max_message_size
                if payload is not None and (limit is None or len(payload) * 4 <= limit):
                    return payload
            payload = await self._take(message)
            if payload is None:
                raise self._disconnected()
            return payload
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            return await waiter  # type: ignore[no-any-return]
        finally:
            self._waiter = None

    async def receive_text(self) -> str:
        """The next message, which must be a text message.

        Raises:
            PayloadTypeError: it was a binary message (consumed; see its ``payload``).
            WebSocketDisconnected: the connection is closed.
        """
        message = await self.receive()
        if not isinstance(message, str):
            raise PayloadTypeError("text", message)
        return message

    async def receive_data(self) -> bytes:
        """The next message, which must be a binary message.

        Raises:
            PayloadTypeError: it was a text message (consumed; see its ``payload``).
            WebSocketDisconnected: the connection is closed.
        """
        message = await self.receive()
        if isinstance(message, str):
            raise PayloadTypeError("binary", message)
        return message

    async def receive_media(self) -> Any:
        """The next message (text or binary) parsed as JSON by the app's JSON handler.

        Raises:
            ValueError: the message is not valid JSON (or not UTF-8).
            WebSocketDisconnected: the connection is closed.
        """
        message = await self.receive()
        data = message.encode() if isinstance(message, str) else message
        _, handler = self.media_handlers.resolve(JSON)
        return await handler.deserialize_async(data, JSON)

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """Iterate over incoming messages until the connection closes (no error then)."""
        return self

    async def __anext__(self) -> str | bytes:
        """The next message; the end of the iteration once the connection is closed."""
        try:
            return await self.receive()
        except WebSocketDisconnected:
            raise StopAsyncIteration from None

    async def _read(self) -> None:
        """The reader task: incoming messages to a waiting receive(), or into the buffer (at
        most :data:`RECEIVE_QUEUE`; then it waits for room), until the connection closes."""
        receive, buffer = self._receive, self._buffer
        loop = asyncio.get_running_loop()
        try:
            while (payload := await self._take(await receive())) is not None:
                waiter = self._waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(payload)  # the buffer is empty when one waits
                    continue
                buffer.append(payload)
                if len(buffer) >= RECEIVE_QUEUE:
                    space = self._space = loop.create_future()
                    await space
        except Exception:  # the server's receive() itself failed: the connection is unusable
            logger.exception("reading a WebSocket failed")
            if self.state is WebSocketState.OPEN:
                self._mark_closed(1011, "")
        finally:
            # A pending receive() learns the end; later ones drain the buffer, then see it.
            self._reader_done = True
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_exception(self._disconnected())

    async def _take(self, message: Any) -> str | bytes | None:
        """The payload of a message from the server, or None once the connection is closed
        (the client's close or loss, the size limit, or a message no server may send: 1011)."""
        kind = message["type"]
        if kind == WEBSOCKET_RECEIVE:
            text = message.get("text")
            payload: str | bytes | None = text if text is not None else message.get("bytes")
            limit = self.max_message_size
            if payload is None:
                await self._fail(f"websocket.receive without text or bytes: {message!r}")
            elif limit is not None and _too_big(payload, limit):
                await self._close_for_size(limit)
                payload = None
            return payload
        if kind == WEBSOCKET_DISCONNECT:
            if self.state is WebSocketState.OPEN:
                self._mark_closed(int(message.get("code") or 1005), message.get("reason") or "")
            return None
        await self._fail(f"unexpected ASGI message {kind!r} on a WebSocket")
        return None

    async def _fail(self, problem: str) -> None:
        """A message no server may send: logged, and the connection closed with 1011."""
        logger.error("reading a WebSocket failed: %s", problem)
        if self.state is WebSocketState.OPEN:
            self._mark_closed(1011, "")
            with contextlib.suppress(OSError):
                await self._send({"type": spec.WEBSOCKET_CLOSE, "code": 1011})

    async def _close_for_size(self, limit: int) -> None:
        """RFC 6455 §7.4.1 1009: the message is too big to process."""
        reason = f"message over {limit} bytes"
        logger.info("closing a WebSocket: %s", reason)
        await self.close(1009, reason)

    # -- sending ----------------------------------------------------------------------------------

    async def send_text(self, text: str) -> None:
        """Send a text message.

        Raises:
            TypeError: ``text`` is not a ``str`` (use :meth:`send_data` for bytes).
            WebSocketDisconnected: the connection is closed.
        """
        if not isinstance(text, str):
            raise TypeError(f"send_text() takes str, not {type(text).__name__}; use send_data()")
        await self._send_message({"type": WEBSOCKET_SEND, "text": text})

    async def send_data(self, data: bytes | bytearray | memoryview) -> None:
        """Send a binary message.

        Raises:
            TypeError: ``data`` is a ``str`` (use :meth:`send_text`) or not bytes-like.
            WebSocketDisconnected: the connection is closed.
        """
        if not isinstance(data, bytes):
            if not isinstance(data, bytearray | memoryview):
                raise TypeError(
                    f"send_data() takes bytes, not {type(data).__name__}; use send_text() for str"
                )
            data = bytes(data)
        await self._send_message({"type": WEBSOCKET_SEND, "bytes": data})

    async def send_media(self, media: object, *, binary: bool = False) -> None:
        """Serialize ``media`` as JSON and send it as a text message (binary if asked).

        Raises:
            WebSocketDisconnected: the connection is closed.
        """
        _, handler = self.media_handlers.resolve(JSON)
        data = await handler.serialize_async(media, JSON)
        if binary:
            await self.send_data(data)
        else:
            await self.send_text(data.decode())

    async def _send_message(self, message: dict[str, Any]) -> None:
        if self.state is not WebSocketState.OPEN:
            if self.state is WebSocketState.HANDSHAKE:
                raise OperationNotAllowed("accept() the WebSocket before sending")
            raise self._disconnected()
        if self._reader is None:
            self._sends += 1
            if self._sends > 1 and not self._receiving:
                # Sending without receiving: from now on a reader watches for the client.
                self._reader = asyncio.ensure_future(self._read())
        try:
            await self._send(message)
        except OSError as error:  # a server that raises on a closed connection (ASGI 2.4)
            self._mark_closed(1006, "")
            raise self._disconnected() from error

    # -- closing ----------------------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection (or, before ``accept()``, deny the handshake: 403).

        Closing a closed connection does nothing.

        Args:
            code: the close code (RFC 6455 §7.4): 1000, 1001, 1003, 1007-1014, or an
                application's 3000-4999.
            reason: a short reason (at most 123 bytes of UTF-8, RFC 6455 §5.5).

        Raises:
            ValueError: a code an endpoint may not send, or a reason too long.
        """
        if not 1000 <= code <= 4999 or code in _RESERVED_CODES:
            raise ValueError(f"close code {code} may not be sent (RFC 6455 §7.4)")
        if reason is not None and len(reason.encode()) > 123:
            raise ValueError("a close reason is at most 123 bytes of UTF-8 (RFC 6455 §5.5)")
        if self.state is WebSocketState.HANDSHAKE:
            self.state = WebSocketState.DENIED
            await self._send({"type": spec.WEBSOCKET_CLOSE, "code": code})
            return
        if self.state is not WebSocketState.OPEN:
            return
        self._mark_closed(code, reason or "")
        message: dict[str, Any] = {"type": spec.WEBSOCKET_CLOSE, "code": code}
        if reason:
            message["reason"] = reason
        with contextlib.suppress(OSError):  # the client may be gone already
            await self._send(message)

    def _mark_closed(self, code: int, reason: str) -> None:
        self.state = WebSocketState.CLOSED
        self.close_code, self.close_reason = code, reason

    def _disconnected(self) -> WebSocketDisconnected:
        return WebSocketDisconnected(self.close_code or 1006, self.close_reason or "")

    async def _finish(self) -> None:
        """After the responder: close an open connection (1000); stop the reader."""
        if self.state is WebSocketState.OPEN:
            await self.close(1000)
        reader = self._reader
        if reader is not None and not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    def __repr__(self) -> str:
        return f"<WebSocket {self.scope.get('path', '?')} {self.state.value}>"


async def deny(ws: WebSocket, response: Response | None, media_handlers: Handlers) -> None:
    """Refuse the handshake: ``response`` where the server can send one, else a 403.

    With ``websocket.http.response`` in the scope's extensions, ``response`` (status, headers
    and a rendered body: text, data or media) is sent as ``websocket.http.response.*``; without
    it, or without a response, a ``websocket.close`` makes the server answer 403.
    """
    if ws.state is not WebSocketState.HANDSHAKE:
        return
    if response is None or EXT_WEBSOCKET_DENIAL not in ws.extensions:
        await ws.close()
        return
    ws.state = WebSocketState.DENIED
    body = await _render(response, media_handlers)
    headers = response.header_items()
    if body and response.content_type is None:
        headers.append((b"content-type", b"application/octet-stream"))
    headers.append((b"content-length", str(len(body)).encode()))
    await ws._send(
        {
            "type": WEBSOCKET_HTTP_RESPONSE_START,
            "status": response.status_code,
            "headers": headers,
        }
    )
    await ws._send({"type": WEBSOCKET_HTTP_RESPONSE_BODY, "body": body})


async def _render(response: Response, media_handlers: Handlers) -> bytes:
    if response.text is not None:
        text = response.text
        return text.encode() if isinstance(text, str) else bytes(text)
    if response.data is not None:
        return bytes(response.data)
    if response.media is not None:
        _, handler = media_handlers.resolve(response.content_type)
        return await handler.serialize_async(response.media, response.content_type or JSON)
    return b""


def _too_big(payload: str | bytes, limit: int) -> bool:
    size = len(payload)
    if size > limit:
        return True
    # A str of n characters is n to 4n bytes of UTF-8: only encode when it could be over.
    return isinstance(payload, str) and size * 4 > limit and len(payload.encode()) > limit


def _accept_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> list[tuple[bytes, bytes]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    pairs = []
    for name, value in items:
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("accept headers are pairs of str")
        key = name.strip().lower()
        if key == "sec-websocket-protocol":
            raise ValueError("choose the subprotocol with accept(subprotocol=...), not a header")
        if any(c in value or c in key for c in "\r\n\0") or not key:
            raise ValueError(f"invalid accept header {name!r}: {value!r}")
        pairs.append((key.encode("latin-1"), value.encode("latin-1")))
    return pairs
