"""What a server does when the app misbehaves: raises, returns early, or lies about its length.

Every endpoint here is raw ASGI (what a framework would never do), served by
:class:`conformance.contract.raw.RawRoutes` under ``/raw/errors/...``. Each takes its token from
the ``x-probe-token`` header, so the message recorder also logs every message it sends and what
each ``send()`` raised (``send``, ``send-error``)::

    ANY /raw/errors/raise-before-start      raises before any message
    ANY /raw/errors/raise-after-start       start (no Content-Length), then raises
    ANY /raw/errors/raise-mid-body          start (no Content-Length), 7 body bytes, raises
    ANY /raw/errors/raise-mid-body-length   start (Content-Length 100), 7 body bytes, raises
    ANY /raw/errors/return-without-response returns without sending anything
    ANY /raw/errors/return-after-start      start, then returns
    ANY /raw/errors/length-over             start (Content-Length 5), 10 body bytes, ends
    ANY /raw/errors/length-under            start (Content-Length 5), 3 body bytes, ends
    ANY /raw/errors/second-start            start, a second start, then the body
    ANY /raw/errors/body-after-final        start, the final body, then another body
    ANY /raw/errors/str-header-name         a start whose header name is a str
    ANY /raw/errors/str-header-value        a start whose header value is a str
    ANY /raw/errors/bad-status?status=N     a start with status N (default 1000)
    ANY /raw/errors/unknown-message         a message of an unknown type, then a response

The exception the raising endpoints raise is a :class:`DeliberateError` whose message names
the token (``asgi-conformance deliberate error <token>``), so a case can find it in the
server's log; nothing else ever writes the token there.

Events recorded under the token:

* ``raising``: the app is about to raise; ``returning``: about to return early.
* ``attempt``: the outcome of an invalid message, or of a body that contradicts the app's
  own Content-Length: ``what``, ``outcome`` (``refused``: ``send()`` raised; ``accepted``:
  it returned) and ``error`` (the class name of what it raised, as the app's process saw
  it). The endpoints catch what ``send()`` raises,
  as a framework that treats a failed send as a lost client does, and go on as said below.
* ``recovered`` / ``recovery-refused`` (``error``): after an invalid ``http.response.start``
  was refused, the app sends a valid one (200, body ``recovered``): whether it was accepted.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qs

from reference_app import App
from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from ._common import observations, token_of

__all__ = [
    "ACCEPTED_BODY",
    "DECLARED",
    "EXTRA_BODY",
    "FINAL_BODY",
    "LONG_BODY",
    "PARTIAL",
    "PARTIAL_DECLARED",
    "RAW",
    "RECOVERED_BODY",
    "SHORT_BODY",
    "DeliberateError",
    "deliberate_message",
    "register",
]

#: The body sent before a mid-body raise.
PARTIAL: Final = b"partial"
#: The Content-Length declared before a mid-body raise (more than :data:`PARTIAL`).
PARTIAL_DECLARED: Final = 100
#: The Content-Length the lying endpoints declare.
DECLARED: Final = 5
#: The body of ``length-over``: longer than :data:`DECLARED`.
LONG_BODY: Final = b"0123456789"
#: The body of ``length-under``: shorter than :data:`DECLARED`.
SHORT_BODY: Final = b"012"
#: The body sent after an invalid message was accepted (a server should have refused it).
ACCEPTED_BODY: Final = b"accepted"
#: The body of the valid response sent after an invalid start was refused.
RECOVERED_BODY: Final = b"recovered"
#: The body sent in the final message before ``body-after-final`` sends more.
FINAL_BODY: Final = b"final"
#: What ``body-after-final`` sends after the final body.
EXTRA_BODY: Final = b"extra-bytes-after-the-end"
#: The status ``bad-status`` sends unless the query says otherwise.
DEFAULT_BAD_STATUS: Final = 1000

_TEXT: Final = (b"content-type", b"text/plain")


class DeliberateError(RuntimeError):
    """The exception the raising endpoints raise (nothing catches it but the server)."""


def deliberate_message(token: str) -> str:
    """The message of the :class:`DeliberateError` raised for ``token``."""
    return f"asgi-conformance deliberate error {token}"


def _start(length: int | None = None, status: int = 200) -> Message:
    headers = [_TEXT]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": status, "headers": headers}


def _body(body: bytes, more: bool = False) -> Message:
    return {"type": "http.response.body", "body": body, "more_body": more}


async def _attempt(token: str, send: Send, message: Message, what: str) -> bool:
    """Send ``message``; record whether ``send()`` accepted it or raised (and what)."""
    try:
        await send(message)
    except Exception as error:
        observations.record(
            token, "attempt", what=what, outcome="refused", error=type(error).__name__
        )
        return False
    observations.record(token, "attempt", what=what, outcome="accepted")
    return True


def _raise(token: str) -> DeliberateError:
    observations.record(token, "raising")
    return DeliberateError(deliberate_message(token))


async def raise_before_start(scope: Scope, receive: Receive, send: Send) -> None:
    """Raise before sending anything."""
    raise _raise(token_of(scope))


async def raise_after_start(scope: Scope, receive: Receive, send: Send) -> None:
    """Start a response without Content-Length, then raise."""
    token = token_of(scope)
    await send(_start())
    raise _raise(token)


async def raise_mid_body(scope: Scope, receive: Receive, send: Send) -> None:
    """Start without Content-Length, send part of the body, raise."""
    token = token_of(scope)
    await send(_start())
    await send(_body(PARTIAL, more=True))
    raise _raise(token)


async def raise_mid_body_length(scope: Scope, receive: Receive, send: Send) -> None:
    """Start with Content-Length :data:`PARTIAL_DECLARED`, send part of it, raise."""
    token = token_of(scope)
    await send(_start(PARTIAL_DECLARED))
    await send(_body(PARTIAL, more=True))
    raise _raise(token)


async def return_without_response(scope: Scope, receive: Receive, send: Send) -> None:
    """Return without sending any message."""
    observations.record(token_of(scope), "returning")


async def return_after_start(scope: Scope, receive: Receive, send: Send) -> None:
    """Start a response, then return without a body message."""
    token = token_of(scope)
    await send(_start())
    observations.record(token, "returning")


async def length_over(scope: Scope, receive: Receive, send: Send) -> None:
    """Declare Content-Length :data:`DECLARED`, send :data:`LONG_BODY` as the whole body."""
    token = token_of(scope)
    await send(_start(DECLARED))
    await _attempt(token, send, _body(LONG_BODY), "body")


async def length_under(scope: Scope, receive: Receive, send: Send) -> None:
    """Declare Content-Length :data:`DECLARED`, end the body after :data:`SHORT_BODY`."""
    token = token_of(scope)
    await send(_start(DECLARED))
    await _attempt(token, send, _body(SHORT_BODY), "body")


async def second_start(scope: Scope, receive: Receive, send: Send) -> None:
    """Start (200, Content-Length 2), send a second start (500), then the body ``ok``."""
    token = token_of(scope)
    await send(_start(2))
    await _attempt(token, send, _start(0, status=500), "second start")
    await send(_body(b"ok"))


async def body_after_final(scope: Scope, receive: Receive, send: Send) -> None:
    """Start (no Content-Length), the final body, then another body message."""
    token = token_of(scope)
    await send(_start())
    await send(_body(FINAL_BODY))
    await _attempt(token, send, _body(EXTRA_BODY), "body after the final one")


async def _invalid_start(token: str, send: Send, start: Message, what: str) -> None:
    """Send an invalid start; then a body if it was accepted, a valid response if not."""
    if await _attempt(token, send, start, what):
        await send(_body(ACCEPTED_BODY))
        return
    try:
        await send(_start(len(RECOVERED_BODY)))
        await send(_body(RECOVERED_BODY))
    except Exception as error:
        observations.record(token, "recovery-refused", error=type(error).__name__)
        return
    observations.record(token, "recovered")


async def str_header_name(scope: Scope, receive: Receive, send: Send) -> None:
    """A start whose one extra header has a str name (bytes value)."""
    start = _start(len(ACCEPTED_BODY))
    start["headers"] = [*start["headers"], ("x-str-name", b"v")]
    await _invalid_start(token_of(scope), send, start, "str header name")


async def str_header_value(scope: Scope, receive: Receive, send: Send) -> None:
    """A start whose one extra header has a str value (bytes name)."""
    start = _start(len(ACCEPTED_BODY))
    start["headers"] = [*start["headers"], (b"x-str-value", "v")]
    await _invalid_start(token_of(scope), send, start, "str header value")


async def bad_status(scope: Scope, receive: Receive, send: Send) -> None:
    """A start with the status of ``?status=`` (:data:`DEFAULT_BAD_STATUS` by default)."""
    query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
    value = query.get("status", [str(DEFAULT_BAD_STATUS)])[0]
    status = int(value) if value.lstrip("-").isdigit() else DEFAULT_BAD_STATUS
    start = _start(len(ACCEPTED_BODY), status=status)
    await _invalid_start(token_of(scope), send, start, f"status {status}")


async def unknown_message(scope: Scope, receive: Receive, send: Send) -> None:
    """A message of an unknown type before the start, then a valid response."""
    token = token_of(scope)
    await _attempt(token, send, {"type": "http.response.bogus"}, "unknown message type")
    await send(_start(len(RECOVERED_BODY)))
    await send(_body(RECOVERED_BODY))


#: Raw ASGI endpoints of this family, by exact path (``/raw/errors/...``).
RAW: dict[str, ASGIApp] = {
    "/raw/errors/raise-before-start": raise_before_start,
    "/raw/errors/raise-after-start": raise_after_start,
    "/raw/errors/raise-mid-body": raise_mid_body,
    "/raw/errors/raise-mid-body-length": raise_mid_body_length,
    "/raw/errors/return-without-response": return_without_response,
    "/raw/errors/return-after-start": return_after_start,
    "/raw/errors/length-over": length_over,
    "/raw/errors/length-under": length_under,
    "/raw/errors/second-start": second_start,
    "/raw/errors/body-after-final": body_after_final,
    "/raw/errors/str-header-name": str_header_name,
    "/raw/errors/str-header-value": str_header_value,
    "/raw/errors/bad-status": bad_status,
    "/raw/errors/unknown-message": unknown_message,
}


def register(app: App) -> None:
    """Add this family's framework endpoints to ``app`` (none: every endpoint is raw)."""
