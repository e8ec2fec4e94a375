"""The judge: from a case's outcome and its manifest entry to one verdict, with no side
effect (:func:`judge`); the plugin applies the :class:`Judgement` to the pytest report.

Verdicts are never conflated (:class:`~conformance.report.model.Verdict`):

* **pass** / **fail**: no manifest entry, and the case passed / failed;
* **expected failure**: an entry, and the case failed the recorded way (its ``match``);
* **unexpected pass**: an entry, and the case passed: the manifest is stale, the run fails;
* **timeout**: the case ended on a deadline it did not turn into a verdict (an uncaught
  ``TimeoutError`` or httpx timeout, or a group of only those); a case that catches a deadline
  and asserts on it is a fail;
* **not applicable**: the variant lacks what the case needs (:class:`NotApplicable`, raised
  by :func:`not_applicable`; a skip whose reason starts with :data:`NOT_APPLICABLE` counts too);
  any other skip is a **harness error**, since it would hide a result;
* **harness error**: the harness itself failed (a server that did not start, for instance).

The run's gate (:class:`~conformance.cases.Gate`) then decides whether a verdict that did not
go as expected counts: a case whose grade the gate leaves out keeps its verdict in every record
and report, but its pytest outcome becomes an xfail naming the gate (:func:`apply_gate`), so
neither pytest's exit status nor the run's counts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NoReturn

import httpx
import pytest

from servers import HarnessError, ServerSpec

from .cases import Case, Gate
from .expectations import Expectation
from .report.model import BAD, Verdict

__all__ = [
    "MAX_FAILURE",
    "NOT_APPLICABLE",
    "CaseDeadline",
    "Judgement",
    "NotApplicable",
    "Outcome",
    "apply_gate",
    "failure_message",
    "is_timeout",
    "judge",
    "not_applicable",
]

#: The prefix of the skip reason of a case a variant lacks the capability for.
NOT_APPLICABLE: Final = "not applicable:"
#: The most characters of a failure kept in a result.
MAX_FAILURE: Final = 6000


class CaseDeadline(TimeoutError):
    """A case did not finish within its deadline (``--case-timeout``)."""


def is_timeout(error: BaseException) -> bool:
    """Whether ``error`` is a deadline the case did not turn into a verdict (a timeout)."""
    if isinstance(error, BaseExceptionGroup):
        return all(is_timeout(e) for e in error.exceptions)
    return isinstance(error, TimeoutError | httpx.TimeoutException)


class NotApplicable(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """A case does not apply to a variant: it lacks a capability, or speaks another protocol.

    Raise it with :func:`not_applicable`; the judge knows it by its type.
    """


def not_applicable(reason: str) -> NoReturn:
    """Stop the case: it does not apply to this variant, for ``reason``."""
    raise NotApplicable(f"{NOT_APPLICABLE} {reason}")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What pytest saw of a case's call: how it ended, and with what.

    Attributes:
        outcome: ``passed``, ``failed`` or ``skipped``.
        error: the exception it ended with, if any.
        failure: the one-line text of that exception (or of the failure).
        longrepr: pytest's full report of the failure.
    """

    outcome: str
    error: BaseException | None = None
    failure: str = ""
    longrepr: str = ""

    @classmethod
    def of(cls, report: pytest.TestReport, call: pytest.CallInfo[None]) -> Outcome:
        """The outcome of a call phase."""
        excinfo = call.excinfo
        return cls(
            outcome=report.outcome,
            error=excinfo.value if excinfo is not None else None,
            failure=excinfo.exconly() if excinfo is not None else str(report.longrepr),
            longrepr=str(report.longrepr) if report.longrepr else "",
        )


@dataclass(frozen=True, slots=True)
class Judgement:
    """A verdict, and what the pytest report must then say.

    Attributes:
        verdict: the verdict.
        outcome: the report's new outcome, or None to keep it.
        longrepr: the report's new text, or None to keep it.
        wasxfail: the xfail reason when the report becomes an expected failure.
    """

    verdict: Verdict
    outcome: str | None = None
    longrepr: str | None = None
    wasxfail: str | None = None

    def apply(self, report: pytest.TestReport) -> None:
        """Make the pytest report say the judgement."""
        if self.outcome is not None:
            report.outcome = self.outcome  # type: ignore[assignment]
        if self.longrepr is not None:
            report.longrepr = self.longrepr
        if self.wasxfail is not None:
            report.wasxfail = self.wasxfail


def judge(outcome: Outcome, expectation: Expectation | None, case: str, variant: str) -> Judgement:
    """The verdict of a case's call phase, and what its report must say (no side effect)."""
    if outcome.outcome == "skipped":
        if isinstance(outcome.error, NotApplicable) or NOT_APPLICABLE in outcome.longrepr:
            return Judgement(Verdict.NOT_APPLICABLE)
        # A case may only be skipped as not applicable: any other skip would hide a result.
        return Judgement(
            Verdict.ERROR,
            "failed",
            f"a conformance case may not skip (only '{NOT_APPLICABLE} ...'): {outcome.longrepr}",
        )
    if outcome.outcome == "passed":
        if expectation is None:
            return Judgement(Verdict.PASS)
        return Judgement(
            Verdict.UNEXPECTED_PASS,
            "failed",
            f"UNEXPECTED PASS: {case} passed on {variant}, but its manifest expects it "
            f"to fail ({expectation.describe()}). The server was fixed or the manifest is stale: "
            f"remove the entry from {variant}.toml.",
        )
    if isinstance(outcome.error, HarnessError):
        return Judgement(Verdict.ERROR)
    if expectation is not None and expectation.matches(outcome.failure):
        return Judgement(
            Verdict.EXPECTED_FAILURE, "skipped", wasxfail=f"[{variant}] {expectation.describe()}"
        )
    timed_out = outcome.error is not None and is_timeout(outcome.error)
    verdict = Verdict.TIMEOUT if timed_out else Verdict.FAIL
    if expectation is not None:
        return Judgement(
            verdict,
            longrepr=f"{outcome.longrepr}\n\nThe manifest of {variant} expects {case} to fail "
            f"matching {expectation.match!r} ({expectation.reason}), but it "
            f"{'timed out' if timed_out else 'failed differently'}:\n{outcome.failure}",
        )
    if timed_out:
        return Judgement(
            verdict,
            longrepr=f"{outcome.longrepr}\n\nTIMEOUT: {case} on {variant}: {outcome.failure}",
        )
    return Judgement(verdict)


def apply_gate(
    report: pytest.TestReport, verdict: Verdict, found: Case, variant: ServerSpec, gate: Gate
) -> bool:
    """Keep a verdict the gate leaves out from failing pytest; return whether it was left out.

    A verdict that did not go as expected (fail, unexpected pass, timeout) of a case whose
    grade ``gate`` does not admit becomes an xfail saying so; the verdict itself is unchanged.
    """
    if verdict not in BAD or gate.admits(found.grade):
        return False
    report.outcome = "skipped"
    report.wasxfail = (
        f"[{variant.name}] {verdict} of a {found.grade} case, not gated (--gate {gate})"
    )
    return True


def failure_message(
    report: pytest.TestReport, call: pytest.CallInfo[None], verdict: Verdict
) -> str | None:
    """The message a result carries (None for a pass), cut to :data:`MAX_FAILURE`."""
    if verdict is Verdict.PASS:
        return None
    if verdict is Verdict.NOT_APPLICABLE:
        if call.excinfo is not None and isinstance(call.excinfo.value, NotApplicable):
            return str(call.excinfo.value.msg)
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        return reason.removeprefix("Skipped: ")
    harness = call.excinfo is not None and call.excinfo.errisinstance(HarnessError)
    if verdict is Verdict.UNEXPECTED_PASS or (
        verdict is Verdict.ERROR and report.when == "call" and not harness
    ):
        return str(report.longrepr)[:MAX_FAILURE]
    if call.excinfo is not None:
        return call.excinfo.exconly()[:MAX_FAILURE]
    return str(report.longrepr)[:MAX_FAILURE]
