"""The pytest plugin: verdicts (timeouts told from failures, harness errors, not applicable),
records and evidence, --verify, selection by family, case id and keyword, the manifest check.

The real runs use a small self-test suite (written to a temporary directory) on uvicorn-h11,
whose cases produce every verdict on purpose; the CLI's tests reuse it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance import evidence
from conformance.client.httpx_client import _RecordingTransport
from conformance.plugin import CaseDeadline, is_timeout

#: Cases that produce every verdict on uvicorn-h11 (with the manifest MANIFEST).
SELFTEST_SUITE = '''
"""Self-test cases of the conformance plugin (not a conformance suite)."""

import asyncio
import itertools
import os

import pytest

from conformance.cases import Grade, case
from conformance.client import Observer, http_client, new_token
from conformance.suites._helpers import require_protocol
from servers import Capability, HarnessError, HTTPProtocol, RunningServer

_calls = itertools.count()


@case("streaming/selftest-pass", grade=Grade.REQUIRED, clause="selftest clause A")
async def test_pass(server: RunningServer) -> None:
    """Passes."""
    async with http_client(server) as client:
        assert (await client.get("/")).status_code == 200


@case("streaming/selftest-fail", grade=Grade.RECOMMENDED, clause="selftest clause B")
async def test_fail(server: RunningServer) -> None:
    """Fails."""
    async with http_client(server) as client:
        response = await client.get("/")
    assert response.status_code == 418, f"selftest: the server said {response.status_code}"


@case("streaming/selftest-timeout", grade=Grade.INFORMATIONAL, clause="selftest clause C")
async def test_timeout(server: RunningServer) -> None:
    """Times out on an httpx read."""
    token = new_token()
    async with http_client(server, timeout=0.3) as client, Observer(server) as observer:
        request = asyncio.ensure_future(client.get(f"/longpoll/{token}"))
        await observer.wait(token, "waiting")
        await request


@case("streaming/selftest-deadline", grade=Grade.REQUIRED, clause="selftest clause D")
async def test_deadline(server: RunningServer) -> None:
    """Never ends: the plugin's per-case deadline stops it."""
    await asyncio.Event().wait()


@case("streaming/selftest-group", grade=Grade.REQUIRED, clause="selftest clause G")
async def test_group(server: RunningServer) -> None:
    """Times out in two tasks of a task group."""
    async def wait() -> None:
        await asyncio.wait_for(asyncio.Event().wait(), 0.05)

    async with asyncio.TaskGroup() as group:
        group.create_task(wait())
        group.create_task(wait())


@case("push/selftest-needs-push", grade=Grade.REQUIRED, clause="selftest clause E",
      requires=[Capability.PUSH])
async def test_needs_push(server: RunningServer) -> None:
    """Needs push."""


@case("streaming/selftest-h2c-only", grade=Grade.REQUIRED, clause="selftest clause H")
async def test_h2c_only(server: RunningServer) -> None:
    """Applies to h2c variants only, as it finds out while running."""
    require_protocol(server, HTTPProtocol.H2C)


@case("streaming/selftest-skips", grade=Grade.REQUIRED, clause="selftest clause S")
async def test_skips(server: RunningServer) -> None:
    """Skips itself, which a case may not do."""
    pytest.skip("for no reason")


@case("streaming/selftest-harness", grade=Grade.REQUIRED, clause="selftest clause X")
async def test_harness(server: RunningServer) -> None:
    """The harness cannot do its part."""
    raise HarnessError("selftest: the harness broke")


@case("streaming/selftest-flip", grade=Grade.REQUIRED, clause="selftest clause F")
async def test_flip(server: RunningServer) -> None:
    """Fails when SELFTEST_FLIP=1 (standing in for a server that changed)."""
    assert os.environ.get("SELFTEST_FLIP") != "1", "selftest: flipped"


@case("streaming/selftest-flaky", grade=Grade.REQUIRED, clause="selftest clause K")
async def test_flaky(server: RunningServer) -> None:
    """Fails every second run in a session."""
    assert next(_calls) % 2 == 0, "selftest: an odd run"
'''

#: uvicorn-h11's manifest for the self-test: one right entry, one stale.
MANIFEST = """\
# streaming
[[expected]]
case = "streaming/selftest-fail"
outcome = "fail"
match = "the server said \\\\d+"
reason = "selftest: it answers 200"
clause = "selftest clause B"
bug = "https://example.invalid/bug/1"

[[expected]]
case = "streaming/selftest-pass"
outcome = "fail"
match = "never"
reason = "selftest: a stale entry"
clause = "selftest clause A"
"""

#: Every self-test case's verdict on uvicorn-h11 with MANIFEST (one run of each).
VERDICTS = {
    "streaming/selftest-pass": "unexpected-pass",
    "streaming/selftest-fail": "expected-failure",
    "streaming/selftest-timeout": "timeout",
    "streaming/selftest-deadline": "timeout",
    "streaming/selftest-group": "timeout",
    "push/selftest-needs-push": "not-applicable",
    "streaming/selftest-h2c-only": "not-applicable",
    "streaming/selftest-skips": "harness-error",
    "streaming/selftest-harness": "harness-error",
    "streaming/selftest-flip": "pass",
    "streaming/selftest-flaky": "pass",
}


def write_selftest(directory: Path, manifest: str | None = MANIFEST) -> tuple[Path, Path]:
    """Write the self-test suite and a manifests directory; return both."""
    suite = directory / "selftest_cases.py"
    suite.write_text(SELFTEST_SUITE, encoding="utf-8")
    manifests = directory / "expectations"
    manifests.mkdir(exist_ok=True)
    if manifest is not None:
        (manifests / "uvicorn-h11.toml").write_text(manifest, encoding="utf-8")
    return suite, manifests


def pytest_run(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run pytest in a subprocess, with no project configuration."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def selftest_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One plain pytest run of the self-test suite on uvicorn-h11."""
    directory = tmp_path_factory.mktemp("plugin")
    suite, manifests = write_selftest(directory)
    done = pytest_run(
        directory,
        suite.name,
        "--server",
        "uvicorn-h11",
        "--expectations",
        str(manifests),
        "--case-timeout",
        "1.5",
        "--results-json",
        "records.jsonl",
        "--conformance-json",
        "run.json",
        "--junitxml",
        "junit.xml",
    )
    records = [json.loads(line) for line in (directory / "records.jsonl").read_text().splitlines()]
    return {
        "done": done,
        "records": {r["case"]: r for r in records},
        "document": json.loads((directory / "run.json").read_text()),
        "junit": (directory / "junit.xml").read_text(),
    }


def test_each_case_gets_its_verdict(selftest_run: dict[str, Any]) -> None:
    records = selftest_run["records"]
    assert {case: r["verdict"] for case, r in records.items()} == VERDICTS
    assert all(r["variant"] == "uvicorn-h11" and r["iteration"] == 1 for r in records.values())
    # pytest's own outcome follows: failures fail, the expected failure is an xfail
    out = selftest_run["done"].stdout
    assert selftest_run["done"].returncode == 1, out
    assert "1 xfailed" in out
    assert "ASGI conformance: families by server variant" in out


def test_timeouts_are_told_from_failures(selftest_run: dict[str, Any]) -> None:
    records = selftest_run["records"]
    assert records["streaming/selftest-timeout"]["message"].startswith("httpx.ReadTimeout")
    deadline = records["streaming/selftest-deadline"]["message"]
    assert "CaseDeadline: the case did not finish within its 1.5 s deadline" in deadline
    assert records["streaming/selftest-group"]["message"].startswith("ExceptionGroup")
    assert records["streaming/selftest-fail"]["message"] == (
        "AssertionError: selftest: the server said 200\nassert 200 == 418\n"
        " +  where 200 = <Response [200 OK]>.status_code"
    )


def test_harness_errors_and_not_applicable_say_why(selftest_run: dict[str, Any]) -> None:
    records = selftest_run["records"]
    assert "may not skip" in records["streaming/selftest-skips"]["message"]
    assert "selftest: the harness broke" in records["streaming/selftest-harness"]["message"]
    assert records["push/selftest-needs-push"]["message"] == (
        "not applicable: uvicorn-h11 lacks push"
    )
    assert records["streaming/selftest-h2c-only"]["message"] == (
        "not applicable: uvicorn-h11 speaks http/1.1, not h2c"
    )
    assert records["push/selftest-needs-push"]["reproduce"] is None


def test_records_carry_the_manifest_entry_and_a_reproduce_command(
    selftest_run: dict[str, Any],
) -> None:
    record = selftest_run["records"]["streaming/selftest-fail"]
    expectation = record["expectation"]
    assert expectation["reason"] == "selftest: it answers 200"
    assert expectation["line"] == 2
    assert Path(expectation["manifest"]).name == "uvicorn-h11.toml"
    assert record["reproduce"].startswith(
        "asgi-conformance run --server uvicorn-h11 --case streaming/selftest-fail --expectations "
    )
    assert record["reproduce"].endswith("selftest_cases.py")


def test_records_carry_the_evidence(selftest_run: dict[str, Any]) -> None:
    timeout = selftest_run["records"]["streaming/selftest-timeout"]["evidence"]
    directions = [(e["channel"], e["dir"]) for e in timeout["transcript"]]
    assert directions == [("http-1", ">"), ("http-1", "!")]
    assert timeout["transcript"][0]["text"].startswith("GET /longpoll/")
    assert timeout["transcript"][1]["text"].startswith("ReadTimeout")
    (token, observed) = next(iter(timeout["observations"].items()))
    assert timeout["transcript"][0]["text"].startswith(f"GET /longpoll/{token}")
    events = [e["event"] for e in observed["events"]]
    assert events[0] == "waiting"
    assert "disconnected" in events  # fetched after the case ended: the app saw the client go
    stamps = [e["t"] for e in observed["events"]]
    assert stamps == sorted(stamps)
    assert 0 < stamps[0] < timeout["transcript"][1]["t"]
    passed = selftest_run["records"]["streaming/selftest-pass"]["evidence"]
    assert any('"GET / HTTP/1.1" 200' in line for line in passed["server_log"])
    assert passed["transcript"][1]["text"].startswith("HTTP/1.1 200 [")
    assert passed["transcript"][-1]["text"] == "(end of body)"


def test_the_run_document_and_junit(selftest_run: dict[str, Any]) -> None:
    document = selftest_run["document"]
    assert document["run"]["exit_code"] == 2
    assert document["run"]["exit_reason"] == "the harness failed: 2 harness error(s)"
    (variant,) = document["variants"]
    assert variant["version"]
    assert variant["started"]
    assert variant["stop"]["graceful"]
    assert {r["case"]: r["verdict"] for r in document["results"]} == VERDICTS
    junit = selftest_run["junit"]
    assert junit.count("<testcase ") == len(VERDICTS)
    assert junit.count('<property name="conformance"') == len(VERDICTS)


def test_verify_repeats_each_case_and_gives_its_flake_rate(tmp_path: Path) -> None:
    suite, _ = write_selftest(tmp_path)
    done = pytest_run(
        tmp_path,
        suite.name,
        "--server",
        "uvicorn-h11",
        "--no-expectations",
        "--verify",
        "3",
        "-k",
        "flaky or flip",
        "--conformance-json",
        "run.json",
        "-v",
    )
    assert "test_flaky[uvicorn-h11-run3]" in done.stdout, done.stdout
    results = {r["case"]: r for r in json.loads((tmp_path / "run.json").read_text())["results"]}
    flaky = results["streaming/selftest-flaky"]
    assert (flaky["verdict"], flaky["runs"], flaky["verdicts"]) == (
        "fail",
        3,
        {"pass": 2, "fail": 1},
    )
    assert flaky["flake_rate"] == pytest.approx(0.3333)
    flip = results["streaming/selftest-flip"]
    assert (flip["verdict"], flip["runs"], flip["flake_rate"]) == ("pass", 3, 0.0)


@pytest.mark.parametrize(
    ("gate", "status", "reason"),
    [
        ("all", 1, "not as expected: 1 fail, 1 timeout"),
        ("recommended", 1, "not as expected: 1 fail"),
        (
            "required",
            0,
            "every gated result matched the expectations (--gate required; "
            "not gated: 1 fail, 1 timeout)",
        ),
    ],
)
def test_the_gate_decides_which_grades_count_for_the_exit_status(
    tmp_path: Path, gate: str, status: int, reason: str
) -> None:
    # selftest-pass is required, selftest-fail recommended, selftest-timeout informational
    suite, _ = write_selftest(tmp_path, manifest=None)
    done = pytest_run(
        tmp_path,
        suite.name,
        "--server",
        "uvicorn-h11",
        "--no-expectations",
        "--gate",
        gate,
        "-k",
        "selftest-pass or selftest-fail or selftest-timeout",
        "--conformance-json",
        "run.json",
    )
    assert done.returncode == status, done.stdout + done.stderr
    document = json.loads((tmp_path / "run.json").read_text())
    assert document["run"]["gate"] == gate
    assert (document["run"]["exit_code"], document["run"]["exit_reason"]) == (status, reason)
    # every grade is still judged and reported, whatever the gate
    assert {r["case"]: (r["grade"], r["verdict"]) for r in document["results"]} == {
        "streaming/selftest-pass": ("required", "pass"),
        "streaming/selftest-fail": ("recommended", "fail"),
        "streaming/selftest-timeout": ("informational", "timeout"),
    }
    if gate == "required":
        assert "2 xfailed" in done.stdout  # not gated: pytest does not count them as failures


def collected(done: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted(line for line in done.stdout.splitlines() if "::" in line)


def test_selection_by_family_case_and_keyword(tmp_path: Path) -> None:
    suite, _ = write_selftest(tmp_path, manifest=None)
    base = (suite.name, "--server", "uvicorn-h11", "--collect-only", "-q", "--no-expectations")
    push = collected(pytest_run(tmp_path, *base, "--family", "push"))
    assert push == ["selftest_cases.py::test_needs_push[uvicorn-h11]"]
    exact = collected(pytest_run(tmp_path, *base, "--case", "streaming/selftest-fail"))
    assert exact == ["selftest_cases.py::test_fail[uvicorn-h11]"]
    # -k matches case ids (a substring, as for any keyword)
    by_id = collected(pytest_run(tmp_path, *base, "-k", "streaming/selftest-fl"))
    assert by_id == [
        "selftest_cases.py::test_flaky[uvicorn-h11]",
        "selftest_cases.py::test_flip[uvicorn-h11]",
    ]
    unknown = pytest_run(tmp_path, *base, "--case", "streaming/nosuch")
    assert unknown.returncode == 4
    assert "unknown case ids: streaming/nosuch" in unknown.stderr


def test_manifests_naming_unknown_cases_are_refused(tmp_path: Path) -> None:
    entry = '[[expected]]\ncase = "{}"\noutcome = "fail"\nmatch = "x"\nreason = "r"\nclause = "c"\n'
    # a case of a family this run did not collect is looked up in its bundled module
    suite, manifests = write_selftest(tmp_path, manifest=entry.format("sse/headers"))
    base = (suite.name, "--server", "uvicorn-h11", "--collect-only", "-q")
    fine = pytest_run(tmp_path, *base, "--expectations", str(manifests))
    assert fine.returncode == 0, fine.stdout + fine.stderr
    for unknown in ("streaming/nosuch", "sse/nosuch"):
        (manifests / "uvicorn-h11.toml").write_text(entry.format(unknown))
        refused = pytest_run(tmp_path, *base, "--expectations", str(manifests))
        assert refused.returncode == 4
        assert f"uvicorn-h11.toml names unknown cases: {unknown}" in refused.stderr


# -- in-process units ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TimeoutError("x"), True),
        (CaseDeadline("x"), True),
        (httpx.ReadTimeout("x"), True),
        (httpx.ConnectTimeout("x"), True),
        (ExceptionGroup("g", [TimeoutError(), httpx.PoolTimeout("x")]), True),
        (ExceptionGroup("g", [TimeoutError(), AssertionError()]), False),
        (AssertionError("no response headers within 2 s"), False),
        (ConnectionError("closed"), False),
        (httpx.ReadError("x"), False),
    ],
)
def test_is_timeout(error: BaseException, expected: bool) -> None:
    assert is_timeout(error) is expected


def test_the_evidence_sink_bounds_what_it_keeps() -> None:
    evidence.wire(object(), "raw", ">", b"outside a case: dropped")
    with evidence.collecting() as sink:
        owner = object()
        for index in range(evidence.MAX_ENTRIES + 50):
            evidence.wire(owner, "raw", "<", f"entry {index}")
        evidence.wire(object(), "raw", ">", b"x" * 1000)
        evidence.token_made("t1")
        evidence.token_made("t1")
        evidence.observed("t1", {"events": [{"event": "a", "t": sink.started + 1}], "counters": {}})
        evidence.observed("t1", {"events": [], "counters": {}})  # an emptier one is ignored
    assert evidence.current() is None
    entries = sink.entries()
    assert len(entries) == evidence.MAX_ENTRIES + 1
    assert entries[0]["text"] == "entry 0"
    assert entries[0]["channel"] == "raw-1"
    assert entries[evidence.MAX_ENTRIES * 2 // 3]["text"] == "(51 entries left out)"
    assert entries[-1]["channel"] == "raw-2"
    assert entries[-1]["text"].endswith("... (1000 bytes)")
    assert len(entries[-1]["text"]) < 400
    assert sink.tokens == ["t1"]
    assert sink.observations["t1"]["events"] == [{"event": "a", "t": 1.0}]


async def _exchange() -> evidence.Evidence:
    class Body(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"hel"
            yield b"lo"

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"x-a": "1"}, stream=Body())

    transport = _RecordingTransport(httpx.MockTransport(answer))
    with evidence.collecting() as sink:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/p?q=1", content=b"abc")
            assert response.content == b"hello"
    return sink


def test_httpx_exchanges_are_recorded() -> None:
    import asyncio

    sink = asyncio.run(_exchange())
    texts = [(e["dir"], e["text"]) for e in sink.entries()]
    assert texts[0][0] == ">"
    assert texts[0][1].startswith("POST /p?q=1 [host: t, ")
    assert texts[0][1].endswith("] + 3 byte body")
    assert texts[1:] == [
        ("<", " 200 [x-a: 1]"),
        ("<", "body 3 bytes b'hel'"),
        ("<", "body 2 bytes b'lo'"),
        ("<", "(end of body)"),
    ]


def test_under_xdist_the_controller_gets_the_workers_records(tmp_path: Path) -> None:
    suite, manifests = write_selftest(tmp_path)
    done = pytest_run(
        tmp_path,
        suite.name,
        "-n",
        "2",
        "--server",
        "uvicorn-h11",
        "--expectations",
        str(manifests),
        "-k",
        "selftest-pass or selftest-fail or selftest-flip",
        "--conformance-json",
        "run.json",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    document = json.loads((tmp_path / "run.json").read_text())
    results = {r["case"]: r for r in document["results"]}
    assert {case: r["verdict"] for case, r in results.items()} == {
        "streaming/selftest-pass": "unexpected-pass",
        "streaming/selftest-fail": "expected-failure",
        "streaming/selftest-flip": "pass",
    }, done.stdout
    assert results["streaming/selftest-fail"]["evidence"]["transcript"], done.stdout
    assert document["run"]["exit_code"] == 1
