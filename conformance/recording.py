"""What the plugin records of each case run: its record (verdict, message, manifest entry,
one reproduce command, evidence), built when the case's report is made.

Evidence is the server's log lines of the case's own time window, the clients' timestamped
wire transcript (:mod:`conformance.evidence`), and what the app observed of the tokens the
case made, read from the observation channel once the case ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
from pathlib import Path
from typing import Final

import pytest

from servers import RunningServer, ServerSpec

from . import evidence
from .cases import Case
from .client import Observer
from .expectations import Expectation
from .judge import MAX_FAILURE, CaseDeadline, failure_message
from .report.model import CaseRecord, Evidence, ExpectationRef, Verdict
from .session import RECORD, SessionState

__all__ = [
    "EVIDENCE",
    "LOG_END",
    "LOG_START",
    "RECORD",
    "attach_log",
    "build_record",
    "fetch_observations",
    "run_case",
]

#: The default app, which a reproduce command need not name.
DEFAULT_APP: Final = "conformance.contract:app"
#: The suites package, whose modules need no ``--suite`` in a reproduce command.
SUITES: Final = "conformance.suites"
LOG_START = pytest.StashKey[int]()
LOG_END = pytest.StashKey[int]()
EVIDENCE = pytest.StashKey[evidence.Evidence]()

_MAX_LOG_LINES: Final = 200
_OBSERVATION_DEADLINE: Final = 3.0


def run_case(pyfuncitem: pytest.Function) -> None:
    """Run a coroutine case on a fresh event loop, bounded by its deadline, with evidence."""
    running = pyfuncitem.funcargs.get("server")
    server = running if isinstance(running, RunningServer) else None
    if server is not None:
        pyfuncitem.stash[LOG_START] = server.log_offset()
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    deadline = float(pyfuncitem.config.getoption("case_timeout"))

    async def bounded() -> None:
        try:
            async with asyncio.timeout(deadline) as scope:
                await pyfuncitem.obj(**kwargs)
        except TimeoutError as error:
            if scope.expired():
                raise CaseDeadline(
                    f"the case did not finish within its {deadline:g} s deadline"
                ) from error
            raise
        finally:
            if server is not None:
                pyfuncitem.stash[LOG_END] = server.log_offset()
                await fetch_observations(server, sink)

    with evidence.collecting() as sink:
        pyfuncitem.stash[EVIDENCE] = sink
        asyncio.run(bounded())


def build_record(
    item: pytest.Item,
    report: pytest.TestReport,
    call: pytest.CallInfo[None],
    verdict: Verdict,
    found: Case,
    variant: ServerSpec,
    state: SessionState,
    expectation: Expectation | None,
    iteration: int,
) -> CaseRecord:
    """The full record of one case run; its summary also goes on the report and the item."""
    record = CaseRecord(
        case=found.id,
        family=found.family,
        grade=str(found.grade),
        clause=found.clause,
        variant=variant.name,
        verdict=verdict,
        duration=round(report.duration, 6),
        reason=expectation.describe() if expectation else None,
        iteration=iteration,
        message=failure_message(report, call, verdict),
        expectation=_expectation(state, expectation),
        reproduce=(
            None
            if verdict is Verdict.NOT_APPLICABLE
            else _reproduce(item.config, state, found, variant)
        ),
        evidence=_evidence(item, report, verdict),
    )
    # On the report for the live display, on the item for the JUnit XML (the teardown report).
    summary = json.dumps(record.summary())
    report.user_properties.append(("conformance", summary))
    item.user_properties.append(("conformance", summary))
    # The full record travels with the report as JSON (to the xdist controller, if any; see
    # :data:`RECORD`), and is kept where reports are logged: pytest_runtest_logreport.
    return record


def _expectation(state: SessionState, expectation: Expectation | None) -> ExpectationRef | None:
    if expectation is None or state.manifests is None:
        return None
    manifest = state.manifests / f"{expectation.variant}.toml"
    return ExpectationRef(
        outcome=expectation.outcome,
        match=expectation.match,
        reason=expectation.reason,
        clause=expectation.clause,
        bug=expectation.bug,
        manifest=str(manifest.resolve()),
        line=state.line_of(expectation.variant, expectation.case),
    )


def _reproduce(config: pytest.Config, state: SessionState, found: Case, variant: ServerSpec) -> str:
    """One command line that runs this case on this variant again."""
    option = state.variants[variant.name].option if variant.name in state.variants else variant.name
    words = ["asgi-conformance", "run", "--server", option, "--case", found.id]
    if config.getoption("app") != DEFAULT_APP:
        words += ["--app", config.getoption("app")]
    if config.getoption("no_expectations"):
        words.append("--no-expectations")
    elif config.getoption("expectations"):
        words += ["--expectations", str(Path(config.getoption("expectations")).resolve())]
    for suite in _suites(config):
        words += ["--suite", suite]
    return shlex.join(words)


def _suites(config: pytest.Config) -> list[str]:
    """The collection arguments, unless they are (parts of) the bundled suites."""
    suites = []
    bundled = Path(__file__).resolve().parent / "suites"
    for arg in config.args:
        target = arg.split("::")[0]
        if target == SUITES or target.startswith(SUITES + "."):
            continue
        path = Path(config.invocation_params.dir, target).resolve()
        if path == bundled or bundled in path.parents:
            continue
        suites.append(target if config.option.pyargs and not path.exists() else str(path))
    return suites


def _evidence(item: pytest.Item, report: pytest.TestReport, verdict: Verdict) -> Evidence:
    sink = item.stash.get(EVIDENCE, None)
    running = item.funcargs.get("server") if isinstance(item, pytest.Function) else None
    lines: list[str] = []
    truncated = False
    if isinstance(running, RunningServer) and LOG_START in item.stash:
        window = running.read_log(item.stash[LOG_START], item.stash.get(LOG_END, None))
        lines = window.splitlines()
        if len(lines) > _MAX_LOG_LINES:
            truncated = True
            lines = [*lines[:100], f"... ({len(lines) - 150} lines left out)", *lines[-50:]]
        lines = [line if len(line) <= 500 else line[:500] + "..." for line in lines]
    failure = None
    if verdict is not Verdict.PASS and verdict is not Verdict.NOT_APPLICABLE:
        failure = str(report.longrepr)[:MAX_FAILURE] if report.longrepr else None
    return Evidence(
        server_log=tuple(lines),
        log_truncated=truncated,
        transcript=tuple(sink.entries()) if sink is not None else (),
        transcript_dropped=sink.dropped if sink is not None else 0,
        observations=dict(sink.observations) if sink is not None else {},
        failure=failure,
    )


def attach_log(item: pytest.Item, report: pytest.TestReport) -> None:
    running = item.funcargs.get("server") if isinstance(item, pytest.Function) else None
    if not isinstance(running, RunningServer) or LOG_START not in item.stash:
        return
    window = running.read_log(item.stash[LOG_START], item.stash.get(LOG_END, None))
    if window and not report.passed:
        report.sections.append((f"server log ({running.spec.name})", window))


async def fetch_observations(server: RunningServer, sink: evidence.Evidence) -> None:
    """Read what the app observed for each token the case made (best effort, bounded)."""
    if not sink.tokens or not server.running:
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_OBSERVATION_DEADLINE), Observer(server) as observer:
            for token in sink.tokens[:8]:
                await observer.snapshot(token)
