"""The over-the-wire endpoints of the raw and reference apps, in process: download, upload and
the SSE fan-out answer what the measurements check."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bench.apps import raw, reference
from bench.apps.hub import Hub
from bench.driver import ASGIApp, Exchange, call

BUILDERS: dict[str, Callable[[], ASGIApp]] = {
    "raw": raw.build_app,
    "reference_app": reference.build_app,
}


def _scope(method: str, path: str, query: bytes = b"", headers: Any = ()) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"localhost"), *headers],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
    }


@pytest.mark.parametrize("name", list(BUILDERS))
@pytest.mark.parametrize("size", [0, 1, 65536, 65536 * 3 + 17])
async def test_download_sends_exactly_the_size_asked_with_its_length(name: str, size: int) -> None:
    app = BUILDERS[name]()
    result = await call(
        app,
        _scope("GET", "/download", f"size={size}".encode()),
        {"type": "http.request", "body": b"", "more_body": False},
    )
    assert result.status == 200
    assert result.header(b"content-length") == str(size).encode()
    assert len(result.body) == size
    assert all(len(chunk) <= 65536 for chunk in result.chunks)


@pytest.mark.parametrize("name", list(BUILDERS))
async def test_upload_counts_a_body_sent_in_pieces(name: str) -> None:
    app = BUILDERS[name]()
    pieces = [b"a" * 1000, b"b" * 5000, b"c" * 24]
    messages = [
        {"type": "http.request", "body": piece, "more_body": index < len(pieces) - 1}
        for index, piece in enumerate(pieces)
    ]
    sent: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    headers = [(b"content-length", b"6024"), (b"content-type", b"application/octet-stream")]
    await app(_scope("POST", "/upload", headers=headers), receive, send)
    assert sent[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"6024"


@pytest.mark.parametrize("name", list(BUILDERS))
async def test_fanout_delivers_every_event_to_every_subscriber_then_ends(name: str) -> None:
    app = BUILDERS[name]()
    request = {"type": "http.request", "body": b"", "more_body": False}
    exchanges = [Exchange(dict(request)) for _ in range(5)]
    tasks = [
        asyncio.ensure_future(app(_scope("GET", "/fanout/subscribe"), e.receive, e.send))
        for e in exchanges
    ]
    async with asyncio.timeout(10):
        while not all(b": ready" in b"".join(e.chunks) for e in exchanges):
            await asyncio.sleep(0.001)
        publisher = await call(app, _scope("POST", "/fanout/publish", b"n=20"), dict(request))
        await asyncio.gather(*tasks)
    assert publisher.body == b"5"
    for exchange in exchanges:
        body = b"".join(exchange.chunks)
        assert exchange.done
        assert body.count(b"data: tick ") == 20
        assert body.startswith(b": ready\n\n")
        assert body.endswith(b"data: tick 19\n\n")
        assert (b"content-type", b"text/event-stream") in exchange.headers


async def test_the_hub_holds_back_a_publisher_when_a_queue_is_full() -> None:
    hub: Hub[int] = Hub(depth=2)
    queue = hub.subscribe()
    publishing = asyncio.ensure_future(hub.publish([1, 2, 3]))
    await asyncio.sleep(0.01)
    assert not publishing.done()  # 3 events into a queue of 2: waits for the reader
    assert [await queue.get() for _ in range(4)] == [1, 2, 3, None]
    assert await publishing == 1
    assert not hub.subscribers


async def test_the_timed_wrapper_counts_the_apps_own_time_apart_from_send() -> None:
    from bench.apps.timed import STATS_PATH, Timed

    timed = Timed(raw.build_app())
    request = {"type": "http.request", "body": b"", "more_body": False}
    for _ in range(3):
        result = await call(timed, _scope("GET", "/plaintext"), dict(request))
        assert result.body == b"Hello, World!"
    stats = await call(timed, _scope("GET", STATS_PATH), dict(request))
    count, total, sending, own = stats.body.split()
    assert int(count) == 3
    assert float(total) >= float(sending) >= 0
    assert float(own) == pytest.approx(float(total) - float(sending), abs=0.01)
    again = await call(timed, _scope("GET", STATS_PATH), dict(request))
    assert again.body.split()[0] == b"0"  # reading resets


async def test_the_timed_wrapper_takes_the_servers_send_and_receive_out_of_the_apps_time() -> None:
    from bench.apps.timed import STATS_PATH, Timed

    delay = 0.02
    timed = Timed(raw.build_app())

    async def slow_receive() -> dict[str, Any]:
        await asyncio.sleep(delay)  # a server waiting for the body
        return {"type": "http.request", "body": b'{"a": 1}', "more_body": False}

    async def slow_send(message: dict[str, Any]) -> None:
        await asyncio.sleep(delay)  # a server flushing to a slow socket

    headers = [(b"content-type", b"application/json"), (b"content-length", b"8")]
    await timed(_scope("POST", "/echo", headers=headers), slow_receive, slow_send)
    request = {"type": "http.request", "body": b"", "more_body": False}
    stats = await call(timed, _scope("GET", STATS_PATH), request)
    count, total, sending, own = (float(field) for field in stats.body.split())
    assert count == 1
    # one receive() and two send()s: three delays in the server, none of them the app's
    assert sending >= 3 * delay * 1e6 * 0.95
    assert total >= sending
    assert own < delay * 1e6 / 2
