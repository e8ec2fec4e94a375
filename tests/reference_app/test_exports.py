"""The public names of ``reference_app``, and the seed's ChunkyBacon example running on it.

The seed (the Falcon ASGI interface proposal) is written against
``falcon.asgi.App`` and ``falcon.util.sync_to_async``; here those are ``reference_app.App`` and
``reference_app.sync_to_async``, the baconator is a fake, and ``aiofiles.open`` is a tiny wrapper
over a real file. Each "Or ..." alternative of the seed is picked by a query parameter
(``?as=`` for GET, ``?via=`` for PUT) so that every one of them is sent and checked.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar

import pytest

import reference_app
import reference_app.websocket
from reference_app import Request, Response, SSEvent
from reference_app.testing import ASGIDriver, Result

# -- the public API -----------------------------------------------------------------------------


def test_all_is_locked() -> None:
    assert reference_app.__all__ == [
        "DEFAULT_MAX_MESSAGE_SIZE",
        "EXT_WEBSOCKET_DENIAL",
        "RECEIVE_QUEUE",
        "App",
        "BaseHandler",
        "BoundedStream",
        "ClientDisconnected",
        "HTTPBadRequest",
        "HTTPError",
        "HTTPInternalServerError",
        "HTTPInvalidHeader",
        "HTTPMethodNotAllowed",
        "HTTPNotFound",
        "HTTPPayloadTooLarge",
        "HTTPUnsupportedMediaType",
        "IncompleteBodyError",
        "JSONHandler",
        "MediaMalformedError",
        "MediaNotFoundError",
        "OperationNotAllowed",
        "PayloadTypeError",
        "Request",
        "Response",
        "ResponseAborted",
        "RouteTemplateError",
        "SSEvent",
        "URLEncodedFormHandler",
        "WebSocket",
        "WebSocketDisconnected",
        "WebSocketRequest",
        "WebSocketState",
        "deny",
        "sync_to_async",
    ]
    for name in reference_app.__all__:
        assert getattr(reference_app, name) is not None, name
    assert reference_app.__version__ == "0.1.0"


@pytest.mark.parametrize("name", reference_app.websocket.__all__)
def test_every_public_websocket_name_is_exported(name: str) -> None:
    namespace: dict[str, Any] = {}
    exec(f"from reference_app import {name}", namespace)
    assert namespace[name] is getattr(reference_app.websocket, name)
    assert name in reference_app.__all__


def test_the_websocket_names_import_from_the_package() -> None:
    from reference_app import (
        PayloadTypeError,
        WebSocket,
        WebSocketDisconnected,
        WebSocketRequest,
        WebSocketState,
    )

    assert issubclass(WebSocketDisconnected, ConnectionError)
    assert issubclass(PayloadTypeError, TypeError)
    assert issubclass(WebSocketRequest, Request)
    assert WebSocket.__module__ == WebSocketState.__module__ == "reference_app.websocket"


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, Any] = {}
    exec("from reference_app import *", namespace)
    assert sorted(set(namespace) - {"__builtins__"}) == sorted(reference_app.__all__)


# -- stand-ins for what the seed imports --------------------------------------------------------


class falcon:
    """The seed's names: ``falcon.asgi.App`` and ``falcon.util.sync_to_async``."""

    class asgi:
        App = reference_app.App

    class util:
        sync_to_async = reference_app.sync_to_async


class AsyncFile:
    """The slice of an aiofiles file the seed uses: awaitable read() and close()."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self.close_calls = 0

    async def read(self, size: int = -1) -> bytes:
        return await reference_app.sync_to_async(self._file.read, size)

    async def close(self) -> None:
        # Closes without suspending. A close() that awaits is cancelled part-way today: the
        # server's http.disconnect after a complete response makes transmit cancel the task
        # that is awaiting it (reported against transmit.py).
        self.close_calls += 1
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed


class aiofiles_open:
    """``await aiofiles_open(path)`` or ``async with aiofiles_open(path) as f``; binary reads."""

    #: Every file opened, to check that each one gets closed.
    opened: ClassVar[list[AsyncFile]] = []

    def __init__(self, path: str | Path, mode: str = "rb") -> None:
        if mode != "rb":
            raise ValueError("this wrapper only reads bytes")
        self._path = path
        self._file: AsyncFile | None = None

    async def _open(self) -> AsyncFile:
        self._file = AsyncFile(await reference_app.sync_to_async(open, self._path, "rb"))
        aiofiles_open.opened.append(self._file)
        return self._file

    def __await__(self) -> Generator[Any, None, AsyncFile]:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncFile:
        return await self._open()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._file is not None
        await self._file.close()


@dataclass
class BaconEvent:
    """An event of the bacon feed; it serializes itself, as the seed's third SSE form allows."""

    strips: int

    def as_dict(self) -> dict[str, int]:
        return {"strips": self.strips}

    def serialize(self) -> bytes:
        return f"event: bacon\ndata: {self.strips} strips\n\n".encode()


class Manifest:
    def __init__(self, owner: Baconator, bacon_id: str | None) -> None:
        self.owner = owner
        self.bacon_id = bacon_id
        self.chunks: list[bytes] = []

    async def put_chunk(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    async def finalize(self) -> None:
        self.owner.finalized.append(self)


@dataclass
class Baconator:
    """A fake of the seed's baconator: an in-memory store and an event feed."""

    stored: dict[str | None, object] = field(default_factory=dict)
    finalized: list[Manifest] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    events: asyncio.Queue[BaconEvent | None] = field(default_factory=asyncio.Queue)
    listeners: int = 0

    async def get_bacon(self, bacon_id: str | None) -> dict[str, object]:
        return {"id": bacon_id, "strips": 3, "crispy": True}

    async def put(self, bacon_id: str | None, new_bacon: object) -> None:
        self.stored[bacon_id] = new_bacon

    async def update(self, bacon_id: str | None, new_bacon: bytes) -> None:
        self.stored[bacon_id] = new_bacon

    async def manifest(self, bacon_id: str | None) -> Manifest:
        return Manifest(self, bacon_id)

    async def get_next_event(self) -> BaconEvent | None:
        return await self.events.get()


def some_sync_function(level: int) -> str:
    return f"crispiness {level} from {threading.current_thread().name}"


# -- the seed's resource, on reference_app ------------------------------------------------------


class ChunkyBacon:
    def __init__(self, baconator: Baconator, filename: Path) -> None:
        self._baconator = baconator
        self._filename = filename

    async def on_get(self, req: Request, resp: Response, bacon_id: str | None = None) -> None:
        variant = req.get_param("as", "media")

        if variant == "media":
            # Use JSON serializer to send it back in one chunk
            resp.media = await self._baconator.get_bacon(bacon_id)

        resp.set_header("X-Powered-By", "Bacon")

        if variant == "body":
            resp.body = "some text"

        if variant == "text":
            # Or use the new 3.0 alias for body
            resp.text = "some text"

        if variant == "data":
            # Or set it to a byte string
            async with aiofiles_open(self._filename, mode="rb") as f:
                some_data = await f.read()
            resp.data = some_data

        # Adapt sync function by running it in the default executor
        result = await falcon.util.sync_to_async(some_sync_function, 7)
        resp.set_header("X-Crispiness", result)

        # A push promise: the location, and the request headers the user agent would send.
        virtual_req_headers = {"Accept": "application/json"}
        resp.push("/bacon/crispy.json?a=1", virtual_req_headers)

        if variant == "file":
            # Or stream the response from disk: an object with an awaitable read() (and close()).
            resp.stream = await aiofiles_open(self._filename, "rb")

        if variant == "producer":
            resp.stream = self._producer(await aiofiles_open(self._filename, "rb"))

        if variant == "uncalled-producer":
            # The seed writes ``resp.stream = producer``: the function, not a generator.
            async def uncalled() -> AsyncIterator[bytes]:
                yield b"never"

            resp.stream = uncalled  # type: ignore[assignment]

        if variant == "sse":
            # Or, rather than a body, emit a series of server-sent events.
            resp.sse = self._emitter()

    async def _producer(self, file: AsyncFile) -> AsyncIterator[bytes]:
        # An async generator that yields byte strings (the seed's producer).
        async def read_data() -> bytes:
            return await file.read(40_000)

        try:
            while True:
                data_chunk = await read_data()
                if not data_chunk:
                    break
                yield data_chunk
        finally:
            await file.close()

    async def _emitter(self) -> AsyncIterator[object]:
        # The seed's emitter: runs until the client leaves, then must be finalized.
        baconator = self._baconator
        some_id = "bacon-1"
        baconator.listeners += 1
        try:
            while True:
                some_event = await baconator.get_next_event()
                if not some_event:
                    # A "ping" comment keeps the connection alive; so does None.
                    yield SSEvent()
                    yield None
                    continue
                yield SSEvent(json=some_event.as_dict(), retry=5000)
                # Or...
                yield SSEvent(data=b"somethingsomething", id=some_id)
                # Or anything with a serialize() method returning the event's bytes.
                yield some_event
        finally:
            baconator.listeners -= 1

    async def on_put(self, req: Request, resp: Response, bacon_id: str | None = None) -> None:
        via = req.get_param("via", "media")

        if via == "media":
            # Media handling reads the body asynchronously, then parses it.
            new_bacon = await req.get_media()
            await self._baconator.put(bacon_id, new_bacon)

        if via == "iter":
            # Or read the request body in chunks with async for.
            manifest = await self._baconator.manifest(bacon_id)
            async for data_chunk in req.stream:
                await manifest.put_chunk(data_chunk)
            await manifest.finalize()

        if via == "read":
            # Or read the data all at once.
            data = await req.stream.read()
            await self._baconator.update(bacon_id, data)

        if via == "chunks":
            # Or read in bounded chunks; at EOF, read() returns b"" however often it is called.
            manifest = await self._baconator.manifest(bacon_id)
            while True:
                data_chunk = await req.stream.read(4096)
                if not data_chunk:
                    break
                await manifest.put_chunk(data_chunk)
            await manifest.finalize()

        baconator = self._baconator

        async def background_job_1() -> None:
            # Something that may take a few seconds, such as starting a workflow.
            await asyncio.sleep(0)
            baconator.jobs.append(f"job 1 for {bacon_id}")

        resp.schedule(background_job_1)

        def background_job_2() -> None:
            # Runs in the loop's default executor, after the response is sent.
            baconator.jobs.append(f"job 2 in {threading.current_thread().name}")

        resp.schedule_sync(background_job_2)


BACON = bytes(range(256)) * 600  # 150 KiB: more than two 64 KiB stream blocks


@dataclass
class Kitchen:
    api: reference_app.App
    baconator: Baconator
    filename: Path

    def request(self, method: str, path: str, **kwargs: Any) -> Result:
        return asyncio.run(ASGIDriver(self.api).request(method, path, **kwargs))


@pytest.fixture
def kitchen(tmp_path: Path) -> Kitchen:
    filename = tmp_path / "bacon.json"
    filename.write_bytes(BACON)
    aiofiles_open.opened = []
    baconator = Baconator()
    api = falcon.asgi.App()
    api.add_route("/bacon", ChunkyBacon(baconator, filename))
    api.add_route("/bacon/{bacon_id}", ChunkyBacon(baconator, filename))
    return Kitchen(api, baconator, filename)


# -- GET ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "path", "content_type", "body"),
    [
        pytest.param(
            "media",
            "/bacon/b1",
            "application/json",
            b'{"id":"b1","strips":3,"crispy":true}',
            id="media",
        ),
        pytest.param(
            "media",
            "/bacon",
            "application/json",
            b'{"id":null,"strips":3,"crispy":true}',
            id="no-id",
        ),
        pytest.param("body", "/bacon", "text/plain; charset=utf-8", b"some text", id="body"),
        pytest.param("text", "/bacon", "text/plain; charset=utf-8", b"some text", id="text"),
        pytest.param("data", "/bacon", "application/octet-stream", BACON, id="data-from-file"),
    ],
)
def test_get_rendered_bodies(
    kitchen: Kitchen, variant: str, path: str, content_type: str, body: bytes
) -> None:
    result = kitchen.request("GET", path, query=f"as={variant}")
    assert result.status == 200
    assert result.header("x-powered-by") == "Bacon"
    assert result.header("content-type") == content_type
    assert result.header("content-length") == str(len(body))
    assert result.body == body
    assert all(file.closed for file in aiofiles_open.opened)


def test_get_runs_the_sync_function_in_a_worker_thread(kitchen: Kitchen) -> None:
    result = kitchen.request("GET", "/bacon")
    crispiness = result.header("x-crispiness")
    assert crispiness is not None
    assert crispiness.startswith("crispiness 7 from ")
    assert crispiness != f"crispiness 7 from {threading.main_thread().name}"


def test_get_pushes_only_when_the_server_can(kitchen: Kitchen) -> None:
    plain = kitchen.request("GET", "/bacon", headers=[("user-agent", "ua/1")])
    assert plain.status == 200
    assert plain.pushes == []

    pushing = ASGIDriver(kitchen.api, extensions={"http.response.push": {}}, http_version="2")
    result = asyncio.run(pushing.get("/bacon", headers=[("user-agent", "ua/1")]))
    assert result.pushes == [
        {
            "type": "http.response.push",
            "path": "/bacon/crispy.json?a=1",
            "headers": [(b"user-agent", b"ua/1"), (b"accept", b"application/json")],
        }
    ]


def test_get_streams_the_file_in_blocks_and_closes_it_once(kitchen: Kitchen) -> None:
    result = kitchen.request("GET", "/bacon", query="as=file")
    assert result.status == 200
    assert result.body == BACON
    assert [len(chunk) for chunk in result.chunks if chunk] == [65536, 65536, 22528]
    assert result.header("content-length") is None
    assert result.header("content-type") == "application/octet-stream"
    (file,) = aiofiles_open.opened
    assert file.closed
    assert file.close_calls == 1


def test_get_streams_a_producer(kitchen: Kitchen) -> None:
    result = kitchen.request("GET", "/bacon", query="as=producer")
    assert result.body == BACON
    assert [len(chunk) for chunk in result.chunks if chunk] == [40_000] * 3 + [33_600]
    (file,) = aiofiles_open.opened
    assert file.closed


def test_the_seeds_uncalled_producer_is_a_clear_500(
    kitchen: Kitchen, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="reference_app"):
        result = kitchen.request("GET", "/bacon", query="as=uncalled-producer")
    assert result.status == 500
    assert result.json() == {"title": "Internal Server Error"}
    assert "resp.stream must be an async iterable of bytes or have an awaitable read()" in (
        caplog.text
    )


def test_get_sse_until_the_client_leaves(kitchen: Kitchen) -> None:
    ping = b": ping\n\n"
    expected = (
        ping
        + ping
        + b'retry: 5000\ndata: {"strips":4}\n\n'
        + b"id: bacon-1\ndata: somethingsomething\n\n"
        + b"event: bacon\ndata: 4 strips\n\n"
    )

    async def scenario() -> tuple[bytes, Result]:
        driver = ASGIDriver(kitchen.api)
        async with driver.stream("GET", "/bacon", query="as=sse") as exchange:
            assert await exchange.start() == 200
            assert dict(exchange.headers)[b"content-type"] == b"text/event-stream"
            kitchen.baconator.events.put_nowait(None)
            kitchen.baconator.events.put_nowait(BaconEvent(4))
            received = b""
            while len(received) < len(expected):
                chunk = await exchange.next_chunk()
                assert chunk is not None
                received += chunk
            assert kitchen.baconator.listeners == 1  # blocked on the next event
            exchange.disconnect()
            result = await exchange.finish()
        return received, result

    received, result = asyncio.run(scenario())
    assert received == expected
    assert result.disconnected
    assert kitchen.baconator.listeners == 0  # the blocked emitter was finalized


# -- PUT ----------------------------------------------------------------------------------------


def put(kitchen: Kitchen, via: str, body: bytes | list[bytes], **kwargs: Any) -> Result:
    async def scenario() -> Result:
        result = await ASGIDriver(kitchen.api).request(
            "PUT", "/bacon/b9", query=f"via={via}", body=body, **kwargs
        )
        assert await kitchen.api.jobs.drain(5.0) == 0  # the jobs finished; none was cancelled
        return result

    return asyncio.run(scenario())


def test_put_media_and_background_jobs(kitchen: Kitchen) -> None:
    result = put(kitchen, "media", b'{"strips": 9}', headers=[("content-type", "application/json")])
    assert result.status == 200
    assert result.body == b""
    assert kitchen.baconator.stored == {"b9": {"strips": 9}}
    first, second = kitchen.baconator.jobs
    assert first == "job 1 for b9"
    assert second.startswith("job 2 in ")
    assert second != f"job 2 in {threading.main_thread().name}"


def test_put_iterates_the_body_as_it_arrives(kitchen: Kitchen) -> None:
    put(kitchen, "iter", [b"a" * 3000, b"b" * 3000, b"c" * 4000])
    (manifest,) = kitchen.baconator.finalized
    assert [len(chunk) for chunk in manifest.chunks] == [3000, 3000, 4000]
    assert b"".join(manifest.chunks) == b"a" * 3000 + b"b" * 3000 + b"c" * 4000


def test_put_reads_the_whole_body(kitchen: Kitchen) -> None:
    put(kitchen, "read", [b"crispy ", b"bacon"], headers=[("content-length", "12")])
    assert kitchen.baconator.stored == {"b9": b"crispy bacon"}


def test_put_reads_bounded_chunks(kitchen: Kitchen) -> None:
    put(kitchen, "chunks", b"x" * 10_000)
    (manifest,) = kitchen.baconator.finalized
    assert [len(chunk) for chunk in manifest.chunks] == [4096, 4096, 1808]


def test_put_with_an_empty_json_body_is_a_400_before_any_job(kitchen: Kitchen) -> None:
    result = put(kitchen, "media", b"")
    assert result.status == 400
    assert result.json()["title"] == "Empty request body"
    assert kitchen.baconator.jobs == []
