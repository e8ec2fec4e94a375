"""Which body a response sends, decided once, and the chunks of a streamed one.

A response may have several body sources set (:mod:`reference_app.response`). The rule that picks
the one sent is written here, once, in :func:`choose_body`:

1. ``resp.sse`` wins over everything: the events, serialized, as chunks (:attr:`BodyKind.EVENTS`);
2. else ``resp.text``, ``resp.data`` or ``resp.media``, the first one set, rendered to bytes
   (:attr:`BodyKind.RENDERED`); with none of them and no stream, the body is empty;
3. else ``resp.stream``: its chunks (:attr:`BodyKind.STREAM`), with the length
   :meth:`~reference_app.response.Response.set_stream` gave, if any.

The result is a frozen :class:`Body`. A stream or an emitter that loses is closed by
:func:`choose_body` itself; the one that wins belongs to the :class:`Chunks` of the body from then
on, which finalizes it exactly once (an awaitable ``close()`` if the source has one, else
``aclose()`` for an async generator; Falcon never ``aclose()``s one).

What a chunk may be:

* ``resp.stream`` items: ``bytes`` go as they are; other bytes-like items are converted; an empty
  item is skipped; a ``None`` item ends the stream (Falcon's convention); anything else is a
  ``TypeError``. An object with an awaitable ``read(size)`` is read in :data:`STREAM_BLOCK_SIZE`
  blocks until it returns ``b""``;
* ``resp.sse`` items: :class:`~reference_app.sse.SSEvent`, ``None`` (a ``: ping`` keep-alive) or
  objects with ``serialize() -> bytes``. With a keep-alive interval, a pull task feeds a one-slot
  queue, so that a timeout never cancels (and so finalizes) the app's generator.

:mod:`reference_app.transmit` sends the :class:`Body`; this module never calls ``send()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from types import AsyncGeneratorType
from typing import Any, Final, NamedTuple

from .errors import HTTPUnsupportedMediaType
from .media import Handlers
from .response import Response
from .sse import PING, SSEvent

__all__ = [
    "STREAM_BLOCK_SIZE",
    "Body",
    "BodyKind",
    "Chunks",
    "choose_body",
    "close_body_sources",
    "close_source",
]

logger = logging.getLogger("reference_app")

#: How many bytes to ask a ``read()``-style stream for at a time.
STREAM_BLOCK_SIZE: Final = 64 * 1024

Headers = tuple[tuple[bytes, bytes], ...]

_TEXT: Final[Headers] = ((b"content-type", b"text/plain; charset=utf-8"),)
_BINARY: Final[Headers] = ((b"content-type", b"application/octet-stream"),)
#: An event stream's headers; ``x-accel-buffering`` asks reverse proxies such as nginx not to
#: buffer it.
_EVENT_STREAM: Final[Headers] = (
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
)


class BodyKind(enum.Enum):
    """Where a response body comes from."""

    RENDERED = "rendered"  #: bytes in hand: ``text``, ``data``, ``media``, or nothing
    STREAM = "stream"  #: ``resp.stream``'s chunks
    EVENTS = "events"  #: ``resp.sse``'s events, serialized


# Enum members read through the class cost a lookup each; the hot paths use these names.
_RENDERED: Final = BodyKind.RENDERED
_STREAM: Final = BodyKind.STREAM
_EVENTS: Final = BodyKind.EVENTS


class Body(NamedTuple):
    """The body a response sends: the outcome of :func:`choose_body` (immutable).

    Attributes:
        kind: where it comes from.
        data: the bytes of a rendered body (``b""`` for the others).
        chunks: the chunks of a streamed body (None for a rendered one).
        length: the Content-Length it has, when known: ``len(data)``, or the stream's.
        defaults: headers it goes with, unless the app set them (the content type).
    """

    kind: BodyKind
    data: bytes
    chunks: Chunks | None
    length: int | None
    defaults: Headers

    async def discard(self) -> None:
        """Close the source of a body that will not be sent (HEAD, 1xx, 204, 304)."""
        if self.chunks is not None:
            await self.chunks.close()


#: The body of a response with no body source set.
_EMPTY: Final = Body(_RENDERED, b"", None, 0, ())
#: ``Body(...)`` without the keyword handling of a NamedTuple's ``__new__`` (the hot path).
_new: Final = tuple.__new__


async def choose_body(response: Response, handlers: Handlers, keepalive: float | None) -> Body:
    """Pick the body of ``response`` by the precedence rule of the module docstring.

    The sources that lose are closed; the winner's source moves into the returned body, and
    ``resp.stream`` and ``resp.sse`` are cleared.

    Args:
        response: the finished response.
        handlers: the media handlers (``resp.media``, SSE ``json=`` events).
        keepalive: the app-wide SSE keep-alive interval, unless the response sets one.

    Raises:
        TypeError: a body source is not of a supported type (nothing is sent then, and the
            sources stay on the response for the caller to close).
        ValueError: ``media`` cannot be serialized, or the keep-alive interval is not positive.
    """
    stream = response.stream
    if response.sse is not None:  # 1. the event stream wins over everything
        if response.sse_keepalive is not None:
            keepalive = response.sse_keepalive
        chunks = _event_chunks(response.sse, handlers.json_dumps(), keepalive)
        body = _new(Body, (_EVENTS, b"", chunks, None, _EVENT_STREAM))
    elif (text := response.text) is not None:  # 2. then a rendered body: text, data, media
        data = text.encode() if isinstance(text, str) else bytes(text)
        body = _new(Body, (_RENDERED, data, None, len(data), _TEXT))
    elif response.data is not None:
        data = bytes(response.data)
        body = _new(Body, (_RENDERED, data, None, len(data), _BINARY))
    elif response.media is not None:
        media_type, data = await _serialize_media(response, handlers)
        body = _new(Body, (_RENDERED, data, None, len(data), ((b"content-type", media_type),)))
    elif stream is not None:  # 3. then the stream
        chunks = _stream_chunks(stream)
        response.stream = None
        return _new(Body, (_STREAM, b"", chunks, response.stream_length, _BINARY))
    else:
        return _EMPTY
    response.sse = response.stream = None
    if stream is not None:  # a stream that lost: it is never sent
        await _close_unsent(stream)
    return body


async def _serialize_media(response: Response, handlers: Handlers) -> tuple[bytes, bytes]:
    """The media type and the bytes of ``resp.media``, by the handler for its content type."""
    try:
        media_type, handler = handlers.resolve(response.content_type)
    except HTTPUnsupportedMediaType:
        # The app's mistake, not the client's: a 500, never a 415.
        raise TypeError(
            f"resp.media: no media handler serializes {response.content_type!r}"
        ) from None
    data = await handler.serialize_async(response.media, media_type)
    return media_type.encode("latin-1"), data


# -- chunks ---------------------------------------------------------------------------------------


class Chunks:
    """The chunks of a streamed body, with a ``close()`` that finalizes their source once.

    Iterating gives the source's items; the sender sends an exact ``bytes`` item as it is and
    passes anything else through :attr:`convert`, which returns the bytes to send (``b""``: skip
    it) or None (the stream ends). The app's own iterable is iterated directly (no generator
    layer per chunk); a ``read()``-style stream and an event stream with keep-alives go through
    one of our generators (``ours``).
    """

    __slots__ = ("_closed", "_ours", "_source", "convert", "items")

    def __init__(
        self,
        iterable: AsyncIterable[Any],
        source: object,
        convert: Callable[[Any], bytes | None],
        *,
        ours: bool,
    ) -> None:
        #: What to iterate: the source's items.
        self.items = iterable
        self._source = source
        self._ours = ours
        self._closed = False
        #: Turns an item that is not exactly ``bytes`` into the bytes to send, or None.
        self.convert = convert

    def __aiter__(self) -> AsyncIterator[Any]:
        return self.items.__aiter__()

    @property
    def closing_needed(self) -> bool:
        """Whether :meth:`close` has anything to do (an async generator that has run to its
        end, the common case, needs nothing)."""
        if self._closed:
            return False
        source = self._source
        return self._ours or type(source) is not AsyncGeneratorType or source.ag_frame is not None

    async def close(self) -> None:
        """Finalize the source (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        # Our own generator first (it may hold a keep-alive task), then the app's object.
        if self._ours:
            await _aclose(self.items)
        await close_source(self._source)


def _stream_chunks(stream: object) -> Chunks:
    if hasattr(stream, "__aiter__"):
        return Chunks(stream, stream, _stream_item, ours=False)
    read = getattr(stream, "read", None)
    if read is None or not callable(read):
        raise TypeError(
            f"resp.stream must be an async iterable of bytes or have an awaitable read(), "
            f"got {stream!r}"
        )
    return Chunks(_read_blocks(read), stream, _stream_item, ours=True)


def _stream_item(item: object) -> bytes | None:
    """A ``resp.stream`` item that is not exactly ``bytes``: see the module docstring."""
    if item is None:
        return None
    if not isinstance(item, bytes | bytearray | memoryview):
        raise TypeError(f"resp.stream yielded {type(item).__name__}, expected bytes")
    return bytes(item)


async def _read_blocks(read: Callable[[int], Any]) -> AsyncIterator[bytes]:
    while True:
        block = await read(STREAM_BLOCK_SIZE)
        if not isinstance(block, bytes | bytearray | memoryview):
            raise TypeError(f"resp.stream.read() returned {type(block).__name__}, expected bytes")
        if not block:
            return
        yield bytes(block)


def _event_chunks(
    emitter: AsyncIterable[Any], dumps: Callable[[object], str], keepalive: float | None
) -> Chunks:
    if not hasattr(emitter, "__aiter__"):
        raise TypeError(
            f"resp.sse must be an async iterable (call the generator function), got {emitter!r}"
        )

    def serialize(event: object) -> bytes:
        return _serialize_event(event, dumps)

    if keepalive is None:
        return Chunks(emitter, emitter, serialize, ours=False)
    if keepalive <= 0:
        raise ValueError(f"the SSE keep-alive interval must be positive, got {keepalive}")
    events = _with_keepalive(_serialize_events(emitter, serialize), keepalive)
    return Chunks(events, emitter, _stream_item, ours=True)


async def _serialize_events(
    emitter: AsyncIterable[Any], serialize: Callable[[object], bytes]
) -> AsyncIterator[bytes]:
    async for event in emitter:
        yield serialize(event)


def _serialize_event(event: object, dumps: Callable[[object], str]) -> bytes:
    if event is None:
        return PING
    if isinstance(event, SSEvent):
        return event.serialize(dumps)
    serialize = getattr(event, "serialize", None)
    if serialize is None:
        raise TypeError(
            f"resp.sse yielded {type(event).__name__}: expected an SSEvent, None or an "
            "object with serialize() -> bytes"
        )
    data = serialize()
    if not isinstance(data, bytes):
        raise TypeError(f"{type(event).__name__}.serialize() must return bytes")
    return data


async def _with_keepalive(events: AsyncIterator[bytes], interval: float) -> AsyncIterator[bytes]:
    """Yield ``events``, and a ``: ping`` comment after each ``interval`` without one.

    The events are pulled by a task of their own into a one-slot queue, so a timeout never
    cancels the app's generator (which would finalize it).
    """
    queue: asyncio.Queue[tuple[bytes | None, BaseException | None]] = asyncio.Queue(1)

    async def pull() -> None:
        try:
            async for event in events:
                await queue.put((event, None))
        except Exception as error:
            await queue.put((None, error))
        else:
            await queue.put((None, None))

    puller = asyncio.ensure_future(pull())
    try:
        while True:
            try:
                async with asyncio.timeout(interval):
                    event, error = await queue.get()
            except TimeoutError:
                yield PING
                continue
            if error is not None:
                raise error
            if event is None:
                return
            yield event
    finally:
        puller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await puller
        await events.aclose()  # type: ignore[attr-defined]


# -- closing ------------------------------------------------------------------------------------


async def _aclose(iterator: object) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


async def close_source(source: object) -> None:
    """Finalize a body source: await its ``close()`` if it has one, else ``aclose()`` it."""
    if type(source) is AsyncGeneratorType and source.ag_frame is None:
        return  # an async generator that has finished: aclose() would do nothing
    close = getattr(source, "close", None)
    if close is not None:
        result = close()
        if inspect.isawaitable(result):
            await result
        return
    await _aclose(source)


async def _close_unsent(source: object) -> None:
    try:
        await close_source(source)
    except Exception:
        logger.exception("error closing a response body that was not sent")


async def close_body_sources(response: Response) -> None:
    """Close a stream or SSE emitter that will not be sent (the responder failed)."""
    for source in (response.stream, response.sse):
        if source is not None:
            try:
                await close_source(source)
            except Exception:
                logger.exception("error closing an unsent response body")
    response.stream = response.sse = None
