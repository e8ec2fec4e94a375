"""The extensions a server lists in the scope, and what each of them does when an app uses it.

ASGI ``extensions.rst`` and ``specs/tls.rst``. Every endpoint is raw ASGI (a framework would
never send a message its server does not list, nor read the TLS extension for a test), served
by :class:`conformance.contract.raw.RawRoutes` under ``/raw/extensions/...``. Each takes its
token from the ``x-probe-token`` header, so the message recorder also logs every message it
sends and what each ``send()`` raised::

    GET /raw/extensions/advertised          what the scope advertises, as JSON (asgi versions,
                                            http_version, scheme, the extension names, and
                                            the tls extension's fields with their types)
    GET /raw/extensions/trailers            start with trailers=True, two body chunks, then
                                            http.response.trailers (x-digest), listed or not
    GET /raw/extensions/early-hint          http.response.early_hint (two links) before the
                                            start, then a body (only where it is listed)
    GET /raw/extensions/pathsend            http.response.pathsend of a file of FILE_SIZE
                                            pattern bytes (only where it is listed)
    GET /raw/extensions/zerocopysend        body, two http.response.zerocopysend of that file
                                            (offset and count, then from the position), body
    GET /raw/extensions/stream-until-gone   one chunk, waits for http.disconnect, then sends
                                            another chunk: what send() did after the disconnect

Events recorded under the token (besides the recorder's ``send``/``send-error``):

* ``scope`` (``listed``: the names in ``scope["extensions"]``, ``spec_version``, ``te``: the
  request's ``te`` header values): what the server gave this request.
* ``accepted`` / ``refused`` (``what``, ``error``: the class name of what ``send()`` raised,
  ``oserror``: whether it is an ``OSError``, both as the app's process saw it): the outcome of
  each extension message. The endpoints catch what ``send()`` raises, as a framework that
  treats a refused extension as unsupported does, and go on as said above.
* ``unlisted``: an endpoint whose extension the scope does not list sent nothing of it
  (pathsend, zerocopysend and early hints answer :data:`UNLISTED_BODY` instead).
* ``streaming`` (the first chunk was sent), ``disconnected``, then the outcome of the send
  after it (``what``: ``body after the disconnect``) and ``late-send-over``:
  ``stream-until-gone``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any, Final

from reference_app import App
from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from ._common import observations, pattern, token_of

__all__ = [
    "ADVERTISED",
    "DIGEST",
    "FILE_SIZE",
    "HINTED_BODY",
    "HINT_LINKS",
    "RAW",
    "TRAILED_BODY",
    "UNLISTED_BODY",
    "ZEROCOPY_PARTS",
    "advertised_payload",
    "file_path",
    "register",
    "zerocopy_expected",
]

#: The path of the endpoint describing what the scope advertises.
ADVERTISED: Final = "/raw/extensions/advertised"

#: The trailers endpoint's body, in two chunks, and its one trailer field.
TRAILED_BODY: Final = (b"body-with-", b"trailers")
DIGEST: Final = (b"x-digest", b"sha-256=:n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg=:")

#: The Link field values of the early hint, and the body of the response that follows it.
HINT_LINKS: Final = (b"</style.css>; rel=preload; as=style", b"</app.js>; rel=preload; as=script")
HINTED_BODY: Final = b"hinted"

#: The size of the file pathsend and zerocopysend send: no multiple of any buffer size.
FILE_SIZE: Final = 256 * 1024 + 7
#: zerocopysend: a body, ``(offset, count)`` of the first send, the position the second one
#: starts from (to the end of the file), and a last body.
ZEROCOPY_PARTS: Final = (b"head:", (1000, 70_000), 200_000, b":tail")

#: What an endpoint answers when its extension is not listed (nothing of it is sent).
UNLISTED_BODY: Final = b"extension not listed"

#: How long ``stream-until-gone`` waits for the client to leave.
DISCONNECT_WAIT: Final = 30.0

_TEXT: Final = (b"content-type", b"text/plain")
_OCTETS: Final = (b"content-type", b"application/octet-stream")
_files: dict[int, str] = {}


def _listed(scope: Scope) -> dict[str, Any]:
    extensions = scope.get("extensions")
    return extensions if isinstance(extensions, dict) else {}


def _record_scope(scope: Scope, token: str) -> dict[str, Any]:
    listed = _listed(scope)
    te = [bytes(v).decode("latin-1") for n, v in scope["headers"] if bytes(n).lower() == b"te"]
    asgi = scope.get("asgi") or {}
    observations.record(
        token, "scope", listed=sorted(listed), spec_version=asgi.get("spec_version"), te=te
    )
    return listed


async def _attempt(token: str, send: Send, message: Message, what: str) -> bool:
    """Send ``message``; record whether ``send()`` accepted it or raised (and what)."""
    try:
        await send(message)
    except Exception as error:
        observations.record(
            token,
            "refused",
            what=what,
            error=type(error).__name__,
            oserror=isinstance(error, OSError),
        )
        return False
    observations.record(token, "accepted", what=what)
    return True


async def _unlisted(token: str, send: Send, what: str) -> None:
    observations.record(token, "unlisted", what=what)
    await send({"type": "http.response.start", "status": 200, "headers": [_TEXT]})
    await send({"type": "http.response.body", "body": UNLISTED_BODY})


def _jsonable(value: object) -> object:
    """A scope value as JSON can carry it (the type is reported beside it)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return repr(value)


def _item_types(value: object) -> list[str] | None:
    if isinstance(value, list | tuple):
        return [type(item).__name__ for item in value]
    return None


def advertised_payload(scope: Scope) -> dict[str, Any]:
    """What ``scope`` advertises: the JSON body of :data:`ADVERTISED`."""
    asgi = scope.get("asgi") or {}
    listed = _listed(scope)
    tls = listed.get("tls")
    fields = None
    if isinstance(tls, Mapping):
        fields = {
            str(name): {
                "type": type(value).__name__,
                "items": _item_types(value),
                "value": _jsonable(value),
            }
            for name, value in tls.items()
        }
    return {
        "asgi": {"version": asgi.get("version"), "spec_version": asgi.get("spec_version")},
        "http_version": scope.get("http_version"),
        "scheme": scope.get("scheme"),
        "has_extensions": "extensions" in scope,
        "extensions": sorted(str(name) for name in listed),
        "tls": fields,
        "tls_type": None if tls is None else type(tls).__name__,
    }


async def advertised(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer what the scope advertises (see :func:`advertised_payload`)."""
    body = json.dumps(advertised_payload(scope)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def trailers(scope: Scope, receive: Receive, send: Send) -> None:
    """Start with ``trailers: True``, send :data:`TRAILED_BODY`, then the trailers message.

    The same whether the scope lists ``http.response.trailers`` or not: the cases judge a
    listing server's trailers, and what a server that does not list them does with an app
    that sets the flag anyway.
    """
    token = token_of(scope)
    _record_scope(scope, token)
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [_TEXT, (b"trailer", DIGEST[0])],
        "trailers": True,
    }
    await send(start)
    first, last = TRAILED_BODY
    await send({"type": "http.response.body", "body": first, "more_body": True})
    await send({"type": "http.response.body", "body": last, "more_body": False})
    message = {"type": "http.response.trailers", "headers": [DIGEST], "more_trailers": False}
    await _attempt(token, send, message, "trailers")


async def early_hint(scope: Scope, receive: Receive, send: Send) -> None:
    """Send an early hint with :data:`HINT_LINKS` before the start, then :data:`HINTED_BODY`.

    Before the start: asgiref PR #579 (https://github.com/django/asgiref/pull/579) put the
    hint before ``http.response.start``, as the 103 precedes the final response on the wire.
    """
    token = token_of(scope)
    if "http.response.early_hint" not in _record_scope(scope, token):
        await _unlisted(token, send, "early hint")
        return
    hint = {"type": "http.response.early_hint", "links": list(HINT_LINKS)}
    await _attempt(token, send, hint, "early hint")
    headers = [_TEXT, (b"content-length", b"%d" % len(HINTED_BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": HINTED_BODY})


def file_path() -> str:
    """The file of :data:`FILE_SIZE` pattern bytes pathsend and zerocopysend send.

    Written once per process and kept until it exits: a server may read the file after
    ``send()`` returned.
    """
    path = _files.get(FILE_SIZE)
    if path is None:
        directory = tempfile.mkdtemp(prefix="asgi-conformance-files-")
        atexit.register(shutil.rmtree, directory, True)
        path = os.path.join(directory, f"pattern-{FILE_SIZE}.bin")
        with open(path, "wb") as file:
            file.write(pattern(FILE_SIZE))
        _files[FILE_SIZE] = path
    return path


async def pathsend(scope: Scope, receive: Receive, send: Send) -> None:
    """Send the file of :func:`file_path` with ``http.response.pathsend``."""
    token = token_of(scope)
    if "http.response.pathsend" not in _record_scope(scope, token):
        await _unlisted(token, send, "pathsend")
        return
    headers = [_OCTETS, (b"content-length", b"%d" % FILE_SIZE)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await _attempt(token, send, {"type": "http.response.pathsend", "path": file_path()}, "pathsend")


def zerocopy_expected() -> bytes:
    """The body ``zerocopysend`` must produce: :data:`ZEROCOPY_PARTS` applied to the file."""
    head, (offset, count), position, tail = ZEROCOPY_PARTS
    data = pattern(FILE_SIZE)
    return head + data[offset : offset + count] + data[position:] + tail


async def zerocopysend(scope: Scope, receive: Receive, send: Send) -> None:
    """Mix bodies and ``http.response.zerocopysend`` of the file (see :data:`ZEROCOPY_PARTS`)."""
    token = token_of(scope)
    if "http.response.zerocopysend" not in _record_scope(scope, token):
        await _unlisted(token, send, "zerocopysend")
        return
    head, (offset, count), position, tail = ZEROCOPY_PARTS
    length = len(zerocopy_expected())
    headers = [_OCTETS, (b"content-length", b"%d" % length)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": head, "more_body": True})
    # Opening a local file of 256 KiB does not hold the event loop up noticeably.
    with open(file_path(), "rb") as file:  # noqa: ASYNC230
        first = {
            "type": "http.response.zerocopysend",
            "file": file,
            "offset": offset,
            "count": count,
            "more_body": True,
        }
        if await _attempt(token, send, first, "zerocopysend offset+count"):
            file.seek(position)
            rest = {"type": "http.response.zerocopysend", "file": file, "more_body": True}
            await _attempt(token, send, rest, "zerocopysend from the position")
    await send({"type": "http.response.body", "body": tail, "more_body": False})


async def stream_until_gone(scope: Scope, receive: Receive, send: Send) -> None:
    """Send one chunk, wait for ``http.disconnect``, then send another chunk."""
    token = token_of(scope)
    _record_scope(scope, token)
    await send({"type": "http.response.start", "status": 200, "headers": [_TEXT]})
    await send({"type": "http.response.body", "body": b"first chunk\n", "more_body": True})
    observations.record(token, "streaming")
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DISCONNECT_WAIT):
            while (await receive())["type"] != "http.disconnect":
                pass
            observations.record(token, "disconnected")
    later = {
        "type": "http.response.body",
        "body": b"sent after the disconnect\n",
        "more_body": True,
    }
    await _attempt(token, send, later, "body after the disconnect")
    observations.record(token, "late-send-over")


#: Raw ASGI endpoints of this family, by exact path (``/raw/extensions/...``).
RAW: dict[str, ASGIApp] = {
    ADVERTISED: advertised,
    "/raw/extensions/trailers": trailers,
    "/raw/extensions/early-hint": early_hint,
    "/raw/extensions/pathsend": pathsend,
    "/raw/extensions/zerocopysend": zerocopysend,
    "/raw/extensions/stream-until-gone": stream_until_gone,
}


def register(app: App) -> None:
    """Add this family's framework endpoints to ``app`` (none: every endpoint is raw)."""
