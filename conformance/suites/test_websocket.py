"""WebSocket: the handshake, messages, the close, protocol errors, backpressure, HTTP/2.

ASGI WebSocket spec 2.5 (asgiref ``specs/www.rst``, "WebSocket"), the ``websocket.http.response``
extension (``docs/extensions.rst``), the ASGI core spec's error handling, RFC 6455 and RFC 8441.

Every case judges the server: what its client sees on the wire (the ``websockets`` library, or
the raw clients of :mod:`conformance.client.websocket` for what a polite client never sends) and
what the contract app saw (the observation channel). Each docstring names the break of
:mod:`conformance.broken.websocket` that fails it.

Spec versions: a server that advertises an older ``asgi.spec_version`` in the WebSocket scope is
not bound by later additions (accept headers 2.1, the close reason 2.3, ``send()`` raising 2.4);
a case about such an addition is *not applicable* there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from typing import Any, Final

import pytest
import websockets

from conformance.cases import Grade, case
from conformance.client import TIMEOUT, Observer, new_token
from conformance.client.websocket import (
    OP_BINARY,
    OP_PING,
    OP_TEXT,
    Close,
    Ended,
    H2WebSocket,
    Handshake,
    Message,
    Pong,
    RawWebSocket,
    Received,
    accept_key,
    encode_frame,
    ws_connect,
)
from conformance.contract._common import pattern
from conformance.memory import Growth
from servers import Capability, RunningServer

from ..plugin import NOT_APPLICABLE

MIB: Final = 1024 * 1024
#: How long after the client vanished ``websocket.disconnect`` may reach a pending receive().
#: Every server delivers it within 1 ms on loopback; the bound leaves room for load.
DISCONNECT_BOUND: Final = TIMEOUT / 10
#: How many messages a server may accept from the app for a client that reads nothing: 20 MiB
#: of 64 KiB messages. Servers with backpressure stop after about 4 MiB (the socket buffers;
#: twice that through a proxy); daphne, without it, passes 20 MiB in well under a second.
BACKPRESSURE_BOUND: Final = 320
#: How long the app floods a client that reads nothing.
BACKPRESSURE_WINDOW: Final = 1.5
#: The large messages: 16 MiB, the default incoming limit of hypercorn and uvicorn (inclusive).
LARGE: Final = 16 * MIB
#: How many large messages each way: a server that keeps them would grow by LARGE_COUNT x 16 MiB.
LARGE_COUNT: Final = 6
#: The growth allowed while they pass: the copies of a few messages in flight (up to 65 MiB
#: measured, on uvicorn receiving), never all of them (96 MiB and more).
LARGE_GROWTH: Final = 5 * LARGE
#: The message sizes the size-limit case tries, in order, until the server refuses one.
LIMIT_PROBES: Final = (MIB + 1, LARGE + 1, 64 * MIB + 1)
#: The fragments the size-limit case sends them in, and its pause after each (seconds).
FRAGMENT: Final = 512 * 1024
REFUSAL_PAUSE: Final = 0.02

_WEBSOCKET = [Capability.WEBSOCKET]


def _version(value: str | None) -> tuple[int, ...]:
    return tuple(int(part) for part in (value or "2.0").split(".") if part.isdigit())


def _require_spec(server: RunningServer, advertised: str | None, minimum: str, what: str) -> None:
    """Mark the case not applicable where the server advertises a spec older than ``minimum``."""
    if _version(advertised) < _version(minimum):
        pytest.skip(
            f"{NOT_APPLICABLE} {server.spec.name} advertises ASGI spec_version "
            f"{advertised or '2.0 (none given)'}; {what} is from {minimum}"
        )


async def _accepted_event(observer: Observer, token: str) -> dict[str, Any]:
    snapshot = await observer.wait(token, "accepted")
    return next(e for e in snapshot["events"] if e["event"] == "accepted")


async def _events(observer: Observer, token: str, name: str) -> list[dict[str, Any]]:
    return await observer.events(token, name)


def _handshake(ws: RawWebSocket | H2WebSocket) -> Handshake:
    """The accepted handshake of ``ws``.

    Raises:
        AssertionError: the server refused it.
    """
    handshake = ws.handshake
    if handshake is None or not handshake.accepted:
        raise AssertionError(f"the server refused the WebSocket handshake: {handshake}")
    return handshake


def _end_code(item: Received | None) -> int | str | None:
    """The code of a close frame, or ``"no close frame"``."""
    return item.code if isinstance(item, Close) else "no close frame"


def _describe_end(item: Received | None) -> str:
    if item is None:
        return "nothing: the connection stayed open"
    if isinstance(item, Close):
        return f"a close frame {item.code} {item.reason!r}"
    if isinstance(item, Ended):
        return "the end of the TCP connection without a close frame"
    return repr(item)


# -- the handshake ------------------------------------------------------------------------------


@case(
    "websocket/accept",
    grade=Grade.REQUIRED,
    clause="ASGI WebSocket 2.5, Connect/Accept; RFC 6455 §4.2.2: 101 with Sec-WebSocket-Accept",
    requires=_WEBSOCKET,
)
async def test_an_accepted_handshake_is_a_101_with_the_right_accept_key(
    server: RunningServer,
) -> None:
    """The app's ``websocket.accept`` completes the handshake: 101, and messages flow.

    Server behaviour judged: the 101 response carries ``Upgrade: websocket``, ``Connection:
    Upgrade`` and the ``Sec-WebSocket-Accept`` computed from the client's key (RFC 6455 §4.2.2),
    no ``Sec-WebSocket-Protocol`` when none was chosen, and a message then goes both ways.
    Break: ``ws-refuse-all`` (every handshake refused) fails it.
    """
    token = new_token()
    async with RawWebSocket(server, f"/raw/websocket/echo?token={token}") as ws:
        handshake = ws.handshake
        assert handshake is not None
        assert handshake.status == 101, (
            f"the handshake the app accepted was answered {handshake.status}, not 101"
        )
        assert (handshake.header("upgrade") or "").lower() == "websocket", handshake.headers
        assert "upgrade" in (handshake.header("connection") or "").lower(), handshake.headers
        assert handshake.header("sec-websocket-accept") == accept_key(ws.key), (
            f"Sec-WebSocket-Accept is {handshake.header('sec-websocket-accept')!r}, "
            f"expected {accept_key(ws.key)!r}"
        )
        assert handshake.subprotocol is None, (
            f"no subprotocol was chosen, yet the 101 names {handshake.subprotocol!r}"
        )
        await ws.send_text("after the handshake")
        reply = await ws.receive_message()
    assert reply.text == "after the handshake", f"the echo was {reply}"


@case(
    "websocket/subprotocol-chosen",
    grade=Grade.REQUIRED,
    clause="ASGI WebSocket 2.5, Accept: subprotocol; RFC 6455 §4.2.2: the selected subprotocol "
    "in Sec-WebSocket-Protocol",
    requires=_WEBSOCKET,
)
async def test_the_subprotocol_the_app_chose_is_in_the_handshake(server: RunningServer) -> None:
    """The subprotocol the app accepts with is the one the 101 names; the scope lists them.

    The client offers ``v1.chat, v2.chat``; the app picks the second, so a server that names
    the first offered (or none) is caught. The scope's ``subprotocols`` must keep the order.
    Break: ``ws-drop-subprotocol`` (the app's choice never reaches the response) fails it.
    """
    token = new_token()
    offered = ["v1.chat", "v2.chat"]
    async with Observer(server) as observer:
        try:
            async with ws_connect(
                server, f"/ws/echo/{token}?choose=v2.chat", subprotocols=offered
            ) as ws:
                chosen = ws.connection.subprotocol
                header = ws.handshake.header("sec-websocket-protocol")
        except websockets.InvalidHandshake as error:
            raise AssertionError(f"the handshake failed: {error!r}") from error
        accepted = await _accepted_event(observer, token)
    assert header == "v2.chat", (
        f"the app accepted with subprotocol 'v2.chat'; the 101 says {header!r} (chosen {chosen!r})"
    )
    assert accepted["subprotocols"] == offered, (
        f"the scope's subprotocols are {accepted['subprotocols']}, the client offered {offered}"
    )


@case(
    "websocket/accept-headers",
    grade=Grade.REQUIRED,
    clause="ASGI WebSocket 2.1+, Accept: headers; order must be preserved in the HTTP response",
    requires=_WEBSOCKET,
)
async def test_the_accept_headers_reach_the_client(server: RunningServer) -> None:
    """Headers the app passes in ``websocket.accept`` are in the 101 response (spec 2.1+).

    Not applicable where the server advertises a spec older than 2.1. Break:
    ``ws-drop-accept-headers`` (the headers dropped, as granian does) fails it.
    """
    token = new_token()
    async with Observer(server) as observer:
        path = f"/ws/echo/{token}?header=x-accept-token:{token}"
        async with RawWebSocket(server, path) as ws:
            handshake = _handshake(ws)
        accepted = await _accepted_event(observer, token)
    _require_spec(server, accepted.get("spec_version"), "2.1", "accept headers")
    assert handshake.header("x-accept-token") == token, (
        f"the app accepted with the header x-accept-token: {token}; the 101 headers are "
        f"{handshake.headers}"
    )


@case(
    "websocket/close-before-accept-403",
    grade=Grade.REQUIRED,
    clause="ASGI WebSocket 2.5, Close: sent before accept, the server must close the connection "
    "with a HTTP 403 error code and not complete the handshake",
    requires=_WEBSOCKET,
)
async def test_a_close_before_accept_is_a_403(server: RunningServer) -> None:
    """``websocket.close`` before ``websocket.accept``: an HTTP 403, no 101.

    Break: ``ws-accept-on-denial`` (the server accepts and then closes) fails it.
    """
    async with RawWebSocket(server, "/raw/websocket/close-before-accept") as ws:
        handshake = ws.handshake
    assert handshake is not None
    assert handshake.status == 403, (
        f"a close before accept was answered {handshake.status}, not 403 "
        f"(headers {handshake.headers})"
    )


@case(
    "websocket/denial-response",
    grade=Grade.REQUIRED,
    clause="ASGI extensions, WebSocket Denial Response: the server sends the app's response "
    "instead of completing the handshake",
    requires=[Capability.WEBSOCKET, Capability.WEBSOCKET_DENIAL],
)
async def test_the_apps_denial_response_reaches_the_client(server: RunningServer) -> None:
    """``websocket.http.response.*`` (where advertised): the app's status, headers and body.

    The app denies with 401, a header naming the token and a body in two messages; the client
    must get exactly that, and no 101. Break: ``ws-denial-as-close`` (the response replaced
    by a bare 403) fails it.
    """
    token = new_token()
    async with RawWebSocket(server, f"/raw/websocket/deny?token={token}") as ws:
        handshake = ws.handshake
    assert handshake is not None
    assert handshake.status == 401, (
        f"the app denied with 401; the client got {handshake.status} {handshake.body[:200]!r}"
    )
    assert handshake.header("x-denied") == token, f"the app's header is missing: {handshake}"
    assert handshake.body == f"denied: {token}".encode(), (
        f"the denial body is {handshake.body!r}, not the app's two body messages"
    )


@case(
    "websocket/scope",
    grade=Grade.REQUIRED,
    clause="ASGI WebSocket 2.5, Connection Scope: path, raw_path, query_string, headers, "
    "subprotocols, scheme",
    requires=_WEBSOCKET,
)
async def test_the_websocket_scope_describes_the_handshake_request(
    server: RunningServer,
) -> None:
    """The scope: decoded path, raw path and query string, headers in order, subprotocols.

    The handshake asks for ``/ws/scope/a%20b%E2%82%AC?q=%20x&r=%2F`` with two ``x-dup``
    headers and subprotocols ``one, two``. Break: ``ws-mangled-scope`` (a query string
    percent-decoded by the server) fails it.
    """
    path, query = "/ws/scope/a%20b%E2%82%AC", "q=%20x&r=%2F"
    headers = [("x-dup", "first"), ("X-Mixed-Case", "kept"), ("x-dup", "second")]
    async with RawWebSocket(
        server, f"{path}?{query}", subprotocols=["one", "two"], headers=headers
    ) as ws:
        _handshake(ws)
        message = await ws.receive_message()
    assert message.text is not None, f"the scope came as {message}"
    scope = json.loads(message.text)
    assert scope["type"] == "websocket", scope
    assert scope["path"] == "/ws/scope/a b€", f"path is {scope['path']!r}"
    assert scope["raw_path"] in (None, path), f"raw_path is {scope['raw_path']!r}"
    assert scope["query_string"] == query, f"query_string is {scope['query_string']!r}"
    assert scope["subprotocols"] == ["one", "two"], f"subprotocols: {scope['subprotocols']}"
    received = [(name.lower(), value) for name, value in scope["headers"]]
    duplicates = [v for n, v in received if n == "x-dup"]
    assert duplicates == ["first", "second"], (
        f"the two x-dup headers (first, second) reached the app as {duplicates}"
    )
    assert ("x-mixed-case", "kept") in received, f"X-Mixed-Case is missing: {received}"
    assert any(n == "host" for n, _ in received), f"no host header: {received}"
    expected_scheme = "wss" if server.spec.tls else "ws"
    assert scope["scheme"] in (None, expected_scheme), f"scheme is {scope['scheme']!r}"


# -- messages -----------------------------------------------------------------------------------


async def _echo_kinds(
    server: RunningServer, messages: list[str | bytes]
) -> tuple[list[dict[str, Any]], list[Message]]:
    """Send ``messages`` to the raw echo; what the app saw, and what came back."""
    token = new_token()
    async with Observer(server) as observer:
        async with RawWebSocket(server, f"/raw/websocket/echo?token={token}") as ws:
            replies = []
            for message in messages:
                if isinstance(message, str):
                    await ws.send_text(message)
                else:
                    await ws.send_bytes(message)
                try:
                    replies.append(await ws.receive_message())
                except TimeoutError:
                    raise AssertionError(
                        f"the app echoed {message!r}; nothing reached the client in {TIMEOUT} s"
                    ) from None
        seen = await observer.wait(token, "receive", count=len(messages))
    return [e for e in seen["events"] if e["event"] == "receive"], replies


@case(
    "websocket/text-stays-text",
    grade=Grade.REQUIRED,
    clause="ASGI WebSocket 2.5, Receive/Send: text for a text-mode message, exactly one of bytes "
    "or text non-None; RFC 6455 §5.6",
    requires=_WEBSOCKET,
)
async def test_a_text_message_is_text_both_ways(server: RunningServer) -> None:
    """A text frame reaches the app as ``text`` (``bytes`` None), and the app's text goes out
    as a text frame.

    Break: ``ws-text-as-bytes`` (text delivered and sent as bytes) fails it.
    """
    text = "héllo ✓ text"
    seen, replies = await _echo_kinds(server, [text])
    assert seen[0]["kind"] == "text", (
        f"a text message reached the app as {seen[0]['kind']} (keys {seen[0]['keys']})"
    )
    assert seen[0]["text"] == text, f"the app got {seen[0]['text']!r}"
    assert replies[0].kind == "text", f"the app's text message reached the client as {replies[0]}"
    assert replies[0].text == text, f"the client got {replies[0]}"


@case(
    "websocket/bytes-stay-bytes",
    grade=Grade.REQUIRED,
    clause="ASGI WebSocket 2.5, Receive/Send: bytes for a binary-mode message; RFC 6455 §5.6",
    requires=_WEBSOCKET,
)
async def test_a_binary_message_is_bytes_both_ways(server: RunningServer) -> None:
    """A binary frame reaches the app as ``bytes``, even when it happens to be valid UTF-8,
    and the app's bytes go out as a binary frame.

    Break: ``ws-bytes-as-text`` (binary that decodes as UTF-8 delivered as text) fails it.
    """
    messages: list[str | bytes] = [b"plain ascii bytes", b"\x00\xff\x80 binary"]
    seen, replies = await _echo_kinds(server, messages)
    for sent, event, reply in zip(messages, seen, replies, strict=True):
        assert event["kind"] == "bytes", (
            f"the binary message {sent!r} reached the app as {event['kind']} (keys {event['keys']})"
        )
        assert (reply.kind, reply.data) == ("bytes", sent), (
            f"the app's binary message {sent!r} reached the client as {reply}"
        )


@case(
    "websocket/empty-messages",
    grade=Grade.REQUIRED,
    clause="ASGI WebSocket 2.5, Receive/Send: exactly one of bytes or text must be non-None "
    "(an empty message included)",
    requires=_WEBSOCKET,
)
async def test_empty_messages_keep_their_kind(server: RunningServer) -> None:
    """An empty text message is ``text=""`` and an empty binary one ``bytes=b""``, both ways.

    Break: ``ws-empty-as-none`` (an empty text message delivered as empty bytes) fails it.
    """
    seen, replies = await _echo_kinds(server, ["", b""])
    assert (seen[0]["kind"], seen[0]["size"]) == ("text", 0), (
        f"an empty text message reached the app as {seen[0]['kind']} (keys {seen[0]['keys']})"
    )
    assert (seen[1]["kind"], seen[1]["size"]) == ("bytes", 0), (
        f"an empty binary message reached the app as {seen[1]['kind']} (keys {seen[1]['keys']})"
    )
    assert replies[0] == Message(text=""), f"the app's empty text came back as {replies[0]}"
    assert replies[1] == Message(data=b""), f"the app's empty bytes came back as {replies[1]}"


@case(
    "websocket/fragments-reassembled",
    grade=Grade.REQUIRED,
    clause="RFC 6455 §5.4: a fragmented message is one message, control frames may be "
    "interleaved; ASGI WebSocket 2.5, Receive: one event per data message",
    requires=_WEBSOCKET,
)
async def test_a_fragmented_message_reaches_the_app_as_one(server: RunningServer) -> None:
    """Three text fragments with a ping between them, then two binary fragments: the app gets
    exactly two ``websocket.receive``, the whole text and the whole bytes; the ping is answered.

    Break: ``ws-split-messages`` (a message handed over in two events) fails it.
    """
    token = new_token()
    async with (
        Observer(server) as observer,
        RawWebSocket(server, f"/raw/websocket/sink?token={token}") as ws,
    ):
        await ws.send_fragment("frag-one|", last=False)
        await ws.ping(b"between")
        try:
            pong: Received | None = await ws.receive()
        except TimeoutError:
            pong = None
        await ws.send_fragment("two|", last=False)
        await ws.send_fragment("three", last=True)
        await ws.send_fragment(b"\x01\x02", last=False)
        await ws.send_fragment(b"\x03", last=True)
        await ws.send_text("end")
        seen = await observer.wait(token, "receive", count=3)
    received = [e for e in seen["events"] if e["event"] == "receive"]
    assert pong == Pong(b"between"), f"the ping between fragments was answered with {pong}"
    shapes = [(e["kind"], e["size"], e.get("text")) for e in received]
    expected = [("text", 18, "frag-one|two|three"), ("bytes", 3, None), ("text", 3, "end")]
    assert shapes[:3] == expected, (
        f"the app received {shapes}, not one text and one binary message before 'end'"
    )


@case(
    "websocket/order-under-load",
    grade=Grade.REQUIRED,
    clause="RFC 6455 §5.4 / §6: messages are delivered in the order sent; ASGI WebSocket 2.5",
    requires=_WEBSOCKET,
)
async def test_messages_keep_their_order_both_ways_under_load(server: RunningServer) -> None:
    """2000 numbered messages each way at once, as fast as both ends go: order kept.

    Break: ``ws-reorder`` (two consecutive incoming messages swapped) fails it.
    """
    count = 2000
    token = new_token()
    path = f"/raw/websocket/order?token={token}&n={count}"
    async with Observer(server) as observer, RawWebSocket(server, path) as ws:

        async def produce() -> None:
            for index in range(count):
                await ws.send_text(str(index))

        producer = asyncio.ensure_future(produce())
        got: list[str | None] = []
        try:
            while len(got) < count:
                got.append((await ws.receive_message(TIMEOUT)).text)
        finally:
            await producer
        snapshot = await observer.wait(token, "order-over")
    over = next(e for e in snapshot["events"] if e["event"] == "order-over")
    wrong = next((i for i, text in enumerate(got) if text != str(i)), None)
    assert wrong is None, f"the client got message {got[wrong]!r} at position {wrong}"
    assert over["received"] == count, f"the app received {over['received']} of {count}"
    assert over["first_wrong"] is None, f"the app received out of order: {over['first_wrong']}"


@case(
    "websocket/large-message-to-client",
    grade=Grade.RECOMMENDED,
    clause="ASGI WebSocket 2.5, Send; RFC 6455 §5.2 (64-bit payload length): large messages pass "
    "whole, in bounded server memory",
    requires=_WEBSOCKET,
)
async def test_large_messages_reach_the_client_in_bounded_memory(
    server: RunningServer, request: pytest.FixtureRequest
) -> None:
    """Six 16 MiB binary messages from the app arrive whole; the server keeps none of them.

    The server's memory (its whole process group, peak included) may grow by the copies of a
    message in flight, never by all six. Break: ``ws-hoard`` (every message kept) fails it.
    """
    token = new_token()
    digest = hashlib.sha256(pattern(LARGE)).hexdigest()
    memory = Growth(server.pid)
    path = f"/raw/websocket/big?token={token}&size={LARGE}&n={LARGE_COUNT}"
    async with RawWebSocket(server, path) as ws:
        for index in range(LARGE_COUNT):
            message = await ws.receive_message(TIMEOUT * 4)
            memory.sample()
            assert (message.kind, message.size) == ("bytes", LARGE), (
                f"message {index} arrived as {message.kind} of {message.size} bytes"
            )
            assert hashlib.sha256(message.data or b"").hexdigest() == digest, (
                f"message {index} arrived corrupted"
            )
    growth = memory.largest
    request.node.user_properties.append(("growth_mib", growth // MIB))
    assert growth < LARGE_GROWTH, (
        f"the server grew by {growth // MIB} MiB while sending {LARGE_COUNT} x 16 MiB "
        f"({memory.describe()}); bound {LARGE_GROWTH // MIB} MiB"
    )


@case(
    "websocket/large-message-from-client",
    grade=Grade.RECOMMENDED,
    clause="ASGI WebSocket 2.5, Receive: one event per message; RFC 6455 §5.2, §10.4: a 16 MiB "
    "message (the common default limit) passes whole, in bounded server memory",
    requires=_WEBSOCKET,
)
async def test_large_messages_reach_the_app_in_bounded_memory(
    server: RunningServer, request: pytest.FixtureRequest
) -> None:
    """Six 16 MiB binary messages from the client reach the app whole, each in one event.

    16 MiB is the default limit of hypercorn and uvicorn (inclusive); the server may grow by
    the copies of one message in flight, never by all six. Break: ``ws-hoard`` (every
    message kept) fails it; so does a server whose limit refuses 16 MiB.
    """
    token = new_token()
    payload = pattern(LARGE)
    digest = hashlib.sha256(payload).hexdigest()
    memory = Growth(server.pid)
    async with Observer(server) as observer:
        async with RawWebSocket(server, f"/raw/websocket/sink?token={token}") as ws:
            for index in range(LARGE_COUNT):
                try:
                    await ws.send_bytes(payload)
                except ConnectionError:
                    end = await _end_after_refusal(ws)
                    raise AssertionError(
                        f"the server refused 16 MiB message {index}: {_describe_end(end)}"
                    ) from None
                if not await observer.happened(token, "receive", count=index + 1, timeout=TIMEOUT):
                    end = await _end_after_refusal(ws)
                    raise AssertionError(
                        f"16 MiB message {index} never reached the app; the client saw "
                        f"{_describe_end(end)}"
                    )
                memory.sample()
        received = await _events(observer, token, "receive")
    for event in received:
        assert (event["kind"], event["size"], event.get("sha256")) == ("bytes", LARGE, digest), (
            f"a 16 MiB message reached the app as {event['kind']} of {event['size']} bytes"
            f"{'' if event.get('sha256') == digest else ', corrupted'}"
        )
    growth = memory.largest
    request.node.user_properties.append(("growth_mib", growth // MIB))
    assert growth < LARGE_GROWTH, (
        f"the server grew by {growth // MIB} MiB while receiving {LARGE_COUNT} x 16 MiB "
        f"({memory.describe()}); bound {LARGE_GROWTH // MIB} MiB"
    )


async def _end_after_refusal(ws: RawWebSocket) -> Received | None:
    """What the server sent once it stopped taking a message: a close frame, or the end."""
    try:
        return await ws.until_closed(TIMEOUT)
    except TimeoutError:
        return None


# -- the close ----------------------------------------------------------------------------------


@case(
    "websocket/app-close-code",
    grade=Grade.REQUIRED,
    clause="ASGI WebSocket 2.5, Close: the server must close the socket with the close code "
    "passed in the message; reason (2.3+)",
    requires=_WEBSOCKET,
)
async def test_the_apps_close_code_and_reason_reach_the_client(server: RunningServer) -> None:
    """The app closes with 4321 and a reason: the client's close frame carries both.

    The reason is judged where the server advertises spec 2.3 or later (it was added then).
    Break: ``ws-lose-close-codes`` (every close code replaced by 1000) fails it.
    """
    token = new_token()
    async with Observer(server) as observer:
        try:
            async with ws_connect(server, f"/ws/echo/{token}") as ws:
                await ws.send("close 4321 custom reason")
                with contextlib.suppress(websockets.ConnectionClosed):
                    await ws.recv()
                code, reason = ws.close_code, ws.close_reason
        except websockets.InvalidHandshake as error:
            raise AssertionError(f"the handshake failed: {error!r}") from error
        accepted = await _accepted_event(observer, token)
    assert code == 4321, f"the app closed with 4321; the client's close frame says {code}"
    if _version(accepted.get("spec_version")) >= (2, 3):
        assert reason == "custom reason", (
            f"the app closed with the reason 'custom reason' (spec 2.3+); the client got {reason!r}"
        )


async def _close_from_client(
    server: RunningServer, code: int | None, reason: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The client closes the raw echo with ``code`` (None: an empty close frame).

    Returns the app's ``accepted`` and ``disconnect`` events.
    """
    token = new_token()
    async with Observer(server) as observer:
        async with RawWebSocket(server, f"/raw/websocket/echo?token={token}") as ws:
            await ws.close(code, reason)
            with contextlib.suppress(TimeoutError):
                await ws.until_closed()
        snapshot = await observer.wait(token, "disconnect")
    events = snapshot["events"]
    accepted = next(e for e in events if e["event"] == "accepted")
    return accepted, next(e for e in events if e["event"] == "disconnect")


@case(
    "websocket/client-close-code",
    grade=Grade.REQUIRED,
    clause="ASGI WebSocket 2.5, Disconnect: code is the WebSocket close code, as per the "
    "WebSocket spec; RFC 6455 §7.1.5",
    requires=_WEBSOCKET,
)
async def test_the_clients_close_code_reaches_the_app(server: RunningServer) -> None:
    """The client closes with 4100: the app's ``websocket.disconnect`` says 4100.

    Break: ``ws-lose-close-codes`` (every code replaced) fails it; hypercorn reports 1006 for
    every close the client starts.
    """
    _, disconnect = await _close_from_client(server, 4100, "client reason")
    assert disconnect["code"] == 4100, (
        f"the client closed with 4100; websocket.disconnect says {disconnect['code']}"
    )


@case(
    "websocket/client-close-reason",
    grade=Grade.INFORMATIONAL,
    clause="ASGI WebSocket 2.5, Disconnect: reason (added in 2.5)",
    requires=_WEBSOCKET,
)
async def test_the_clients_close_reason_reaches_the_app(server: RunningServer) -> None:
    """The client closes with a reason: the app's ``websocket.disconnect`` carries it (2.5).

    Break: ``ws-lose-close-codes`` (reasons dropped) fails it.
    """
    _, disconnect = await _close_from_client(server, 4100, "client reason")
    assert disconnect["reason"] == "client reason", (
        f"the client closed with the reason 'client reason'; websocket.disconnect has "
        f"reason={disconnect['reason']!r} (keys {disconnect['keys']})"
    )


@case(
    "websocket/close-without-code-1005",
    grade=Grade.RECOMMENDED,
    clause="ASGI WebSocket 2.5, Disconnect: if no code was received in the frame from the client, "
    "the server should set this to 1005",
    requires=_WEBSOCKET,
)
async def test_a_close_frame_without_a_code_is_1005_for_the_app(server: RunningServer) -> None:
    """The client's close frame has no payload: the app's ``websocket.disconnect`` says 1005.

    Break: ``ws-lose-close-codes`` fails it.
    """
    _, disconnect = await _close_from_client(server, None)
    assert disconnect["code"] == 1005, (
        f"a close frame without a code gave websocket.disconnect code={disconnect['code']!r}"
    )


async def _vanish(server: RunningServer) -> tuple[float, dict[str, Any] | None]:
    """The client leaves without a close frame; (latency of the disconnect, its event)."""
    token = new_token()
    async with Observer(server) as observer:
        async with RawWebSocket(server, f"/raw/websocket/sink?token={token}") as ws:
            await observer.wait(token, "accepted")
            gone_at = time.monotonic()
            await ws.vanish()
        arrived = await observer.happened(token, "disconnect", timeout=TIMEOUT)
        events = await _events(observer, token, "disconnect")
    if not arrived or not events:
        return float("inf"), None
    return events[0]["t"] - gone_at, events[0]


@case(
    "websocket/vanished-client-disconnect",
    grade=Grade.REQUIRED,
    clause="ASGI WebSocket 2.5, Disconnect: sent when the connection to the client is lost",
    requires=_WEBSOCKET,
)
async def test_a_vanished_client_is_a_prompt_disconnect(
    server: RunningServer, request: pytest.FixtureRequest
) -> None:
    """A client that closes TCP without a close frame: ``websocket.disconnect``, promptly.

    The app waits in ``receive()``; the latency from the client's close is recorded as
    ``disconnect_latency_ms``. Breaks: ``ws-no-disconnect`` and ``ws-late-disconnect`` fail it.
    """
    latency, event = await _vanish(server)
    assert event is not None, f"no websocket.disconnect within {TIMEOUT} s of the client leaving"
    request.node.user_properties.append(("disconnect_latency_ms", round(latency * 1000, 3)))
    assert latency <= DISCONNECT_BOUND, (
        f"websocket.disconnect reached the app {latency * 1000:.1f} ms after the client left "
        f"(bound {DISCONNECT_BOUND * 1000:.0f} ms)"
    )


@case(
    "websocket/vanished-client-1006",
    grade=Grade.RECOMMENDED,
    clause="RFC 6455 §7.1.5: no Close frame received, the close code is considered to be 1006; "
    "ASGI WebSocket 2.5, Disconnect: the code as per the WebSocket spec",
    requires=_WEBSOCKET,
)
async def test_a_vanished_client_is_code_1006(server: RunningServer) -> None:
    """A client that closes TCP without a close frame: ``websocket.disconnect`` code 1006.

    1005 would say a close frame without a code arrived, which never happened. Break:
    ``ws-lose-close-codes`` fails it.
    """
    _, event = await _vanish(server)
    assert event is not None, f"no websocket.disconnect within {TIMEOUT} s of the client leaving"
    assert event["code"] == 1006, (
        f"the client vanished without a close frame; websocket.disconnect says {event['code']}"
    )


async def _late_sends(server: RunningServer) -> tuple[list[dict[str, Any]], str | None]:
    """The client closes; the app sends anyway. Its send outcomes, and its spec version."""
    token = new_token()
    async with Observer(server) as observer:
        async with RawWebSocket(server, f"/raw/websocket/late?token={token}") as ws:
            await ws.close(1000)
            with contextlib.suppress(TimeoutError):
                await ws.until_closed()
        over = await observer.happened(token, "late-over", timeout=TIMEOUT)
        snapshot = await observer.snapshot(token)
    events = snapshot["events"]
    names = [e["event"] for e in events]
    assert over, f"the app's sends after the close did not return within {TIMEOUT} s: {names}"
    outcomes = [e for e in events if e["event"] in ("send-ok", "send-error")]
    accepted = next(e for e in events if e["event"] == "accepted")
    return outcomes, accepted.get("spec_version")


@case(
    "websocket/send-after-close-harmless",
    grade=Grade.REQUIRED,
    clause="ASGI core, Error Handling: after the connection closed, send should act as a no-op; "
    "ASGI WebSocket 2.4+: or raise an OSError subclass",
    requires=_WEBSOCKET,
)
async def test_a_send_after_the_close_does_no_harm(server: RunningServer) -> None:
    """After ``websocket.disconnect`` the app sends text, bytes and a close: each returns or
    raises an ``OSError`` subclass (``isinstance`` in the app's process), and the server goes
    on serving.

    Break: ``ws-raise-after-close`` (a RuntimeError out of send) fails it.
    """
    outcomes, _ = await _late_sends(server)
    wrong = [e for e in outcomes if e["event"] == "send-error" and not e["oserror"]]
    assert not wrong, (
        f"send() after the close raised {[e['error'] for e in wrong]}: not an OSError subclass"
    )
    assert server.running, "the server process exited after the app's late sends"
    async with RawWebSocket(server, f"/raw/websocket/echo?token={new_token()}") as ws:
        _handshake(ws)


@case(
    "websocket/send-after-close-raises",
    grade=Grade.RECOMMENDED,
    clause="ASGI WebSocket 2.4+, Disconnected Client: send() on a closed connection should raise "
    "a server-specific OSError subclass",
    requires=_WEBSOCKET,
)
async def test_a_send_after_the_close_raises_an_oserror(server: RunningServer) -> None:
    """Where spec 2.4 or later is advertised, ``websocket.send`` after the close raises an
    ``OSError`` subclass.

    Not applicable below 2.4. Break: ``ws-quiet-after-close`` (the error swallowed) fails it.
    """
    outcomes, version = await _late_sends(server)
    _require_spec(server, version, "2.4", "raising from send() after the close")
    # Only data messages are judged: a websocket.close on a closed connection may stay a
    # no-op (apps close in their cleanup).
    sends = [e for e in outcomes if e["type"] == "websocket.send"]
    assert len(sends) == 2, f"the app's two late sends were not recorded: {outcomes}"
    assert all(e["event"] == "send-error" for e in sends), (
        f"send() of a message after the close returned normally: {[e['event'] for e in sends]}"
    )
    assert all(e["oserror"] for e in sends), f"not OSError subclasses: {sends}"


# -- protocol -------------------------------------------------------------------------------------


@case(
    "websocket/ping-answered",
    grade=Grade.REQUIRED,
    clause="RFC 6455 §5.5.2/§5.5.3: upon receipt of a Ping frame, an endpoint MUST send a Pong "
    "frame in response, with the same application data",
    requires=_WEBSOCKET,
)
async def test_a_ping_is_answered_with_a_pong(server: RunningServer) -> None:
    """The server answers a ping with a pong carrying the same payload (the app is idle).

    Break: ``ws-no-pong`` (a proxy dropping the server's pongs) fails it.
    """
    async with RawWebSocket(server, f"/raw/websocket/sink?token={new_token()}") as ws:
        await ws.ping(b"are you there")
        try:
            reply = await ws.receive(TIMEOUT)
        except TimeoutError:
            reply = None
    assert reply == Pong(b"are you there"), f"a ping was answered with {reply!r}"


async def _protocol_error(server: RunningServer, frame: bytes) -> tuple[Received | None, int]:
    """Send one bad frame to the sink: how the connection ended, and how many messages the
    app received."""
    token = new_token()
    async with Observer(server) as observer:
        async with RawWebSocket(server, f"/raw/websocket/sink?token={token}") as ws:
            await observer.wait(token, "accepted")
            with contextlib.suppress(ConnectionError):
                await ws.send_raw(frame)
            try:
                end: Received | None = await ws.until_closed(TIMEOUT)
            except TimeoutError:
                end = None
        received = await _events(observer, token, "receive")
    return end, len(received)


#: The three protocol errors: name, frame, the close code RFC 6455 §7.4.1 gives them.
_PROTOCOL_ERRORS: Final = (
    ("invalid UTF-8 in a text frame", encode_frame(OP_TEXT, b"valid, then \xff\xfe"), 1007),
    ("a 126-byte ping", encode_frame(OP_PING, b"p" * 126), 1002),
    ("an unmasked frame", encode_frame(OP_BINARY, b"unmasked", mask=False), 1002),
)


async def _assert_failed(server: RunningServer, index: int) -> None:
    name, frame, _ = _PROTOCOL_ERRORS[index]
    end, received = await _protocol_error(server, frame)
    assert end is not None, f"the server kept the connection open after {name}"
    assert received == 0, f"the app received {received} message(s) after {name}"


@case(
    "websocket/invalid-utf8-fails",
    grade=Grade.REQUIRED,
    clause="RFC 6455 §8.1: an endpoint that finds a text message is not valid UTF-8 MUST Fail "
    "the WebSocket Connection",
    requires=_WEBSOCKET,
)
async def test_invalid_utf8_in_a_text_frame_fails_the_connection(server: RunningServer) -> None:
    """A text frame that is not UTF-8: the server closes, and the app never gets it.

    Break: ``ws-lax-utf8`` (a proxy that makes the text valid, as a lax server would take
    it) fails it.
    """
    await _assert_failed(server, 0)


@case(
    "websocket/long-control-frame-fails",
    grade=Grade.REQUIRED,
    clause="RFC 6455 §5.5: all control frames MUST have a payload length of 125 bytes or less; "
    "§7.1.7 Fail the WebSocket Connection",
    requires=_WEBSOCKET,
)
async def test_a_control_frame_over_125_bytes_fails_the_connection(server: RunningServer) -> None:
    """A ping with 126 bytes of payload: the server closes the connection.

    Break: ``ws-lax-control`` (a proxy trimming it to 125 bytes) fails it.
    """
    await _assert_failed(server, 1)


@case(
    "websocket/unmasked-frame-fails",
    grade=Grade.REQUIRED,
    clause="RFC 6455 §5.1: the server MUST close the connection upon receiving a frame that is "
    "not masked",
    requires=_WEBSOCKET,
)
async def test_an_unmasked_client_frame_fails_the_connection(server: RunningServer) -> None:
    """A client frame without a mask: the server closes, and the app never gets it.

    Break: ``ws-mask-for-client`` (a proxy masking it) fails it.
    """
    await _assert_failed(server, 2)


@case(
    "websocket/protocol-error-close-codes",
    grade=Grade.RECOMMENDED,
    clause="RFC 6455 §7.1.7: the endpoint SHOULD send a Close frame with an appropriate status "
    "code; §7.4.1: 1007 for data inconsistent with the message type, 1002 for a protocol error",
    requires=_WEBSOCKET,
)
async def test_protocol_errors_are_closed_with_1007_and_1002(server: RunningServer) -> None:
    """The three errors above end with a close frame: 1007 for invalid UTF-8, 1002 for the
    long ping and the unmasked frame.

    Break: ``ws-close-no-code`` (a proxy emptying the server's close frames) fails it.
    """
    found = []
    for name, frame, code in _PROTOCOL_ERRORS:
        end, _ = await _protocol_error(server, frame)
        if _end_code(end) != code:
            found.append(f"{name}: {_describe_end(end)} (expected {code})")
    assert not found, "protocol errors not closed with their code: " + "; ".join(found)


@case(
    "websocket/message-size-limit",
    grade=Grade.INFORMATIONAL,
    clause="RFC 6455 §10.4: implementations SHOULD impose a limit on message size; §7.4.1: 1009 "
    "for a message too big to process",
    requires=_WEBSOCKET,
)
async def test_a_message_over_the_servers_limit_is_closed_with_1009(
    server: RunningServer, request: pytest.FixtureRequest
) -> None:
    """Messages of 1 MiB + 1, 16 MiB + 1 and 64 MiB + 1 until the server refuses one: it must
    refuse one of them, with a 1009 close frame, without handing it to the app.

    Each message goes out in 512 KiB fragments, with a pause after each for the server's
    answer: a server that closes while a client is still sending resets the connection, and the
    reset can drop its own close frame. The size refused is recorded as
    ``message_limit_bytes``. Break: ``ws-close-no-code`` fails it.
    """
    for size in LIMIT_PROBES:
        token = new_token()
        async with Observer(server) as observer:
            async with RawWebSocket(server, f"/raw/websocket/sink?token={token}") as ws:
                end = await _send_until_refused(ws, size)
                if end is None and not await observer.happened(token, "receive", timeout=TIMEOUT):
                    end = await _end_after_refusal(ws)
            received = await _events(observer, token, "receive")
        if end is None:
            assert len(received) == 1, f"a {size}-byte message: no close, no delivery"
            continue
        request.node.user_properties.append(("message_limit_bytes", size))
        assert not received, f"a {size}-byte message reached the app and the server closed"
        assert _end_code(end) == 1009, (
            f"past its limit ({size} bytes) the server ended with {_describe_end(end)}, not 1009"
        )
        return
    raise AssertionError(f"the server took a {LIMIT_PROBES[-1]}-byte message: no limit under it")


async def _send_until_refused(ws: RawWebSocket, size: int) -> Received | None:
    """Send a ``size``-byte binary message in fragments; the server's end if it refused it."""
    for offset in range(0, size, FRAGMENT):
        part = min(FRAGMENT, size - offset)
        try:
            await ws.send_fragment(b"L" * part, last=offset + part >= size)
        except ConnectionError:
            return await _end_after_refusal(ws)
        try:
            item = await ws.receive(REFUSAL_PAUSE)
        except TimeoutError:
            continue
        if isinstance(item, Close | Ended):
            return item
    return None


# -- backpressure ---------------------------------------------------------------------------------


@case(
    "websocket/backpressure",
    grade=Grade.RECOMMENDED,
    clause="ASGI WebSocket 2.5, Send (no clause bounds the buffer); RFC 6455 has no flow control "
    "of its own: a client that does not read must hold back send()",
    requires=_WEBSOCKET,
)
async def test_a_client_that_stops_reading_holds_back_send(server: RunningServer) -> None:
    """The app sends 64 KiB messages while the client reads nothing: send() must block.

    A server without backpressure buffers whatever the app produces (20 MiB in under a second
    on loopback). Break: ``ws-unbounded-send`` (send() returns at once, a task
    queues) fails it.
    """
    token = new_token()
    async with (
        Observer(server) as observer,
        RawWebSocket(server, f"/raw/websocket/flood?token={token}", read_limit=4096) as ws,
    ):
        _handshake(ws)
        ran_ahead = await observer.happened(
            token, "sent", count=BACKPRESSURE_BOUND, timeout=BACKPRESSURE_WINDOW
        )
        sent = (await observer.snapshot(token))["counters"].get("sent", 0)
    assert not ran_ahead, (
        f"{sent} messages of 64 KiB were sent to a client that reads nothing (bound "
        f"{BACKPRESSURE_BOUND})"
    )


# -- the app's end --------------------------------------------------------------------------------


@case(
    "websocket/app-exception-closes",
    grade=Grade.REQUIRED,
    clause="ASGI core, Error Handling: the server must terminate the application instance and "
    "its associated connection",
    requires=_WEBSOCKET,
)
async def test_an_app_exception_ends_the_connection(
    server: RunningServer, request: pytest.FixtureRequest
) -> None:
    """The app raises after accepting: the server closes the connection (the close code, if a
    close frame is sent, is recorded as ``close_code``).

    Break: ``ws-hang-on-error`` (the exception kept from the server) fails it.
    """
    async with RawWebSocket(server, f"/raw/websocket/raise?token={new_token()}") as ws:
        try:
            end: Received | None = await ws.until_closed(TIMEOUT)
        except TimeoutError:
            end = None
    assert end is not None, f"the app raised; the connection was still open {TIMEOUT} s later"
    request.node.user_properties.append(
        ("close_code", end.code if isinstance(end, Close) else None)
    )


@case(
    "websocket/app-return-closes",
    grade=Grade.RECOMMENDED,
    clause="ASGI WebSocket 2.5 (the connection lives as long as the application instance); "
    "RFC 6455 §7.1.2: an endpoint closes with a Close frame",
    requires=_WEBSOCKET,
)
async def test_an_app_that_returns_gets_its_connection_closed(server: RunningServer) -> None:
    """The app returns after accepting, without a close: the server sends a close frame.

    A bare TCP close makes the client see an abnormal closure (1006). Break:
    ``ws-hang-on-return`` (the server never learns the app returned) fails it.
    """
    async with RawWebSocket(server, f"/raw/websocket/return?token={new_token()}") as ws:
        try:
            end: Received | None = await ws.until_closed(TIMEOUT)
        except TimeoutError:
            end = None
    assert isinstance(end, Close), (
        f"the app returned without a close; the client saw {_describe_end(end)}"
        + (f" for {TIMEOUT} s" if end is None else "")
    )


# -- HTTP/2 ---------------------------------------------------------------------------------------


@case(
    "websocket/h2-extended-connect",
    grade=Grade.INFORMATIONAL,
    clause="RFC 8441 §3/§4: SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, and a CONNECT with "
    ":protocol websocket answered 2xx",
    requires=[Capability.HTTP2],
)
async def test_websocket_over_http2_with_extended_connect(server: RunningServer) -> None:
    """An HTTP/2 server bootstraps WebSocket with extended CONNECT (RFC 8441).

    The server advertises the setting, and answers the CONNECT with 200 and the subprotocol
    the app chose. Break: ``ws-drop-subprotocol`` (on hypercorn-h2c) fails it.
    """
    token = new_token()
    async with H2WebSocket(
        server, f"/ws/echo/{token}?choose=v2.chat", subprotocols=["v1.chat", "v2.chat"]
    ) as ws:
        assert ws.connect_protocol, "the server does not send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1"
        handshake = ws.handshake
    assert handshake is not None, "no response to the extended CONNECT"
    assert handshake.status == 200, f"the extended CONNECT was answered {handshake}"
    assert handshake.subprotocol == "v2.chat", (
        f"the app chose 'v2.chat'; the response says {handshake.subprotocol!r}"
    )


@case(
    "websocket/h2-messages",
    grade=Grade.REQUIRED,
    clause="RFC 8441 §5: after the CONNECT, the stream carries RFC 6455 frames; ASGI WebSocket "
    "2.5, Receive/Send/Close",
    requires=[Capability.HTTP2],
)
async def test_messages_and_the_close_over_http2(server: RunningServer) -> None:
    """Over an RFC 8441 stream: text stays text, bytes stay bytes, the app's close code arrives.

    Not applicable where the server does not offer extended CONNECT. Break:
    ``ws-lose-close-codes`` (on hypercorn-h2c) fails it.
    """
    token = new_token()
    async with H2WebSocket(server, f"/ws/echo/{token}") as ws:
        if not ws.connect_protocol:
            pytest.skip(f"{NOT_APPLICABLE} {server.spec.name} offers no extended CONNECT")
        _handshake(ws)
        await ws.send_text("text over h2")
        text = await ws.receive_message()
        await ws.send_bytes(b"\x00bytes over h2")
        data = await ws.receive_message()
        await ws.send_text("close 4321 custom reason")
        end = await ws.until_closed()
    assert text == Message(text="text over h2"), f"the text echo came back as {text}"
    assert data == Message(data=b"\x00bytes over h2"), f"the binary echo came back as {data}"
    assert _end_code(end) == 4321, f"the app closed with 4321; the client saw {_describe_end(end)}"
