"""The WebSocket echo benchmark: every app echoes right, the frames are what the wire needs."""

from __future__ import annotations

import pytest

from bench import websocket
from bench.stats import Samples


@pytest.mark.parametrize("name", websocket.installed())
async def test_each_app_echoes_every_message_in_order(name: str) -> None:
    texts = websocket.messages(300)
    assert await websocket.echo_in_process(websocket.load(name), texts) == texts


def test_messages_are_numbered_and_of_one_length() -> None:
    texts = websocket.messages(3)
    assert len(set(texts)) == 3
    assert {len(text) for text in texts} == {websocket.MESSAGE}


def test_the_frames_are_masked_text_frames_and_their_unmasked_echoes() -> None:
    frames = websocket.Frames.build(2)
    size = websocket.MESSAGE
    assert len(frames.outgoing) == 2 * (2 + 4 + size)
    assert len(frames.expected) == 2 * (2 + size)
    first = frames.outgoing[: 6 + size]
    assert first[:2] == bytes([0x81, 0x80 | size])  # FIN + text, MASK + length
    key, masked = first[2:6], first[6:]
    unmasked = bytes(byte ^ key[index % 4] for index, byte in enumerate(masked))
    assert unmasked == websocket.messages(1)[0].encode()
    assert frames.expected[: 2 + size] == bytes([0x81, size]) + unmasked


def test_the_table_gives_rates_and_ratios_to_raw() -> None:
    result = websocket.WebSocketResult(["raw", "reference_app"], count=10, wire_count=10, rounds=2)
    result.in_process = Samples([{"raw": 100.0, "reference_app": 50.0}] * 2)
    result.wire["uvicorn-h11"] = Samples([{"raw": 10.0, "reference_app": 9.0}] * 2)
    result.skipped["daphne"] = "ServerStartError: no"
    table = websocket.render(result)
    assert "| in process | 100 | 50 (0.50x (0.50-0.50)) |" in table
    assert "| uvicorn-h11 | 10 | 9 (0.90x (0.90-0.90)) |" in table
    assert "daphne left out: ServerStartError: no" in table
