"""Each in-process workload really returns what it should, under each framework."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bench.apps import APPS, PLAINTEXT, REQUIRES, ROUTE_COUNT, TYPED_TEMPLATE, decoy_template
from bench.driver import Exchange, Result, call, null_app, run_batch
from bench.inprocess import load_app, verify
from bench.workloads import (
    JSON_PAYLOAD,
    TYPED_BODY,
    TYPED_PATH,
    WORKLOADS,
    Workload,
    WrongAnswer,
    by_key,
)


def _app(framework: str) -> Any:
    if framework in REQUIRES:
        pytest.importorskip(REQUIRES[framework], reason="the bench extra is not installed")
    return load_app(APPS[framework])


@pytest.mark.parametrize("framework", list(APPS))
@pytest.mark.parametrize("workload", WORKLOADS, ids=[w.key for w in WORKLOADS])
async def test_every_framework_answers_every_workload_correctly(
    framework: str, workload: Workload
) -> None:
    result = await call(_app(framework), workload.scope(), workload.request())
    workload.check(result)
    assert result.status == 200
    assert result.complete


def test_workload_b_sends_one_kibibyte_of_json_with_its_length() -> None:
    workload = by_key("b")
    body = workload.request()["body"]
    assert len(body) == 1024
    assert json.loads(body) == JSON_PAYLOAD
    headers = dict(workload.scope()["headers"])
    assert headers[b"content-length"] == b"1024"
    assert headers[b"content-type"] == b"application/json"
    # the usual API shape: nested objects, a list of them, numbers, booleans
    assert len(JSON_PAYLOAD["items"]) == 8
    assert isinstance(JSON_PAYLOAD["customer"], dict)


@pytest.mark.parametrize("framework", list(APPS))
async def test_the_decoy_routes_answer_too_so_that_all_fifty_are_real(framework: str) -> None:
    app = _app(framework)
    workload = by_key("c")
    for index in (0, ROUTE_COUNT - 2):
        path = decoy_template(index).replace("{thing_id:int}", "7")
        path = path.replace("{part}", "p").replace("{rev:float}", "2.5")
        scope = dict(workload.scope(), path=path, raw_path=path.encode())
        result = await call(app, scope, workload.request())
        assert (result.status, result.body) == (200, b"7|p|2.5"), (framework, path)


@pytest.mark.parametrize("framework", list(APPS))
async def test_a_non_integer_user_id_does_not_match_the_typed_route(framework: str) -> None:
    workload = by_key("c")
    path = "/api/users/x42/posts/hello-world/rev/1.5"
    scope = dict(workload.scope(), path=path, raw_path=path.encode())
    result = await call(_app(framework), scope, workload.request())
    assert result.status == 404, (framework, result.status, result.body)


def _result(**changes: Any) -> Result:
    base: dict[str, Any] = {
        "status": 200,
        "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")],
        "chunks": [PLAINTEXT],
        "complete": True,
    }
    base.update(changes)
    return Result(**base)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": 500}, "status 500"),
        ({"chunks": [b"Hello"]}, "content-length"),
        ({"complete": False}, "never completed"),
        ({"headers": [(b"content-type", b"application/json"), (b"content-length", b"13")]}, "type"),
        ({"chunks": [b"Hello, Wor1d!"]}, "wrong body"),
    ],
)
def test_a_wrong_answer_is_caught(changes: dict[str, Any], message: str) -> None:
    by_key("a").check(_result())
    with pytest.raises(WrongAnswer, match=message):
        by_key("a").check(_result(**changes))


def test_a_stream_sent_in_one_piece_is_not_a_stream() -> None:
    workload = by_key("d")
    body = b"x" * 4096 * 16
    result = Result(200, [(b"content-type", b"application/octet-stream")], [body, b""], True)
    with pytest.raises(WrongAnswer, match="non-empty body messages"):
        workload.check(result)


def test_verify_reports_a_framework_that_answers_wrongly() -> None:
    async def broken(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"nope"})

    loop = asyncio.new_event_loop()
    try:
        problems = verify(loop, broken, WORKLOADS)
    finally:
        loop.close()
    assert set(problems) == {w.key for w in WORKLOADS}


async def test_the_driver_answers_disconnect_only_once_the_response_is_complete() -> None:
    exchange = Exchange({"type": "http.request", "body": b"", "more_body": False})
    assert (await exchange.receive())["type"] == "http.request"
    waiting = asyncio.ensure_future(exchange.receive())
    await exchange.send({"type": "http.response.start", "status": 200, "headers": []})
    await exchange.send({"type": "http.response.body", "body": b"a", "more_body": True})
    await asyncio.sleep(0)
    assert not waiting.done()
    await exchange.send({"type": "http.response.body", "body": b""})
    assert (await waiting)["type"] == "http.disconnect"
    with pytest.raises(RuntimeError, match="after the response was complete"):
        await exchange.send({"type": "http.response.body", "body": b""})


def test_the_typed_route_answer_is_the_converted_values() -> None:
    """Workload (c)'s expected body is its path's fields converted by the template's types."""
    convert = {"int": int, "float": float, "": str}
    values = []
    for field, segment in zip(TYPED_TEMPLATE.split("/"), TYPED_PATH.split("/"), strict=True):
        if field.startswith("{"):
            _, _, kind = field[1:-1].partition(":")
            values.append(convert[kind](segment))
        else:
            assert field == segment
    assert [type(value) for value in values] == [int, str, float]
    assert "|".join(map(str, values)).encode() == TYPED_BODY
    assert by_key("c").path == TYPED_PATH
    with pytest.raises(WrongAnswer, match="wrong body"):  # not the converted 1.5: refused
        by_key("c").check(_result(chunks=[b"42|hello-world|1.50"], headers=_typed_headers(19)))
    by_key("c").check(_result(chunks=[TYPED_BODY], headers=_typed_headers(len(TYPED_BODY))))


def _typed_headers(length: int) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"text/plain"), (b"content-length", str(length).encode())]


@pytest.mark.parametrize("framework", list(APPS))
async def test_a_batch_reuses_the_scope_and_still_answers_right(framework: str) -> None:
    """What is timed is a batch over one scope and one exchange: its answers are checked too."""
    app = _app(framework)
    for workload in WORKLOADS:
        workload.check(await run_batch(app, workload.scope(), workload.request(), 3))


async def test_the_driver_costs_less_than_any_app() -> None:
    loop = asyncio.get_running_loop()
    workload = by_key("a")
    started = loop.time()
    await run_batch(null_app, workload.scope(), workload.request(), 2000)
    driver = (loop.time() - started) / 2000
    started = loop.time()
    await run_batch(_app("raw"), workload.scope(), workload.request(), 2000)
    assert driver < (loop.time() - started) / 2000
