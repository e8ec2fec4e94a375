"""Broken WebSocket servers: one per promise the ``websocket`` family judges.

ASGI breaks wrap :data:`conformance.contract.app` and change only WebSocket scopes (the
observation channel is HTTP and stays intact); wire breaks are proxies that parse the frames
after a 101 and change them on their way (RFC 6455 §5.2), imitating a server that lets a bad
frame through, or never answers a ping.

Each break names the real server behaviour it imitates where there is one: hypercorn's lost
close codes, granian's dropped accept headers, daphne's missing backpressure, uvicorn's bare TCP
close after the app returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from reference_app.types import Message, Receive, Scope, Send

from ..client.websocket import OP_CLOSE, OP_PONG, OP_TEXT, accept_key, encode_frame
from ..contract import app as contract_app
from . import DEFAULT_VARIANT, Break, Legal, Proxy
from .wire import both, half_close, transparent

__all__ = ["BREAKS", "LEGAL"]

#: How long a hanging break keeps the server from learning the app ended (seconds): longer than
#: a case waits (5 s by default), short enough for the server to stop afterwards.
HANG: Final = 12.0
#: How late ``ws_late_disconnect`` delivers the disconnect (twice the family's bound).
LATE: Final = 1.0
#: Messages that arrive this close together are swapped by ``ws_reorder`` (seconds).
BURST: Final = 0.05
#: Frames larger than this are relayed by the proxies as they come, untouched.
STREAMED: Final = 65536

_ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]
_kept: list[Message] = []


def _websocket(scope: Scope) -> bool:
    return bool(scope["type"] == "websocket")


def _wrap(
    change_receive: Callable[[Receive], Receive] | None = None,
    change_send: Callable[[Send], Send] | None = None,
    change_scope: Callable[[Scope], Scope] | None = None,
) -> _ASGI:
    """An ASGI break that changes receive, send or the scope of WebSocket connections."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if not _websocket(scope):
            await contract_app(scope, receive, send)
            return
        await contract_app(
            change_scope(scope) if change_scope else scope,
            change_receive(receive) if change_receive else receive,
            change_send(send) if change_send else send,
        )

    return app


# -- the handshake --------------------------------------------------------------------------------


def _drop_key(key: str) -> Callable[[Send], Send]:
    def change(send: Send) -> Send:
        async def dropping(message: Message) -> None:
            if message["type"] == "websocket.accept":
                message = {k: v for k, v in message.items() if k != key}
            await send(message)

        return dropping

    return change


def _accept_on_denial(send: Send) -> Send:
    state = {"accepted": False}

    async def accepting(message: Message) -> None:
        if message["type"] == "websocket.accept":
            state["accepted"] = True
        elif message["type"] == "websocket.close" and not state["accepted"]:
            state["accepted"] = True
            await send({"type": "websocket.accept"})
        await send(message)

    return accepting


def _denial_as_close(send: Send) -> Send:
    async def closing(message: Message) -> None:
        if message["type"] == "websocket.http.response.start":
            await send({"type": "websocket.close"})
        elif message["type"] != "websocket.http.response.body":
            await send(message)

    return closing


def _decoded_query(scope: Scope) -> Scope:
    changed = dict(scope)
    changed["query_string"] = unquote_to_bytes(bytes(scope.get("query_string", b"")))
    return changed


ws_drop_subprotocol = _wrap(change_send=_drop_key("subprotocol"))
ws_drop_accept_headers = _wrap(change_send=_drop_key("headers"))
ws_accept_on_denial = _wrap(change_send=_accept_on_denial)
ws_denial_as_close = _wrap(change_send=_denial_as_close)
ws_mangled_scope = _wrap(change_scope=_decoded_query)


# -- messages -------------------------------------------------------------------------------------


def _map_receive(change: Callable[[Message], Message]) -> Callable[[Receive], Receive]:
    def wrap(receive: Receive) -> Receive:
        async def changed() -> Message:
            message = await receive()
            return change(message) if message["type"] == "websocket.receive" else message

        return changed

    return wrap


def _map_send(change: Callable[[Message], Message | None]) -> Callable[[Send], Send]:
    def wrap(send: Send) -> Send:
        async def changed(message: Message) -> None:
            if message["type"] == "websocket.send":
                altered = change(message)
                if altered is None:
                    return
                message = altered
            await send(message)

        return changed

    return wrap


def _text_to_bytes(message: Message) -> Message:
    text = message.get("text")
    return {"type": message["type"], "bytes": text.encode()} if text is not None else message


def _bytes_to_text(message: Message) -> Message:
    data = message.get("bytes")
    if data is None:
        return message
    try:
        return {"type": message["type"], "text": data.decode()}
    except UnicodeDecodeError:
        return message


def _empty_text_as_bytes(message: Message) -> Message:
    if message.get("text") == "":
        return {"type": message["type"], "bytes": b""}
    return message


def _drop_empty(message: Message) -> Message | None:
    return None if message.get("text") == "" or message.get("bytes") == b"" else message


def _split(receive: Receive) -> Receive:
    pending: list[Message] = []

    async def split() -> Message:
        if pending:
            return pending.pop(0)
        message = await receive()
        payload = message.get("text") if message.get("text") is not None else message.get("bytes")
        if message["type"] != "websocket.receive" or payload is None or len(payload) < 2:
            return message
        key = "text" if isinstance(payload, str) else "bytes"
        half = len(payload) // 2
        pending.append({"type": "websocket.receive", key: payload[half:]})
        return {"type": "websocket.receive", key: payload[:half]}

    return split


def _reorder(receive: Receive) -> Receive:
    """Two messages that arrive within :data:`BURST` seconds of each other are swapped."""
    pending: list[Message] = []
    ahead: list[asyncio.Future[Message]] = []

    async def swapped() -> Message:
        if pending:
            return pending.pop(0)
        first = await (ahead.pop(0) if ahead else receive())
        if first["type"] != "websocket.receive":
            return first
        second = asyncio.ensure_future(receive())
        done, _ = await asyncio.wait((second,), timeout=BURST)
        if not done:
            ahead.append(second)
            return first
        if second.result()["type"] != "websocket.receive":
            pending.append(second.result())
            return first
        pending.append(first)
        return second.result()

    return swapped


def _hoard_receive(receive: Receive) -> Receive:
    async def hoarding() -> Message:
        message = await receive()
        _kept.append(message)
        return message

    return hoarding


def _hoard_send(send: Send) -> Send:
    async def hoarding(message: Message) -> None:
        _kept.append(message)
        await send(message)

    return hoarding


ws_text_as_bytes = _wrap(
    change_receive=_map_receive(_text_to_bytes), change_send=_map_send(_text_to_bytes)
)
ws_bytes_as_text = _wrap(
    change_receive=_map_receive(_bytes_to_text), change_send=_map_send(_bytes_to_text)
)
ws_empty_as_none = _wrap(
    change_receive=_map_receive(_empty_text_as_bytes), change_send=_map_send(_drop_empty)
)
ws_split_messages = _wrap(change_receive=_split)
ws_reorder = _wrap(change_receive=_reorder)
ws_hoard = _wrap(change_receive=_hoard_receive, change_send=_hoard_send)


# -- the close ------------------------------------------------------------------------------------


def _lose_codes_receive(receive: Receive) -> Receive:
    async def losing() -> Message:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return {"type": "websocket.disconnect", "code": 1000}
        return message

    return losing


def _lose_codes_send(send: Send) -> Send:
    async def losing(message: Message) -> None:
        if message["type"] == "websocket.close":
            message = {"type": "websocket.close", "code": 1000}
        await send(message)

    return losing


def _no_disconnect(receive: Receive) -> Receive:
    async def deaf() -> Message:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            await asyncio.sleep(HANG)
        return message

    return deaf


def _late_disconnect(receive: Receive) -> Receive:
    async def late() -> Message:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            await asyncio.sleep(LATE)
        return message

    return late


def _after_close(raises: bool) -> Callable[[Receive, Send], tuple[Receive, Send]]:
    def wrap(receive: Receive, send: Send) -> tuple[Receive, Send]:
        state = {"gone": False}

        async def watching() -> Message:
            message = await receive()
            state["gone"] |= message["type"] == "websocket.disconnect"
            return message

        async def sending(message: Message) -> None:
            if raises:
                if state["gone"]:
                    raise RuntimeError("send() after the close: a server bug, not an OSError")
                await send(message)
                return
            with contextlib.suppress(OSError):
                await send(message)

        return watching, sending

    return wrap


def _both(change: Callable[[Receive, Send], tuple[Receive, Send]]) -> _ASGI:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if not _websocket(scope):
            await contract_app(scope, receive, send)
            return
        await contract_app(scope, *change(receive, send))

    return app


ws_lose_close_codes = _wrap(change_receive=_lose_codes_receive, change_send=_lose_codes_send)
ws_no_disconnect = _wrap(change_receive=_no_disconnect)
ws_late_disconnect = _wrap(change_receive=_late_disconnect)
ws_raise_after_close = _both(_after_close(raises=True))
ws_quiet_after_close = _both(_after_close(raises=False))


# -- backpressure, the app's end ------------------------------------------------------------------


async def ws_unbounded_send(scope: Scope, receive: Receive, send: Send) -> None:
    """After the accept, send() returns at once; a task hands the messages to the server in
    order (the app's return waits until they are all handed over)."""
    if not _websocket(scope):
        await contract_app(scope, receive, send)
        return
    queue: asyncio.Queue[Message] = asyncio.Queue()

    async def forward() -> None:
        while True:
            message = await queue.get()
            with contextlib.suppress(OSError):
                await send(message)
            queue.task_done()

    forwarder = asyncio.ensure_future(forward())

    async def queued(message: Message) -> None:
        if message["type"].startswith("websocket.http.") or message["type"] in (
            "websocket.accept",
        ):
            await send(message)
        else:
            queue.put_nowait(message)

    try:
        await contract_app(scope, receive, queued)
        await queue.join()
    finally:
        forwarder.cancel()


async def ws_hang_on_error(scope: Scope, receive: Receive, send: Send) -> None:
    """The app's exception is kept from the server for :data:`HANG` seconds."""
    try:
        await contract_app(scope, receive, send)
    except Exception:
        if not _websocket(scope):
            raise
        await asyncio.sleep(HANG)
        raise


async def ws_hang_on_return(scope: Scope, receive: Receive, send: Send) -> None:
    """The server learns that the app returned only :data:`HANG` seconds later."""
    await contract_app(scope, receive, send)
    if _websocket(scope):
        await asyncio.sleep(HANG)


# -- legal variations -----------------------------------------------------------------------------


def _both_keys(message: Message) -> Message:
    """Both keys present, the unused one None (ASGI: "one or both keys may be present")."""
    return {"bytes": None, "text": None, **message}


def _extra_keys(scope: Scope) -> Scope:
    return {**scope, "x-extra": "a server may add keys", "extensions": scope.get("extensions")}


ws_both_keys = _wrap(change_receive=_map_receive(_both_keys))
ws_extra_scope_keys = _wrap(change_scope=_extra_keys)


# -- wire breaks: a WebSocket-aware proxy -------------------------------------------------------

#: A frame transform: (fin, rsv, opcode, payload) in, the frames to forward out.
Transform = Callable[[bool, int, int, bytes], list[tuple[bool, int, int, bytes]]]


async def _read_header(
    reader: asyncio.StreamReader,
) -> tuple[bytes, bool, int, int, int, bytes] | None:
    """A frame's header: (its bytes, fin, rsv, opcode, payload length, masking key), or None
    at the end of stream."""
    try:
        raw = await reader.readexactly(2)
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise
        return None
    first, second = raw
    length = second & 0x7F
    if length == 126:
        extra = await reader.readexactly(2)
        (length,) = struct.unpack("!H", extra)
        raw += extra
    elif length == 127:
        extra = await reader.readexactly(8)
        (length,) = struct.unpack("!Q", extra)
        raw += extra
    key = await reader.readexactly(4) if second & 0x80 else b""
    return raw + key, bool(first & 0x80), (first >> 4) & 0x7, first & 0xF, length, key


def _unmask(payload: bytes, key: bytes) -> bytes:
    if not key:
        return payload
    return bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))


async def _relay_frames(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    transform: Transform,
    *,
    mask: bool | None,
) -> None:
    """Frames from ``reader`` through ``transform`` to ``writer``; ``mask`` None keeps each
    frame's own masking (a client frame may be unmasked: that is what some cases send).

    A frame over :data:`STREAMED` bytes is relayed piece by piece as it is (a proxy that held
    16 MiB messages would be measured as the server's memory).
    """
    try:
        while (head := await _read_header(reader)) is not None:
            raw, fin, rsv, opcode, length, key = head
            if length > STREAMED:
                await _write(writer, raw)
                while length:
                    piece = await reader.readexactly(min(length, STREAMED))
                    length -= len(piece)
                    await _write(writer, piece)
                continue
            payload = _unmask(await reader.readexactly(length), key)
            for fin2, rsv2, opcode2, payload2 in transform(fin, rsv, opcode, payload):
                masking = bool(key) if mask is None else mask
                frame = encode_frame(opcode2, payload2, fin=fin2, mask=masking, rsv=rsv2)
                await _write(writer, frame)
    except _WriteFailed:
        # The other side is gone. Read on and drop what still comes: a socket closed with
        # unread data is reset, and a reset would drop what the other direction just
        # relayed (a server's close frame on its way to the client, say).
        with contextlib.suppress(ConnectionError):
            while await reader.read(STREAMED):
                pass
        return
    except (ConnectionError, asyncio.IncompleteReadError):
        pass  # a reset or a cut frame ends this direction like an end of stream
    await half_close(writer)


class _WriteFailed(Exception):
    """Writing to one side failed: that direction of the relay ends."""


async def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    try:
        writer.write(data)
        await writer.drain()
    except ConnectionError as error:
        raise _WriteFailed from error


def _wrong_accept_key(head: bytes) -> bytes:
    """The 101 with a Sec-WebSocket-Accept computed from another key."""
    lines = head.split(b"\r\n")
    for index, line in enumerate(lines):
        if line.lower().startswith(b"sec-websocket-accept:"):
            lines[index] = b"sec-websocket-accept: " + accept_key("not the client's").encode()
    return b"\r\n".join(lines)


def _identity(fin: bool, rsv: int, opcode: int, payload: bytes) -> list[Any]:
    return [(fin, rsv, opcode, payload)]


def _proxy(
    client_side: Transform = _identity,
    server_side: Transform = _identity,
    *,
    mask_client: bool | None = None,
    handshake: Callable[[bytes], bytes] | None = None,
) -> Proxy:
    """A proxy that parses the frames of a WebSocket (after a 101) through the transforms.

    Any other connection (the observation channel, a refused handshake) is relayed as it is.
    ``mask_client`` True masks every client frame (None keeps each frame's masking);
    ``handshake`` rewrites the head of the 101 response.
    """

    async def proxy(
        client_reader: asyncio.StreamReader,
        client: asyncio.StreamWriter,
        server_reader: asyncio.StreamReader,
        server: asyncio.StreamWriter,
    ) -> None:
        request = await client_reader.readuntil(b"\r\n\r\n")
        server.write(request)
        await server.drain()
        if b"upgrade: websocket" not in request.lower():
            await transparent(client_reader, client, server_reader, server)
            return
        response = await server_reader.readuntil(b"\r\n\r\n")
        switching = response.startswith((b"HTTP/1.1 101", b"HTTP/1.0 101"))
        client.write(handshake(response) if switching and handshake else response)
        await client.drain()
        if not switching:
            await transparent(client_reader, client, server_reader, server)
            return
        await both(
            _relay_frames(client_reader, server, client_side, mask=mask_client),
            _relay_frames(server_reader, client, server_side, mask=False),
        )

    return proxy


def _no_pong(fin: bool, rsv: int, opcode: int, payload: bytes) -> list[Any]:
    return [] if opcode == OP_PONG else [(fin, rsv, opcode, payload)]


def _lax_utf8(fin: bool, rsv: int, opcode: int, payload: bytes) -> list[Any]:
    if opcode == OP_TEXT:
        payload = payload.decode("utf-8", "replace").encode()
    return [(fin, rsv, opcode, payload)]


def _lax_control(fin: bool, rsv: int, opcode: int, payload: bytes) -> list[Any]:
    return [(fin, rsv, opcode, payload[:125] if opcode >= OP_CLOSE else payload)]


def _close_no_code(fin: bool, rsv: int, opcode: int, payload: bytes) -> list[Any]:
    return [(fin, rsv, opcode, b"" if opcode == OP_CLOSE else payload)]


ws_wrong_accept_key = _proxy(handshake=_wrong_accept_key)
ws_no_pong = _proxy(server_side=_no_pong)
ws_lax_utf8 = _proxy(client_side=_lax_utf8)
ws_lax_control = _proxy(client_side=_lax_control)
ws_mask_for_client = _proxy(mask_client=True)
ws_close_no_code = _proxy(server_side=_close_no_code)


def _break(
    name: str,
    promise: str,
    catches: set[str],
    says: str,
    *,
    wire: bool = False,
    target: str | None = None,
    variant: str = DEFAULT_VARIANT,
) -> Break:
    """A break of this module: its function is ``name`` in snake case unless ``target``."""
    where = f"{__name__}:{target or name.replace('-', '_')}"
    cases = frozenset(f"websocket/{c}" for c in catches)
    if wire:
        return Break(name, promise, cases, says, proxy=where, variant=variant)
    return Break(name, promise, cases, says, app=where, variant=variant)


BREAKS: tuple[Break, ...] = (
    _break(
        "ws-wrong-accept-key",
        "RFC 6455 §4.2.2: a 101 whose Sec-WebSocket-Accept is not derived from the client's key",
        {"accept", "subprotocol-chosen", "app-close-code"},
        r"Sec-WebSocket-Accept|handshake failed",
        wire=True,
    ),
    _break(
        "ws-drop-subprotocol",
        "ASGI WebSocket 2.5, Accept: the app's subprotocol never reaches the response",
        {"subprotocol-chosen"},
        r"the 101 says None|handshake failed",
    ),
    _break(
        "ws-drop-subprotocol-h2",
        "RFC 8441 §5 / ASGI Accept: the subprotocol dropped over HTTP/2",
        {"h2-extended-connect"},
        r"the response says None",
        target="ws_drop_subprotocol",
        variant="hypercorn-h2c",
    ),
    _break(
        "ws-drop-accept-headers",
        "ASGI WebSocket 2.1, Accept headers dropped (granian does this)",
        {"accept-headers"},
        r"the 101 headers are",
    ),
    _break(
        "ws-accept-on-denial",
        "ASGI WebSocket 2.5, Close before accept completes the handshake instead of a 403",
        {"close-before-accept-403"},
        r"answered 101, not 403",
    ),
    _break(
        "ws-denial-as-close",
        "ASGI extensions, WebSocket Denial Response: the app's response replaced by a 403",
        {"denial-response"},
        r"the client got 403",
    ),
    _break(
        "ws-mangled-scope",
        "ASGI WebSocket 2.5, Connection Scope: query_string percent-decoded",
        {"scope"},
        r"query_string is",
    ),
    _break(
        "ws-text-as-bytes",
        "ASGI WebSocket 2.5, Receive/Send: text merged into bytes",
        {
            "text-stays-text",
            "accept",
            "app-close-code",
            "empty-messages",
            "fragments-reassembled",
            "order-under-load",
            "scope",
        },
        r"as bytes|the echo was|close frame says|not one text and one binary|at position"
        r"|the scope came as",
    ),
    _break(
        "ws-bytes-as-text",
        "ASGI WebSocket 2.5, Receive: UTF-8 binary handed over as text",
        {"bytes-stay-bytes", "empty-messages", "fragments-reassembled"},
        r"reached the app as text|not one text and one binary",
    ),
    _break(
        "ws-empty-as-none",
        "ASGI WebSocket 2.5: empty messages lose their kind, or are dropped (daphne drops the "
        "app's empty messages)",
        {"empty-messages"},
        r"empty text message reached the app as bytes|nothing reached the client",
    ),
    _break(
        "ws-split-messages",
        "RFC 6455 §5.4 / ASGI Receive: a message handed over in pieces",
        {
            "fragments-reassembled",
            "accept",
            "app-close-code",
            "bytes-stay-bytes",
            "large-message-from-client",
            "message-size-limit",
            "order-under-load",
            "text-stays-text",
        },
        r"not one text and one binary|the echo was|the client got|reached the client as"
        r"|as bytes of|no close, no delivery|out of order|the app got",
    ),
    _break(
        "ws-reorder",
        "RFC 6455: two consecutive messages swapped",
        {"order-under-load", "fragments-reassembled"},
        r"out of order|at position|not one text and one binary",
    ),
    _break(
        "ws-hoard",
        "Bounded memory: every message kept for the life of the process",
        {"large-message-to-client", "large-message-from-client"},
        r"the server grew by \d+ MiB",
    ),
    _break(
        "ws-lose-close-codes",
        "ASGI WebSocket 2.5, Close/Disconnect: every close code replaced by 1000, reasons "
        "dropped (hypercorn reports 1006 for every close a client starts)",
        {"app-close-code", "client-close-code", "client-close-reason", "close-without-code-1005"},
        r"says 1000|reason=None|code=1000",
    ),
    _break(
        "ws-lose-close-codes-hypercorn",
        "RFC 6455 §7.1.5: a lost connection reported with a made-up code",
        {"vanished-client-1006", "app-close-code"},
        r"says 1000",
        target="ws_lose_close_codes",
        variant="hypercorn",
    ),
    _break(
        "ws-lose-close-codes-h2",
        "ASGI Close over RFC 8441: the app's close code replaced by 1000",
        {"h2-messages"},
        r"the client saw a close frame 1000",
        target="ws_lose_close_codes",
        variant="hypercorn-h2c",
    ),
    _break(
        "ws-no-disconnect",
        "ASGI WebSocket 2.5, Disconnect: never delivered",
        {
            "vanished-client-disconnect",
            "client-close-code",
            "client-close-reason",
            "close-without-code-1005",
            "send-after-close-harmless",
            "send-after-close-raises",
        },
        r"no websocket.disconnect within|did not record 'disconnect'|did not return within",
    ),
    _break(
        "ws-late-disconnect",
        "ASGI WebSocket 2.5, Disconnect: delivered a second late",
        {"vanished-client-disconnect"},
        r"ms after the client left",
    ),
    _break(
        "ws-raise-after-close",
        "ASGI core, Error Handling: send() after the close raises an error that is no OSError",
        {"send-after-close-harmless", "send-after-close-raises"},
        r"not an OSError subclass|not OSError subclasses",
    ),
    _break(
        "ws-quiet-after-close",
        "ASGI WebSocket 2.4: send() after the close returns normally",
        {"send-after-close-raises"},
        r"returned normally",
    ),
    _break(
        "ws-unbounded-send",
        "No backpressure: send() queues without bound (daphne, django/daphne#170)",
        {"backpressure", "large-message-to-client", "send-after-close-raises"},
        r"messages of 64 KiB were sent|the server grew by|returned normally",
    ),
    _break(
        "ws-hang-on-error",
        "ASGI core, Error Handling: the connection outlives the app's exception",
        {"app-exception-closes"},
        r"still open",
    ),
    _break(
        "ws-hang-on-return",
        "The connection outlives the app (daphne keeps it open)",
        {"app-return-closes"},
        r"the connection stayed open",
        variant="hypercorn",
    ),
    _break(
        "ws-no-pong",
        "RFC 6455 §5.5.2: pings never answered",
        {"ping-answered", "fragments-reassembled"},
        r"answered with None",
        wire=True,
    ),
    _break(
        "ws-lax-utf8",
        "RFC 6455 §8.1: invalid UTF-8 taken (replaced) instead of failing the connection",
        {"invalid-utf8-fails", "protocol-error-close-codes"},
        r"kept the connection open|the app received|stayed open",
        wire=True,
    ),
    _break(
        "ws-lax-control",
        "RFC 6455 §5.5: an oversized control frame trimmed and taken",
        {"long-control-frame-fails", "protocol-error-close-codes"},
        r"kept the connection open|stayed open",
        wire=True,
    ),
    _break(
        "ws-mask-for-client",
        "RFC 6455 §5.1: an unmasked client frame taken",
        {"unmasked-frame-fails", "protocol-error-close-codes"},
        r"kept the connection open|the app received|stayed open",
        wire=True,
    ),
    _break(
        "ws-close-no-code",
        "RFC 6455 §7.4.1: close frames without their code (granian's protocol errors)",
        {"protocol-error-close-codes", "message-size-limit", "app-close-code"},
        r"close frame None|not 1009|close frame says 1005",
        wire=True,
    ),
)

LEGAL: tuple[Legal, ...] = (
    Legal(
        "ws-both-keys",
        "ASGI WebSocket 2.5, Receive: one or both of bytes and text may be present",
        f"{__name__}:ws_both_keys",
    ),
    Legal(
        "ws-extra-scope-keys",
        "ASGI core: extra keys in a scope must not be an error",
        f"{__name__}:ws_extra_scope_keys",
    ),
)
