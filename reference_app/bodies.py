"""Response body sources: ``resp.stream`` and ``resp.sse`` as chunks, finalized exactly once.

* ``resp.stream`` is an async iterable of bytes (a ``None`` item ends it; bytes-like items are
  converted, anything else is a ``TypeError``), or an object with an awaitable ``read(size)``
  read in :data:`STREAM_BLOCK_SIZE` blocks until it returns ``b""``;
* ``resp.sse`` is an async iterable of :class:`~reference_app.sse.SSEvent`, ``None`` (a ``: ping``
  keep-alive) or objects with ``serialize() -> bytes``; with a keep-alive interval, a pull task
  feeds a one-slot queue so a timeout never cancels (and so finalizes) the app's generator;
* :class:`Chunks` closes the source once: an awaitable ``close()`` if it has one, else
  ``aclose()`` for an async generator (Falcon never ``aclose()``s one).

:mod:`reference_app.transmit` sends the chunks; this module only produces and finalizes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from types import AsyncGeneratorType
from typing import Any, Final

from .response import Response
from .sse import PING, SSEvent

__all__ = [
    "STREAM_BLOCK_SIZE",
    "Chunks",
    "as_bytes",
    "close_body_sources",
    "close_source",
    "sse_chunks",
    "stream_chunks",
]

logger = logging.getLogger("reference_app")

#: How many bytes to ask a ``read()``-style stream for at a time.
STREAM_BLOCK_SIZE: Final = 64 * 1024


def as_bytes(item: object) -> bytes:
    """A chunk that is not exactly ``bytes``: bytes-like is converted, anything else refused."""
    if not isinstance(item, bytes | bytearray | memoryview):
        raise TypeError(f"resp.stream yielded {type(item).__name__}, expected bytes")
    return bytes(item)


class Chunks:
    """The body chunks, with a ``close()`` that finalizes their source once.

    The pump iterates ``iterable`` and sends ``convert(item)``: the app's own iterable (no
    generator layer per chunk) whose items the pump checks when ``convert`` is None, or whose
    events ``convert`` serializes; or one of our generators (``ours``), whose bytes go as they are.
    """

    __slots__ = ("_closed", "_iterable", "_ours", "_source", "convert")

    def __init__(
        self,
        iterable: AsyncIterable[Any],
        source: object,
        *,
        ours: bool = True,
        convert: Callable[[Any], bytes] | None = None,
    ) -> None:
        self._iterable = iterable
        self._source = source
        self._ours = ours
        self.convert = convert if convert is not None or not ours else _unchanged
        self._closed = False

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterable.__aiter__()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Our own generator first (it may hold a keep-alive task), then the app's object.
        if self._ours:
            await _aclose(self._iterable)
        await close_source(self._source)


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


async def close_body_sources(response: Response) -> None:
    """Close a stream or SSE emitter that will not be sent (the responder failed)."""
    for source in (response.stream, response.sse):
        if source is not None:
            try:
                await close_source(source)
            except Exception:
                logger.exception("error closing an unsent response body")
    response.stream = response.sse = None


def _unchanged(chunk: bytes) -> bytes:
    return chunk


def stream_chunks(stream: object) -> Chunks:
    if hasattr(stream, "__aiter__"):
        return Chunks(stream, stream, ours=False)
    read = getattr(stream, "read", None)
    if read is None or not callable(read):
        raise TypeError(
            f"resp.stream must be an async iterable of bytes or have an awaitable read(), "
            f"got {stream!r}"
        )
    return Chunks(_read_blocks(read), stream)


async def _read_blocks(read: Callable[[int], Any]) -> AsyncIterator[bytes]:
    while True:
        block = await read(STREAM_BLOCK_SIZE)
        if not isinstance(block, bytes | bytearray | memoryview):
            raise TypeError(f"resp.stream.read() returned {type(block).__name__}, expected bytes")
        if not block:
            return
        yield bytes(block)


def sse_chunks(
    emitter: AsyncIterable[Any], dumps: Callable[[object], str], keepalive: float | None
) -> Chunks:
    if not hasattr(emitter, "__aiter__"):
        raise TypeError(
            f"resp.sse must be an async iterable (call the generator function), got {emitter!r}"
        )
    if keepalive is None:

        def serialize(event: object) -> bytes:
            return _serialize_event(event, dumps)

        return Chunks(emitter, emitter, ours=False, convert=serialize)
    if keepalive <= 0:
        raise ValueError(f"the SSE keep-alive interval must be positive, got {keepalive}")
    return Chunks(_with_keepalive(_serialize_events(emitter, dumps), keepalive), emitter)


async def _serialize_events(
    emitter: AsyncIterable[Any], dumps: Callable[[object], str]
) -> AsyncIterator[bytes]:
    async for event in emitter:
        yield _serialize_event(event, dumps)


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
