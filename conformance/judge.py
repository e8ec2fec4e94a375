"""The judge: from a case's pytest outcome and its manifest entry to one verdict.

Verdicts are never conflated (:class:`~conformance.report.model.Verdict`):

* **pass** / **fail**: no manifest entry, and the case passed / failed;
* **expected failure**: an entry, and the case failed the recorded way (its ``match``);
* **unexpected pass**: an entry, and the case passed: the manifest is stale, the run fails;
* **timeout**: the case ended on a deadline it did not turn into a verdict (an uncaught
  ``TimeoutError`` or httpx timeout, or a group of only those); a case that catches a deadline
  and asserts on it is a fail;
* **not applicable**: the variant lacks what the case needs (a skip whose reason starts with
  :data:`NOT_APPLICABLE`); any other skip is a **harness error**, since it would hide a result;
* **harness error**: the harness itself failed (a server that did not start, for instance).

The run's gate (:class:`~conformance.cases.Gate`) then decides whether a verdict that did not
go as expected counts: a case whose grade the gate leaves out keeps its verdict in every record
and report, but its pytest outcome becomes an xfail naming the gate (:func:`apply_gate`), so
neither pytest's exit status nor the run's counts it.
"""

from __future__ import annotations

from typing import Final

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
    "apply_gate",
    "failure_message",
    "is_timeout",
    "judge",
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


def judge(
    report: pytest.TestReport,
    call: pytest.CallInfo[None],
    expectation: Expectation | None,
    found: Case,
    variant: ServerSpec,
) -> Verdict:
    """The verdict of a case's call phase; rewrites the report to say it (xfail, failure...)."""
    if report.skipped:
        if NOT_APPLICABLE in str(report.longrepr):
            return Verdict.NOT_APPLICABLE
        # A case may only be skipped as not applicable: any other skip would hide a result.
        report.outcome = "failed"
        report.longrepr = (
            f"a conformance case may not skip (only '{NOT_APPLICABLE} ...'): {report.longrepr}"
        )
        return Verdict.ERROR
    if report.passed:
        if expectation is None:
            return Verdict.PASS
        report.outcome = "failed"
        report.longrepr = (
            f"UNEXPECTED PASS: {found.id} passed on {variant.name}, but its manifest expects it "
            f"to fail ({expectation.describe()}). The server was fixed or the manifest is stale: "
            f"remove the entry from {variant.name}.toml."
        )
        return Verdict.UNEXPECTED_PASS
    error = call.excinfo.value if call.excinfo is not None else None
    failure = call.excinfo.exconly() if call.excinfo is not None else str(report.longrepr)
    if isinstance(error, HarnessError):
        return Verdict.ERROR
    if expectation is not None and expectation.matches(failure):
        report.outcome = "skipped"
        report.wasxfail = f"[{variant.name}] {expectation.describe()}"
        return Verdict.EXPECTED_FAILURE
    timed_out = error is not None and is_timeout(error)
    if expectation is not None:
        report.longrepr = (
            f"{report.longrepr}\n\nThe manifest of {variant.name} expects {found.id} to fail "
            f"matching {expectation.match!r} ({expectation.reason}), but it "
            f"{'timed out' if timed_out else 'failed differently'}:\n{failure}"
        )
    elif timed_out:
        report.longrepr = f"{report.longrepr}\n\nTIMEOUT: {found.id} on {variant.name}: {failure}"
    return Verdict.TIMEOUT if timed_out else Verdict.FAIL


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
