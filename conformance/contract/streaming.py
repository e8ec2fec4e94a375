"""Streaming endpoints: gated chunks, read() objects, large bodies, endless and flooding streams.

``/stream/bytes?size=&chunk=&length=&token=`` streams the deterministic pattern; with a token it
records ``done`` once the server has taken the last chunk (its ``send()`` returned).
``/stream/flood/{token}`` counts ``produced`` per chunk handed to the server, forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final

from reference_app import App, Request, Response

from ._common import CHUNK, PATTERN, float_param, int_param, observations, pattern


class _Reader:
    """A ``read()``/``close()`` body source that records its closing."""

    def __init__(self, token: str, size: int) -> None:
        self.token = token
        self.remaining = size

    async def read(self, size: int) -> bytes:
        chunk = pattern(min(size, self.remaining))
        self.remaining -= len(chunk)
        return chunk

    async def close(self) -> None:
        observations.record(self.token, "closed")


#: The pattern and 256 bytes more: slicing it from 256 on gives a fresh copy of the pattern.
_SHIFTED: Final = PATTERN + PATTERN[:256]


async def _pattern_chunks(size: int, chunk: int, token: str | None) -> AsyncIterator[bytes]:
    """``size`` bytes of the pattern in ``chunk``-byte pieces; ``done`` once all were taken.

    Each piece is a new bytes object, as an app's data is (read from a file, rendered): a
    server that holds the whole stream then holds its size in memory, where pieces that were
    all one object (a full slice of the pattern is the pattern itself) would cost it nothing.
    """
    sent = 0
    while sent < size:
        length = min(chunk, size - sent, len(PATTERN))
        piece = _SHIFTED[256 : 256 + length]  # the pattern is 256-periodic
        sent += len(piece)
        yield piece
    if token:
        # The last chunk's send() returned: the server has taken the whole stream.
        observations.record(token, "done", size=sent)


def register(app: App) -> None:
    """Add this family's endpoints to ``app``."""

    @app.route("/stream/gated/{token}")
    async def stream_gated(req: Request, resp: Response, token: str) -> None:
        count, size = int_param(req, "n", 3), int_param(req, "size", 16)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                for index in range(count):
                    await observations.gate(token, "next").acquire()
                    observations.record(token, "produced", index=index)
                    yield f"{index:0{size}d}".encode()[-size:]
            finally:
                observations.record(token, "finalized")

        resp.stream = chunks()

    @app.route("/stream/reader/{token}")
    async def stream_reader(req: Request, resp: Response, token: str) -> None:
        resp.stream = _Reader(token, int_param(req, "size", 200_000))

    @app.route("/stream/bytes")
    async def stream_bytes(req: Request, resp: Response) -> None:
        size, chunk = int_param(req, "size", CHUNK), max(1, int_param(req, "chunk", CHUNK))
        chunks = _pattern_chunks(size, chunk, req.get_param("token"))
        if req.get_param("length") == "1":
            resp.set_stream(chunks, size)
        else:
            resp.stream = chunks

    @app.route("/stream/forever/{token}")
    async def stream_forever(req: Request, resp: Response, token: str) -> None:
        interval = float_param(req, "interval", 0.01)

        async def ticks() -> AsyncIterator[bytes]:
            observations.record(token, "started")
            try:
                while True:
                    observations.count(token, "produced")
                    yield b"tick\n"
                    await asyncio.sleep(interval)
            finally:
                observations.record(token, "finalized")

        resp.stream = ticks()

    @app.route("/stream/flood/{token}")
    async def stream_flood(req: Request, resp: Response, token: str) -> None:
        chunk = pattern(int_param(req, "chunk", CHUNK))

        async def flood() -> AsyncIterator[bytes]:
            try:
                while True:
                    observations.count(token, "produced")
                    yield chunk
            finally:
                observations.record(token, "finalized")

        resp.stream = flood()
