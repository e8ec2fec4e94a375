"""What one pytest session of the suites knows: its selection (read once from the options),
the selected variants and what became of their servers, the manifests, the records of every
case run, and the run document they make.
"""

from __future__ import annotations

import datetime
import importlib
import json
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest

from servers import HarnessError, RunningServer, ServerSpec

from .capabilities import CapabilityCheck
from .cases import FAMILIES, REGISTRY, Case, Gate
from .expectations import Expectation, ExpectationError, load_all
from .judge import MAX_FAILURE
from .report.model import CaseRecord, build_document, manifest_lines
from .selection import Selection, variant_version

__all__ = [
    "RECORD",
    "START_LOG_LINES",
    "Recorder",
    "SessionState",
    "VariantState",
    "load_manifests",
    "run_document",
    "select",
    "write_outputs",
]

#: The name of the report property carrying a case's full record.
RECORD: Final = "conformance-record"
#: How many of a server's last log lines say why it did not start.
START_LOG_LINES: Final = 12
#: The bundled suites package, where a manifest's cases of uncollected families are looked up.
_SUITES: Final = "conformance.suites"


@dataclass(slots=True)
class VariantState:
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
    advertised: CapabilityCheck | None = None

    def failed_to_start(self, error: Exception) -> None:
        """Keep why the server did not start: the first line and its log's last lines."""
        self.error = str(error).splitlines()[0]
        tail = getattr(error, "log_tail", None)
        if tail:
            self.error_log = "\n".join(str(tail).strip().splitlines()[-START_LOG_LINES:])

    def started_as(self, running: RunningServer) -> None:
        """Keep how the server was started."""
        self.started = True
        self.argv = list(running.argv)
        self.startup_seconds = running.startup_seconds
        self.log_path = str(running.log_path)

    def stopped_as(self, running: RunningServer) -> None:
        """Keep how the server stopped (a server that did not stop gracefully fails the run)."""
        self.stop = {
            "graceful": running.stopped_gracefully,
            "exit_code": running.exit_code,
            "log_tail": None if running.stopped_gracefully else running.log_tail(2000),
        }

    def document(self, manifests: Path | None) -> dict[str, Any]:
        """The variant's part of the run document."""
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
            "advertised": None if self.advertised is None else self.advertised.document(),
        }


@dataclass(slots=True)
class SessionState:
    """The session's state: selection, variants, manifests, records and the run document."""

    selection: Selection
    variants: dict[str, VariantState]
    expectations: dict[str, dict[str, Expectation]]
    started_at: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    )
    started: float = field(default_factory=time.monotonic)
    records: list[CaseRecord] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    selected: list[Case] = field(default_factory=list)
    lines: dict[str, dict[str, int]] = field(default_factory=dict)
    document: dict[str, Any] | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> SessionState:
        """The state of a session from its options: selection, variants, manifests.

        Raises:
            pytest.UsageError: an option is wrong (one line).
        """
        selection = Selection.from_config(config)
        try:
            variants = select(selection)
        except HarnessError as error:
            raise pytest.UsageError(str(error)) from None
        return cls(selection, variants, load_manifests(selection.manifests))

    @property
    def families(self) -> frozenset[str]:
        """The selected families (none: every family)."""
        return frozenset(self.selection.families)

    @property
    def cases(self) -> frozenset[str]:
        """The selected case ids (none: every case)."""
        return frozenset(self.selection.cases)

    @property
    def manifests(self) -> Path | None:
        """The manifests' directory, or None when they are ignored."""
        return self.selection.manifests

    @property
    def gate(self) -> Gate:
        """Which grades decide the exit status."""
        return self.selection.gate

    def wants(self, found: Case | None) -> bool:
        """Whether the ``--family`` and ``--case`` selection keeps a collected test."""
        return self.selection.keeps(found)

    def unknown_in_manifests(self) -> list[str]:
        """``variant.toml: case`` for each manifest entry that names no case."""
        return [
            f"{variant}.toml names unknown cases: {', '.join(unknown)}"
            for variant, entries in self.expectations.items()
            if (unknown := sorted(case for case in entries if not _exists(case)))
        ]

    def line_of(self, variant: str, case: str) -> int | None:
        """The line of a case's entry in a variant's manifest, if any."""
        if self.manifests is None:
            return None
        if variant not in self.lines:
            self.lines[variant] = manifest_lines(self.manifests / f"{variant}.toml")
        return self.lines[variant].get(case)


def _exists(case: str) -> bool:
    """Whether ``case`` is a case, importing its family's bundled module if need be."""
    if case in REGISTRY:
        return True
    family = case.partition("/")[0]
    if family not in FAMILIES:
        return False
    module = f"{_SUITES}.test_{family}"
    try:
        importlib.import_module(module)
    except Exception:  # a broken module is reported when collected; here it cannot tell
        return True
    return case in REGISTRY


class Recorder:
    """Keeps the session's records and collection errors for the run document.

    Records are kept where reports are logged, so that under xdist the controller gets the
    workers' records with their reports.
    """

    def __init__(self, state: SessionState) -> None:
        self.state = state

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Keep a collection error."""
        if report.failed:
            self.state.errors.append(
                {
                    "kind": "collection",
                    "where": report.nodeid,
                    "message": str(report.longrepr)[:MAX_FAILURE],
                }
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the record a case's report carries."""
        for name, value in report.user_properties:
            if name == RECORD and isinstance(value, dict):
                self.state.records.append(CaseRecord.from_json(value))


def load_manifests(directory: Path | None) -> dict[str, dict[str, Expectation]]:
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


def select(selection: Selection) -> dict[str, VariantState]:
    """The session's state of each variant the selection's servers select.

    Raises:
        HarnessError: a server option names no variant or server, or is malformed.
    """
    return {
        name: VariantState(chosen.spec, chosen.option, given_version=selection.server_version)
        for name, chosen in selection.variants().items()
    }


def run_document(state: SessionState, config: pytest.Config, status: int) -> dict[str, Any]:
    """The run document of the finished session (schema: conformance/schema/run-1.json)."""
    document = build_document(
        state.records,
        run={
            "started_at": state.started_at,
            "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "duration": round(time.monotonic() - state.started, 3),
            "command": config.getoption("conformance_command")
            or shlex.join(["pytest", *config.invocation_params.args]),
            "app": state.selection.app,
            "expectations": None if state.manifests is None else str(state.manifests.resolve()),
            "verify": state.selection.verify,
            "gate": str(state.gate),
            "selection": {
                "servers": [v.option for v in state.variants.values()],
                "families": sorted(state.families),
                "cases": sorted(state.cases),
                "keyword": state.selection.keyword,
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
    return document


def _case_order(case: Case) -> tuple[int, str]:
    return FAMILIES.index(case.family), case.id


def write_outputs(
    config: pytest.Config, document: dict[str, Any], records: Sequence[CaseRecord]
) -> None:
    """Write the records and the reports the session's options ask for."""
    from .report.write import write_reports

    for option in ("results_json", "conformance_json"):
        if config.getoption(option):
            Path(config.getoption(option)).parent.mkdir(parents=True, exist_ok=True)
    path = config.getoption("results_json")
    if path and records:
        Path(path).write_text(
            "".join(json.dumps(r.to_json()) + "\n" for r in records), encoding="utf-8"
        )
    path = config.getoption("conformance_json")
    if path:
        Path(path).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    write_reports(
        document,
        html_path=config.getoption("conformance_html"),
        markdown_path=config.getoption("conformance_markdown"),
    )
