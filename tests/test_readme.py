"""The README's Python example runs as written (docs that cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from conformance.sse import parse
from reference_app.testing import ASGIDriver

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> dict[str, Any]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 1, "the README should have exactly one Python example"
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
