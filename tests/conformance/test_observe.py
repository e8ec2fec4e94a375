"""The observation channel's store (conformance.observe)."""

from __future__ import annotations

import asyncio

from conformance.observe import MAX_TOKENS, Observations


async def test_events_and_counters_are_recorded_and_seen() -> None:
    observations = Observations()
    observations.record("t", "produced", index=0)
    observations.record("t", "produced", index=1)
    assert observations.count("t", "job") == 1
    assert observations.count("t", "job", 4) == 5
    snapshot = observations.log("t").snapshot()
    assert [e["index"] for e in snapshot["events"]] == [0, 1]
    assert snapshot["counters"] == {"job": 5}
    assert observations.seen("t", "produced") == 2
    assert observations.seen("t", "job") == 5
    assert observations.seen("other", "produced") == 0


async def test_wait_returns_when_the_count_is_reached_and_false_on_timeout() -> None:
    observations = Observations()
    waiter = asyncio.ensure_future(observations.wait("t", "done", 2, timeout=5))
    await asyncio.sleep(0)
    observations.record("t", "done")
    await asyncio.sleep(0)
    assert not waiter.done()
    observations.record("t", "done")
    assert await waiter is True
    assert await observations.wait("t", "never", 1, timeout=0.01) is False


async def test_a_gate_lets_exactly_the_released_steps_through() -> None:
    observations = Observations()
    gate = observations.gate("t", "next")
    observations.release("t", "next", 2)
    await gate.acquire()
    await gate.acquire()
    third = asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0)
    assert not third.done()
    observations.release("t", "next")
    await third


def test_memory_is_bounded_by_forgetting_the_oldest_tokens() -> None:
    observations = Observations()
    for index in range(MAX_TOKENS + 10):
        observations.record(f"token-{index}", "e")
    assert observations.seen("token-0", "e") == 0  # forgotten (and recreated empty)
    assert observations.seen(f"token-{MAX_TOKENS + 9}", "e") == 1
