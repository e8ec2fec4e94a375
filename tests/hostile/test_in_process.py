"""Hostile requests in process: what a lenient server could hand the app, through ASGIDriver.

The fast half of the hostile suite: no server and no socket, so it explores far more requests
than :mod:`tests.hostile.test_wire` can, including scopes that the servers under test never build
(any method token, any header bytes but CR and LF, a decoded path with anything in it) and
bodies that lie about their length, end early or are cut by a disconnect. Each one must end
within a bound, without a 5xx and without an error logged, with a readable JSON body for every
error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from reference_app.testing import ASGIDriver, Result

from .app import build_app
from .requests import HostileExchange, exchanges

#: No exchange may take longer, in seconds (an app waiting for more body is disconnected first).
BOUND = 5.0


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def errors() -> Iterator[_Errors]:
    handler = _Errors()
    logger = logging.getLogger("reference_app")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def _exchange(hostile: HostileExchange) -> Result:
    driver = ASGIDriver(build_app())
    headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in hostile.headers]
    async with driver.stream(
        hostile.method,
        hostile.path,
        query=hostile.query.decode("latin-1"),
        headers=headers,
        body=list(hostile.body),
        body_complete=hostile.complete,
        timeout=BOUND,
    ) as exchange:
        if not hostile.complete:
            await asyncio.sleep(0)  # let the app start on the body it has
            exchange.disconnect()  # then the client leaves
        return await exchange.finish(BOUND)


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hostile=exchanges())
def test_no_hostile_request_reaches_a_5xx(hostile: HostileExchange, errors: _Errors) -> None:
    errors.records.clear()
    result = asyncio.run(_exchange(hostile))
    assert not errors.records, [record.getMessage() for record in errors.records]
    if result.disconnected and not result.status:
        return  # the client left before any answer: nothing to judge
    assert result.status < 500, (result.status, result.body[:300])
    if result.status >= 400 and hostile.method.upper() != "HEAD" and not result.disconnected:
        problem = json.loads(result.body)
        assert problem["title"], result.body
