"""The request body: a bounded, lazily read stream that is the single owner of ``receive()``.

Theory of operation
-------------------
ASGI delivers the request body as ``http.request`` messages (``body``, ``more_body``) and signals a
gone client with ``http.disconnect`` (ASGI HTTP spec 2.5, "Request - receive event" and
"Disconnected - receive event"). Two parties in a request want ``receive()``: the app reading its
body, and the framework watching for a disconnect while it streams a response. Falcon lets its SSE
watcher call ``receive()`` on its own, so the body can no longer be read; here both go through
this object:

* Rule 1: ``receive()`` is never called until someone needs it. A request whose body is never read
  never calls ``receive()``, so a server that sends ``100 Continue`` on the first ``receive()``
  (uvicorn) does not invite a body the app is about to refuse with 413.
* Rule 2: reads are bounded by Content-Length: bytes past it are dropped and never returned, and
  ``read(n)`` never returns more than ``n`` bytes. A body that ends before Content-Length bytes is
  an :class:`~reference_app.errors.IncompleteBodyError` (400).
* Rule 3: once a body is complete, reads return ``b""`` without calling ``receive()`` again
  (which would block until the client leaves).
* Rule 4: a disconnect in the middle of the body raises
  :class:`~reference_app.errors.ClientDisconnected` from that read and from every later one: an app
  never gets a silent partial body.
* Rule 5: ``max_size`` bounds how many bytes may arrive: crossing it raises
  :class:`~reference_app.errors.HTTPPayloadTooLarge` (413) while streaming, so memory stays bounded.
* Rule 6: while a response streams, :meth:`BoundedStream.wait_disconnect` receives on the app's
  behalf. A body message it receives goes to the reader (one at a time: the watcher waits until
  the reader has taken it, which is backpressure) if the app has started reading the body; if the
  app never touched the body, the rest is discarded and a later read raises
  :class:`~reference_app.errors.OperationNotAllowed` rather than returning a partial body.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator
from typing import Final

from . import spec
from .errors import (
    ClientDisconnected,
    HTTPPayloadTooLarge,
    IncompleteBodyError,
    OperationNotAllowed,
)
from .types import Message, Receive

__all__ = ["BoundedStream"]

_DISCONNECT: Message = {"type": spec.HTTP_DISCONNECT}


class _Reader(enum.Enum):
    """What the app has done with the body so far.

    ::

        UNTOUCHED ──(read, iterate)──► READING ⇄ ITERATING
            │
            └──(the response streams first)──► DISCARDED
        any ──(close)──► CLOSED
    """

    UNTOUCHED = "untouched"  #: nothing read yet
    READING = "reading"  #: read() or readall() or an iteration that has ended
    ITERATING = "iterating"  #: an ``async for`` over the stream is under way
    DISCARDED = "discarded"  #: never read before the response streamed: the rest is dropped
    CLOSED = "closed"  #: close() was called


# Enum members read through the class cost a lookup each; the hot paths use these names.
_UNTOUCHED: Final = _Reader.UNTOUCHED
_READING: Final = _Reader.READING
_ITERATING: Final = _Reader.ITERATING
_DISCARDED: Final = _Reader.DISCARDED
_CLOSED: Final = _Reader.CLOSED
#: The states in which body messages the watcher receives are dropped: nobody will read them.
#: (A tuple: membership by identity; an enum member hashes in Python.)
_UNREAD: Final = (_DISCARDED, _CLOSED)


class BoundedStream:
    """The request body as an async stream, bounded by Content-Length and by ``max_size``.

    ``req.stream`` and ``req.bounded_stream`` are this object. Use one of ``async for chunk in
    stream``, ``await stream.read(n)`` in a loop, or ``await stream.read()`` /
    ``await stream.readall()`` for the whole body; don't mix iteration with ``read()`` while either
    is unfinished.

    Args:
        receive: the ASGI receive callable of the request.
        content_length: the declared Content-Length, or None for a body of unknown length.
        max_size: the most bytes the body may have, or None for no limit.
    """

    __slots__ = (
        "_buffer",
        "_busy",
        "_disconnected",
        "_eof",
        "_error",
        "_handed",
        "_length",
        "_max",
        "_offset",
        "_pending",
        "_reader",
        "_receive",
        "_received",
        "_waiters",
    )

    def __init__(
        self, receive: Receive, content_length: int | None = None, max_size: int | None = None
    ) -> None:
        self._receive = receive
        self._length = content_length
        self._max = max_size
        self._buffer = b""
        self._offset = 0
        self._received = 0  # body bytes accepted from the server (never more than the length)
        self._handed = 0  # body bytes handed to the app (tell())
        self._eof = content_length == 0  # the whole body has been received
        self._disconnected = False  # http.disconnect has been received
        self._error: BaseException | None = None  # the body failed: every later read raises it
        self._reader = _UNTOUCHED
        self._pending: Message | None = None  # a message the watcher received for the reader
        self._busy = False  # a party (the app's read, or the watcher) is inside receive()
        self._waiters: list[asyncio.Future[None]] | None = None  # parties waiting on the other

    # -- public API ---------------------------------------------------------------------------

    @property
    def eof(self) -> bool:
        """True once the whole body has been handed to the app."""
        return self._eof and self._offset >= len(self._buffer)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._reader is _CLOSED

    @property
    def content_length(self) -> int | None:
        """The declared Content-Length, or None."""
        return self._length

    def tell(self) -> int:
        """Return how many body bytes have been handed to the app so far."""
        return self._handed

    async def read(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes (never more), or the rest of the body if ``size`` is -1/None.

        Returns ``b""`` at the end of the body, as often as it is called, without blocking.

        Raises:
            ClientDisconnected: the client left in the middle of the body.
            HTTPPayloadTooLarge: the body crossed ``max_size``.
            IncompleteBodyError: the body ended before Content-Length bytes.
            OperationNotAllowed: the stream is closed, or is being iterated.
        """
        if size is None or size < 0:
            return await self.readall()
        self._check_usable()
        if size == 0:
            return b""
        if self._offset >= len(self._buffer) and not await self._fill():
            return b""
        start = self._offset
        chunk = self._buffer[start : start + size]
        self._offset = start + len(chunk)
        self._handed += len(chunk)
        return chunk

    async def readall(self) -> bytes:
        """Read and return the rest of the body. Raises as :meth:`read` does."""
        self._check_usable()
        parts = [self._buffer[self._offset :]] if self._offset < len(self._buffer) else []
        self._buffer, self._offset = b"", 0
        while await self._fill():
            parts.append(self._buffer)
            self._buffer = b""
            if self._eof:
                break  # _fill() would return False at once (the common one-message body)
        data = b"".join(parts)
        self._handed += len(data)
        return data

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._check_usable()
        if self._reader is _ITERATING:
            raise OperationNotAllowed("the request body is already being iterated over")
        self._reader = _ITERATING
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        try:
            if self._offset < len(self._buffer):
                chunk = self._buffer[self._offset :]
                self._buffer, self._offset = b"", 0
                self._handed += len(chunk)
                yield chunk
            while await self._fill():
                chunk, self._buffer = self._buffer, b""
                self._handed += len(chunk)
                yield chunk
        finally:
            if self._reader is _ITERATING:
                self._reader = _READING

    async def exhaust(self) -> None:
        """Read and discard the rest of the body. Raises as :meth:`read` does."""
        self._check_usable()
        self._handed += len(self._buffer) - self._offset
        self._buffer, self._offset = b"", 0
        while await self._fill():
            self._handed += len(self._buffer)
            self._buffer = b""

    def close(self) -> None:
        """Close the stream: later reads raise :class:`OperationNotAllowed`. Idempotent."""
        self._reader = _CLOSED
        self._buffer, self._offset = b"", 0

    # -- the framework's side -----------------------------------------------------------------

    @property
    def touched(self) -> bool:
        """True once the app has started reading the body in any way."""
        return self._reader is _READING or self._reader is _ITERATING

    @property
    def disconnected(self) -> bool:
        """True once ``http.disconnect`` has been received."""
        return self._disconnected

    def abandon(self) -> None:
        """Mark the unread rest of the body as unwanted (see Rule 6 of the module docstring)."""
        if self._reader is _UNTOUCHED:
            self._reader = _DISCARDED

    async def wait_disconnect(self) -> None:
        """Return once the client has disconnected; receives on the app's behalf meanwhile."""
        while not self._disconnected:
            if self._pending is not None or self._busy:
                # The reader has not taken the last message yet (backpressure), or is inside
                # receive() itself.
                await self._changed()
                continue
            message = await self._receive_alone()
            if message["type"] == spec.HTTP_DISCONNECT:
                self._disconnected = True
            if self._eof or self._error is not None or self._reader in _UNREAD:
                continue  # a body message nobody will read: drop it
            if self._reader is _UNTOUCHED:
                # The app never read the body and is already streaming its response.
                self._reader = _DISCARDED
                continue
            self._pending = message

    # -- internals ----------------------------------------------------------------------------

    def _check_usable(self) -> None:
        reader = self._reader
        if reader is _UNTOUCHED:
            self._reader = _READING
        elif reader is _CLOSED:
            raise OperationNotAllowed("the request body stream is closed")
        elif reader is _DISCARDED:
            raise OperationNotAllowed(
                "the request body was discarded: the response started streaming before the "
                "responder read it (read req.stream before returning to stream both ways)"
            )
        if self._error is not None:
            raise self._error

    async def _next_message(self) -> Message:
        while self._pending is None and not self._disconnected:
            if not self._busy:
                return await self._receive_alone()
            await self._changed()  # the watcher is inside receive(): it may get our message
        if self._pending is None:
            return _DISCONNECT
        message, self._pending = self._pending, None
        self._notify()  # the watcher may receive again
        return message

    # receive() is called by one party at a time: the app's reads and the watcher take turns
    # through _busy; the one that must wait parks a future in _waiters (made only then, so that
    # a body read with no watcher around costs no lock), woken when the other leaves receive()
    # or takes the message handed over.

    async def _receive_alone(self) -> Message:
        self._busy = True
        try:
            return await self._receive()
        finally:
            self._busy = False
            if self._waiters:
                self._notify()

    async def _changed(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = []
        waiters.append(waiter)
        try:
            await waiter
        finally:
            waiters.remove(waiter)

    def _notify(self) -> None:
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    async def _fill(self) -> bool:
        """Receive until there is unread data in the buffer; False at the end of the body."""
        while not self._eof:
            if self._error is not None:
                raise self._error
            message = await self._next_message()
            if message["type"] == spec.HTTP_REQUEST:
                body = self._accept(message)
                if body:
                    self._buffer, self._offset = body, 0
                    return True
            elif message["type"] == spec.HTTP_DISCONNECT:
                self._disconnected = True
                self._fail(ClientDisconnected(self._received, self._length))
        return False

    def _accept(self, message: Message) -> bytes:
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        if self._length is not None:
            room = self._length - self._received
            if len(body) >= room:
                body = body[:room]  # Rule 2: bytes past Content-Length are never returned
                self._eof = True
        self._received += len(body)
        if self._max is not None and self._received > self._max:
            self._fail(
                HTTPPayloadTooLarge(
                    description=f"The request body is larger than the limit of {self._max} bytes."
                )
            )
        if not more and not self._eof:
            if self._length is not None:
                self._fail(IncompleteBodyError(self._length, self._received))
            self._eof = True
        return body

    def _fail(self, error: BaseException) -> None:
        self._error = error
        self._buffer, self._offset = b"", 0
        raise error
