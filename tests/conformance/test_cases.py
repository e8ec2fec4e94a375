"""Declaring cases (conformance.cases)."""

from __future__ import annotations

import pytest

from conformance.cases import REGISTRY, Grade, case
from servers import Capability


def test_a_case_is_registered_with_its_facts_and_marked() -> None:
    @case(
        "streaming/unit-test-example",
        grade=Grade.RECOMMENDED,
        clause="RFC 9110 §1",
        requires=[Capability.HTTP2],
    )
    def example() -> None:
        """First line names the clause.

        More prose.
        """

    facts = REGISTRY.pop("streaming/unit-test-example")
    assert (facts.family, facts.grade, facts.title) == (
        "streaming",
        Grade.RECOMMENDED,
        "First line names the clause.",
    )
    assert facts.requires == frozenset({Capability.HTTP2})
    marks = getattr(example, "pytestmark", [])
    assert [m.args for m in marks if m.name == "conformance"] == [("streaming/unit-test-example",)]


@pytest.mark.parametrize(
    ("case_id", "doc", "message"),
    [
        pytest.param("nofamily", "Doc.", "must be 'family/name'", id="no-slash"),
        pytest.param("nosuch/x", "Doc.", "must be 'family/name'", id="unknown-family"),
        pytest.param("sse/", "Doc.", "must be 'family/name'", id="empty-name"),
        pytest.param("sse/undocumented", None, "needs a docstring", id="no-docstring"),
    ],
)
def test_malformed_cases_are_refused(case_id: str, doc: str | None, message: str) -> None:
    def function() -> None:
        pass

    function.__doc__ = doc
    with pytest.raises(ValueError, match=message):
        case(case_id, grade=Grade.REQUIRED, clause="x")(function)


def test_a_case_id_cannot_be_reused_by_another_case() -> None:
    def first() -> None:
        """One."""

    def second() -> None:
        """Two."""

    case("body/unit-test-dup", grade=Grade.REQUIRED, clause="x")(first)
    try:
        with pytest.raises(ValueError, match="used twice"):
            case("body/unit-test-dup", grade=Grade.REQUIRED, clause="x")(second)
    finally:
        REGISTRY.pop("body/unit-test-dup")
