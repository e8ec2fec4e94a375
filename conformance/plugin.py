"""The pytest plugin of the conformance suites (entry point ``pytest11: asgi_conformance``).

Options (group "asgi-conformance")::

    --server NAME[,NAME]     variants (``uvicorn-h11``) or servers (``uvicorn``: all its
                             variants), repeatable; default: every installed built-in variant
    --server 'NAME=COMMAND;caps=...;protocol=...'
                             any other server, as a command template (see servers.command)
    --app IMPORT             the app the servers run (default conformance.contract:app)
    --expectations DIR       the per-variant manifests (default: the bundled ones)
    --no-expectations        report raw pass/fail, ignoring the manifests
    --startup-timeout S      how long a server may take to answer its first request
    --family NAME[,NAME]     only the cases of these families (repeatable)
    --case ID                only this case (exact id, repeatable); ``-k`` also matches ids
    --verify N               run each selected case N times; the report gives its flake rate
    --gate required|recommended|all
                             which grades decide the exit status (default all); every grade
                             is still judged and reported (see conformance.cases.Gate)
    --case-timeout S         the deadline of one case (default CASE_TIMEOUT)
    --results-json FILE      one JSON line per case run (the records)
    --conformance-json FILE  the run document (schema conformance/schema/run-1.json)
    --conformance-html FILE  the matrix as one self-contained HTML page
    --conformance-markdown FILE
                             the matrix in Markdown

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

import asyncio
import contextlib
import datetime
import importlib
import inspect
import json
import shlex
import time
from collections import defaultdict
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest

from servers import HarnessError, RunningServer, ServerSpec, launch

from . import evidence
from .cases import FAMILIES, REGISTRY, Case, Gate
from .client import Observer
from .expectations import DEFAULT_DIRECTORY, Expectation, ExpectationError, load_all
from .judge import (
    MAX_FAILURE,
    NOT_APPLICABLE,
    CaseDeadline,
    apply_gate,
    failure_message,
    is_timeout,
    judge,
)
from .report.model import Verdict, build_document, manifest_lines
from .selection import select_variants, variant_version

__all__ = [
    "CASE_TIMEOUT",
    "DEFAULT_APP",
    "NOT_APPLICABLE",
    "CaseDeadline",
    "Verdict",
    "case_of",
    "compatibility_table",
    "is_timeout",
    "variant_of",
]

#: The most one case may take (seconds), unless ``--case-timeout`` says otherwise.
CASE_TIMEOUT: Final = 60.0
#: The prefix of the skip reason of a case a variant lacks the capability for.
#: The app the servers run by default.
DEFAULT_APP: Final = "conformance.contract:app"
#: The suites package, whose modules need no ``--suite`` in a reproduce command.
SUITES: Final = "conformance.suites"

_MAX_LOG_LINES: Final = 200
#: How many of a server's last log lines say why it did not start.
_START_LOG_LINES: Final = 12
_OBSERVATION_DEADLINE: Final = 3.0


@dataclass(slots=True)
class _Variant:
    """What the session learnt about one selected variant."""

    spec: ServerSpec
    option: str
    started: bool = False
    argv: list[str] | None = None
    startup_seconds: float | None = None
    log_path: str | None = None
    error: str | None = None
    error_log: str | None = None
    stop: dict[str, Any] | None = None
    given_version: str | None = None

    def document(self, manifests: Path | None) -> dict[str, Any]:
        manifest = None
        if manifests is not None and (manifests / f"{self.spec.name}.toml").is_file():
            manifest = str((manifests / f"{self.spec.name}.toml").resolve())
        return {
            "name": self.spec.name,
            "server": self.spec.server,
            "version": variant_version(self.spec, self.given_version),
            "protocol": str(self.spec.protocol),
            "tls": self.spec.tls,
            "capabilities": sorted(str(c) for c in self.spec.capabilities),
            "option": self.option,
            "started": self.started,
            "command": shlex.join(self.argv) if self.argv else None,
            "startup_seconds": self.startup_seconds,
            "log": self.log_path,
            "error": self.error,
            "error_log": self.error_log,
            "stop": self.stop,
            "manifest": manifest,
        }


@dataclass(slots=True)
class _Session:
    """The session's state: selection, manifests, records and the run document."""

    variants: dict[str, _Variant]
    families: frozenset[str]
    cases: frozenset[str]
    manifests: Path | None
    expectations: dict[str, dict[str, Expectation]]
    gate: Gate = Gate.ALL
    started_at: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    )
    started: float = field(default_factory=time.monotonic)
    records: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    selected: list[Case] = field(default_factory=list)
    lines: dict[str, dict[str, int]] = field(default_factory=dict)
    document: dict[str, Any] | None = None

    def line_of(self, variant: str, case: str) -> int | None:
        if self.manifests is None:
            return None
        if variant not in self.lines:
            self.lines[variant] = manifest_lines(self.manifests / f"{variant}.toml")
        return self.lines[variant].get(case)


_SESSION = pytest.StashKey[_Session]()
#: The name of the report property carrying a case's full record.
_RECORD: Final = "conformance-record"
_LOG_START = pytest.StashKey[int]()
_LOG_END = pytest.StashKey[int]()
_EVIDENCE = pytest.StashKey[evidence.Evidence]()
#: The run document of the finished session (for the CLI).
DOCUMENT = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the suite's options."""
    group = parser.getgroup("asgi-conformance", "ASGI server conformance")
    group.addoption(
        "--server",
        action="append",
        default=[],
        metavar="NAME",
        help="variant or server name, or NAME=COMMAND;caps=..;protocol=.. (repeatable)",
    )
    group.addoption("--app", default=DEFAULT_APP, help="the app import string")
    group.addoption("--expectations", default=None, help="directory of per-variant manifests")
    group.addoption("--no-expectations", action="store_true", help="ignore the manifests")
    group.addoption("--startup-timeout", type=float, default=20.0, help="seconds to first answer")
    group.addoption(
        "--server-version",
        default=None,
        help="the version of servers given as commands (default: what their --version prints)",
    )
    group.addoption(
        "--family",
        action="append",
        default=[],
        metavar="NAME",
        help=f"only the cases of these families (repeatable; {', '.join(FAMILIES)})",
    )
    group.addoption(
        "--case",
        action="append",
        default=[],
        metavar="ID",
        help="only the case with this exact id, e.g. streaming/chunks-flushed (repeatable)",
    )
    group.addoption(
        "--verify",
        type=int,
        default=1,
        metavar="N",
        help="run each selected case N times and report its flake rate",
    )
    group.addoption(
        "--gate",
        choices=[str(g) for g in Gate],
        default=str(Gate.ALL),
        help="which grades decide the exit status: required, recommended (and required) or "
        "all (default); every grade is still judged and reported",
    )
    group.addoption(
        "--case-timeout",
        type=float,
        default=CASE_TIMEOUT,
        metavar="S",
        help=f"the deadline of one case in seconds (default {CASE_TIMEOUT:g})",
    )
    group.addoption("--results-json", default=None, help="write one JSON line per case run")
    group.addoption("--conformance-json", default=None, help="write the run document (JSON)")
    group.addoption("--conformance-html", default=None, help="write the matrix as HTML")
    group.addoption("--conformance-markdown", default=None, help="write the matrix as Markdown")
    group.addoption(
        "--conformance-command",
        default=None,
        help="the command line to record in the run document (set by asgi-conformance)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, select the variants and families, load the manifests."""
    config.addinivalue_line(
        "markers", "conformance(id): a conformance case (see conformance.cases)"
    )
    if config.getoption("verify") < 1:
        raise pytest.UsageError("--verify needs a count of at least 1")
    families = _split(config.getoption("family"))
    unknown = sorted(families - set(FAMILIES))
    if unknown:
        raise pytest.UsageError(
            f"unknown families {', '.join(unknown)}; the families are {', '.join(FAMILIES)}"
        )
    try:
        variants = _select(config.getoption("server"))
    except HarnessError as error:
        raise pytest.UsageError(str(error)) from None
    directory = config.getoption("expectations")
    manifests = (
        None if config.getoption("no_expectations") else Path(directory or DEFAULT_DIRECTORY)
    )
    state = config.stash[_SESSION] = _Session(
        variants=variants,
        families=frozenset(families),
        cases=frozenset(_split(config.getoption("case"))),
        manifests=manifests,
        expectations=_manifests(manifests),
        gate=Gate(config.getoption("gate")),
    )
    for variant in variants.values():
        variant.given_version = config.getoption("server_version")
    config.pluginmanager.register(_Recorder(state), "asgi-conformance-recorder")


def _manifests(directory: Path | None) -> dict[str, dict[str, Expectation]]:
    """The manifests of ``directory`` (none if it does not exist yet: a first run).

    Raises:
        pytest.UsageError: a manifest is malformed (one line naming the file and the entry).
    """
    if directory is None:
        return {}
    try:
        return load_all(directory)
    except ExpectationError as error:
        raise pytest.UsageError(str(error)) from None


def _split(options: list[str]) -> set[str]:
    return {item.strip() for option in options for item in option.split(",") if item.strip()}


def _select(options: list[str]) -> dict[str, _Variant]:
    return {
        name: _Variant(chosen.spec, chosen.option)
        for name, chosen in select_variants(options).items()
    }


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test taking ``server`` over the selected variants (and repeats)."""
    if "server" not in metafunc.fixturenames:
        return
    session = metafunc.config.stash[_SESSION]
    specs = [v.spec for v in session.variants.values()]
    metafunc.parametrize(
        "server", specs, ids=[s.name for s in specs], indirect=True, scope="session"
    )
    repeats = metafunc.config.getoption("verify")
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
    state = request.config.stash[_SESSION].variants.get(spec.name)
    try:
        running = launch(
            spec,
            request.config.getoption("app"),
            startup_timeout=request.config.getoption("startup_timeout"),
        )
    except HarnessError as error:
        if state is not None:
            state.error = str(error).splitlines()[0]
            tail = getattr(error, "log_tail", None)
            if tail:
                state.error_log = "\n".join(str(tail).strip().splitlines()[-_START_LOG_LINES:])
        raise
    if state is not None:
        state.started = True
        state.argv = list(running.argv)
        state.startup_seconds = running.startup_seconds
        state.log_path = str(running.log_path)
    try:
        yield running
    finally:
        # pytest stops a session-scoped server in the setup of the next variant's first case:
        # a failure raised here would be charged to that case. The outcome is kept instead,
        # and a server that did not stop gracefully fails the session (pytest_sessionfinish).
        running.stop()
        if state is not None:
            state.stop = {
                "graceful": running.stopped_gracefully,
                "exit_code": running.exit_code,
                "log_tail": None if running.stopped_gracefully else running.log_tail(2000),
            }


@pytest.fixture
def conformance_app(request: pytest.FixtureRequest) -> str:
    """The app import string the servers run."""
    app: str = request.config.getoption("app")
    return app


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
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        found = case_of(item)
        if found is not None:
            item.extra_keyword_matches.add(found.id)
        wanted = not (state.families and (found is None or found.family not in state.families))
        wanted &= not (state.cases and (found is None or found.id not in state.cases))
        (keep if wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    """Refuse manifests that name cases that do not exist (they could never be checked).

    A run of some suites does not know the other families' cases: an entry of a family whose
    bundled module was not collected is looked up in that module (imported, not collected).
    """
    state = session.config.stash[_SESSION]
    state.selected = list({c.id: c for c in map(case_of, session.items) if c}.values())
    if not state.selected:
        return
    for variant, entries in state.expectations.items():
        unknown = sorted(case for case in entries if not _exists(case))
        if unknown:
            raise pytest.UsageError(f"{variant}.toml names unknown cases: {', '.join(unknown)}")


def _exists(case: str) -> bool:
    """Whether ``case`` is a case, importing its family's bundled module if need be."""
    if case in REGISTRY:
        return True
    family = case.partition("/")[0]
    if family not in FAMILIES:
        return False
    module = f"{SUITES}.test_{family}"
    try:
        importlib.import_module(module)
    except Exception:  # a broken module is reported when collected; here it cannot tell
        return True
    return case in REGISTRY


class _Recorder:
    """Keeps the session's records and collection errors for the run document.

    Records are kept where reports are logged, so that under xdist the controller gets the
    workers' records with their reports.
    """

    def __init__(self, state: _Session) -> None:
        self.state = state

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.state.errors.append(
                {
                    "kind": "collection",
                    "where": report.nodeid,
                    "message": str(report.longrepr)[:MAX_FAILURE],
                }
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == _RECORD and isinstance(value, dict):
                self.state.records.append(value)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a case the variant lacks the capability for: it is not applicable there."""
    found, variant = case_of(item), variant_of(item)
    if found is None or variant is None:
        return
    missing = sorted(found.requires - variant.capabilities)
    if missing:
        pytest.skip(f"{NOT_APPLICABLE} {variant.name} lacks {', '.join(missing)}")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a coroutine case on a fresh event loop, bounded by its deadline, with evidence."""
    if case_of(pyfuncitem) is None or not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    running = pyfuncitem.funcargs.get("server")
    server = running if isinstance(running, RunningServer) else None
    if server is not None:
        pyfuncitem.stash[_LOG_START] = server.log_offset()
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
                pyfuncitem.stash[_LOG_END] = server.log_offset()
                await _fetch_observations(server, sink)

    with evidence.collecting() as sink:
        pyfuncitem.stash[_EVIDENCE] = sink
        asyncio.run(bounded())
    return True


async def _fetch_observations(server: RunningServer, sink: evidence.Evidence) -> None:
    """Read what the app observed for each token the case made (best effort, bounded)."""
    if not sink.tokens or not server.running:
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_OBSERVATION_DEADLINE), Observer(server) as observer:
            for token in sink.tokens[:8]:
                await observer.snapshot(token)


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
        if NOT_APPLICABLE in str(report.longrepr):
            verdict = Verdict.NOT_APPLICABLE
    elif call.when == "setup" and report.failed:
        verdict = Verdict.ERROR
    elif call.when == "call":
        verdict = judge(report, call, expectation, found, variant)
        apply_gate(report, verdict, found, variant, state.gate)
        _attach_log(item, report)
    if verdict is None:
        return report
    record = {
        "case": found.id,
        "family": found.family,
        "grade": str(found.grade),
        "clause": found.clause,
        "variant": variant.name,
        "verdict": str(verdict),
        "duration": round(report.duration, 6),
        "reason": expectation.describe() if expectation else None,
        "iteration": _iteration_of(item),
    }
    # On the report for the live display, on the item for the JUnit XML (the teardown report).
    report.user_properties.append(("conformance", json.dumps(record)))
    item.user_properties.append(("conformance", json.dumps(record)))
    record["message"] = failure_message(report, call, verdict)
    record["expectation"] = _expectation(state, expectation)
    record["reproduce"] = (
        None if verdict is Verdict.NOT_APPLICABLE else _reproduce(item.config, found, variant)
    )
    record["evidence"] = _evidence(item, report, verdict)
    # The full record travels with the report (to the xdist controller, if any), and is
    # kept where reports are logged: pytest_runtest_logreport.
    report.user_properties.append((_RECORD, record))
    return report


def _expectation(state: _Session, expectation: Expectation | None) -> dict[str, Any] | None:
    if expectation is None or state.manifests is None:
        return None
    manifest = state.manifests / f"{expectation.variant}.toml"
    return {
        "outcome": expectation.outcome,
        "match": expectation.match,
        "reason": expectation.reason,
        "clause": expectation.clause,
        "bug": expectation.bug,
        "manifest": str(manifest.resolve()),
        "line": state.line_of(expectation.variant, expectation.case),
    }


def _reproduce(config: pytest.Config, found: Case, variant: ServerSpec) -> str:
    """One command line that runs this case on this variant again."""
    state = config.stash[_SESSION]
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


def _evidence(item: pytest.Item, report: pytest.TestReport, verdict: Verdict) -> dict[str, Any]:
    sink = item.stash.get(_EVIDENCE, None)
    running = item.funcargs.get("server") if isinstance(item, pytest.Function) else None
    lines: list[str] = []
    truncated = False
    if isinstance(running, RunningServer) and _LOG_START in item.stash:
        window = running.read_log(item.stash[_LOG_START], item.stash.get(_LOG_END, None))
        lines = window.splitlines()
        if len(lines) > _MAX_LOG_LINES:
            truncated = True
            lines = [*lines[:100], f"... ({len(lines) - 150} lines left out)", *lines[-50:]]
        lines = [line if len(line) <= 500 else line[:500] + "..." for line in lines]
    failure = None
    if verdict is not Verdict.PASS and verdict is not Verdict.NOT_APPLICABLE:
        failure = str(report.longrepr)[:MAX_FAILURE] if report.longrepr else None
    return {
        "server_log": lines,
        "log_truncated": truncated,
        "transcript": sink.entries() if sink is not None else [],
        "transcript_dropped": sink.dropped if sink is not None else 0,
        "observations": dict(sink.observations) if sink is not None else {},
        "failure": failure,
    }


def _attach_log(item: pytest.Item, report: pytest.TestReport) -> None:
    running = item.funcargs.get("server") if isinstance(item, pytest.Function) else None
    if not isinstance(running, RunningServer) or _LOG_START not in item.stash:
        return
    window = running.read_log(item.stash[_LOG_START], item.stash.get(_LOG_END, None))
    if window and not report.passed:
        report.sections.append((f"server log ({running.spec.name})", window))


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
    document = build_document(
        state.records,
        run={
            "started_at": state.started_at,
            "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "duration": round(time.monotonic() - state.started, 3),
            "command": config.getoption("conformance_command")
            or shlex.join(["pytest", *config.invocation_params.args]),
            "app": config.getoption("app"),
            "expectations": None if state.manifests is None else str(state.manifests.resolve()),
            "verify": config.getoption("verify"),
            "gate": str(state.gate),
            "selection": {
                "servers": [v.option for v in state.variants.values()],
                "families": sorted(state.families),
                "cases": sorted(state.cases),
                "keyword": config.getoption("keyword") or None,
            },
        },
        variants=[v.document(state.manifests) for v in state.variants.values()],
        cases=[
            {
                "id": c.id,
                "family": c.family,
                "grade": str(c.grade),
                "clause": c.clause,
                "title": c.title,
                "requires": sorted(str(r) for r in c.requires),
            }
            for c in sorted(state.selected, key=_case_order)
        ],
        errors=state.errors,
        pytest_status=status,
    )
    state.document = document
    config.stash[DOCUMENT] = document
    _write(config, document, state.records)


def _case_order(case: Case) -> tuple[int, str]:
    return FAMILIES.index(case.family), case.id


def _write(config: pytest.Config, document: dict[str, Any], records: list[dict[str, Any]]) -> None:
    from .report.write import write_reports

    for option in ("results_json", "conformance_json"):
        if config.getoption(option):
            Path(config.getoption(option)).parent.mkdir(parents=True, exist_ok=True)
    path = config.getoption("results_json")
    if path and records:
        Path(path).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    path = config.getoption("conformance_json")
    if path:
        Path(path).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    write_reports(
        document,
        html_path=config.getoption("conformance_html"),
        markdown_path=config.getoption("conformance_markdown"),
    )


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
    results = state.document["results"] if state.document else state.records
    if not results:
        return
    terminalreporter.write_sep("=", "ASGI conformance: families by server variant")
    terminalreporter.write_line(compatibility_table(list(results)))


#: The marks of the compatibility table, one per verdict that is not a pass.
_MARKS: Final = (
    (Verdict.EXPECTED_FAILURE, "x"),
    (Verdict.FAIL, "F"),
    (Verdict.UNEXPECTED_PASS, "U"),
    (Verdict.TIMEOUT, "T"),
    (Verdict.ERROR, "E"),
    (Verdict.NOT_APPLICABLE, "-"),
)


def compatibility_table(results: list[dict[str, Any]]) -> str:
    """Families by variants: ``passed/applicable``, then a count per other verdict."""
    variants = list(dict.fromkeys(r["variant"] for r in results))
    cells: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in results:
        cells[r["family"], r["variant"]][r["verdict"]] += 1
    width = max(16, *(len(v) + 2 for v in variants))
    lines = ["family".ljust(12) + "".join(v.rjust(width) for v in variants)]
    for family in FAMILIES:
        if not any((family, v) in cells for v in variants):
            continue
        row = family.ljust(12)
        for variant in variants:
            counts = cells.get((family, variant), {})
            applicable = sum(n for k, n in counts.items() if k != Verdict.NOT_APPLICABLE)
            text = f"{counts.get(Verdict.PASS, 0)}/{applicable}" if applicable else "n/a"
            for verdict, mark in _MARKS:
                if counts.get(verdict) and (applicable or verdict is not Verdict.NOT_APPLICABLE):
                    text += f" {mark}{counts[verdict]}"
            row += text.rjust(width)
        lines.append(row)
    lines.append(
        "cells: passed/applicable; x expected failures (manifest), F failures, U unexpected "
        "passes, T timeouts, E harness errors, - not applicable"
    )
    return "\n".join(lines)
