"""A pytest plugin that times the conformance matrix: ``-p bench.suite_timing``.

With ``BENCH_SUITE_TIMING=<path>`` in the environment it writes one JSON document at the end of
the session, to ``<path>.<pid>.json`` (each shard of a concurrent run is a process of its own):
for every test, its variant (the ``server`` parameter) and the duration of its setup, call and
teardown; for every variant, how long its server took to start (the ``server`` fixture's
setup); and for every test, the seconds spent in :meth:`conformance.client.Observer.happened`
calls that ran out their timeout (the waits a case needs by design, where the absence of an
event is what passes). It changes nothing else.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Generator
from typing import Any

import pytest

__all__ = ["ENV"]

#: The environment variable naming the output file.
ENV = "BENCH_SUITE_TIMING"

_tests: dict[str, dict[str, Any]] = {}
_startup: dict[str, float] = {}
_current: list[str] = []


def _variant(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    param = callspec.params.get("server") if callspec is not None else None
    return getattr(param, "name", None)


def pytest_configure(config: pytest.Config) -> None:
    """Wrap ``Observer.happened`` to time the absence waits."""
    if not os.environ.get(ENV):
        return
    try:
        from conformance.client import Observer
    except ImportError:  # pragma: no cover - the suites are not installed
        return
    original = Observer.happened
    if getattr(original, "_bench_timed", False):
        return

    @functools.wraps(original)
    async def happened(self: Any, *args: Any, **kwargs: Any) -> bool:
        started = time.perf_counter()
        result = await original(self, *args, **kwargs)
        if not result and _current:
            record = _tests.setdefault(_current[-1], {})
            record["absence_waits"] = record.get("absence_waits", 0.0) + (
                time.perf_counter() - started
            )
        return result

    happened._bench_timed = True  # type: ignore[attr-defined]
    Observer.happened = happened  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    """Note which test is running."""
    _current.append(item.nodeid)
    record = _tests.setdefault(item.nodeid, {})
    record["variant"] = _variant(item)
    record["name"] = item.originalname if isinstance(item, pytest.Function) else item.name
    try:
        return (yield)
    finally:
        _current.pop()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """Time the start of each variant's server."""
    if fixturedef.argname != "server":
        return (yield)
    started = time.perf_counter()
    try:
        return (yield)
    finally:
        name = getattr(getattr(request, "param", None), "name", None)
        if name is not None:
            _startup[name] = _startup.get(name, 0.0) + time.perf_counter() - started


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep each phase's duration and the outcome."""
    record = _tests.setdefault(report.nodeid, {})
    record[report.when] = report.duration
    if report.when == "call" or (report.when == "setup" and not report.passed):
        record["outcome"] = report.outcome


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the document."""
    path = os.environ.get(ENV)
    if path:  # one file per process: every shard of a concurrent run writes its own
        with open(f"{path}.{os.getpid()}.json", "w", encoding="utf-8") as out:
            json.dump({"tests": _tests, "startup": _startup}, out)
