"""Sending a :class:`~reference_app.response.Response` over ASGI.

Rules (ASGI HTTP spec 2.5, "Response Start" and "Response Body" send events):

* A rendered body (text, data, media) goes out as one ``http.response.start`` and one final
  ``http.response.body`` with a ``content-length`` equal to its length.
* A streamed body (``stream``, ``sse``) sends ``http.response.start`` at once, then one
  ``http.response.body`` with ``more_body=True`` per chunk *the moment the chunk is produced*
  (bareASGI holds each chunk back until the next one exists), then an empty final message.
* While a body streams, a watcher waits for ``http.disconnect``. When the client goes, the task
  producing the chunks is cancelled, so even a generator blocked on its next item is interrupted,
  and the generator is finalized (``aclose()``) or the stream's ``close()`` is awaited, exactly
  once. The pump yields to the event loop at least every millisecond: after a disconnect
  ``send()`` returns without suspending on every server, and a producer that never awaits would
  otherwise starve the watcher. (Falcon iterates ``resp.stream`` to the end after a disconnect,
  and its SSE loop only notices at the next yield.)
* An exception while streaming, after the response has started, is logged and turned into
  :class:`~reference_app.errors.ResponseAborted` raised to the server, which then aborts the
  connection: a clean ending would make a truncated body look complete.
* HEAD gets the headers GET would get (with ``content-length`` for a rendered body) and no body;
  a stream or SSE emitter set for HEAD is closed without being iterated. 1xx, 204 and 304
  responses have no body and 1xx/204 no ``content-length`` (RFC 9110 §8.6).
* Push promises go right after ``http.response.start`` (extensions.rst, "HTTP/2 Server Push").
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Final

from . import spec
from .bodies import Chunks, as_bytes, close_source, sse_chunks, stream_chunks
from .errors import ClientDisconnected, HTTPUnsupportedMediaType, ResponseAborted
from .media import Handlers
from .response import Response
from .stream import BoundedStream
from .types import Headers, Message, Receive, Send

__all__ = ["Outcome", "send_response"]

logger = logging.getLogger("reference_app")

_NO_BODY_STATUSES: Final = frozenset({204, 304})
_monotonic: Final = time.monotonic  # the clock of asyncio's loop.time()
_FINAL_BODY: Final[Message] = {"type": spec.HTTP_RESPONSE_BODY, "body": b"", "more_body": False}


class Outcome:
    """How a response ended: completely sent, or the client left first."""

    COMPLETE: Final = "complete"
    DISCONNECTED: Final = "disconnected"


async def send_response(
    response: Response,
    send: Send,
    *,
    head: bool,
    body_stream: BoundedStream | None,
    receive: Receive,
    media_handlers: Handlers,
    sse_keepalive: float | None,
) -> str:
    """Send ``response``; return an :class:`Outcome`.

    Args:
        response: the finished response.
        send: the ASGI send callable.
        head: True for a HEAD request (no body is sent).
        body_stream: the request body stream if the app made one, else None. While a response
            streams, it receives on the app's behalf to see the disconnect; without one, a
            stream over ``receive`` that discards the unread body is made, when needed.
        receive: the ASGI receive callable.
        media_handlers: serializers for ``resp.media`` and SSE ``json=`` events.
        sse_keepalive: the app-wide SSE keep-alive interval, unless the response sets one.

    Raises:
        ResponseAborted: the body failed after the response had started.
    """
    status = response.status_code
    headers = response.header_items()
    if response.sse is None:
        body = _render(response, headers)
        if body is None and response.media is not None:
            body = await _render_media(response, headers, media_handlers)
        if body is not None or response.stream is None:
            if response.stream is not None:  # a rendered body wins over a stream
                await _close_unsent(response.stream)
                response.stream = None
            if body is None:
                body = b""
            if status != 304:
                # RFC 9110 §8.6: the true length (replacing the app's), and none on 1xx and
                # 204; a 304 keeps what the app set (the length the 200 would have had), if any.
                headers = [pair for pair in headers if pair[0] != b"content-length"]
                if status >= 200 and status != 204:
                    headers.append((b"content-length", str(len(body)).encode()))
            if head or status < 200 or status in _NO_BODY_STATUSES:
                body = b""
            try:
                await send({"type": spec.HTTP_RESPONSE_START, "status": status, "headers": headers})
                if response.pushes:
                    await _send_pushes(response, send)
                await send({"type": spec.HTTP_RESPONSE_BODY, "body": body, "more_body": False})
            except OSError:
                # Only send() runs in there, so this is the client gone (ASGI HTTP spec 2.4).
                return Outcome.DISCONNECTED
            return Outcome.COMPLETE
    try:
        return await _send_any(
            response,
            send,
            status,
            headers,
            head,
            (body_stream, receive),
            media_handlers,
            sse_keepalive,
        )
    except _ClientGone:
        return Outcome.DISCONNECTED  # the body source was closed on the way out


#: The request body stream if the app made one, and the receive callable to make one with.
_BodyStream = tuple[BoundedStream | None, Receive]


class _ClientGone(Exception):
    """``send()`` raised OSError: the client is gone (ASGI HTTP spec 2.4, "send exception")."""


def _guard(send: Send) -> Send:
    """Wrap ``send`` so that its OSError means "client gone", whatever else raises OSError.

    Per ASGI HTTP spec 2.4 a server should raise an OSError subclass from ``send()`` on a closed
    connection; an app's own OSError (a failing file read) must still abort the response.
    """

    async def guarded(message: Message) -> None:
        try:
            await send(message)
        except OSError as error:
            raise _ClientGone() from error

    return guarded


async def _send_any(
    response: Response,
    send: Send,
    status: int,
    headers: Headers,
    head: bool,
    body_stream: _BodyStream,
    media_handlers: Handlers,
    sse_keepalive: float | None,
) -> str:
    """Send a streamed response (``sse``, or ``stream`` with no rendered body)."""
    if response.sse is not None:
        if response.stream is not None:  # the event stream wins over a stream
            await _close_unsent(response.stream)
            response.stream = None
        # Ask reverse proxies such as nginx not to buffer the event stream, too.
        _default_headers(headers, _SSE_HEADERS)
        keepalive = response.sse_keepalive if response.sse_keepalive is not None else sse_keepalive
        chunks = sse_chunks(response.sse, media_handlers.json_dumps(), keepalive)
        response.sse = None  # from here on, closing it is the chunk iterator's job
        return await _send_streamed(response, send, status, headers, chunks, head, body_stream)
    _default_header(headers, b"content-type", b"application/octet-stream")
    if response.stream_length is not None:
        headers.append((b"content-length", str(response.stream_length).encode()))
    chunks = stream_chunks(response.stream)
    response.stream = None  # from here on, closing it is the chunk iterator's job
    return await _send_streamed(response, send, status, headers, chunks, head, body_stream)


def _render(response: Response, headers: Headers) -> bytes | None:
    """The body from ``text`` or ``data``, if either is set (no coroutine: the common case)."""
    text = response.text
    if text is not None:
        _default_header(headers, b"content-type", b"text/plain; charset=utf-8")
        return text.encode() if isinstance(text, str) else bytes(text)
    if response.data is not None:
        _default_header(headers, b"content-type", b"application/octet-stream")
        return bytes(response.data)
    return None


async def _render_media(response: Response, headers: Headers, handlers: Handlers) -> bytes:
    """The body from ``media``, serialized by the handler for the response's content type."""
    try:
        media_type, handler = handlers.resolve(response.content_type)
    except HTTPUnsupportedMediaType:
        # The app's mistake, not the client's: a 500, never a 415.
        raise TypeError(
            f"resp.media: no media handler serializes {response.content_type!r}"
        ) from None
    _default_header(headers, b"content-type", media_type.encode("latin-1"))
    return await handler.serialize_async(response.media, media_type)


async def _send_pushes(response: Response, send: Send) -> None:
    for path, push_headers in response.pushes:
        await send({"type": spec.HTTP_RESPONSE_PUSH, "path": path, "headers": push_headers})


async def _send_streamed(
    response: Response,
    send: Send,
    status: int,
    headers: Headers,
    chunks: Chunks,
    head: bool,
    body_stream: _BodyStream,
) -> str:
    start: Message = {"type": spec.HTTP_RESPONSE_START, "status": status, "headers": headers}
    if head or status < 200 or status in _NO_BODY_STATUSES:
        send = _guard(send)
        await chunks.close()
        await send(start)
        await _send_pushes(response, send)
        await send(_FINAL_BODY)
        return Outcome.COMPLETE
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("a streamed response must be sent from an asyncio task")
    watch = _Watch(task, *body_stream)
    error: Exception | None = None
    try:
        await _pump(response, send, start, chunks, watch)
    except asyncio.CancelledError:
        # Ours (the client left while the producer was blocked), unless the server cancelled
        # the app as well: then it propagates, after the watcher is stopped and the body closed.
        if not watch.interrupted or task.uncancel() > 0:
            raise
    except Exception as exc:
        error = exc
    else:
        if watch.interrupted:
            task.uncancel()  # the producer swallowed our CancelledError
    finally:
        # Also reached when the server cancels the app: the watcher may not outlive the call.
        await watch.stop()
        await _close_quietly(chunks)
    if watch.failure is not None:
        raise watch.failure
    if watch.complete:
        return Outcome.COMPLETE
    if error is None or isinstance(error, ClientDisconnected | _ClientGone):
        # The client left: the watcher interrupted the producer, or the pump saw it and
        # stopped, or the stream read the request body and the client left, or send() said so.
        return Outcome.DISCONNECTED
    logger.error("error while streaming the response body; aborting the response", exc_info=error)
    raise ResponseAborted(f"response body failed: {error!r}") from error


#: How long a send() in flight may take to return once the client is gone, before it is
#: cancelled after all.
_SEND_GRACE: Final = 1.0
#: The longest the pump runs without yielding to the event loop: after a disconnect, send()
#: returns without suspending on every server
#: (docs/server-behaviour.md#send-after-disconnect-is-a-no-op), so a producer that never awaits
#: would otherwise starve the disconnect watcher (and every other task).
_YIELD_INTERVAL: Final = 0.001


class _Watch:
    """Watches for the disconnect while a response streams from the app's own task.

    The pump runs in the task that called the app. The watcher task, which receives on the
    app's behalf (:meth:`BoundedStream.wait_disconnect`), is created the first time the event
    loop runs after the response starts (a stream that completes without ever yielding to the
    loop never needs one). When the client goes, the watcher cancels the app's task, so even a
    producer blocked on its next item is interrupted; but never while the pump is inside a
    server's ``send()`` (its own state could be left half updated): after a disconnect send()
    returns at once and the pump then stops itself, else it is cancelled after
    :data:`_SEND_GRACE`.
    """

    __slots__ = (
        "_handle",
        "_receive",
        "_task",
        "_watcher",
        "complete",
        "failure",
        "finished",
        "interrupted",
        "sending",
        "stopped",
        "stream",
    )

    def __init__(
        self, task: asyncio.Task[Any], stream: BoundedStream | None, receive: Receive
    ) -> None:
        self._task = task
        #: The request body stream, made when the watcher starts if the app made none.
        self.stream = stream
        self._receive = receive
        self._watcher: asyncio.Future[None] | None = None
        self.sending = False  # the pump is inside send()
        self.complete = False  # the final body message went out
        self.finished = False  # the watcher has seen the disconnect, or receive() failed
        self.interrupted = False  # the watcher cancelled the app's task
        self.stopped = False
        self.failure: BaseException | None = None
        self._handle: asyncio.Handle | asyncio.TimerHandle | None = (
            asyncio.get_running_loop().call_soon(self._start)
        )

    def _start(self) -> None:
        self._handle = None
        if self.stopped:
            return
        if self.stream is None:
            # The app never asked for the body: while a response streams, whatever of it
            # arrives is unwanted (Rule 6 of reference_app.stream).
            self.stream = BoundedStream(self._receive, None, None)
            self.stream.abandon()
        self._watcher = asyncio.ensure_future(self._watch(self.stream))

    async def _watch(self, stream: BoundedStream) -> None:
        try:
            await stream.wait_disconnect()
        except Exception as error:
            self.failure = error
        self.finished = True
        if self.sending:
            self._handle = asyncio.get_running_loop().call_later(_SEND_GRACE, self._interrupt)
        else:
            self._interrupt()

    def _interrupt(self) -> None:
        self._handle = None
        if not (self.stopped or self.complete or self.interrupted):
            self.interrupted = True
            self._task.cancel()

    async def stop(self) -> None:
        """Stop watching; wait until the watcher task is gone."""
        self.stopped = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        watcher = self._watcher
        if watcher is not None and not watcher.done():
            watcher.cancel()
            await asyncio.wait((watcher,))


async def _pump(
    response: Response,
    send: Send,
    start: Message,
    chunks: Chunks,
    watch: _Watch,
) -> None:
    # An OSError from send() is the client gone (ASGI HTTP spec 2.4); one from the producer
    # is the app's own error. So each send() is guarded where it is made.
    watch.sending = True
    try:
        await send(start)
        if response.pushes:
            await _send_pushes(response, send)
    except OSError as error:
        raise _ClientGone() from error
    watch.sending = False
    # The app's own body stream, if it made one: its reads may see the disconnect first.
    app_stream = watch.stream
    resume = _monotonic() + _YIELD_INTERVAL
    convert = chunks.convert
    async for item in chunks:  # the only place the pump may be cancelled
        if convert is not None:
            chunk = convert(item)
        elif type(item) is bytes:  # the app's own stream: the common case first
            if not item:
                continue
            chunk = item
        elif item is None:
            break  # a None item ends the stream (Falcon's convention)
        else:
            chunk = as_bytes(item)
            if not chunk:
                continue
        watch.sending = True
        try:
            await send({"type": spec.HTTP_RESPONSE_BODY, "body": chunk, "more_body": True})
        except OSError as error:
            raise _ClientGone() from error
        watch.sending = False
        if watch.finished or (app_stream is not None and app_stream.disconnected):
            return  # (the watcher sets finished as soon as its stream sees the disconnect)
        if _monotonic() >= resume:
            await asyncio.sleep(0)  # let the watcher (and every other task) run
            resume = _monotonic() + _YIELD_INTERVAL
    watch.sending = True
    try:
        await send(_FINAL_BODY)
    except OSError as error:
        raise _ClientGone() from error
    watch.complete = True


async def _close_quietly(chunks: Chunks) -> None:
    """Finalize the body source once; a failing ``close()`` is logged, not raised."""
    try:
        await chunks.close()
    except Exception:
        logger.exception("error closing the response body source")


async def _close_unsent(source: object) -> None:
    try:
        await close_source(source)
    except Exception:
        logger.exception("error closing a response body that was not sent")


_SSE_HEADERS: Final = (
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
)


def _default_headers(headers: Headers, defaults: tuple[tuple[bytes, bytes], ...]) -> None:
    """Append each of ``defaults`` whose name is not in ``headers`` yet."""
    if not headers:
        headers.extend(defaults)
        return
    names = {name for name, _ in headers}
    headers.extend(pair for pair in defaults if pair[0] not in names)


def _default_header(headers: Headers, name: bytes, value: bytes) -> None:
    for key, _ in headers:
        if key == name:
            return
    headers.append((name, value))
