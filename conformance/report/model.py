"""The verdicts, the run document (JSON schema version 1) and the exit status of a run.

A *record* is one run of one case on one variant, as the plugin judged it. A *result* is one
cell of the matrix: every record of one case on one variant (more than one with ``--verify``),
summed up. The *run document* is what ``--json`` writes and every renderer reads; its schema is
``conformance/schema/run-1.json``.

Verdicts, never conflated (each is counted on its own in every output):

=================  ===========================================================================
pass               the case passed, and no manifest entry expects it to fail
fail               it failed, and no entry expects that failure (or the entry's ``match``
                   does not match: it broke differently)
expected-failure   it failed the way its manifest entry records (``match`` matched)
unexpected-pass    it passed, but its manifest entry expects a failure: the entry is stale
not-applicable     the variant lacks a capability the case needs (``requires=``, or a skip
                   whose reason starts ``not applicable:``); the case did not run
timeout            the case ended on a deadline it did not turn into a verdict itself: an
                   uncaught ``TimeoutError`` (asyncio's included, and the plugin's per-case
                   deadline) or ``httpx.TimeoutException``; a case that catches a deadline and
                   asserts on it (absence as the pass condition) *fails* instead
harness-error      the harness could not judge: the server did not start (it exited, its port
                   was taken three times, it did not answer in time), a fixture failed, the
                   case skipped itself without ``not applicable:``, or an uncaught
                   :class:`servers.HarnessError`
=================  ===========================================================================

An expected failure may also be a timeout (its ``match`` matching ``TimeoutError: ...``).

Exit status (:func:`exit_status`): **0** when every result matched the expectations (pass,
expected failure, not applicable) and at least one case ran; **1** when anything did not (fail,
unexpected pass, timeout, or a server that did not stop gracefully); **2** when the harness
itself failed (a harness error, a collection or usage error, an interrupted session) or no case
ran at all (nothing selected, or everything not applicable). 2 wins over 1.

The run's gate (``run.gate``: ``required``, ``recommended`` or ``all``, the default; see
:class:`conformance.cases.Gate`) narrows what counts for status 1: a fail, unexpected pass or
timeout of a case whose grade the gate does not admit is reported with its verdict like any
other, but does not make the run fail. Harness errors count whatever the gate. A document
without ``run.gate`` (older schema-1 documents) was gated ``all``.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from ..cases import Gate, Grade

__all__ = [
    "BAD",
    "RAN",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "VERDICTS",
    "CaseRecord",
    "Evidence",
    "ExpectationRef",
    "Result",
    "RunDocument",
    "Verdict",
    "aggregate",
    "exit_status",
    "load",
    "manifest_lines",
    "slug",
    "summarize",
    "validate",
]

#: The version of the run document's schema; bumped on incompatible changes.
SCHEMA_VERSION: Final = 1
#: The JSON schema of the run document.
SCHEMA_PATH: Final = Path(__file__).resolve().parent.parent / "schema" / "run-1.json"


class Verdict(StrEnum):
    """The verdict of a case on a variant (see the module docstring)."""

    PASS = "pass"
    FAIL = "fail"
    EXPECTED_FAILURE = "expected-failure"
    UNEXPECTED_PASS = "unexpected-pass"
    NOT_APPLICABLE = "not-applicable"
    TIMEOUT = "timeout"
    ERROR = "harness-error"


#: Every verdict, in report order.
VERDICTS: Final = (
    Verdict.PASS,
    Verdict.EXPECTED_FAILURE,
    Verdict.FAIL,
    Verdict.UNEXPECTED_PASS,
    Verdict.TIMEOUT,
    Verdict.NOT_APPLICABLE,
    Verdict.ERROR,
)
#: The verdicts of a case that ran.
RAN: Final = frozenset(
    {
        Verdict.PASS,
        Verdict.FAIL,
        Verdict.EXPECTED_FAILURE,
        Verdict.UNEXPECTED_PASS,
        Verdict.TIMEOUT,
    }
)
#: The verdicts that did not match the expectations (exit status 1).
BAD: Final = frozenset({Verdict.FAIL, Verdict.UNEXPECTED_PASS, Verdict.TIMEOUT})
#: Short labels for the matrix cells.
LABELS: Final = {
    Verdict.PASS: "pass",
    Verdict.EXPECTED_FAILURE: "xfail",
    Verdict.FAIL: "FAIL",
    Verdict.UNEXPECTED_PASS: "XPASS",
    Verdict.TIMEOUT: "TIMEOUT",
    Verdict.NOT_APPLICABLE: "n/a",
    Verdict.ERROR: "ERROR",
}
#: One line per verdict, for legends.
MEANINGS: Final = {
    Verdict.PASS: "passed",
    Verdict.EXPECTED_FAILURE: "failed as the variant's manifest records (a known deviation)",
    Verdict.FAIL: "failed, and no manifest entry expects that failure",
    Verdict.UNEXPECTED_PASS: "passed, but the manifest expects a failure: the entry is stale",
    Verdict.TIMEOUT: "stalled until a deadline the case did not expect to reach",
    Verdict.NOT_APPLICABLE: "the variant lacks a capability the case needs; not run",
    Verdict.ERROR: "the harness could not judge (the server did not start, ...)",
}
# The worst verdict of a cell's runs is the cell's verdict (for --verify).
_SEVERITY: Final = {
    Verdict.NOT_APPLICABLE: 0,
    Verdict.PASS: 1,
    Verdict.EXPECTED_FAILURE: 2,
    Verdict.UNEXPECTED_PASS: 3,
    Verdict.FAIL: 4,
    Verdict.TIMEOUT: 5,
    Verdict.ERROR: 6,
}


def _tuple_of_dicts(items: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    return tuple(dict(item) for item in items)


@dataclass(frozen=True, slots=True)
class ExpectationRef:
    """The manifest entry a record was judged against, and where it is written."""

    outcome: str
    match: str
    reason: str
    clause: str
    bug: str | None
    manifest: str
    line: int | None

    def to_json(self) -> dict[str, Any]:
        """The entry as the run document has it."""
        return {
            "outcome": self.outcome,
            "match": self.match,
            "reason": self.reason,
            "clause": self.clause,
            "bug": self.bug,
            "manifest": self.manifest,
            "line": self.line,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ExpectationRef | None:
        """The entry of a run document's ``expectation`` (None stays None)."""
        if data is None:
            return None
        return cls(
            outcome=str(data["outcome"]),
            match=str(data["match"]),
            reason=str(data["reason"]),
            clause=str(data["clause"]),
            bug=data.get("bug"),
            manifest=str(data["manifest"]),
            line=data.get("line"),
        )


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a case run left behind: the server's log window, the clients' wire transcript,
    what the app observed per token, and pytest's report of a result that is not a pass.

    Transcript entries and observations are free-form JSON objects (their shape is the
    schema's ``transcript_entry`` and ``observations``).
    """

    server_log: tuple[str, ...] = ()
    log_truncated: bool = False
    transcript: tuple[dict[str, Any], ...] = ()
    transcript_dropped: int = 0
    observations: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    failure: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The evidence as the run document has it."""
        return {
            "server_log": list(self.server_log),
            "log_truncated": self.log_truncated,
            "transcript": [dict(entry) for entry in self.transcript],
            "transcript_dropped": self.transcript_dropped,
            "observations": {token: dict(seen) for token, seen in self.observations.items()},
            "failure": self.failure,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Evidence | None:
        """The evidence of a run document's ``evidence`` (None stays None)."""
        if data is None:
            return None
        return cls(
            server_log=tuple(str(line) for line in data.get("server_log", ())),
            log_truncated=bool(data.get("log_truncated", False)),
            transcript=_tuple_of_dicts(data.get("transcript", ())),
            transcript_dropped=int(data.get("transcript_dropped", 0)),
            observations={k: dict(v) for k, v in (data.get("observations") or {}).items()},
            failure=data.get("failure"),
        )


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """One run of one case on one variant, as the plugin judged it."""

    case: str
    family: str
    grade: str
    clause: str
    variant: str
    verdict: Verdict
    duration: float
    reason: str | None = None
    iteration: int = 1
    message: str | None = None
    expectation: ExpectationRef | None = None
    reproduce: str | None = None
    evidence: Evidence = field(default_factory=Evidence)

    def summary(self) -> dict[str, Any]:
        """The short form on a report for the live display and the JUnit XML."""
        return {
            "case": self.case,
            "family": self.family,
            "grade": self.grade,
            "clause": self.clause,
            "variant": self.variant,
            "verdict": str(self.verdict),
            "duration": self.duration,
            "reason": self.reason,
            "iteration": self.iteration,
        }

    def to_json(self) -> dict[str, Any]:
        """The record as JSON (``--results-json`` lines; what travels on a pytest report)."""
        return {
            **self.summary(),
            "message": self.message,
            "expectation": self.expectation.to_json() if self.expectation else None,
            "reproduce": self.reproduce,
            "evidence": self.evidence.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CaseRecord:
        """A record from its JSON (:meth:`to_json`)."""
        return cls(
            case=str(data["case"]),
            family=str(data["family"]),
            grade=str(data["grade"]),
            clause=str(data["clause"]),
            variant=str(data["variant"]),
            verdict=Verdict(data["verdict"]),
            duration=float(data["duration"]),
            reason=data.get("reason"),
            iteration=int(data.get("iteration", 1)),
            message=data.get("message"),
            expectation=ExpectationRef.from_json(data.get("expectation")),
            reproduce=data.get("reproduce"),
            evidence=Evidence.from_json(data.get("evidence")) or Evidence(),
        )


@dataclass(frozen=True, slots=True)
class Result:
    """One cell of the matrix: every record of one case on one variant, summed up."""

    case: str
    family: str
    grade: str
    clause: str
    variant: str
    verdict: Verdict
    duration: float
    runs: int = 1
    verdicts: Mapping[Verdict, int] = field(default_factory=dict)
    flake_rate: float = 0.0
    message: str | None = None
    expectation: ExpectationRef | None = None
    reproduce: str | None = None
    evidence: Evidence | None = None

    def to_json(self) -> dict[str, Any]:
        """The result as the run document has it (``results[]``)."""
        return {
            "case": self.case,
            "family": self.family,
            "grade": self.grade,
            "clause": self.clause,
            "variant": self.variant,
            "message": self.message,
            "expectation": self.expectation.to_json() if self.expectation else None,
            "reproduce": self.reproduce,
            "evidence": self.evidence.to_json() if self.evidence else None,
            "verdict": str(self.verdict),
            "duration": self.duration,
            "runs": self.runs,
            "verdicts": {str(v): n for v, n in self.verdicts.items()},
            "flake_rate": self.flake_rate,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Result:
        """A result of a loaded run document."""
        verdict = Verdict(data["verdict"])
        return cls(
            case=str(data["case"]),
            family=str(data["family"]),
            grade=str(data["grade"]),
            clause=str(data["clause"]),
            variant=str(data["variant"]),
            verdict=verdict,
            duration=float(data["duration"]),
            runs=int(data.get("runs", 1)),
            verdicts={Verdict(v): int(n) for v, n in (data.get("verdicts") or {}).items()}
            or {verdict: 1},
            flake_rate=float(data.get("flake_rate") or 0.0),
            message=data.get("message"),
            expectation=ExpectationRef.from_json(data.get("expectation")),
            reproduce=data.get("reproduce"),
            evidence=Evidence.from_json(data.get("evidence")),
        )


@dataclass(frozen=True, slots=True)
class RunDocument:
    """A typed view of a run document: its results as :class:`Result` records.

    ``run``, ``variants``, ``cases`` and ``summary`` stay the document's JSON objects.
    """

    run: Mapping[str, Any]
    variants: tuple[Mapping[str, Any], ...]
    cases: tuple[Mapping[str, Any], ...]
    results: tuple[Result, ...]
    summary: Mapping[str, Any]

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> RunDocument:
        """The view of a (validated) run document."""
        return cls(
            run=document["run"],
            variants=tuple(document["variants"]),
            cases=tuple(document["cases"]),
            results=tuple(Result.from_json(r) for r in document["results"]),
            summary=document["summary"],
        )

    def to_json(self) -> dict[str, Any]:
        """The run document (schema version :data:`SCHEMA_VERSION`)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "run": dict(self.run),
            "variants": [dict(v) for v in self.variants],
            "cases": [dict(c) for c in self.cases],
            "results": [r.to_json() for r in self.results],
            "summary": dict(self.summary),
        }


_PYTEST_FAILURES: Final = {
    2: "the run was interrupted (pytest exit status 2)",
    3: "pytest hit an internal error (exit status 3)",
    4: "a usage error (pytest exit status 4)",
}


def slug(variant: str, case: str) -> str:
    """An HTML id for one cell: ``daphne--streaming-head-has-no-body``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{variant}--{case}")


def aggregate(records: Iterable[CaseRecord]) -> list[Result]:
    """Sum the records up into results, one per (case, variant), in first-seen order.

    A result's verdict is the worst of its runs; ``flake_rate`` is the share of runs whose
    verdict differs from the most frequent one; message, expectation and evidence come from
    the first run with the result's verdict.
    """
    groups: dict[tuple[str, str], list[CaseRecord]] = {}
    for record in records:
        groups.setdefault((record.case, record.variant), []).append(record)
    results = []
    for runs in groups.values():
        verdicts = Counter(r.verdict for r in runs)
        worst = max(verdicts, key=_SEVERITY.__getitem__)
        chosen = next(r for r in runs if r.verdict == worst)
        most = verdicts.most_common(1)[0][1]
        results.append(
            Result(
                case=chosen.case,
                family=chosen.family,
                grade=chosen.grade,
                clause=chosen.clause,
                variant=chosen.variant,
                verdict=worst,
                duration=round(sum(r.duration for r in runs) / len(runs), 6),
                runs=len(runs),
                verdicts={v: verdicts[v] for v in VERDICTS if verdicts[v]},
                flake_rate=round((len(runs) - most) / len(runs), 4),
                message=chosen.message,
                expectation=chosen.expectation,
                reproduce=chosen.reproduce,
                evidence=chosen.evidence,
            )
        )
    return results


def summarize(results: Sequence[Result], variants: Sequence[str]) -> dict[str, Any]:
    """Counts of each verdict, in all and per variant (every verdict present, zeros too)."""
    by_variant = {v: dict.fromkeys(map(str, VERDICTS), 0) for v in variants}
    total = dict.fromkeys(map(str, VERDICTS), 0)
    flaky: dict[str, int] = dict.fromkeys(variants, 0)
    for result in results:
        counts = by_variant.setdefault(result.variant, dict.fromkeys(map(str, VERDICTS), 0))
        counts[result.verdict] += 1
        total[result.verdict] += 1
        if result.flake_rate:
            flaky[result.variant] = flaky.get(result.variant, 0) + 1
    return {
        "verdicts": [str(v) for v in VERDICTS],
        "total": total,
        "by_variant": by_variant,
        "flaky": flaky,
    }


def exit_status(
    results: Sequence[Result],
    *,
    pytest_status: int,
    errors: Sequence[Mapping[str, Any]] = (),
    variants: Sequence[Mapping[str, Any]] = (),
    gate: Gate | str = Gate.ALL,
) -> tuple[int, str]:
    """The run's exit status and why (see the module docstring)."""
    verdicts = Counter(r.verdict for r in results)
    admitted = Gate(gate)
    ungated = Counter(
        r.verdict for r in results if r.verdict in BAD and not admitted.admits(Grade(r.grade))
    )
    if errors:
        return 2, f"the harness failed: {errors[0]['message'].splitlines()[0]}"
    if pytest_status in _PYTEST_FAILURES:
        return 2, f"the harness failed: {_PYTEST_FAILURES[pytest_status]}"
    if verdicts[Verdict.ERROR]:
        return 2, f"the harness failed: {verdicts[Verdict.ERROR]} harness error(s)"
    if not any(verdicts[v] for v in RAN):
        if results:
            return 2, "no case ran: every selected case was not applicable"
        return 2, "no case ran: nothing was selected"
    bad = {str(v): verdicts[v] - ungated[v] for v in VERDICTS if v in BAD}
    bad = {v: n for v, n in bad.items() if n}
    rude = [v["name"] for v in variants if (v.get("stop") or {}).get("graceful") is False]
    if bad or rude:
        parts = [f"{n} {v}" for v, n in bad.items()]
        parts += [f"{name} did not stop gracefully" for name in rude]
        return 1, "not as expected: " + ", ".join(parts)
    if pytest_status == 1:
        return 2, "pytest reported a failure outside the conformance cases"
    if sum(ungated.values()):
        left = ", ".join(f"{n} {v}" for v, n in ungated.items())
        return 0, (
            f"every gated result matched the expectations (--gate {admitted}; not gated: {left})"
        )
    return 0, "every result matched the expectations"


def manifest_lines(path: Path) -> dict[str, int]:
    """The line of each entry (its ``[[expected]]`` header) in a manifest, by case id."""
    lines: dict[str, int] = {}
    header = 0
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return lines
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped == "[[expected]]":
            header = number
            continue
        found = re.match(r'case\s*=\s*"((?:[^"\\]|\\.)*)"', stripped)
        if found and header:
            lines.setdefault(json.loads(f'"{found.group(1)}"'), header)
    return lines


def validate(document: Mapping[str, Any]) -> None:
    """Check a run document against its schema.

    Raises:
        ValueError: it is not a run document of a schema version this code reads.
        jsonschema.ValidationError: it does not follow the schema (when jsonschema is
            installed; without it only the version is checked).
    """
    version = document.get("schema_version") if isinstance(document, Mapping) else None
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"not an asgi-conformance run document of schema version {SCHEMA_VERSION} "
            f"(schema_version: {version!r})"
        )
    validator = _validator()
    if validator is None:  # pragma: no cover - jsonschema is a test dependency
        return
    exceptions = importlib.import_module("jsonschema.exceptions")
    error = exceptions.best_match(validator.iter_errors(document))
    if error is not None:
        raise error


@functools.cache
def _validator() -> Any:
    """The schema's validator, made (and the schema checked) once per process.

    None without jsonschema. (``jsonschema.validate`` checks the schema itself on every call:
    a tenth of a second per document, paid once per shard of a sharded run.)
    """
    try:
        jsonschema = importlib.import_module("jsonschema")
    except ImportError:  # pragma: no cover - jsonschema is a test dependency
        return None
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def load(path: Path) -> dict[str, Any]:
    """Read and validate a saved run document.

    Raises:
        ValueError: the file is not JSON or not a run document (see :func:`validate`).
    """
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: {error}") from None
    try:
        validate(document)
    except Exception as error:
        first = str(error).splitlines()[0]
        raise ValueError(f"{path}: {first}") from None
    return document


def environment() -> dict[str, Any]:
    """What a run ran on: the suite's version (and git commit), Python, the platform."""
    import importlib.metadata
    import platform
    import subprocess
    import sys

    def version(distribution: str) -> str | None:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    commit = None
    try:
        root = Path(__file__).resolve().parent.parent.parent
        done = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if done.returncode == 0 and done.stdout.strip():
            commit = done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "suite_version": version("asgi-conformance") or "unknown",
        "suite_commit": commit,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "description": platform.platform(),
        },
        "libraries": {name: version(name) for name in ("pytest", "httpx", "h11", "h2", "asgiref")},
    }


def build_document(
    records: Sequence[CaseRecord],
    *,
    run: Mapping[str, Any],
    variants: Sequence[Mapping[str, Any]],
    cases: Sequence[Mapping[str, Any]],
    errors: Sequence[Mapping[str, Any]] = (),
    pytest_status: int,
) -> dict[str, Any]:
    """The run document (schema version :data:`SCHEMA_VERSION`) of a finished session.

    ``run`` holds what the plugin knows of the session (times, command, app, manifests,
    selection); the environment, the results, the summary and the exit status are added here.
    """
    results = aggregate(records)
    names = [v["name"] for v in variants]
    code, reason = exit_status(
        results,
        pytest_status=pytest_status,
        errors=errors,
        variants=variants,
        gate=run.get("gate", Gate.ALL),
    )
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            **run,
            **environment(),
            "pytest_status": pytest_status,
            "exit_code": code,
            "exit_reason": reason,
            "errors": list(errors),
        },
        "variants": list(variants),
        "cases": list(cases),
        "results": [r.to_json() for r in results],
        "summary": summarize(results, names),
    }
