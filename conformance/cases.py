"""What a conformance case is: a stable id, a family, a grade and the spec clause it checks.

Grades follow the trusted suites (Autobahn's OK/NON-STRICT/INFORMATIONAL, h2spec's strict
mode, cache-tests' required/optimal): a **required** case checks a MUST of a spec, a
**recommended** case a SHOULD (or what every mature server does), an **informational** case
records behaviour the specs leave open.

Every grade is judged and shown; which grades decide the exit status is the run's *gate*
(:class:`Gate`, ``asgi-conformance run --gate`` and pytest's ``--gate``): ``all`` (the
default) counts every grade, ``recommended`` the required and recommended cases, ``required``
the required cases only. An ungated case that does not go as expected is still recorded with
its verdict; it just does not fail the run.

A case is an ordinary pytest test function decorated with :func:`case`; its docstring names the
clause in prose, and the decorator carries the same facts as data for reports and manifests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypeVar

import pytest

from servers import Capability

__all__ = ["FAMILIES", "REGISTRY", "Case", "Gate", "Grade", "case"]

F = TypeVar("F", bound=Callable[..., Any])

#: The families, in report order.
FAMILIES: Final = (
    "streaming",
    "sse",
    "push",
    "body",
    "jobs",
    "lifecycle",
    "errors",
    "scope",
    "headers",
    "extensions",
    "connection",
    "websocket",
)


class Grade(StrEnum):
    """How much a case matters."""

    REQUIRED = "required"
    """A MUST of the ASGI spec, RFC 9110/9112/9113 or the WHATWG event-stream format."""
    RECOMMENDED = "recommended"
    """A SHOULD, or what users of a streaming framework rely on."""
    INFORMATIONAL = "informational"
    """Behaviour the specs leave open; recorded, and it gates the exit status only under the
    ``all`` gate (the default; see :class:`Gate`)."""


class Gate(StrEnum):
    """Which grades decide a run's exit status (every grade is judged and reported)."""

    REQUIRED = "required"
    """Only required cases: a server that breaks no MUST passes."""
    RECOMMENDED = "recommended"
    """Required and recommended cases."""
    ALL = "all"
    """Every case, informational ones included (the default)."""

    def admits(self, grade: Grade) -> bool:
        """Whether a case of ``grade`` counts towards the exit status under this gate."""
        if self is Gate.ALL:
            return True
        if self is Gate.RECOMMENDED:
            return grade is not Grade.INFORMATIONAL
        return grade is Grade.REQUIRED


@dataclass(frozen=True, slots=True)
class Case:
    """The facts of one case.

    Attributes:
        id: ``family/name``, stable across releases (manifests and reports key on it).
        family: one of :data:`FAMILIES`.
        grade: see :class:`Grade`.
        clause: the spec clause checked, e.g. ``"ASGI HTTP 2.5, Response Body: flush"``.
        requires: capabilities the variant must have; without them the case is not
            applicable there.
        title: the first line of the test's docstring.
    """

    id: str
    family: str
    grade: Grade
    clause: str
    requires: frozenset[Capability]
    title: str


#: Every case defined so far, by id.
REGISTRY: dict[str, Case] = {}


def case(
    id: str,
    *,
    grade: Grade,
    clause: str,
    requires: Iterable[Capability] = (),
) -> Callable[[F], F]:
    """Declare a test function a conformance case.

    Raises:
        ValueError: the id is malformed, of an unknown family, or already used.
    """
    family, _, name = id.partition("/")
    if family not in FAMILIES or not name:
        raise ValueError(f"case id {id!r} must be 'family/name' with a family in {FAMILIES}")

    def decorate(function: F) -> F:
        doc = (function.__doc__ or "").strip()
        if not doc:
            raise ValueError(f"case {id} needs a docstring naming the clause it checks")
        if id in REGISTRY and REGISTRY[id].title != doc.splitlines()[0]:
            raise ValueError(f"case id {id!r} is used twice")
        REGISTRY[id] = Case(id, family, grade, clause, frozenset(requires), doc.splitlines()[0])
        marked: F = pytest.mark.conformance(id)(function)
        return marked

    return decorate
