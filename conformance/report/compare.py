"""What changed between two runs: new failures, new passes and other changes, per variant.

A cell's change is judged on what the *server* did, not on the manifest: a case that passed
and now fails is a **new failure** even if a manifest entry now expects it (pass to
expected-failure), and one that failed and now passes is a **new pass** (expected failure to
unexpected pass included). Everything else that differs (a failure that became a timeout, a
case that became not applicable, a harness error, a case or a variant only one run has) is an
**other change**. Server versions that differ are listed too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .model import Verdict

__all__ = ["Change", "Comparison", "compare"]

_PASSED: Final = frozenset({Verdict.PASS, Verdict.UNEXPECTED_PASS})
_FAILED: Final = frozenset({Verdict.FAIL, Verdict.EXPECTED_FAILURE, Verdict.TIMEOUT})


@dataclass(frozen=True, slots=True)
class Change:
    """One cell that differs: ``old``/``new`` are verdicts, or None where the run lacks it."""

    variant: str
    case: str
    old: str | None
    new: str | None
    kind: str  # "new failure" | "new pass" | "other"
    message: str | None = None


@dataclass(slots=True)
class Comparison:
    """The changes between an old and a new run."""

    old_run: dict[str, Any]
    new_run: dict[str, Any]
    changes: list[Change] = field(default_factory=list)
    versions: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    variants: list[str] = field(default_factory=list)

    def of(self, kind: str, variant: str | None = None) -> list[Change]:
        """The changes of one kind (for one variant)."""
        return [
            c for c in self.changes if c.kind == kind and (variant is None or c.variant == variant)
        ]

    @property
    def regressed(self) -> bool:
        """Whether any cell is a new failure."""
        return bool(self.of("new failure"))


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> Comparison:
    """Compare two run documents."""
    before = {(r["variant"], r["case"]): r for r in old["results"]}
    after = {(r["variant"], r["case"]): r for r in new["results"]}
    variants = list(
        dict.fromkeys(
            [*(v["name"] for v in new["variants"]), *(v["name"] for v in old["variants"])]
        )
    )
    comparison = Comparison(old_run=dict(old["run"]), new_run=dict(new["run"]), variants=variants)
    old_versions = {v["name"]: v.get("version") for v in old["variants"]}
    new_versions = {v["name"]: v.get("version") for v in new["variants"]}
    for name in variants:
        pair = (old_versions.get(name), new_versions.get(name))
        if pair[0] != pair[1]:
            comparison.versions[name] = pair
    order = {v: i for i, v in enumerate(variants)}
    keys = sorted(set(before) | set(after), key=lambda k: (order[k[0]], k[1]))
    for key in keys:
        was, now = before.get(key), after.get(key)
        old_verdict = was["verdict"] if was else None
        new_verdict = now["verdict"] if now else None
        if old_verdict == new_verdict:
            continue
        if old_verdict in _PASSED and new_verdict in _FAILED:
            kind = "new failure"
        elif old_verdict in _FAILED and new_verdict in _PASSED:
            kind = "new pass"
        elif old_verdict is None and new_verdict in _FAILED:
            kind = "new failure"
        else:
            kind = "other"
        message = (now or {}).get("message") if now else None
        comparison.changes.append(Change(key[0], key[1], old_verdict, new_verdict, kind, message))
    return comparison
