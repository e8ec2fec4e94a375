"""The measurement modules end to end, tiny and fast: they run, check what they measure and
render their tables. No assertion is about speed."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

from bench import fanout, inprocess, streaming, suite, wire
from bench.ab import reference_app_at
from bench.driver import call
from bench.serving import MemoryWatch, group_pids, group_rss, serve
from bench.workloads import by_key
from servers import get


def test_inprocess_measures_every_framework_and_renders_ratios_and_targets() -> None:
    result = inprocess.measure(workloads=[by_key("a"), by_key("e")], rounds=2, batch_seconds=0.001)
    assert not result.wrong
    assert set(result.samples) == {"a", "e"}
    assert all(len(s.rounds) == 2 for s in result.samples.values())
    text = inprocess.render(result)
    for name in ("raw", "reference_app", "falcon", "starlette", "bareasgi"):
        assert name in text
    assert "≤ 3x the raw floor" in text
    assert "faster than falcon" in text


async def test_ab_builds_the_reference_app_of_a_git_revision(tmp_path: Path) -> None:
    app = reference_app_at("HEAD", tmp_path)
    workload = by_key("a")
    workload.check(await call(app, workload.scope(), workload.request()))


def test_memory_watch_sees_this_process_group() -> None:
    pgid = os.getpgid(0)
    assert os.getpid() in group_pids(pgid)
    assert group_rss([os.getpid()]) > 0
    size = 32 << 20
    with MemoryWatch(pgid, interval=0.001) as watch:
        ballast = bytearray(size)
        ballast[::4096] = b"x" * len(ballast[::4096])  # every page resident
        seen = watch.samples
        deadline = time.monotonic() + 5
        while watch.samples < seen + 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        del ballast  # freed (munmap) before the watch ends: only a sample taken meanwhile sees it
    assert watch.samples >= seen + 3
    # The peak holds the ballast: the sampler read the RSS while it ran, and kept the highest.
    assert watch.growth >= size * 3 // 4


def test_suite_analysis_splits_each_variant_into_floor_and_work() -> None:
    document = {
        "tests": {
            "a[v1]": {
                "variant": "v1",
                "name": "test_a",
                "setup": 1.0,
                "call": 2.0,
                "teardown": 0.0,
                "absence_waits": 1.5,
                "outcome": "passed",
            },
            "b[v1]": {
                "variant": "v1",
                "name": "test_b",
                "setup": 0.0,
                "call": 0.5,
                "teardown": 0.5,
                "outcome": "failed",
            },
            "a[v2]": {"variant": "v2", "name": "test_a", "call": 3.5, "outcome": "passed"},
        },
        "startup": {"v1": 0.9},
    }
    result = suite.analyse(document, wall=10.0)
    assert result.variants["v1"].tests == 2
    assert result.variants["v1"].seconds == 4.0
    assert result.variants["v1"].floor == pytest.approx(2.4)
    assert result.cases[0] == ("test_a", 6.5, 1.5, 2)
    assert result.worst["test_a"] == ("v2", 3.5)
    assert result.outside == pytest.approx(2.5)
    assert result.outcomes == {"passed": 2, "failed": 1}
    assert "test_a" in suite.render(result)


VARIANT = get("uvicorn-h11")
needs_server = pytest.mark.skipif(not VARIANT.available(), reason="uvicorn is not installed")


@needs_server
def test_both_apps_answer_over_the_wire() -> None:
    for app in wire.APPS:
        with serve(VARIANT, app) as server:
            wire.check_over_the_wire(server)


@needs_server
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_a_streaming_transfer_each_way_is_checked(tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    with open(upload, "wb") as sparse:
        os.truncate(sparse.fileno(), 3 << 20)
    with serve(VARIANT, "reference_app") as server:
        for direction in streaming.DIRECTIONS:
            rate, growth = streaming.transfer(server, direction, 3 << 20, upload, 0)
            assert rate > 0
            assert growth > 0  # over a baseline of 0: the server's whole RSS


@needs_server
@pytest.mark.parametrize("app", fanout.APPS)
def test_a_small_fanout_delivers_every_event(app: str) -> None:
    with serve(VARIANT, app) as server:
        run = asyncio.run(fanout.run_fanout(server, clients=12, events=4, timeout=30))
    assert run.clients * run.events == 48
    assert run.rate > 0


def test_a_comparison_is_a_win_only_when_three_rounds_in_four_say_so() -> None:
    result = inprocess.InProcessResult(
        ["raw", "reference_app", "falcon", "starlette"], [by_key("a")]
    )
    samples = result.samples["a"] = inprocess.Samples()
    rounds = [
        (1.0, 2.0, 3.0, 1.9),
        (1.0, 2.0, 3.0, 2.1),
        (1.0, 2.0, 3.0, 2.2),
        (1.0, 2.0, 3.0, 1.8),
    ]
    for raw, ref, falcon, starlette in rounds:
        samples.add_round(
            {"raw": raw, "reference_app": ref, "falcon": falcon, "starlette": starlette}
        )
    verdicts = {target: verdict for target, _, verdict in inprocess.targets(result)}
    assert verdicts["(a) reference_app ≤ 3x the raw floor"] == "yes"
    assert verdicts["(a) reference_app faster than falcon"] == "yes"
    assert verdicts["(a) reference_app faster than starlette"] == "tie"
    assert "tie (within noise)" in inprocess.render_targets(result)
