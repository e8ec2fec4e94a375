"""The ASGI WebSocket spec: handshake, messages, close, protocol errors, backpressure.

Framework endpoints are added by :func:`register`; raw ASGI endpoints (what a framework would
never send, or would hide) are in :data:`RAW`, served by
:class:`conformance.contract.raw.RawRoutes` under ``/raw/websocket/...``. Every endpoint
records what the app saw under its token (``?token=`` on raw endpoints, a path segment on
framework ones), so a test judges the server from both sides of the socket::

    WS /ws/echo/{token}?choose=P&header=N:V   accept (subprotocol P if offered, header N: V),
                                              echo each message as it came (text as text);
                                              "close CODE REASON" makes the app close
    WS /ws/scope/{name}                       accept (the client's last subprotocol), send
                                              the scope as JSON, close
    WS /raw/websocket/echo?token=             accept; echo each message exactly (text, bytes,
                                              empty); record its keys, size and digest
    WS /raw/websocket/sink?token=             accept; record each message, send nothing back
    WS /raw/websocket/close-before-accept     websocket.close without an accept
    WS /raw/websocket/deny?token=             websocket.http.response.start 401 + two bodies
    WS /raw/websocket/big?token=&size=&n=     accept, send n binary messages of size bytes
    WS /raw/websocket/flood?token=&size=      accept, send binary messages while send()
                                              returns (at most 1024), counting them ("sent")
    WS /raw/websocket/order?token=&n=         accept; send n numbered messages while checking
                                              that the client's n arrive in order
    WS /raw/websocket/late?token=             accept, wait for the disconnect, then send
                                              text, bytes and a close, recording each outcome
    WS /raw/websocket/return?token=           accept, then return without a close
    WS /raw/websocket/raise?token=            accept, then raise

Events: ``accepted``, ``receive`` (``kind``: text/bytes/both/none, ``size``, ``keys``,
``sha256`` of messages over 1 KiB), ``disconnect`` (``code``, ``reason``, ``keys``),
``sent`` (a counter), ``send-ok``/``send-error`` (``error``, ``oserror``: ``isinstance`` in the
app's process), ``late-over``, ``order-over``, ``returning``, ``raising``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from typing import Any, Final
from urllib.parse import parse_qsl

from reference_app import App, Request
from reference_app.types import ASGIApp, Message, Receive, Scope, Send
from reference_app.websocket import WebSocket

from ._common import observations, pattern

__all__ = ["RAW", "register"]

#: Messages larger than this are recorded with their SHA-256, not only their size.
DIGEST_FROM: Final = 1024
#: The most messages the flood endpoint sends (64 MiB of 64 KiB messages).
FLOOD_LIMIT: Final = 1024
#: The framework echo's incoming limit: above every server's own (64 MiB).
ECHO_LIMIT: Final = 64 * 1024 * 1024


# -- what the app saw ---------------------------------------------------------------------------


def _query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1")))


def _token(scope: Scope) -> str:
    return _query(scope).get("token", "untokened")


def _record_receive(token: str, message: Message) -> None:
    text, data = message.get("text"), message.get("bytes")
    kind = {(True, False): "text", (False, True): "bytes", (True, True): "both"}.get(
        (text is not None, data is not None), "none"
    )
    payload = text.encode() if isinstance(text, str) else data if isinstance(data, bytes) else b""
    event: dict[str, Any] = {"kind": kind, "size": len(payload), "keys": sorted(message)}
    if len(payload) > DIGEST_FROM:
        event["sha256"] = hashlib.sha256(payload).hexdigest()
    else:
        event["text"] = text if isinstance(text, str) else None
    observations.record(token, "receive", **event)


def _record_disconnect(token: str, message: Message) -> None:
    observations.record(
        token,
        "disconnect",
        code=message.get("code"),
        reason=message.get("reason"),
        keys=sorted(message),
    )


async def _wait_disconnect(token: str, receive: Receive) -> None:
    """Receive (recording) until the disconnect."""
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            _record_disconnect(token, message)
            return
        _record_receive(token, message)


async def _accept(scope: Scope, receive: Receive, send: Send) -> str | None:
    """Receive the connect, accept; the token (None if the client left first)."""
    token = _token(scope)
    if (await receive())["type"] != "websocket.connect":
        return None
    await send({"type": "websocket.accept"})
    observations.record(token, "accepted", spec_version=_spec_version(scope))
    return token


def _spec_version(scope: Scope) -> str:
    version: str = (scope.get("asgi") or {}).get("spec_version") or "2.0"
    return version


# -- raw endpoints ------------------------------------------------------------------------------


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Echo every message as it came: a text message as text, a binary one as bytes."""
    token = await _accept(scope, receive, send)
    if token is None:
        return
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            _record_disconnect(token, message)
            return
        _record_receive(token, message)
        text = message.get("text")
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


async def sink(scope: Scope, receive: Receive, send: Send) -> None:
    """Record every message; send nothing back."""
    token = await _accept(scope, receive, send)
    if token is not None:
        await _wait_disconnect(token, receive)


async def close_before_accept(scope: Scope, receive: Receive, send: Send) -> None:
    """Close without accepting: the server must answer the handshake with 403."""
    await receive()
    await send({"type": "websocket.close"})


async def deny(scope: Scope, receive: Receive, send: Send) -> None:
    """Deny with the app's own response (websocket.http.response), body in two messages."""
    token = _token(scope)
    await receive()
    observations.record(token, "denying", spec_version=_spec_version(scope))
    headers = [(b"content-type", b"text/plain"), (b"x-denied", token.encode())]
    start = {"type": "websocket.http.response.start", "status": 401, "headers": headers}
    await send(start)
    await send({"type": "websocket.http.response.body", "body": b"denied: ", "more_body": True})
    await send({"type": "websocket.http.response.body", "body": token.encode()})


async def big(scope: Scope, receive: Receive, send: Send) -> None:
    """Send ``n`` binary messages of ``size`` bytes (the deterministic pattern)."""
    query = _query(scope)
    size, count = int(query.get("size", "0")), int(query.get("n", "1"))
    token = await _accept(scope, receive, send)
    if token is None:
        return
    for _ in range(count):
        await send({"type": "websocket.send", "bytes": pattern(size)})
        observations.count(token, "sent")
    await _wait_disconnect(token, receive)


async def flood(scope: Scope, receive: Receive, send: Send) -> None:
    """Send binary messages for as long as send() returns and the client is there."""
    size = int(_query(scope).get("size", str(64 * 1024)))
    token = await _accept(scope, receive, send)
    if token is None:
        return
    gone = asyncio.ensure_future(_wait_disconnect(token, receive))
    chunk = pattern(size)
    try:
        for _ in range(FLOOD_LIMIT):
            if gone.done():
                break
            await send({"type": "websocket.send", "bytes": chunk})
            observations.count(token, "sent")
            # A send() that returns without suspending (no backpressure, or a no-op after the
            # disconnect) would starve the disconnect watcher and the whole server.
            await asyncio.sleep(0)
    except OSError as error:  # a server that raises once the client is gone (ASGI 2.4)
        observations.record(token, "send-error", error=type(error).__name__, oserror=True)
    finally:
        observations.record(token, "flood-over")
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone


async def order(scope: Scope, receive: Receive, send: Send) -> None:
    """Send ``n`` numbered text messages while receiving the client's ``n``, checking order."""
    count = int(_query(scope).get("n", "1000"))
    token = await _accept(scope, receive, send)
    if token is None:
        return

    async def produce() -> None:
        for index in range(count):
            await send({"type": "websocket.send", "text": str(index)})

    producer = asyncio.ensure_future(produce())
    received, first_wrong = 0, None
    while received < count:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            _record_disconnect(token, message)
            break
        if message.get("text") != str(received) and first_wrong is None:
            first_wrong = {"index": received, "got": message.get("text")}
        received += 1
    await producer
    observations.record(token, "order-over", received=received, first_wrong=first_wrong)
    await _wait_disconnect(token, receive)


async def late(scope: Scope, receive: Receive, send: Send) -> None:
    """After the client's disconnect, send anyway; record what each send() did."""
    token = await _accept(scope, receive, send)
    if token is None:
        return
    await _wait_disconnect(token, receive)
    late_messages: list[Message] = [
        {"type": "websocket.send", "text": "late"},
        {"type": "websocket.send", "bytes": b"late"},
        {"type": "websocket.close", "code": 1000},
    ]
    for message in late_messages:
        try:
            await send(message)
        except Exception as error:
            observations.record(
                token,
                "send-error",
                type=message["type"],
                error=type(error).__name__,
                oserror=isinstance(error, OSError),
            )
        else:
            observations.record(token, "send-ok", type=message["type"])
    observations.record(token, "late-over")


async def returns(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, then return without closing."""
    token = await _accept(scope, receive, send)
    if token is not None:
        observations.record(token, "returning")


async def raises(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, then raise (the server must end the connection)."""
    token = await _accept(scope, receive, send)
    if token is not None:
        observations.record(token, "raising")
        raise RuntimeError("the contract app raises after accepting a WebSocket")


#: Raw ASGI endpoints of this family, by exact path (``/raw/websocket/...``).
RAW: dict[str, ASGIApp] = {
    "/raw/websocket/echo": echo,
    "/raw/websocket/sink": sink,
    "/raw/websocket/close-before-accept": close_before_accept,
    "/raw/websocket/deny": deny,
    "/raw/websocket/big": big,
    "/raw/websocket/flood": flood,
    "/raw/websocket/order": order,
    "/raw/websocket/late": late,
    "/raw/websocket/return": returns,
    "/raw/websocket/raise": raises,
}


# -- framework endpoints ------------------------------------------------------------------------


def register(app: App) -> None:
    """Add this family's framework endpoints to ``app``."""

    @app.websocket("/ws/echo/{token}", max_message_size=ECHO_LIMIT)
    async def ws_echo(req: Request, ws: WebSocket, token: str) -> None:
        choose = req.get_param("choose")
        header = req.get_param("header")
        headers = [tuple(header.split(":", 1))] if header and ":" in header else None
        await ws.accept(
            subprotocol=choose if choose in ws.subprotocols else None,
            headers=[(name, value) for name, value in headers or ()],
        )
        observations.record(
            token,
            "accepted",
            subprotocols=list(ws.subprotocols),
            spec_version=_spec_version(req.scope),
        )
        async for message in ws:
            if isinstance(message, str) and message.startswith("close "):
                _, code, reason = (message + " ").split(" ", 2)
                await ws.close(int(code), reason.strip() or None)
                break
            if isinstance(message, str):
                await ws.send_text(message)
            else:
                await ws.send_data(message)
        observations.record(token, "closed", code=ws.close_code, reason=ws.close_reason)

    @app.websocket("/ws/scope/{name}")
    async def ws_scope(req: Request, ws: WebSocket, name: str) -> None:
        offered = ws.subprotocols
        await ws.accept(subprotocol=offered[-1] if offered else None)
        scope = req.scope
        await ws.send_text(
            json.dumps(
                {
                    "type": scope["type"],
                    "name": name,
                    "path": scope["path"],
                    "raw_path": _latin1(scope.get("raw_path")),
                    "query_string": _latin1(scope.get("query_string")),
                    "subprotocols": list(scope.get("subprotocols") or []),
                    "headers": [[_latin1(n), _latin1(v)] for n, v in scope["headers"]],
                    "scheme": scope.get("scheme"),
                    "http_version": scope.get("http_version"),
                    "spec_version": _spec_version(scope),
                }
            )
        )
        await ws.close()


def _latin1(value: object) -> str | None:
    return bytes(value).decode("latin-1") if isinstance(value, bytes | bytearray) else None
