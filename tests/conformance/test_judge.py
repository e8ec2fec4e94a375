"""The judge on its own: outcomes in, verdicts and report changes out, no server needed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from conformance.expectations import Expectation
from conformance.judge import NotApplicable, Outcome, judge, not_applicable
from conformance.report.model import Verdict
from servers import ServerStartError

LOG = Path("server.log")
ENTRY = Expectation(
    variant="v",
    case="f/c",
    outcome="fail",
    match="the server said \\d+",
    reason="it says 500",
    clause="clause",
    bug=None,
)


def failed(error: BaseException) -> Outcome:
    text = f"{type(error).__name__}: {error}"
    return Outcome("failed", error, text, f"long report\n{text}")


@pytest.mark.parametrize(
    ("outcome", "expectation", "verdict", "new_outcome"),
    [
        (Outcome("passed"), None, Verdict.PASS, None),
        (Outcome("passed"), ENTRY, Verdict.UNEXPECTED_PASS, "failed"),
        (failed(AssertionError("the server said 500")), ENTRY, Verdict.EXPECTED_FAILURE, "skipped"),
        (failed(AssertionError("the server hung up")), ENTRY, Verdict.FAIL, None),
        (failed(AssertionError("the server said 500")), None, Verdict.FAIL, None),
        (failed(TimeoutError()), None, Verdict.TIMEOUT, None),
        (failed(httpx.ReadTimeout("slow")), ENTRY, Verdict.TIMEOUT, None),
        (
            failed(ExceptionGroup("g", [TimeoutError(), TimeoutError()])),
            None,
            Verdict.TIMEOUT,
            None,
        ),
        (failed(ExceptionGroup("g", [TimeoutError(), ValueError()])), None, Verdict.FAIL, None),
        (
            failed(ServerStartError("v", "exited", log_path=LOG, log_tail="")),
            None,
            Verdict.ERROR,
            None,
        ),
        (
            Outcome("skipped", NotApplicable("not applicable: no h2")),
            None,
            Verdict.NOT_APPLICABLE,
            None,
        ),
        (Outcome("skipped", None, "", "Skipped: flaky"), None, Verdict.ERROR, "failed"),
    ],
    ids=[
        "pass",
        "stale-entry",
        "expected-failure",
        "failed-differently",
        "fail",
        "timeout",
        "httpx-timeout-despite-entry",
        "group-of-timeouts",
        "mixed-group",
        "harness-error",
        "not-applicable-by-type",
        "other-skip-hides-a-result",
    ],
)
def test_verdicts(
    outcome: Outcome, expectation: Expectation | None, verdict: Verdict, new_outcome: str | None
) -> None:
    judgement = judge(outcome, expectation, "f/c", "v")
    assert judgement.verdict is verdict
    assert judgement.outcome == new_outcome


def test_what_the_reports_say() -> None:
    stale = judge(Outcome("passed"), ENTRY, "f/c", "v")
    assert stale.longrepr is not None
    assert "UNEXPECTED PASS: f/c passed on v" in stale.longrepr
    assert "remove the entry from v.toml" in stale.longrepr
    xfail = judge(failed(AssertionError("the server said 503")), ENTRY, "f/c", "v")
    assert xfail.wasxfail == "[v] it says 500 (clause)"
    differently = judge(failed(AssertionError("nope")), ENTRY, "f/c", "v")
    assert differently.longrepr is not None
    assert "but it failed differently:\nAssertionError: nope" in differently.longrepr


def test_not_applicable_is_a_skip_of_its_own_type() -> None:
    with pytest.raises(NotApplicable, match="not applicable: v lacks push") as raised:
        not_applicable("v lacks push")
    assert isinstance(raised.value, pytest.skip.Exception)
