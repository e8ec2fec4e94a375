"""The contract app's core endpoints and message recorder, in process (conformance.contract)."""

from __future__ import annotations

import asyncio

from conformance.contract import app, build_app, observations, pattern
from conformance.contract._common import PATTERN
from reference_app.testing import ASGIDriver


async def test_index_and_scope() -> None:
    driver = ASGIDriver(app, extensions={"http.response.push": {}})
    assert (await driver.get("/")).text == "asgi-conformance contract app"
    scope = (await driver.get("/scope")).json()
    assert scope["http_version"] == "1.1"
    assert scope["extensions"] == ["http.response.push"]


async def test_observe_wait_and_gate_endpoints() -> None:
    driver = ASGIDriver(app)
    observations.record("tok-contract", "ready", detail=1)
    snapshot = (await driver.get("/observe/tok-contract")).json()
    assert [e["event"] for e in snapshot["events"]] == ["ready"]
    waited = await driver.get("/observe/tok-contract/wait", query="event=ready&count=1&timeout=1")
    assert waited.json()["ok"] is True
    missed = await driver.get("/observe/tok-contract/wait", query="event=none&timeout=0.01")
    assert missed.json()["ok"] is False
    assert (await driver.request("POST", "/gate/tok-contract/next", query="n=2")).status == 204
    gate = observations.gate("tok-contract", "next")
    await asyncio.wait_for(gate.acquire(), 1)
    await asyncio.wait_for(gate.acquire(), 1)


async def test_bad_parameters_are_a_400() -> None:
    result = await ASGIDriver(app).get("/observe/t/wait", query="count=many")
    assert result.status == 400
    assert "count must be a non-negative integer" in result.json()["description"]
    result = await ASGIDriver(app).get("/observe/t/wait", query="timeout=soon")
    assert "timeout must be a number" in result.json()["description"]


async def test_the_recorder_logs_every_message_of_a_probed_request() -> None:
    driver = ASGIDriver(app)
    await driver.request("POST", "/", headers=[("x-probe-token", "tok-rec")], body=[b"ab", b"c"])
    events = observations.log("tok-rec").events
    kinds = [(e["event"], e["type"]) for e in events]
    assert ("send", "http.response.start") in kinds
    assert ("send", "http.response.body") in kinds
    start = next(e for e in events if e["type"] == "http.response.start")
    assert start["status"] == 405  # "/" only answers GET; the recorder saw what was sent


async def test_startup_records_how_it_ran() -> None:
    fresh = build_app()
    state = (await ASGIDriver(fresh).get("/lifespan/state")).json()
    assert state["startup"] == "first-request"


def test_the_pattern_is_deterministic() -> None:
    assert pattern(3) == b"\x00\x01\x02"
    assert pattern(len(PATTERN) + 2) == PATTERN + b"\x00\x01"
