"""Shared test configuration: ``async def`` tests run on a fresh asyncio loop, with a timeout."""

from __future__ import annotations

import asyncio
import inspect
import os

import pytest
from hypothesis import settings

# CI runs are a gate: the same examples every time (a failure reproduces); local runs explore.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

#: Multiply every test timeout by this factor on slow machines (e.g. ASGI_TEST_TIMEOUT_FACTOR=3).
TIMEOUT_FACTOR = float(os.environ.get("ASGI_TEST_TIMEOUT_FACTOR", "1"))
ASYNC_TEST_TIMEOUT = 30.0 * TIMEOUT_FACTOR


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run coroutine test functions with ``asyncio.run``, bounded by a timeout."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}

    async def bounded() -> None:
        async with asyncio.timeout(ASYNC_TEST_TIMEOUT):
            await pyfuncitem.obj(**kwargs)

    asyncio.run(bounded())
    return True
