"""The README's Python example runs as written (docs that cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from conformance.sse import parse
from reference_app.testing import ASGIDriver

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 2, "the README should have two Python examples (HTTP, WebSocket)"
    return blocks


def readme_example() -> dict[str, Any]:
    blocks = readme_blocks()
    notified: list[str] = []

    async def notify() -> None:
        notified.append("notified")

    namespace: dict[str, Any] = {"notify": notify, "notified": notified}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    return namespace


async def test_the_readme_example_serves_what_it_says() -> None:
    namespace = readme_example()
    driver = ASGIDriver(namespace["app"])
    assert (await driver.get("/things/42")).json() == {"id": 42}
    assert (await driver.get("/things/not-a-number")).status == 404
    put = await driver.request("PUT", "/things/7", body=[b"some ", b"bytes"])
    assert put.status == 204
    assert await namespace["app"].jobs.drain(5) == 0  # the scheduled job finished, none cancelled
    assert namespace["notified"] == ["notified"]
    events = parse((await driver.get("/events")).body)
    assert [(e.type, e.data, e.id) for e in events] == [("greeting", '{"hello":"world"}', "1")]


async def test_the_readme_websocket_example_serves_what_it_says() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(readme_blocks()[1], str(README), "exec"), namespace)
    driver = ASGIDriver(namespace["app"])
    async with driver.websocket("/rooms/3") as session:
        assert (await session.handshake()).status == 403
    async with driver.websocket("/rooms/3", query="token=x", denial=True) as session:
        assert (await session.handshake()).status == 401
    path, query = "/rooms/3", "token=letmein"
    async with driver.websocket(path, query=query, subprotocols=["chat.v1"]) as session:
        assert (await session.handshake()).subprotocol == "chat.v1"
        session.send_text("hi")
        assert await session.receive() == '{"room":3,"said":"hi"}'
        session.send_bytes(b"no")
        assert await session.receive_close() == (1003, "text only")
    async with driver.websocket(path, query=query) as session:
        session.send_text("x" * (64 * 1024 + 1))
        assert (await session.receive_close())[0] == 1009
    async with driver.websocket("/countdown") as session:
        session.send_text("3")
        assert [await session.receive() for _ in range(3)] == ["3", "2", "1"]
        assert await session.receive_close() == (1000, "")
