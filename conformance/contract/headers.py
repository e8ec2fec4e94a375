"""Response header fidelity (repeats, obs-text, bodiless statuses) and request header refusal.

Raw ASGI endpoints (a framework would never send a body with a 204, nor show the header bytes
exactly as the server gave them), served by :class:`conformance.contract.raw.RawRoutes`::

    ANY /raw/headers/set-cookie         200 with :data:`SET_COOKIES` as three set-cookie fields,
                                        another field between them, and a body
    ANY /raw/headers/obs-text           200 with :data:`OBS_TEXT` as the value of x-obs-text
    ANY /raw/headers/bodiless?status=N  status N (204 or 304) and, against the rules, the body
                                        :data:`FORBIDDEN_BODY` in two messages
    ANY /raw/headers/seen?token=T&probe=N
                                        records event ``seen`` under T (``probe``: N, the
                                        header fields as the app got them, see
                                        :func:`header_summary`) and answers 200 with the same
                                        JSON: a request that reaches it was not refused

The bodiless endpoint catches what ``send()`` raises (a server may refuse the body that way)
and records it under the ``x-probe-token`` token as event ``send-refused``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final
from urllib.parse import parse_qs

from reference_app import App
from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from ._common import observations, token_of

__all__ = [
    "FORBIDDEN_BODY",
    "OBS_TEXT",
    "RAW",
    "SEEN",
    "SET_COOKIES",
    "SUMMARY_FIELDS",
    "SUMMARY_VALUE",
    "header_summary",
    "probe_digest",
    "register",
]

#: The three set-cookie values, in order; the second holds a comma (a date), so a server that
#: joins them with commas makes them ambiguous for every client.
SET_COOKIES: Final = (
    b"a=1; Path=/",
    b"b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT; HttpOnly",
    b"c=3",
)
#: A field value with obs-text (RFC 9110 §5.5): Latin-1 bytes, bytes that are no valid UTF-8,
#: the UTF-8 form of a character, and bytes at both ends of the range.
OBS_TEXT: Final = b"caf\xe9 \x80\xa0\xff caf\xc3\xa9 end"
#: The body the bodiless endpoint sends against the rules (none of it may reach the wire).
FORBIDDEN_BODY: Final = (b"must not ", b"be sent")
#: The request-header recording endpoint.
SEEN: Final = "/raw/headers/seen"
#: How many header fields :func:`header_summary` lists one by one.
SUMMARY_FIELDS: Final = 64
#: The longest value :func:`header_summary` lists whole (longer ones by length and digest).
SUMMARY_VALUE: Final = 256


def _query(scope: Scope) -> dict[str, str]:
    parsed = parse_qs(bytes(scope.get("query_string") or b"").decode("latin-1"))
    return {name: values[0] for name, values in parsed.items()}


def _json(status: int, data: object) -> tuple[Message, Message]:
    body = json.dumps(data).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


async def set_cookie(scope: Scope, receive: Receive, send: Send) -> None:
    """Three set-cookie fields, with another field between the first two."""
    first, second, third = SET_COOKIES
    headers = [
        (b"content-type", b"text/plain"),
        (b"set-cookie", first),
        (b"x-between", b"1"),
        (b"set-cookie", second),
        (b"set-cookie", third),
        (b"content-length", b"2"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


async def obs_text(scope: Scope, receive: Receive, send: Send) -> None:
    """A response whose ``x-obs-text`` value is :data:`OBS_TEXT`."""
    headers = [
        (b"content-type", b"text/plain"),
        (b"x-obs-text", OBS_TEXT),
        (b"content-length", b"2"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


async def bodiless(scope: Scope, receive: Receive, send: Send) -> None:
    """Status ``?status=`` (204 by default) with a body the server must not transmit."""
    token = token_of(scope)
    value = _query(scope).get("status", "204")
    status = int(value) if value.isdigit() else 204
    headers = [(b"x-bodiless", b"1")]
    if status == 304:
        headers.append((b"etag", b'"v1"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    first, last = FORBIDDEN_BODY
    for body, more in ((first, True), (last, False)):
        try:
            await send({"type": "http.response.body", "body": body, "more_body": more})
        except Exception as error:
            observations.record(token, "send-refused", error=type(error).__name__)
            return


def header_summary(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """What the app got as header fields, compact enough for 10 000 of them.

    ``count``: how many fields; ``fields``: the first :data:`SUMMARY_FIELDS` as ``[name,
    value]`` (Latin-1 text; values over :data:`SUMMARY_VALUE` bytes as ``{"length", "sha256"}``);
    ``probes`` and ``digest``: how many fields are named ``x-...`` and the SHA-256 of their
    ``name: value`` lines (names lowercased), sorted, since the order of different names is the
    server's to choose: :func:`probe_digest` of what the case sent must equal it.
    """
    fields: list[list[Any]] = []
    for name, value in headers[:SUMMARY_FIELDS]:
        shown: Any = value.decode("latin-1")
        if len(value) > SUMMARY_VALUE:
            shown = {"length": len(value), "sha256": hashlib.sha256(value).hexdigest()}
        fields.append([name.decode("latin-1"), shown])
    probes = [(n, v) for n, v in headers if n.lower().startswith(b"x-")]
    return {
        "count": len(headers),
        "fields": fields,
        "probes": len(probes),
        "digest": probe_digest(probes),
    }


def probe_digest(fields: list[tuple[bytes, bytes]]) -> str:
    """The SHA-256 of the ``name: value`` lines of ``fields``, names lowercased, sorted."""
    lines = sorted(name.lower() + b": " + value for name, value in fields)
    return hashlib.sha256(b"\n".join(lines)).hexdigest()


async def seen(scope: Scope, receive: Receive, send: Send) -> None:
    """Record the header fields under ``?token=`` (event ``seen``); answer them as JSON."""
    query = _query(scope)
    headers = [(bytes(name), bytes(value)) for name, value in scope["headers"]]
    summary = {"probe": query.get("probe", ""), **header_summary(headers)}
    observations.record(query.get("token", "untokened"), "seen", **summary)
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    start, body = _json(200, summary)
    await send(start)
    await send(body)


#: Raw ASGI endpoints of this family, by exact path (``/raw/headers/...``).
RAW: dict[str, ASGIApp] = {
    "/raw/headers/set-cookie": set_cookie,
    "/raw/headers/obs-text": obs_text,
    "/raw/headers/bodiless": bodiless,
    SEEN: seen,
}


def register(app: App) -> None:
    """Add this family's framework endpoints to ``app`` (none: every endpoint is raw)."""
