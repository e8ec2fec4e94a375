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

Mechanics:

* a test that takes the ``server`` fixture is parametrized over the selected variants; each
  variant's server runs once per session (per xdist worker), started on first use and stopped
  (gracefully, checked) when pytest moves to the next variant;
* a case that ``requires`` a capability the variant lacks is *not applicable* there: it is
  skipped with a reason starting ``not applicable:``;
* after each case, the manifests judge the outcome (see :mod:`conformance.expectations`); an
  expected failure becomes an xfail naming the reason, an unexpected pass fails;
* a failing case gets the server's log lines from its own time window as a report section;
* the terminal summary prints the compatibility table: families by variants.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections import defaultdict
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from servers import RunningServer, ServerSpec, available, launch, resolve

from .cases import FAMILIES, REGISTRY, Case
from .expectations import DEFAULT_DIRECTORY, Expectation, load_all

__all__ = ["CASE_TIMEOUT", "NOT_APPLICABLE", "Verdict"]

#: The most one case may take (seconds).
CASE_TIMEOUT: Final = 60.0
#: The prefix of the skip reason of a case a variant lacks the capability for.
NOT_APPLICABLE: Final = "not applicable:"

_VARIANTS = pytest.StashKey[list[ServerSpec]]()
_EXPECTATIONS = pytest.StashKey[dict[str, dict[str, Expectation]]]()
_RESULTS = pytest.StashKey[list[dict[str, Any]]]()
_LOG_START = pytest.StashKey[int]()


class Verdict:
    """The verdicts a case gets on a variant; never conflated."""

    PASS: Final = "pass"
    FAIL: Final = "fail"
    EXPECTED_FAILURE: Final = "expected-failure"
    UNEXPECTED_PASS: Final = "unexpected-pass"
    NOT_APPLICABLE: Final = "not-applicable"
    ERROR: Final = "harness-error"


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
    group.addoption("--app", default="conformance.contract:app", help="the app import string")
    group.addoption("--expectations", default=None, help="directory of per-variant manifests")
    group.addoption("--no-expectations", action="store_true", help="ignore the manifests")
    group.addoption("--startup-timeout", type=float, default=20.0, help="seconds to first answer")
    group.addoption("--results-json", default=None, help="write one JSON line per case result")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, select the variants, load the manifests."""
    config.addinivalue_line(
        "markers", "conformance(id): a conformance case (see conformance.cases)"
    )
    config.stash[_VARIANTS] = _select(config.getoption("server"))
    directory = config.getoption("expectations")
    config.stash[_EXPECTATIONS] = (
        {}
        if config.getoption("no_expectations")
        else load_all(Path(directory) if directory else DEFAULT_DIRECTORY)
    )
    config.stash[_RESULTS] = []


def _select(options: list[str]) -> list[ServerSpec]:
    if not options:
        return list(available().values())
    selected: dict[str, ServerSpec] = {}
    for option in options:
        items = [option] if "=" in option else [item for item in option.split(",") if item.strip()]
        for item in items:
            item = item.strip()
            family = [spec for spec in available().values() if spec.server == item]
            for spec in family or [resolve(item)]:
                selected[spec.name] = spec
    return list(selected.values())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test taking ``server`` over the selected variants."""
    if "server" in metafunc.fixturenames:
        variants = metafunc.config.stash[_VARIANTS]
        metafunc.parametrize(
            "server", variants, ids=[v.name for v in variants], indirect=True, scope="session"
        )


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """The running server of one variant, shared by every case of the session."""
    spec: ServerSpec = request.param
    running = launch(
        spec,
        request.config.getoption("app"),
        startup_timeout=request.config.getoption("startup_timeout"),
    )
    try:
        yield running
    finally:
        running.stop()
    if not running.stopped_gracefully:
        pytest.fail(
            f"{spec.name} did not stop gracefully (exit code {running.exit_code}); "
            f"log tail:\n{running.log_tail()}"
        )


@pytest.fixture
def conformance_app(request: pytest.FixtureRequest) -> str:
    """The app import string the servers run."""
    app: str = request.config.getoption("app")
    return app


def case_of(item: pytest.Item) -> Case | None:
    """The case an item runs, or None for an ordinary test."""
    marker = item.get_closest_marker("conformance")
    return REGISTRY.get(marker.args[0]) if marker is not None else None


def _variant_of(item: pytest.Item) -> ServerSpec | None:
    callspec = getattr(item, "callspec", None)
    param = callspec.params.get("server") if callspec is not None else None
    return param if isinstance(param, ServerSpec) else None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a case the variant lacks the capability for: it is not applicable there."""
    found, variant = case_of(item), _variant_of(item)
    if found is None or variant is None:
        return
    missing = sorted(found.requires - variant.capabilities)
    if missing:
        pytest.skip(f"{NOT_APPLICABLE} {variant.name} lacks {', '.join(missing)}")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a coroutine case on a fresh event loop, bounded by :data:`CASE_TIMEOUT`."""
    if case_of(pyfuncitem) is None or not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    running = pyfuncitem.funcargs.get("server")
    if isinstance(running, RunningServer):
        pyfuncitem.stash[_LOG_START] = running.log_offset()
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}

    async def bounded() -> None:
        async with asyncio.timeout(CASE_TIMEOUT):
            await pyfuncitem.obj(**kwargs)

    asyncio.run(bounded())
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Judge a case's outcome against its variant's manifest, and attach evidence."""
    report = yield
    found, variant = case_of(item), _variant_of(item)
    if found is None or variant is None:
        return report
    expectation = item.config.stash[_EXPECTATIONS].get(variant.name, {}).get(found.id)
    verdict: str | None = None
    if call.when == "setup" and report.skipped:
        verdict = Verdict.NOT_APPLICABLE if NOT_APPLICABLE in str(report.longrepr) else None
    elif call.when == "setup" and report.failed:
        verdict = Verdict.ERROR
    elif call.when == "call":
        verdict = _judge(report, call, expectation, found, variant)
        _attach_log(item, report)
    if verdict is not None:
        record = {
            "case": found.id,
            "family": found.family,
            "grade": str(found.grade),
            "clause": found.clause,
            "variant": variant.name,
            "verdict": verdict,
            "duration": report.duration,
            "reason": expectation.describe() if expectation else None,
        }
        report.user_properties.append(("conformance", json.dumps(record)))
        item.config.stash[_RESULTS].append(record)
    return report


def _judge(
    report: pytest.TestReport,
    call: pytest.CallInfo[None],
    expectation: Expectation | None,
    found: Case,
    variant: ServerSpec,
) -> str:
    if report.skipped:
        if NOT_APPLICABLE in str(report.longrepr):
            return Verdict.NOT_APPLICABLE
        # A case may only be skipped as not applicable: any other skip would hide a result.
        report.outcome = "failed"
        report.longrepr = (
            f"a conformance case may not skip (only '{NOT_APPLICABLE} ...'): {report.longrepr}"
        )
        return Verdict.ERROR
    if expectation is None:
        return Verdict.PASS if report.passed else Verdict.FAIL
    if report.passed:
        report.outcome = "failed"
        report.longrepr = (
            f"UNEXPECTED PASS: {found.id} passed on {variant.name}, but its manifest expects it "
            f"to fail ({expectation.describe()}). The server was fixed or the manifest is stale: "
            f"remove the entry from {variant.name}.toml."
        )
        return Verdict.UNEXPECTED_PASS
    failure = call.excinfo.exconly() if call.excinfo is not None else str(report.longrepr)
    if expectation.matches(failure):
        report.outcome = "skipped"
        report.wasxfail = f"[{variant.name}] {expectation.describe()}"
        return Verdict.EXPECTED_FAILURE
    report.longrepr = (
        f"{report.longrepr}\n\nThe manifest of {variant.name} expects {found.id} to fail matching "
        f"{expectation.match!r} ({expectation.reason}), but it failed differently:\n{failure}"
    )
    return Verdict.FAIL


def _attach_log(item: pytest.Item, report: pytest.TestReport) -> None:
    running = item.funcargs.get("server") if isinstance(item, pytest.Function) else None
    if not isinstance(running, RunningServer) or _LOG_START not in item.stash:
        return
    window = running.read_log(item.stash[_LOG_START])
    if window and not report.passed:
        report.sections.append((f"server log ({running.spec.name})", window))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Refuse manifests that name cases that do not exist (they could never be checked)."""
    if not any(case_of(item) for item in session.items):
        return
    for variant, entries in session.config.stash[_EXPECTATIONS].items():
        unknown = sorted(set(entries) - set(REGISTRY))
        if unknown:
            raise pytest.UsageError(f"{variant}.toml names unknown cases: {', '.join(unknown)}")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the compatibility table, and write the JSON lines if asked."""
    results = config.stash[_RESULTS]
    if not results:
        return
    path = config.getoption("results_json")
    if path:
        Path(path).write_text("".join(json.dumps(r) + "\n" for r in results), encoding="utf-8")
    terminalreporter.write_sep("=", "ASGI conformance: families by server variant")
    terminalreporter.write_line(compatibility_table(results))


def compatibility_table(results: list[dict[str, Any]]) -> str:
    """Families by variants: ``passed/applicable`` with expected failures and failures noted."""
    variants = list(dict.fromkeys(r["variant"] for r in results))
    cells: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in results:
        cells[r["family"], r["variant"]][r["verdict"]] += 1
    width = max(14, *(len(v) + 2 for v in variants))
    lines = ["family".ljust(12) + "".join(v.rjust(width) for v in variants)]
    for family in FAMILIES:
        if not any((family, v) in cells for v in variants):
            continue
        row = family.ljust(12)
        for variant in variants:
            counts = cells.get((family, variant), {})
            applicable = sum(n for k, n in counts.items() if k != Verdict.NOT_APPLICABLE)
            text = f"{counts.get(Verdict.PASS, 0)}/{applicable}" if applicable else "n/a"
            if counts.get(Verdict.EXPECTED_FAILURE):
                text += f" x{counts[Verdict.EXPECTED_FAILURE]}"
            bad = sum(
                counts.get(k, 0) for k in (Verdict.FAIL, Verdict.UNEXPECTED_PASS, Verdict.ERROR)
            )
            if bad:
                text += f" !{bad}"
            row += text.rjust(width)
        lines.append(row)
    lines.append("cells: passed/applicable; xN expected failures (manifest); !N failures")
    return "\n".join(lines)
