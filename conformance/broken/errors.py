"""Breaks of the errors family: app errors hidden, hung on or fatal, misuse let through.

Each app below is a server that breaks one promise of the ASGI core spec ("Error Handling"),
ASGI HTTP 2.5 ("Response Start", "Response Body") or RFC 9110/9112 the way a real server has:
an exception turned into a clean response, a client left waiting after an error or an early
return (daphne, hypercorn over HTTP/2), error handling that dies at the first error it cannot
answer (daphne), invalid messages accepted, bytes past the app's Content-Length or after its
final body sent on, a process that dies at an invalid status (granian). :data:`BREAKS` says
which cases catch each (found by running the family under each break on its variant).
"""

from __future__ import annotations

import os
from typing import Final

from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from . import Break
from .apps import around, is_final_body

__all__ = [
    "BREAKS",
    "error_handling_dies",
    "error_hidden",
    "error_leaves_open",
    "late_body_sent",
    "length_rewritten",
    "returns_hang",
    "send_errors_swallowed",
    "status_kills_server",
]


class _Progress:
    """What a response has sent so far (as the server accepted it)."""

    def __init__(self) -> None:
        self.started = False
        self.declared: int | None = None
        self.sent = 0
        self.complete = False

    def tracking(self, send: Send) -> Send:
        """``send``, recording every message it accepts."""

        async def tracking_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.start":
                self.started = True
                self.declared = _content_length(message)
            elif message["type"] == "http.response.body":
                self.sent += len(message.get("body", b""))
                self.complete = not message.get("more_body", False)

        return tracking_send


def _content_length(start: Message) -> int | None:
    for name, value in start.get("headers", []):
        if bytes(name).lower() == b"content-length" and bytes(value).strip().isdigit():
            return int(value)
    return None


async def _until_disconnect(receive: Receive) -> None:
    """Wait for the client to leave (the server's own timeout, if it has one, never comes)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _hide(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    progress = _Progress()
    try:
        await app(scope, receive, progress.tracking(send))
    except Exception:
        if not progress.started:
            headers = [(b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
        elif not progress.complete:
            missing = max(0, (progress.declared or 0) - progress.sent)
            await send({"type": "http.response.body", "body": b"\0" * missing})


#: Swallows the app's exception and ends its response cleanly: a 200 with no body if nothing
#: was sent, else the final body (padded with zero bytes to a declared Content-Length). The
#: exception never reaches the server's log.
error_hidden = around(_hide)


async def _leave_open(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    progress = _Progress()
    try:
        await app(scope, receive, progress.tracking(send))
    except Exception:
        if progress.started and not progress.complete:
            await _until_disconnect(receive)
        raise


#: After an exception raised past ``http.response.start``, waits for the client to leave
#: before the exception reaches the server: the response is neither ended nor cut, as on
#: daphne and on hypercorn over HTTP/2.
error_leaves_open = around(_leave_open)

#: Whether :data:`error_handling_dies` has met an exception after a response started.
_dead: list[bool] = []


async def _die(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    progress = _Progress()
    try:
        await app(scope, receive, progress.tracking(send))
    except Exception:
        if _dead:
            await _until_disconnect(receive)
        elif progress.started:
            _dead.append(True)
        raise


#: Handles the first exception raised after ``http.response.start`` as the server does, and
#: every later exception, before a start or after, by leaving the client waiting: daphne's
#: error checker dies at the first 500 it cannot send.
error_handling_dies = around(_die)


async def _hang_on_return(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    progress = _Progress()
    await app(scope, receive, progress.tracking(send))
    if not progress.complete:
        await _until_disconnect(receive)


#: When the app returns without having completed its response (nothing sent, a start alone, a
#: final body the server refused), waits for the client to leave instead of telling the server:
#: daphne has no default timeout for such a response.
returns_hang = around(_hang_on_return)


async def _swallow(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    async def swallowing_send(message: Message) -> None:
        try:
            await send(message)
        except Exception:  # the server refused the message; the app never hears of it
            return

    await app(scope, receive, swallowing_send)


#: ``send()`` never raises: whatever the server refuses is dropped silently, so an invalid
#: message looks accepted to the app.
send_errors_swallowed = around(_swallow)


async def _late_body(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    deferred = False

    async def late_send(message: Message) -> None:
        nonlocal deferred
        if is_final_body(message) and not deferred:
            deferred = True
            message = {**message, "more_body": True}
        await send(message)

    await app(scope, receive, late_send)
    if deferred:
        await send({"type": "http.response.body", "body": b"", "more_body": False})


#: Ends a response when the app returns, not at its final body message: a body the app sends
#: after the final one goes out as part of the response.
late_body_sent = around(_late_body)


async def _rewrite_length(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    held: list[Message] = []

    async def declaring_send(message: Message) -> None:
        if message["type"] == "http.response.start" and _content_length(message) is not None:
            held.append(message)
            return
        if held and message["type"] == "http.response.body":
            held.append(message)
            if message.get("more_body", False):
                return
            start, *bodies = held
            held.clear()
            body = b"".join(bytes(m.get("body", b"")) for m in bodies)
            headers = [
                (name, value)
                for name, value in start.get("headers", [])
                if bytes(name).lower() != b"content-length"
            ]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await send(message)

    await app(scope, receive, declaring_send)


#: Holds a response that declares a Content-Length until its final body, then declares the
#: length of the body actually sent: whatever the app sends past its own length reaches the
#: client (daphne and granian send it on unframed).
length_rewritten = around(_rewrite_length)


async def _fatal_status(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    async def checking_send(message: Message) -> None:
        status = message.get("status", 200) if message["type"] == "http.response.start" else 200
        if not 100 <= int(status) <= 999:
            os._exit(70)  # the whole server process goes, as granian's does
        await send(message)

    await app(scope, receive, checking_send)


#: A start whose status has more than three digits kills the server process, as a panic kills
#: granian's.
status_kills_server = around(_fatal_status)


_HANDLING = (
    'ASGI core, Error Handling: servers "must terminate the application instance and its '
    'associated connection"'
)
_INVALID = (
    'ASGI core, Error Handling: for an invalid event a server "should raise an exception out '
    'of the send awaitable"'
)

BREAKS: Final = (
    Break(
        name="error-hidden",
        promise=f"{_HANDLING}, and an incomplete response must not look complete. Swallows the "
        "app's exception and ends the response cleanly (a 200 when nothing was sent), like a "
        "middleware that turns every error into a normal end.",
        catches=frozenset(
            {
                "errors/raise-before-start",
                "errors/raise-logged",
                "errors/raise-after-start",
                "errors/raise-mid-body",
                "errors/raise-mid-body-length",
                "errors/survives-error-after-start",
            }
        ),
        says=r"not a complete 5xx|not a 5xx|not in the server's log|ended cleanly",
        app="conformance.broken.errors:error_hidden",
    ),
    Break(
        name="error-leaves-open",
        promise=f"{_HANDLING}. After an exception past http.response.start, neither ends nor "
        "cuts the response until the client leaves, as daphne and hypercorn (HTTP/2) do.",
        catches=frozenset(
            {
                "errors/raise-after-start",
                "errors/raise-mid-body",
                "errors/raise-mid-body-length",
            }
        ),
        says=r"the client still waits",
        app="conformance.broken.errors:error_leaves_open",
    ),
    Break(
        name="error-handling-dies",
        promise=f"{_HANDLING}, for every error. Handles the first exception past "
        "http.response.start, then leaves every later erring request waiting, as daphne does "
        "once its error checker has died.",
        catches=frozenset({"errors/survives-error-after-start"}),
        says=r"the client still waits",
        app="conformance.broken.errors:error_handling_dies",
    ),
    Break(
        name="returns-hang",
        promise='ASGI HTTP 2.5, Response Start: "Needs to be followed by at least one response '
        'content message". When the app returns without completing its response (after an '
        "invalid message the server refused too), leaves the client waiting instead of ending "
        "the response, as daphne does.",
        catches=frozenset(
            {
                "errors/return-without-response",
                "errors/return-after-start",
                "errors/length-over",
                "errors/length-under",
                "errors/str-header-name",
                "errors/str-header-value",
                "errors/status-out-of-range",
                "errors/status-not-three-digits",
            }
        ),
        says=r"the client still waits",
        app="conformance.broken.errors:returns_hang",
        variant="uvicorn-httptools",
    ),
    Break(
        name="send-errors-swallowed",
        promise=f"{_INVALID}. Drops every message the server refuses and returns normally, so "
        "the app never learns that what it sent was invalid.",
        catches=frozenset(
            {
                "errors/second-start",
                "errors/str-header-name",
                "errors/str-header-value",
                "errors/unknown-message",
                "errors/status-out-of-range",
            }
        ),
        says=r"send\(\) returned|malformed",
        app="conformance.broken.errors:send_errors_swallowed",
        variant="uvicorn-httptools",
    ),
    Break(
        name="late-body-sent",
        promise='ASGI HTTP 2.5, Response Body: after more_body False "any further messages on '
        'the channel will be ignored". Ends the response only when the app returns, so a body '
        "sent after the final one reaches the client.",
        catches=frozenset({"errors/body-after-final"}),
        says=r"the client got the body",
        app="conformance.broken.errors:late_body_sent",
        variant="uvicorn-httptools",
    ),
    Break(
        name="length-rewritten",
        promise="RFC 9112 §6.3: Content-Length delimits the body. Declares the length of the "
        "body the app actually sent instead of the app's own, so the bytes past the app's "
        "length reach the client (daphne and granian send them on unframed). It holds a "
        "start with a Content-Length until the final body, so an invalid start is accepted "
        "first and never reaches the server while the app awaits it.",
        catches=frozenset(
            {
                "errors/length-over",
                "errors/length-under",
                "errors/second-start",
                "errors/str-header-name",
                "errors/str-header-value",
                "errors/status-out-of-range",
            }
        ),
        says=r"where the app declared|ended cleanly|send\(\) returned",
        app="conformance.broken.errors:length_rewritten",
        variant="uvicorn-httptools",
    ),
    Break(
        name="status-kills-server",
        promise="ASGI core, Error Handling: the server must not itself error in the process. "
        "Exits the server process at a status of more than three digits, as granian's worker "
        "panics.",
        catches=frozenset({"errors/status-not-three-digits"}),
        says=r"does not answer a new connection",
        app="conformance.broken.errors:status_kills_server",
    ),
)
