"""The control channel between a lifecycle case and the app's process (one process here)."""

from __future__ import annotations

import asyncio

import pytest

from conformance.contract import control
from conformance.contract.control import ENV, NO_CHANNEL, ControlChannel


def test_a_tell_arrives_with_its_data_time_and_process(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> control.ControlMessage:
        async with ControlChannel() as channel:
            monkeypatch.setenv(ENV, str(channel.path))
            control.tell("inflight-ended", token="t", produced=2)
            return await channel.next("inflight-ended", 5)

    message = asyncio.run(scenario())
    assert (message.name, message.data, message.asks) == (
        "inflight-ended",
        {"token": "t", "produced": 2},
        False,
    )
    assert message.t > 0
    assert message.pid > 0


def test_an_ask_waits_for_the_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> tuple[bool, str]:
        async with ControlChannel() as channel:
            monkeypatch.setenv(ENV, str(channel.path))
            asking = asyncio.create_task(control.ask("startup", by="lifespan"))
            message = await channel.next("startup", 5)
            await asyncio.sleep(0.05)
            waited = not asking.done()
            await message.reply("complete")
            return waited, await asyncio.wait_for(asking, 5)

    waited, answer = asyncio.run(scenario())
    assert waited, "ask() returned before the channel answered"
    assert answer == "complete"


def test_answer_all_answers_pending_and_later_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> list[str]:
        async with ControlChannel() as channel:
            monkeypatch.setenv(ENV, str(channel.path))
            first = asyncio.create_task(control.ask("inflight-next", index=1))
            while not channel.seen("inflight-next"):
                await asyncio.sleep(0.01)
            await channel.answer_all("inflight-next", "go")
            later = await asyncio.wait_for(control.ask("inflight-next", index=2), 5)
            return [await asyncio.wait_for(first, 5), later]

    assert asyncio.run(scenario()) == ["go", "go"]


def test_a_message_is_answered_once_and_a_tell_never() -> None:
    async def scenario() -> None:
        async with ControlChannel() as channel:
            told = control.ControlMessage("shutdown", 0.0, 1, {}, asks=False)
            with pytest.raises(ValueError, match="not waiting"):
                await told.reply("x")
            assert channel.messages == []

    asyncio.run(scenario())


def test_without_a_channel_nothing_is_told_and_asks_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert control.address() is None
    control.tell("shutdown")  # no channel: nothing happens, nothing raises
    assert asyncio.run(control.ask("startup")) == NO_CHANNEL


def test_a_tell_to_a_closed_channel_does_not_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    async def closed_path() -> str:
        async with ControlChannel() as channel:
            return str(channel.path)

    monkeypatch.setenv(ENV, asyncio.run(closed_path()))
    control.tell("inflight-ended")  # the test has gone: the app goes on
