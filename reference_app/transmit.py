"""Sending a :class:`~reference_app.response.Response` over ASGI, from the decision to the end.

One path::

    send_response(response, send, request)
      ├─ body = choose_body(response)        bodies.py: which source is sent, decided once
      ├─ start = status + headers            the framing rule, once: Content-Length, defaults
      ├─ HEAD, 1xx, 204, 304 ─► body.discard(); start, pushes, an empty final message
      ├─ rendered ───────────► start, pushes, the bytes as the final message
      └─ streamed ───────────► start, pushes, one message per chunk, an empty final message,
                               while a _Watch waits for the client to leave
      ▼
    an Outcome: COMPLETE, DISCONNECTED or REFUSED

What ``send()`` raises gets its meaning in one place, :func:`_send_failed`: an ``OSError`` is the
client gone (ASGI HTTP spec 2.4, "send exception"); anything else is the server refusing the
message (it has answered the request itself, or closed it: uvicorn-h11 raises so after its own
400, docs/server-behaviour.md#uvicorn-h11-send-raises-after-its-400). Either way nothing more
can be sent, and no error response is tried. An exception is known to come out of ``send()`` by
where it is raised: around the messages of a rendered body, only ``send()`` runs; while a body
streams, the watch's state says whether the pump is in ``send()`` or waiting for the app's
producer, whose own ``OSError`` (a failing file read) still aborts the response. (send() is not
wrapped: a wrapper would cost a coroutine per message.)

Rules (ASGI HTTP spec 2.5, "Response Start" and "Response Body" send events):

* A rendered body (text, data, media) goes out as one ``http.response.start`` and one final
  ``http.response.body``, with a ``content-length`` equal to its length.
* A streamed body (``stream``, ``sse``) sends ``http.response.start`` at once, then one
  ``http.response.body`` with ``more_body=True`` per chunk *the moment the chunk is produced*
  (bareASGI holds each chunk back until the next one exists), then an empty final message.
* While a body streams, a watcher waits for ``http.disconnect``. When the client goes, the task
  producing the chunks is cancelled, so even a generator blocked on its next item is interrupted,
  and the source is finalized (``aclose()``, or the stream's ``close()`` awaited) exactly once.
  The pump yields to the event loop at least every 32 chunks: after a disconnect ``send()``
  returns without suspending on every server
  (docs/server-behaviour.md#send-after-disconnect-is-a-no-op), and a producer that never awaits
  would otherwise starve the watcher. (Falcon iterates ``resp.stream`` to the end after a
  disconnect, and its SSE loop only notices at the next yield.)
* An exception while streaming, after the response has started, is logged and turned into
  :class:`~reference_app.errors.ResponseAborted` raised to the server, which then aborts the
  connection: a clean ending would make a truncated body look complete.
* HEAD gets the headers GET would get (with ``content-length`` for a rendered body) and no body;
  a stream or SSE emitter set for HEAD is closed without being iterated. 1xx, 204 and 304
  responses have no body; 1xx and 204 no ``content-length`` (RFC 9110 §8.6), and a 304 keeps the
  one the app set (the length the 200 would have had).
* Push promises go right after ``http.response.start`` (extensions.rst, "HTTP/2 Server Push").
"""

from __future__ import annotations

import asyncio
import enum
import logging
from typing import TYPE_CHECKING, Any, Final

from . import spec
from .bodies import Chunks, choose_body
from .errors import ClientDisconnected, ResponseAborted
from .media import Handlers
from .response import Response
from .stream import BoundedStream
from .types import Message, Send

if TYPE_CHECKING:
    from .request import Request

__all__ = ["Outcome", "send_response"]

logger = logging.getLogger("reference_app")

_FINAL_BODY: Final[Message] = {"type": spec.HTTP_RESPONSE_BODY, "body": b"", "more_body": False}


class Outcome(enum.Enum):
    """How a response ended."""

    COMPLETE = "complete"  #: the final body message was sent
    DISCONNECTED = "disconnected"  #: the client left first
    REFUSED = "refused"  #: send() raised: the server would take no more of this response


# Enum members read through the class cost a lookup each; the hot paths use these names.
COMPLETE: Final = Outcome.COMPLETE
DISCONNECTED: Final = Outcome.DISCONNECTED
REFUSED: Final = Outcome.REFUSED


async def send_response(
    response: Response,
    send: Send,
    request: Request,
    *,
    head: bool,
    media_handlers: Handlers,
    sse_keepalive: float | None,
) -> Outcome:
    """Send ``response``; return how it ended.

    Args:
        response: the finished response.
        send: the ASGI send callable.
        request: the request answered; while a response streams, its
            :meth:`~reference_app.request.Request.watch_stream` receives on the app's behalf.
        head: True for a HEAD request (no body is sent).
        media_handlers: serializers for ``resp.media`` and SSE ``json=`` events.
        sse_keepalive: the app-wide SSE keep-alive interval, unless the response sets one.

    Raises:
        ResponseAborted: the body failed after the response had started.
        Exception: the response could not be made (a body source of the wrong type, media that
            does not serialize, an invalid status): nothing has been sent, and the sources are
            still on ``response`` to close.
    """
    status = response.status
    if type(status) is not int or not 100 <= status <= 599:
        status = response.status_code  # (validated and converted, or a ValueError)
    body = await choose_body(response, media_handlers, sse_keepalive)
    # The headers: the app's, the body's defaults, and the framing rule (module docstring).
    if status == 304:  # the length the 200 would have had, if the app set it
        headers = response.header_items(body.defaults)
    elif status < 200 or status == 204:  # no body, and no length
        headers = response.header_items(body.defaults, drop_length=True)
    else:  # the true length, when known, replaces any the app set
        length = body.length
        headers = response.header_items(body.defaults, length, drop_length=length is not None)
    start: Message = {"type": spec.HTTP_RESPONSE_START, "status": status, "headers": headers}
    if head or status < 200 or status == 204 or status == 304:
        await body.discard()  # no body: HEAD, 1xx, 204, 304
        data = b""
    elif body.chunks is not None:
        return await _send_streamed(send, start, response, body.chunks, request)
    else:
        data = body.data
    try:  # only send() runs in here
        await send(start)
        if response.pushes:
            await _send_pushes(send, response)
        await send({"type": spec.HTTP_RESPONSE_BODY, "body": data, "more_body": False})
    except Exception as error:
        return _send_failed(error)
    return COMPLETE


# -- what send() raises ---------------------------------------------------------------------------


def _send_failed(error: Exception) -> Outcome:
    """The one place that says what an exception out of ``send()`` means (module docstring)."""
    if isinstance(error, OSError):
        return DISCONNECTED  # the client is gone: quietly
    logger.warning(
        "the server refused the response (%s: %s); nothing more is sent",
        type(error).__name__,
        error,
    )
    return REFUSED


# -- pushes -------------------------------------------------------------------------------------


async def _send_pushes(send: Send, response: Response) -> None:
    for path, push_headers in response.pushes:
        await send({"type": spec.HTTP_RESPONSE_PUSH, "path": path, "headers": push_headers})


# -- streamed -------------------------------------------------------------------------------------


async def _send_streamed(
    send: Send, start: Message, response: Response, chunks: Chunks, request: Request
) -> Outcome:
    """Stream ``chunks`` from the app's own task, while a :class:`_Watch` waits for a disconnect."""
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("a streamed response must be sent from an asyncio task")
    watch = _Watch(task, request)
    error: Exception | None = None
    in_send = False
    try:
        await _pump(send, start, response, chunks, watch)
    except asyncio.CancelledError:
        # Ours (the client left while the producer was blocked), unless the server cancelled
        # the app as well: then it propagates, after the watcher is stopped and the body closed.
        if watch.state is not _INTERRUPTED or task.uncancel() > 0:
            raise
    except Exception as exc:
        error = exc
        in_send = watch.state is _SENDING or watch.state is _GONE  # raised by send()
    else:
        if watch.state is _INTERRUPTED:
            task.uncancel()  # the producer swallowed our CancelledError
    finally:
        # Also reached when the server cancels the app: the watcher may not outlive the call.
        if watch.stop():
            await watch.stopped()
        if chunks.closing_needed:
            try:
                await chunks.close()  # the source, finalized once
            except Exception:
                logger.exception("error closing the response body source")
    if watch.failure is not None:  # receive() failed: the request is broken, not the body
        error = watch.failure
    elif watch.state is _COMPLETE:
        return COMPLETE
    elif in_send:
        assert error is not None
        return _send_failed(error)
    elif error is None or isinstance(error, ClientDisconnected):
        # The client left: the watcher interrupted the producer, or the pump saw it and
        # stopped, or the stream read the request body and the client left.
        return DISCONNECTED
    logger.error("error while streaming the response body; aborting the response", exc_info=error)
    raise ResponseAborted(f"response body failed: {error!r}") from error


async def _pump(
    send: Send, start: Message, response: Response, chunks: Chunks, watch: _Watch
) -> None:
    """Send the start, the pushes, a message per chunk as it comes, and the final message."""
    watch.state = _SENDING
    await send(start)
    if response.pushes:
        await _send_pushes(send, response)
    if watch.state is not _SENDING:
        return  # the client left during the start
    producing, sending = _PRODUCING, _SENDING  # (locals: this loop runs once per chunk)
    body_type, convert = spec.HTTP_RESPONSE_BODY, chunks.convert
    app_stream = watch.stream  # the app's own body stream: its reads may see the disconnect
    countdown = _YIELD_EVERY
    watch.state = producing
    async for item in chunks.items:  # the only place the pump may be cancelled
        if watch.state is not producing:
            return  # interrupted, and the producer swallowed the cancellation
        if type(item) is not bytes:
            item = convert(item)
            if item is None:
                break
        if not item:
            continue
        watch.state = sending
        await send({"type": body_type, "body": item, "more_body": True})
        if watch.state is not sending or (app_stream is not None and app_stream.disconnected):
            return  # the client left while the chunk was being sent
        watch.state = producing
        countdown -= 1
        if not countdown:
            countdown = _YIELD_EVERY
            await asyncio.sleep(0)  # let the watcher (and every other task) run
    watch.state = _SENDING
    await send(_FINAL_BODY)
    watch.state = _COMPLETE


# -- watching for the disconnect -------------------------------------------------------------------

#: How long a send() in flight may take to return once the client is gone, before it is
#: cancelled after all.
_SEND_GRACE: Final = 1.0
#: The most chunks the pump sends without yielding to the event loop: after a disconnect,
#: send() returns without suspending on every server
#: (docs/server-behaviour.md#send-after-disconnect-is-a-no-op), so a producer that never awaits
#: would otherwise starve the disconnect watcher (and every other task). (A count, not a clock:
#: reading the clock once per chunk costs more than the yields.)
_YIELD_EVERY: Final = 32


class _State(enum.Enum):
    """Where a streamed response is, as the pump and the watcher see it.

    ::

        SENDING ⇄ PRODUCING ──(disconnect)──► INTERRUPTED   the app's task is cancelled at once
           │                                      ▲
           └──(disconnect)──► GONE ──(grace)──────┘         or the pump stops when send returns
        SENDING ──(final body sent)──► COMPLETE
        any live state ──(stop)──► STOPPED
    """

    PRODUCING = "producing"  #: the pump waits for the producer: a disconnect cancels it at once
    SENDING = "sending"  #: the pump is in send(): a cancel could leave the server half updated
    GONE = "gone"  #: the client left during a send(): cancelled after the grace unless it returns
    INTERRUPTED = "interrupted"  #: the watcher cancelled the app's task
    COMPLETE = "complete"  #: the final body message went out: nothing is interrupted any more
    STOPPED = "stopped"  #: watching ended before the response was complete


# Enum members read through the class cost a lookup each; the hot paths use these names.
_PRODUCING: Final = _State.PRODUCING
_SENDING: Final = _State.SENDING
_GONE: Final = _State.GONE
_INTERRUPTED: Final = _State.INTERRUPTED
_COMPLETE: Final = _State.COMPLETE
#: The states of a response still streaming. (A tuple: membership by identity; an enum member
#: hashes in Python.)
_LIVE: Final = (_PRODUCING, _SENDING, _GONE)


class _Watch:
    """Watches for the disconnect while a response streams from the app's own task.

    The pump runs in the task that called the app. The watcher task, which receives on the
    app's behalf (:meth:`BoundedStream.wait_disconnect` of
    :meth:`~reference_app.request.Request.watch_stream`), is created the first time the event
    loop runs after the response starts (a stream that completes without ever yielding to the
    loop never needs one; the watches made in one turn of the loop share one ``call_soon``).
    When the client goes, the watcher cancels the app's task, so even a producer blocked on its
    next item is interrupted; but never while the pump is inside a server's ``send()``: after a
    disconnect send() returns at once and the pump then stops itself, else it is cancelled
    after :data:`_SEND_GRACE`.
    """

    __slots__ = (
        "_request",
        "_task",
        "_timer",
        "_unstarted",
        "_watcher",
        "failure",
        "state",
        "stream",
    )

    failure: Exception | None

    def __init__(self, task: asyncio.Task[Any], request: Request) -> None:
        self._task = task
        self._request = request
        self.state = _PRODUCING
        #: The request body stream the watcher receives through (the app's, if it made one).
        self.stream: BoundedStream | None = request.stream_if_created
        #: What receive() raised in the watcher, if it failed.
        self.failure = None
        self._watcher: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None  # the grace, once the client is gone
        loop = asyncio.get_running_loop()
        unstarted = _UNSTARTED.get(loop)
        if unstarted is None:
            unstarted = _UNSTARTED[loop] = []
            loop.call_soon(_start_watches, loop)
        unstarted.append(self)
        self._unstarted = unstarted

    def start(self) -> None:
        """Start the watcher task, unless the response is already over."""
        if self.state in _LIVE:
            self.stream = stream = self._request.watch_stream()
            self._watcher = asyncio.ensure_future(self._watch(stream))

    async def _watch(self, stream: BoundedStream) -> None:
        try:
            await stream.wait_disconnect()
        except Exception as error:
            self.failure = error
        if self.state is _SENDING:
            self.state = _GONE
            self._timer = asyncio.get_running_loop().call_later(_SEND_GRACE, self._interrupt)
        else:
            self._interrupt()

    def _interrupt(self) -> None:
        self._timer = None
        if self.state in _LIVE:
            self.state = _INTERRUPTED
            self._task.cancel()

    def stop(self) -> bool:
        """Stop watching; return whether a watcher task is still to be waited for
        (:meth:`stopped`)."""
        if self.state in _LIVE:
            self.state = _State.STOPPED
        unstarted = self._unstarted
        if unstarted and unstarted[-1] is self:
            unstarted.pop()  # never started: not kept alive until the loop turns
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        watcher = self._watcher
        if watcher is None or watcher.done():
            return False
        watcher.cancel()
        return True

    async def stopped(self) -> None:
        """Wait until the watcher task is gone."""
        assert self._watcher is not None
        await asyncio.wait((self._watcher,))


#: The watches made since their event loop last ran, by loop: one call_soon starts them all.
#: (An entry lives one turn of its loop; each loop is only touched from its own thread.)
_UNSTARTED: dict[asyncio.AbstractEventLoop, list[_Watch]] = {}


def _start_watches(loop: asyncio.AbstractEventLoop) -> None:
    for watch in _UNSTARTED.pop(loop, ()):
        if watch.state in _LIVE:  # (most have ended already)
            watch.start()
