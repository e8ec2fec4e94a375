"""Breaks of the extensions family: listed extensions that do not work, and listings that lie.

Each break runs on a variant whose clean run passes what it claims: the trailer and early hint
breaks on hypercorn over h2c (it lists both), the pathsend break on granian (it lists pathsend),
the others on uvicorn. A break that adds or removes a listing changes which cases apply, so the
listing breaks only add names no case of the family depends on but the two that judge listings.

``http.response.zerocopysend`` and the ``tls`` extension are listed by no built-in server, so
no variant can run their cases and the catalogue holds no break of them; the apps
:data:`zerocopysend_offset_ignored` and :data:`tls_malformed` (and their correct counterparts
:data:`zerocopysend_emulated` and :data:`tls_listed`) prove those cases under a command-given
server that declares the capability (``tests/conformance/test_extension_breaks.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from . import Break
from .apps import around

__all__ = [
    "BREAKS",
    "debug_listed",
    "early_hint_dropped",
    "early_hint_refused",
    "pathsend_short",
    "spec_2_4_claimed",
    "tls_listed",
    "tls_malformed",
    "tls_on_cleartext",
    "trailers_ignored",
    "trailers_without_te",
    "unlisted_trailers_truncate",
    "zerocopysend_emulated",
    "zerocopysend_offset_ignored",
]

#: How much of the file ``pathsend-short`` leaves out.
SHORT_BY: Final = 1024


def _listing(scope: Scope, extra: Mapping[str, Any]) -> Scope:
    """A copy of ``scope`` whose extensions also list ``extra``."""
    return {**scope, "extensions": {**(scope.get("extensions") or {}), **extra}}


# -- trailers -------------------------------------------------------------------------------------


async def _trailers_ignored(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    async def ignoring_send(message: Message) -> None:
        if message["type"] == "http.response.trailers":
            return
        if message["type"] == "http.response.start":
            message = {key: value for key, value in message.items() if key != "trailers"}
        await send(message)

    await app(scope, receive, ignoring_send)


#: Lists trailers, but ends the response at the last body and drops the trailers message.
trailers_ignored = around(_trailers_ignored)


async def _without_te(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    # In place, against the rule that middleware copies the scope: the server reads TE from
    # the scope it made, so this is the server believing every client asked for trailers.
    scope["headers"] = [*scope["headers"], (b"te", b"trailers")]
    await app(scope, receive, send)


#: Makes the server send trailers whether or not the request had ``TE: trailers``.
trailers_without_te = around(_without_te)


class _Refused(RuntimeError):
    """What :data:`unlisted_trailers_truncate` raises on a trailers message."""


async def _truncate(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    if "http.response.trailers" in (scope.get("extensions") or {}):
        await app(scope, receive, send)
        return
    waiting = False

    async def truncating_send(message: Message) -> None:
        nonlocal waiting
        if message["type"] == "http.response.start" and message.get("trailers"):
            waiting = True
            message = {key: value for key, value in message.items() if key != "trailers"}
        elif message["type"] == "http.response.body" and waiting:
            message = {**message, "more_body": True}  # the end is left to the trailers
        elif message["type"] == "http.response.trailers":
            raise _Refused("Unexpected message type, http.response.trailers")
        await send(message)

    await app(scope, receive, truncating_send)


#: Waits for trailers it does not offer, refuses them, and leaves the response without its
#: end, as hypercorn does over HTTP/1.1.
unlisted_trailers_truncate = around(_truncate)


# -- early hints ----------------------------------------------------------------------------------


async def _hint_refused(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    started = False

    async def refusing_send(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.early_hint" and not started:
            raise RuntimeError("Expected ASGI message 'http.response.start'")
        started = started or message["type"] == "http.response.start"
        await send(message)

    await app(scope, receive, refusing_send)


#: Lists early hints but refuses one before the start (the extension's old wording).
early_hint_refused = around(_hint_refused)


async def _hint_dropped(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    async def dropping_send(message: Message) -> None:
        if message["type"] != "http.response.early_hint":
            await send(message)

    await app(scope, receive, dropping_send)


#: Lists early hints and drops every one of them.
early_hint_dropped = around(_hint_dropped)


# -- pathsend and zerocopysend --------------------------------------------------------------------


def _read(path: str, offset: int = 0, count: int | None = None) -> bytes:
    with open(path, "rb") as file:
        file.seek(offset)
        return file.read() if count is None else file.read(count)


async def _pathsend_short(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    async def short_send(message: Message) -> None:
        if message["type"] == "http.response.pathsend":
            data = _read(str(message["path"]))
            message = {"type": "http.response.body", "body": data[:-SHORT_BY]}
        await send(message)

    await app(scope, receive, short_send)


#: Sends a pathsend's file without its last kilobyte and ends the response.
pathsend_short = around(_pathsend_short)


def _zerocopy_layer(*, honour_offset: bool) -> ASGIApp:
    async def layer(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        async def emulating_send(message: Message) -> None:
            if message["type"] != "http.response.zerocopysend":
                await send(message)
                return
            file = message["file"]
            offset = message.get("offset")
            count = message.get("count")
            if offset is not None and honour_offset:
                fd = file.fileno()
                size = os.fstat(fd).st_size - offset if count is None else count
                data = os.pread(fd, size, offset)
            else:
                data = file.read() if count is None else file.read(count)
            more = message.get("more_body", False)
            await send({"type": "http.response.body", "body": data, "more_body": more})

        await app(_listing(scope, {"http.response.zerocopysend": {}}), receive, emulating_send)

    return around(layer)


#: Lists ``http.response.zerocopysend`` and implements it with body messages (correctly).
zerocopysend_emulated = _zerocopy_layer(honour_offset=True)
#: The same, reading from the file's position and ignoring ``offset``.
zerocopysend_offset_ignored = _zerocopy_layer(honour_offset=False)


# -- tls, debug, spec_version ---------------------------------------------------------------------

#: A ``tls`` entry a server that cannot see its TLS layer may give (tls.rst allows None).
_TLS_UNKNOWN: Final[dict[str, Any]] = {
    "server_cert": None,
    "client_cert_chain": [],
    "client_cert_name": None,
    "client_cert_error": None,
    "tls_version": None,
    "cipher_suite": None,
}
#: A malformed one: the version and cipher suite as names, as text.
_TLS_NAMES: Final[dict[str, Any]] = {
    **_TLS_UNKNOWN,
    "tls_version": "TLSv1.3",
    "cipher_suite": "TLS_AES_256_GCM_SHA384",
}


def _add_listing(extra: Mapping[str, Any]) -> ASGIApp:
    async def layer(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        await app(_listing(scope, extra), receive, send)

    return around(layer)


#: Lists the ``tls`` extension on every connection, TLS or not.
tls_on_cleartext = _add_listing({"tls": _TLS_UNKNOWN})
#: Lists the ``tls`` extension with every entry it cannot know set to None (legal).
tls_listed = _add_listing({"tls": _TLS_UNKNOWN})
#: Lists the ``tls`` extension with the version and cipher suite as text.
tls_malformed = _add_listing({"tls": _TLS_NAMES})
#: Lists ``http.response.debug``.
debug_listed = _add_listing({"http.response.debug": {}})


async def _claim_2_4(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    await app(
        {**scope, "asgi": {**(scope.get("asgi") or {}), "spec_version": "2.4"}}, receive, send
    )


#: Advertises ASGI HTTP spec 2.4, whose send() after a disconnect raises; raises nothing.
spec_2_4_claimed = around(_claim_2_4)


_TRAILERS = "ASGI extensions, HTTP Trailers"
_HINTS = "ASGI extensions, Early Hints (asgiref PR #579: hints come before the start)"

BREAKS: Final = (
    Break(
        name="trailers-ignored",
        promise=f"{_TRAILERS}: a listing server sends the app's trailers to a client that "
        "sent TE: trailers. Ends the response at the last body, drops the trailers.",
        catches=frozenset({"extensions/trailers-sent"}),
        says=r"carried trailer fields \[\], not x-digest",
        app="conformance.broken.extensions:trailers_ignored",
        variant="hypercorn-h2c",
    ),
    Break(
        name="trailers-without-te",
        promise=f"{_TRAILERS}: the server will only send the trailing headers in case the "
        "client has sent TE: trailers. Sends them to every client.",
        catches=frozenset({"extensions/trailers-need-te"}),
        says=r"trailer fields sent to a client that did not send TE: trailers",
        app="conformance.broken.extensions:trailers_without_te",
        variant="hypercorn-h2c",
    ),
    Break(
        name="unlisted-trailers-truncate",
        promise="ASGI HTTP 2.5, Response Body: the app's whole body ends the response. Waits "
        "for trailers it does not list, refuses them and never ends the response, as "
        "hypercorn does over HTTP/1.1.",
        catches=frozenset({"extensions/trailers-unlisted-response-ends"}),
        says=r"sent its whole body, then the trailers message \(refused: _Refused\); the "
        r"response .* did not end cleanly",
        app="conformance.broken.extensions:unlisted_trailers_truncate",
    ),
    Break(
        name="early-hint-refused",
        promise=f"{_HINTS}: a listing server accepts a hint before the start. Refuses it, as "
        "a server following the extension's first wording (hints after the start) would.",
        catches=frozenset({"extensions/early-hint-accepted", "extensions/early-hint-103"}),
        says=r"refused a hint sent before the start|no 103 response came",
        app="conformance.broken.extensions:early_hint_refused",
        variant="hypercorn-h2c",
    ),
    Break(
        name="early-hint-dropped",
        promise=f"{_HINTS}: the server should attempt to send a 103 with the links. Lists "
        "the extension and drops every hint.",
        catches=frozenset({"extensions/early-hint-103"}),
        says=r"no 103 response came before the final one",
        app="conformance.broken.extensions:early_hint_dropped",
        variant="hypercorn-h2c",
    ),
    Break(
        name="pathsend-short",
        promise="ASGI extensions, Path Send: it should behave as ordinary "
        "http.response.body. Sends the file without its last kilobyte.",
        catches=frozenset({"extensions/pathsend-file"}),
        says=r"did not end cleanly|the body is \d+ bytes",
        app="conformance.broken.extensions:pathsend_short",
        variant="granian",
    ),
    Break(
        name="tls-on-cleartext",
        promise="ASGI TLS extension: for non-TLS connections the server is forbidden from "
        "providing this extension. Lists it on cleartext connections.",
        catches=frozenset({"extensions/tls-only-over-tls", "extensions/advertised-as-declared"}),
        says=r"scope lists the tls extension|lists tls but does not declare tls_scope",
        app="conformance.broken.extensions:tls_on_cleartext",
    ),
    Break(
        name="debug-listed",
        promise="ASGI extensions, Debug: servers should not implement it. Lists "
        "http.response.debug.",
        catches=frozenset({"extensions/debug-not-listed", "extensions/advertised-as-declared"}),
        says=r"lists http\.response\.debug",
        app="conformance.broken.extensions:debug_listed",
    ),
    Break(
        name="spec-2-4-claimed",
        promise="ASGI HTTP 2.4, Disconnected Client: send() on a closed connection should "
        "raise an OSError subclass. Advertises spec_version 2.4 and raises nothing.",
        catches=frozenset({"extensions/spec-2-4-send-raises"}),
        says=r"advertises spec_version 2\.4 but send\(\) after the client left mid-stream "
        r"returned normally",
        app="conformance.broken.extensions:spec_2_4_claimed",
    ),
)
