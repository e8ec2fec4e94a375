"""Concurrent runs: each variant a shard in a process of its own, merged into one run; SIGTERM;
and how a run is planned into shards (an outlier variant split by family).

Real runs of the command line on two uvicorn variants, kept to one or a few cases.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from conformance.cases import FAMILIES
from conformance.parallel import FAMILY_SECONDS, estimate, plan_shards
from conformance.report.model import validate
from conformance.selection import select_variants
from servers import ServerSpec, get

VARIANTS = "uvicorn-h11,uvicorn-httptools"


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "conformance", "run", "--progress", "plain", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ},
    )


def test_exact_variant_selection_and_server_selection() -> None:
    assert list(select_variants(["=granian"])) == ["granian"]
    assert set(select_variants(["granian"])) >= {"granian", "granian-h2c"}
    assert list(select_variants([VARIANTS])) == ["uvicorn-h11", "uvicorn-httptools"]


@pytest.mark.slow
def test_variants_run_side_by_side_into_one_run(tmp_path: Path) -> None:
    process = _start(
        tmp_path,
        "-j",
        "2",
        "--server",
        VARIANTS,
        "--case",
        # a case that waits out an absence window (half a second), so that the shards'
        # overlap is larger than the parent's own start-up
        "streaming/backpressure",
        "--json",
        "run.json",
        "--junit",
        "run.xml",
    )
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out
    assert "asgi-conformance: 2 variants, 2 at a time: uvicorn-h11, uvicorn-httptools" in out
    assert "exit status 0: every result matched the expectations" in out
    document = json.loads((tmp_path / "run.json").read_text())
    validate(document)
    assert [v["name"] for v in document["variants"]] == ["uvicorn-h11", "uvicorn-httptools"]
    assert {(r["variant"], r["verdict"]) for r in document["results"]} == {
        ("uvicorn-h11", "pass"),
        ("uvicorn-httptools", "pass"),
    }
    shards = document["run"]["shards"]
    assert sorted(v for s in shards for v in s["variants"]) == ["uvicorn-h11", "uvicorn-httptools"]
    # the two shards overlapped in time: the run took less than their sum
    assert document["run"]["duration"] < sum(s["duration"] for s in shards)
    cases = ElementTree.parse(tmp_path / "run.xml").getroot().iter("testcase")
    assert len(list(cases)) == 2


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path: Path, jobs: str) -> None:
    """A CI timeout's SIGTERM: the summary, the documents, exit status 2 (interrupted)."""
    process = _start(
        tmp_path, "-j", jobs, "--server", VARIANTS, "--family", "streaming", "--json", "run.json"
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("["):  # the first case finished: the run is under way
            break
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=120)
    out = "".join(lines) + rest
    assert process.returncode == 2, out
    assert "exit status 2: the harness failed: the run was interrupted" in out
    document = json.loads((tmp_path / "run.json").read_text())
    assert document["run"]["exit_code"] == 2
    assert document["results"], "the cases that finished are in the document"


# -- planning: which shards a run has ---------------------------------------------------------


def _variants(*names: str) -> list[tuple[str, ServerSpec]]:
    return [(f"={name}", get(name)) for name in names]


EIGHT = ("uvicorn-h11", "uvicorn-httptools", "hypercorn", "granian", "daphne", "hypercorn-h2c")


def test_a_variant_far_longer_than_the_others_is_split_by_family() -> None:
    """An outlier (many expected failures) becomes two shards; each family is in exactly one;
    the others stay whole; the longest estimates start first."""
    expected = {"daphne": {"errors": 10, "websocket": 10, "body": 4}}
    shards = plan_shards(_variants(*EIGHT), expected=expected, jobs=12)
    daphne = [s for s in shards if s.variant == "daphne"]
    assert len(daphne) == 2
    assert sorted(f for s in daphne for f in s.families) == sorted(FAMILIES)
    heaviest = [s for s in daphne if "errors" in s.families or "websocket" in s.families]
    assert len(heaviest) == 2  # the two heaviest families are dealt apart
    assert all(s.families == () for s in shards if s.variant != "daphne")
    assert [s.estimate for s in shards] == sorted((s.estimate for s in shards), reverse=True)
    words = daphne[0].words()
    assert words[:2] == ["--server", "=daphne"]
    assert words[2::2] == ["--family"] * len(daphne[0].families)
    assert daphne[0].name == f"daphne[{','.join(daphne[0].families)}]"


def test_variants_alike_are_not_split() -> None:
    shards = plan_shards(_variants(*EIGHT), expected={}, jobs=12)
    assert [s.name for s in shards] == [s.variant for s in shards]  # one shard each, named after it
    assert sorted(s.variant for s in shards) == sorted(EIGHT)


def test_nothing_is_split_when_cases_are_picked_or_families_are_few() -> None:
    expected = {"daphne": {"errors": 10, "websocket": 10, "body": 4}}
    picked = plan_shards(_variants(*EIGHT), expected=expected, jobs=12, split=False)
    assert len(picked) == len(EIGHT)
    one = plan_shards(_variants(*EIGHT), families=("errors",), expected=expected, jobs=12)
    assert len(one) == len(EIGHT)
    assert all(s.families == ("errors",) for s in one)  # the run's families reach every shard


def test_the_hint_counts_expected_failures_and_what_a_protocol_runs() -> None:
    h1, h2 = get("uvicorn-h11"), get("hypercorn-h2")
    assert estimate(h1, "errors", 2) == estimate(h1, "errors", 0) + 2 * FAMILY_SECONDS["errors"][2]
    assert estimate(h2, "websocket", 0) < estimate(h1, "websocket", 0)
