"""The compatibility table for a terminal: families by variants, ``passed/applicable`` and a
count per other verdict."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Final

from ..cases import FAMILIES
from .model import Result, Verdict

__all__ = ["compatibility_table"]


#: The marks of the compatibility table, one per verdict that is not a pass.
_MARKS: Final = (
    (Verdict.EXPECTED_FAILURE, "x"),
    (Verdict.FAIL, "F"),
    (Verdict.UNEXPECTED_PASS, "U"),
    (Verdict.TIMEOUT, "T"),
    (Verdict.ERROR, "E"),
    (Verdict.NOT_APPLICABLE, "-"),
)


def compatibility_table(results: Sequence[Result]) -> str:
    """Families by variants: ``passed/applicable``, then a count per other verdict."""
    variants = list(dict.fromkeys(r.variant for r in results))
    cells: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in results:
        cells[r.family, r.variant][r.verdict] += 1
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
