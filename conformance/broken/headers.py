"""Breaks of the headers family: response fields mangled, content leaked, bad requests let in.

* ASGI breaks change the app's ``http.response.start``: set-cookie fields joined into one line
  (a server that keeps response headers in a dict), obs-text replaced (a server that decodes
  header values as ASCII text).
* Wire breaks are proxies in front of a real server: one writes body bytes after the header
  section of a 204 or 304 (as daphne does) or, over HTTP/2, a DATA frame on a 204, 304 or
  HEAD response (as granian does); one is a lenient HTTP/1.1 parser in front of the server,
  turning a header section the server would refuse into one it accepts (whitespace before
  the colon and invalid name bytes dropped, NUL and CR deleted from values, obs-fold lines
  dropped, long values cut, fields past the 100th dropped), as a front end that "repairs"
  requests does; its HTTP/2 twin rewrites each request's header block (HPACK decoded and
  encoded again) the same way.

:data:`BREAKS` says which cases catch each (found by running the family under each break).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Final

import hpack

from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from . import Break
from .apps import around
from .wire import (
    DATA,
    END_STREAM,
    HEADERS,
    Frame,
    both,
    h2_relay,
    half_close,
    relay,
    responses,
)

__all__ = [
    "BREAKS",
    "bodiless_body_leaked",
    "bodiless_data_h2",
    "lenient_header_parser",
    "lenient_header_parser_h2",
    "obs_text_replaced",
    "set_cookies_merged",
]

#: What the leaking proxies write as the content of a response that has none.
LEAK: Final = b"leaked body"
#: The longest field value the lenient parser keeps (the rest is cut).
MAX_VALUE: Final = 8 * 1024
#: How many field lines the lenient parser keeps.
MAX_FIELDS: Final = 100
#: RFC 9110 §5.6.2: the characters of a token.
TCHAR: Final = frozenset(
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
#: Frame type and flags the HTTP/2 proxies need besides :mod:`conformance.broken.wire`'s.
CONTINUATION: Final = 0x9
END_HEADERS: Final = 0x4
PADDED: Final = 0x8
PRIORITY: Final = 0x20
_READ: Final = 65536


# -- ASGI: the app's response headers -------------------------------------------------------


def _start_change(
    change: Callable[[list[tuple[bytes, bytes]]], list[tuple[bytes, bytes]]],
) -> ASGIApp:
    """A server that sends the app's response header fields changed by ``change``."""

    async def layer(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        async def changing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(bytes(n), bytes(v)) for n, v in message.get("headers", [])]
                message = {**message, "headers": change(headers)}
            await send(message)

        await app(scope, receive, changing_send)

    return around(layer)


def _merge_cookies(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    cookies = [value for name, value in headers if name == b"set-cookie"]
    if len(cookies) < 2:
        return headers
    first = next(i for i, (name, _) in enumerate(headers) if name == b"set-cookie")
    rest = [(name, value) for name, value in headers if name != b"set-cookie"]
    rest.insert(first, (b"set-cookie", b", ".join(cookies)))
    return rest


#: The app's set-cookie fields joined into one, with commas.
set_cookies_merged = _start_change(_merge_cookies)


def _ascii(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(n, v.decode("ascii", "replace").encode("ascii", "replace")) for n, v in headers]


#: Each byte 0x80-0xFF of a response header value replaced by ``?`` (decoded as ASCII).
obs_text_replaced = _start_change(_ascii)


# -- wire, HTTP/1.1: a lenient parser in front of the server -----------------------------------


class _Heads:
    """Request heads of any size from a stream (the proxies' readers cap a line at 256 KiB)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.buffer = bytearray()

    async def head(self) -> bytes | None:
        """The next head, through its empty line; None at a clean end of stream."""
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            data = await self.reader.read(_READ)
            if not data:
                if self.buffer:
                    raise asyncio.IncompleteReadError(bytes(self.buffer), None)
                return None
            self.buffer += data
        head = bytes(self.buffer[: end + 4])
        del self.buffer[: end + 4]
        return head

    async def body(self, size: int) -> AsyncIterator[bytes]:
        """``size`` bytes of body, as they come."""
        while size > 0:
            if not self.buffer:
                data = await self.reader.read(min(size, _READ))
                if not data:
                    raise asyncio.IncompleteReadError(b"", size)
                self.buffer += data
            piece = bytes(self.buffer[:size])
            del self.buffer[: len(piece)]
            size -= len(piece)
            yield piece


def _token(name: bytes) -> bytes:
    return bytes(byte for byte in name if byte in TCHAR)


def _lenient(head: bytes) -> bytes:
    """What a lenient parser makes of a request head: one the strict server accepts."""
    start, *lines = head[:-4].split(b"\r\n")
    fields: list[bytes] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            continue  # an obs-fold continuation: lost
        name, colon, value = line.partition(b":")
        name = _token(name)
        if not colon or not name:
            continue
        value = bytes(b for b in value.strip(b" \t") if b >= 0x20 or b == 0x09)
        fields.append(name + b": " + value[:MAX_VALUE])
    return b"\r\n".join([start, *fields[:MAX_FIELDS]]) + b"\r\n\r\n"


def _length(head: bytes) -> int | None:
    """The Content-Length of a (sanitized) head; None if chunked or invalid."""
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"transfer-encoding":
            return None
        if name.lower() == b"content-length":
            if not value.strip().isdigit():
                return None
            length = int(value)
    return length


async def _requests(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    repair: Callable[[bytes], bytes] | None = None,
    methods: asyncio.Queue[bytes] | None = None,
) -> None:
    """Relay the client's requests, each head through ``repair``, telling ``methods`` the
    method of each; a chunked body (which no case of the family sends) ends the parsing."""
    heads = _Heads(reader)
    while (head := await heads.head()) is not None:
        if repair is not None:
            head = repair(head)
        if methods is not None:
            methods.put_nowait(head.split(b" ", 1)[0])
        writer.write(head)
        length = _length(head)
        if length is None:
            writer.write(bytes(heads.buffer))
            await relay(reader, writer)
            return
        async for piece in heads.body(length):
            writer.write(piece)
            await writer.drain()
        await writer.drain()
    await half_close(writer)


async def lenient_header_parser(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: each request head repaired so the server accepts it (:func:`_lenient`)."""
    await both(_requests(client_reader, server, _lenient), relay(server_reader, client))


# -- wire, HTTP/1.1: content after a 204 or 304 ----------------------------------------------


async def bodiless_body_leaked(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: :data:`LEAK` written after the header section of every 204 and 304 response."""
    methods: asyncio.Queue[bytes] = asyncio.Queue()

    async def down() -> None:
        async for response in responses(server_reader, methods):
            client.write(response.head.raw)
            if response.status in (204, 304):
                client.write(LEAK)
            async for raw, _ in response.body():
                client.write(raw)
                await client.drain()
            await client.drain()
        await relay(server_reader, client)

    await both(_requests(client_reader, server, methods=methods), down())


# -- wire, HTTP/2: header blocks ---------------------------------------------------------------


def _fragment(frame: Frame) -> bytes:
    """The header block fragment of a HEADERS frame (padding and priority removed)."""
    payload, pad = frame.payload, 0
    if frame.flags & PADDED:
        pad, payload = payload[0], payload[1:]
    if frame.flags & PRIORITY:
        payload = payload[5:]
    return payload[: len(payload) - pad]


class _Blocks:
    """Gathers header blocks (HEADERS and CONTINUATION frames) of one direction."""

    def __init__(self) -> None:
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 30
        self.frames: list[Frame] = []

    def add(self, frame: Frame) -> list[tuple[bytes, bytes]] | None:
        """Take a HEADERS or CONTINUATION frame; the block's fields once it is complete."""
        self.frames.append(frame)
        if not frame.flags & END_HEADERS:
            return None
        first, *rest = self.frames
        block = _fragment(first) + b"".join(f.payload for f in rest)
        return [(bytes(n), bytes(v)) for n, v in self.decoder.decode(block, raw=True)]

    def take(self) -> list[Frame]:
        """The frames of the block just completed."""
        frames, self.frames = self.frames, []
        return frames


def _h2_lenient_fields(fields: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    repaired = []
    for name, value in fields:
        if not name.startswith(b":"):
            name = _token(name.lower())
            value = bytes(b for b in value.strip(b" \t") if b not in (0x00, 0x0A, 0x0D))
        if name:
            repaired.append((name, value))
    return repaired


class _LenientRequests:
    """Upstream filter: every request header block decoded, repaired, encoded again."""

    def __init__(self) -> None:
        self.blocks = _Blocks()
        self.encoder = hpack.Encoder()

    def __call__(self, frame: Frame) -> Iterable[Frame]:
        if frame.type not in (HEADERS, CONTINUATION):
            return [frame]
        fields = self.blocks.add(frame)
        if fields is None:
            return []
        first = self.blocks.take()[0]
        block = self.encoder.encode(_h2_lenient_fields(fields))
        return [Frame(HEADERS, (first.flags & END_STREAM) | END_HEADERS, first.stream_id, block)]


async def lenient_header_parser_h2(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: each HTTP/2 request's fields repaired so the server accepts them (names
    lowercased and cut to token characters, values trimmed, NUL, CR and LF deleted)."""
    await h2_relay(client_reader, client, server_reader, server, upstream=_LenientRequests())


class _BodilessData:
    """Both directions of a connection: DATA added to each response that has no content."""

    def __init__(self) -> None:
        self.requests = _Blocks()
        self.responses = _Blocks()
        self.methods: dict[int, bytes] = {}
        self.bodiless: set[int] = set()
        self.leaked: set[int] = set()

    def upstream(self, frame: Frame) -> Iterable[Frame]:
        if frame.type in (HEADERS, CONTINUATION):
            fields = self.requests.add(frame)
            if fields is not None:
                self.requests.take()
                self.methods.setdefault(frame.stream_id, dict(fields).get(b":method", b""))
        return [frame]

    def downstream(self, frame: Frame) -> Iterable[Frame]:
        stream = frame.stream_id
        if frame.type in (HEADERS, CONTINUATION):
            fields = self.responses.add(frame)
            if fields is None:
                return []
            frames = self.responses.take()
            status = int(dict(fields).get(b":status", b"0") or 0)
            no_content = status in (204, 304) or self.methods.get(stream) == b"HEAD"
            if status >= 200 and no_content and stream not in self.leaked:
                self.bodiless.add(stream)
            if stream in self.bodiless and frames[0].flags & END_STREAM:
                head = frames[0]
                frames[0] = Frame(head.type, head.flags & ~END_STREAM, stream, head.payload)
                return [*frames, self._leak(stream, END_STREAM)]
            return frames
        ending = frame.type == DATA and frame.flags & END_STREAM
        if ending and stream in self.bodiless and stream not in self.leaked:
            return [self._leak(stream, 0), frame]
        return [frame]

    def _leak(self, stream: int, flags: int) -> Frame:
        self.leaked.add(stream)
        return Frame(DATA, flags, stream, LEAK)


async def bodiless_data_h2(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Proxy: a DATA frame of :data:`LEAK` ends each HTTP/2 response to HEAD and each 204
    and 304 response."""
    state = _BodilessData()
    await h2_relay(
        client_reader,
        client,
        server_reader,
        server,
        upstream=state.upstream,
        downstream=state.downstream,
    )


_MODULE = "conformance.broken.headers"
_REFUSE = (
    "an invalid request header section is the server's to refuse (RFC 9112 §2.2, §5.1, §5.2; "
    "RFC 9110 §5.4, §5.5)"
)

BREAKS: Final = (
    Break(
        name="set-cookies-merged",
        promise="ASGI HTTP 2.5, HTTP: Set-Cookie cannot be concatenated into a single header "
        "field. Joins the app's set-cookie fields with commas, as a server keeping response "
        "headers in a dict does.",
        catches=frozenset({"headers/set-cookie-kept-apart"}),
        says=r"the client got \[b'a=1; Path=/, b=2",
        app=f"{_MODULE}:set_cookies_merged",
    ),
    Break(
        name="obs-text-replaced",
        promise="RFC 9110 §5.5: obs-text is opaque data. Replaces it with '?', as a server "
        "that decodes header values as ASCII does.",
        catches=frozenset({"headers/obs-text-passed-through"}),
        says=r"the client got \[b'caf\?",
        app=f"{_MODULE}:obs_text_replaced",
    ),
    Break(
        name="bodiless-body-leaked",
        promise="RFC 9110 §15.3.5, §15.4.5; RFC 9112 §6.3: a 204 or 304 ends with its header "
        "section. Writes body bytes after it, as daphne does with the app's second body "
        "message.",
        catches=frozenset({"headers/no-body-204", "headers/no-body-304"}),
        says=r"the server sent content|the server sent b'leaked body' after the",
        proxy=f"{_MODULE}:bodiless_body_leaked",
    ),
    Break(
        name="bodiless-data-h2",
        promise="RFC 9110 §9.3.2, §15.3.5, §15.4.5; RFC 9113 §8.1.1: a response to HEAD, a 204 "
        "and a 304 have no DATA payload. Sends a DATA frame in each, as granian's HTTP/2 "
        "sends what the app gives.",
        catches=frozenset(
            {"headers/no-body-204", "headers/no-body-304", "headers/head-no-body-h2"}
        ),
        says=r"bytes of DATA in the|sent DATA in the response to HEAD",
        proxy=f"{_MODULE}:bodiless_data_h2",
        variant="hypercorn-h2c",
    ),
    Break(
        name="lenient-header-parser",
        promise=f"{_REFUSE}. A lenient parser in front of the server repairs what it should "
        "refuse: whitespace before the colon and non-token bytes of names dropped, NUL and CR "
        "deleted from values, obs-fold continuations dropped, values over 8 KiB cut, fields "
        "past the 100th dropped.",
        catches=frozenset(
            {
                "headers/space-before-colon-refused",
                "headers/invalid-name-refused",
                "headers/invalid-value-refused",
                "headers/obs-fold",
                "headers/oversize-field",
                "headers/too-many-fields",
            }
        ),
        says=r"answered 200",
        proxy=f"{_MODULE}:lenient_header_parser",
    ),
    Break(
        name="lenient-header-parser-h2",
        promise="RFC 9113 §8.2.1, §8.1.1: a malformed request is a stream error PROTOCOL_ERROR "
        "and is never forwarded. Repairs each request's fields (names lowercased and cut to "
        "token characters, values trimmed, NUL, CR and LF deleted) before the server sees them.",
        catches=frozenset({"headers/invalid-name-refused-h2", "headers/invalid-value-refused-h2"}),
        says=r"the server handed the request to the app",
        proxy=f"{_MODULE}:lenient_header_parser_h2",
        variant="hypercorn-h2c",
    ),
)
