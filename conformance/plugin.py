"""The pytest plugin of the conformance suites (entry point ``pytest11: asgi_conformance``).

Options: see :mod:`conformance.options`.

Mechanics:

* a test that takes the ``server`` fixture is parametrized over the selected variants; each
  variant's server runs once per session (per xdist worker), started on first use and stopped
  (gracefully, checked) when pytest moves to the next variant. A server that does not stop
  gracefully fails the session (exit status 1) and is named in the summary and the report;
* a case that ``requires`` a capability the variant lacks is *not applicable* there: it is
  skipped with a reason starting ``not applicable:``;
* while a case runs, its clients report to an evidence sink (:mod:`conformance.evidence`);
  when it ends, the plugin reads the app's observations of the tokens it made and the
  server's log lines of its time window;
* the manifests judge the outcome (verdicts: :mod:`conformance.report.model`): an expected
  failure becomes an xfail naming the reason, an unexpected pass fails, a timeout is told
  apart from a failure, a server that did not start is a harness error;
* a failing case gets the server's log lines from its own time window as a report section;
* the terminal summary prints the compatibility table: families by variants; the run
  document, HTML and Markdown are written at the end of the session if asked.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from servers import HarnessError, RunningServer, ServerSpec, launch

from .capabilities import check as check_capabilities
from .cases import REGISTRY, Case
from .judge import (
    NOT_APPLICABLE,
    CaseDeadline,
    NotApplicable,
    Outcome,
    apply_gate,
    is_timeout,
    judge,
    not_applicable,
)
from .options import CASE_TIMEOUT, add_options
from .recording import DEFAULT_APP, RECORD, attach_log, build_record, run_case
from .report.model import Result, Verdict, aggregate
from .report.table import compatibility_table
from .session import Recorder, SessionState, run_document, write_outputs

__all__ = [
    "CASE_TIMEOUT",
    "DEFAULT_APP",
    "NOT_APPLICABLE",
    "CaseDeadline",
    "NotApplicable",
    "Verdict",
    "case_of",
    "compatibility_table",
    "is_timeout",
    "variant_of",
]

_SESSION = pytest.StashKey[SessionState]()
#: The run document of the finished session (for the CLI).
DOCUMENT = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the suite's options (see :mod:`conformance.options`)."""
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, select the variants and families, load the manifests."""
    config.addinivalue_line(
        "markers", "conformance(id): a conformance case (see conformance.cases)"
    )
    state = config.stash[_SESSION] = SessionState.from_config(config)
    config.pluginmanager.register(Recorder(state), "asgi-conformance-recorder")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test taking ``server`` over the selected variants (and repeats)."""
    if "server" not in metafunc.fixturenames:
        return
    session = metafunc.config.stash[_SESSION]
    specs = [v.spec for v in session.variants.values()]
    metafunc.parametrize(
        "server", specs, ids=[s.name for s in specs], indirect=True, scope="session"
    )
    repeats = session.selection.verify
    if repeats > 1:
        metafunc.fixturenames.append("conformance_iteration")
        metafunc.parametrize(
            "conformance_iteration",
            range(1, repeats + 1),
            ids=[f"run{i}" for i in range(1, repeats + 1)],
            indirect=True,
        )


@pytest.fixture
def conformance_iteration(request: pytest.FixtureRequest) -> int:
    """Which run of the case this is, with ``--verify N`` (1 to N)."""
    iteration: int = getattr(request, "param", 1)
    return iteration


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """The running server of one variant, shared by every case of the session."""
    spec: ServerSpec = request.param
    selection = request.config.stash[_SESSION].selection
    state = request.config.stash[_SESSION].variants.get(spec.name)
    try:
        running = launch(spec, selection.app, startup_timeout=selection.startup_timeout)
    except HarnessError as error:
        if state is not None:
            state.failed_to_start(error)
        raise
    if state is not None:
        state.started_as(running)
        # What the server lists in a request's scope, beside what the variant declares.
        state.advertised = check_capabilities(running)
    try:
        yield running
    finally:
        # pytest stops a session-scoped server in the setup of the next variant's first case:
        # a failure raised here would be charged to that case. The outcome is kept instead,
        # and a server that did not stop gracefully fails the session (pytest_sessionfinish).
        running.stop()
        if state is not None:
            state.stopped_as(running)


@pytest.fixture
def conformance_app(request: pytest.FixtureRequest) -> str:
    """The app import string the servers run."""
    return request.config.stash[_SESSION].selection.app


def case_of(item: pytest.Item) -> Case | None:
    """The case an item runs, or None for an ordinary test."""
    marker = item.get_closest_marker("conformance")
    return REGISTRY.get(marker.args[0]) if marker is not None else None


def variant_of(item: pytest.Item) -> ServerSpec | None:
    """The variant an item runs on, or None."""
    callspec = getattr(item, "callspec", None)
    param = callspec.params.get("server") if callspec is not None else None
    return param if isinstance(param, ServerSpec) else None


def _iteration_of(item: pytest.Item) -> int:
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("conformance_iteration", 1) if callspec is not None else 1
    return value if isinstance(value, int) else 1


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Let ``-k`` match case ids; keep only the ``--family`` and ``--case`` selection."""
    state = config.stash[_SESSION]
    unknown = sorted(state.cases - set(REGISTRY))
    if unknown:
        raise pytest.UsageError(f"unknown case ids: {', '.join(unknown)}")
    for item in items:
        if (found := case_of(item)) is not None:
            item.extra_keyword_matches.add(found.id)
    drop = [item for item in items if not state.wants(case_of(item))]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [item for item in items if state.wants(case_of(item))]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Refuse manifests that name cases that do not exist (they could never be checked).

    A run of some suites does not know the other families' cases: an entry of a family whose
    bundled module was not collected is looked up in that module (imported, not collected).
    """
    state = session.config.stash[_SESSION]
    state.selected = list({c.id: c for c in map(case_of, session.items) if c}.values())
    if state.selected and (unknown := state.unknown_in_manifests()):
        raise pytest.UsageError(unknown[0])


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a case the variant lacks the capability for: it is not applicable there."""
    found, variant = case_of(item), variant_of(item)
    if found is None or variant is None:
        return
    missing = sorted(found.requires - variant.capabilities)
    if missing:
        not_applicable(f"{variant.name} lacks {', '.join(missing)}")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a coroutine case on a fresh event loop, bounded by its deadline, with evidence."""
    if case_of(pyfuncitem) is None or not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    run_case(pyfuncitem)
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Judge a case's outcome against its variant's manifest, and attach evidence."""
    report = yield
    found, variant = case_of(item), variant_of(item)
    if found is None or variant is None:
        return report
    state = item.config.stash[_SESSION]
    expectation = state.expectations.get(variant.name, {}).get(found.id)
    verdict: Verdict | None = None
    if call.when == "setup" and report.skipped:
        excinfo = call.excinfo
        typed = excinfo is not None and excinfo.errisinstance(NotApplicable)
        if typed or NOT_APPLICABLE in str(report.longrepr):  # or a suite's skip, by its reason
            verdict = Verdict.NOT_APPLICABLE
    elif call.when == "setup" and report.failed:
        verdict = Verdict.ERROR
    elif call.when == "call":
        judgement = judge(Outcome.of(report, call), expectation, found.id, variant.name)
        judgement.apply(report)
        verdict = judgement.verdict
        apply_gate(report, verdict, found, variant, state.gate)
        attach_log(item, report)
    if verdict is None:
        return report
    record = build_record(
        item, report, call, verdict, found, variant, state, expectation, _iteration_of(item)
    )
    report.user_properties.append((RECORD, record.to_json()))
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session for a server that did not stop gracefully; build and write reports."""
    config = session.config
    state = config.stash.get(_SESSION, None)
    if state is None or hasattr(config, "workerinput"):
        return  # an xdist worker: its records went to the controller with its reports
    rude = [v for v in state.variants.values() if v.stop and not v.stop["graceful"]]
    if rude and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    status = int(session.exitstatus)
    document = run_document(state, config, status)
    state.document = document
    config.stash[DOCUMENT] = document
    write_outputs(config, document, state.records)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the compatibility table, and a server that did not stop gracefully."""
    state = config.stash.get(_SESSION, None)
    if state is None:
        return
    for variant in state.variants.values():
        if variant.stop and not variant.stop["graceful"]:
            terminalreporter.write_line(
                f"ERROR: {variant.spec.name} did not stop gracefully (exit code "
                f"{variant.stop['exit_code']}); log tail:\n{variant.stop['log_tail']}",
                red=True,
            )
    for variant in state.variants.values():
        if variant.advertised is not None and not variant.advertised.matches:
            terminalreporter.write_line(
                f"CAPABILITIES: {variant.advertised.describe()}", yellow=True
            )
    results = (
        [Result.from_json(r) for r in state.document["results"]]
        if state.document
        else aggregate(state.records)
    )
    if not results:
        return
    terminalreporter.write_sep("=", "ASGI conformance: families by server variant")
    terminalreporter.write_line(compatibility_table(list(results)))
