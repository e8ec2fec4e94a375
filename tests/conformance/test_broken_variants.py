"""The suites catch deliberately broken apps (conformance.broken), and only where they should.

Each broken variant runs under one server that passes everything with the real app
(uvicorn-h11), in a pytest subprocess of its own (all four at once, to keep the wall time
down), on a selection of cases: the ones that must catch some break, and the ones that must
not. The table below says which cases catch which break; every other selected case must pass,
as every selected case must with the real app. A catch is a failure (or a timeout) whose
message says what went wrong in the break's terms, so a case failing for an unrelated reason
does not count.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

SERVER: Final = "uvicorn-h11"
REAL_APP: Final = "conformance.contract:app"

#: The selected cases.
CASES: Final = (
    "streaming/chunks-flushed",
    "streaming/disconnect-finalizes",
    "sse/events-flushed",
    "sse/disconnect-finalizes",
    "lifecycle/disconnect-delivered",
    "jobs/after-complete-response",
    "jobs/order",
    "jobs/outlive-app-call",
)

#: Broken app -> (the cases that catch it, what each such failure must say).
CATCHES: Final = {
    "conformance.broken:buffering_app": (
        {
            "streaming/chunks-flushed",
            "streaming/disconnect-finalizes",
            "sse/events-flushed",
            "sse/disconnect-finalizes",
            "jobs/after-complete-response",
        },
        r"did not arrive|did not reach the client|ReadTimeout",
    ),
    "conformance.broken:no_disconnect_app": (
        {
            "streaming/disconnect-finalizes",
            "sse/disconnect-finalizes",
            "lifecycle/disconnect-delivered",
        },
        r"did not record '(disconnected|finalized)'",
    ),
    "conformance.broken:early_jobs_app": (
        {"jobs/after-complete-response"},
        r"job \d started \d+\.\d+ s before the client had the complete response",
    ),
}

#: Verdicts (conformance.plugin.Verdict) that count as catching a break.
CAUGHT: Final = frozenset({"fail", "timeout"})

#: The failing cases wait out their deadlines: shorter ones keep the whole run near 30 s.
TIMEOUT_FACTOR: Final = "0.6"


def _start(app: str, directory: Path) -> subprocess.Popen[bytes]:
    stem = app.rpartition(":")[2]
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:randomly",
        "--pyargs",
        "conformance.suites",
        "--server",
        SERVER,
        "--app",
        app,
        "--no-expectations",
        "-q",
        "--results-json",
        str(directory / f"{stem}.jsonl"),
        *(word for case in CASES for word in ("--case", case)),
    ]
    env = {**os.environ, "ASGI_CONFORMANCE_TIMEOUT_FACTOR": TIMEOUT_FACTOR}
    with (directory / f"{stem}.out").open("wb") as log:  # the child keeps its own copy
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)


def _results(app: str, directory: Path) -> dict[str, tuple[str, str]]:
    """Case id -> (verdict, failure message) of one run."""
    stem = app.rpartition(":")[2]
    output = (directory / f"{stem}.out").read_text(errors="replace")
    results_file = directory / f"{stem}.jsonl"
    assert results_file.exists(), f"the run of {app} wrote no results:\n{output[-3000:]}"
    results = {}
    for line in results_file.read_text().splitlines():
        record = json.loads(line)
        results[record["case"]] = (record["verdict"], record.get("message") or "")
    assert set(results) == set(CASES), (
        f"the run of {app} judged {sorted(results)}, not {sorted(CASES)}:\n{output[-3000:]}"
    )
    return results


@pytest.mark.slow
def test_each_broken_variant_is_caught_by_its_cases_and_the_real_app_passes(
    tmp_path: Path,
) -> None:
    apps = [REAL_APP, *CATCHES]
    runs = {app: _start(app, tmp_path) for app in apps}
    try:
        for process in runs.values():
            process.wait(timeout=240)
    finally:
        for process in runs.values():
            if process.poll() is None:
                process.kill()
                process.wait()

    real = _results(REAL_APP, tmp_path)
    not_passing = {case: verdict for case, (verdict, _) in real.items() if verdict != "pass"}
    assert not not_passing, f"with the real app, on {SERVER}: {not_passing}"

    for app, (catchers, says) in CATCHES.items():
        results = _results(app, tmp_path)
        table = {case: verdict for case, (verdict, _) in results.items()}
        caught = {case for case, verdict in table.items() if verdict in CAUGHT}
        assert caught == catchers, (
            f"{app} was caught by {sorted(caught)}, expected {sorted(catchers)}; verdicts: {table}"
        )
        passed = {case for case, verdict in table.items() if verdict == "pass"}
        assert passed == set(CASES) - catchers, f"{app}: verdicts {table}"
        for case in sorted(catchers):
            text = results[case][1]
            assert re.search(says, text), (
                f"{case} failed with {app}, but not for the break ({says!r}):\n{text[-2000:]}"
            )
