"""What changed between two runs: new failures, new passes and other changes, per variant.

A cell's change is judged on what the *server* did, not on the manifest: a case that passed
and now fails is a **new failure** even if a manifest entry now expects it (pass to
expected-failure), and one that failed and now passes is a **new pass** (expected failure to
unexpected pass included). Everything else that differs (a failure that became a timeout, a
case that became not applicable, a harness error, a case only one run has unless it fails
against its manifest) is an **other change**. A variant only one run has is listed as added
or removed, and its cells are not changes: a shard that ran other variants is not a server
that regressed. Server versions that differ are listed too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .model import RunDocument, Verdict

__all__ = ["Change", "Comparison", "compare"]

_PASSED: Final = frozenset({Verdict.PASS, Verdict.UNEXPECTED_PASS})
_FAILED: Final = frozenset({Verdict.FAIL, Verdict.EXPECTED_FAILURE, Verdict.TIMEOUT})
_UNEXPECTED: Final = frozenset({Verdict.FAIL, Verdict.TIMEOUT})


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
    only_old: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)

    def describe(self, variant: str) -> str:
        """How a variant's server changed: added, removed, ``old → new`` or unchanged."""
        if variant in self.only_new:
            return "only in the new run"
        if variant in self.only_old:
            return "only in the old run"
        versions = self.versions.get(variant)
        return f"{versions[0]} → {versions[1]}" if versions else "unchanged"

    def of(self, kind: str, variant: str | None = None) -> list[Change]:
        """The changes of one kind (for one variant)."""
        return [
            c for c in self.changes if c.kind == kind and (variant is None or c.variant == variant)
        ]

    @property
    def regressed(self) -> bool:
        """Whether any cell is a new failure."""
        return bool(self.of("new failure"))


def compare(
    old: RunDocument | Mapping[str, Any], new: RunDocument | Mapping[str, Any]
) -> Comparison:
    """Compare two run documents (typed views, or the documents as loaded)."""
    if not isinstance(old, RunDocument):
        old = RunDocument.from_json(old)
    if not isinstance(new, RunDocument):
        new = RunDocument.from_json(new)
    before = {(r.variant, r.case): r for r in old.results}
    after = {(r.variant, r.case): r for r in new.results}
    variants = list(
        dict.fromkeys([*(v["name"] for v in new.variants), *(v["name"] for v in old.variants)])
    )
    comparison = Comparison(old_run=dict(old.run), new_run=dict(new.run), variants=variants)
    old_versions = {v["name"]: v.get("version") for v in old.variants}
    new_versions = {v["name"]: v.get("version") for v in new.variants}
    comparison.only_old = [name for name in variants if name not in new_versions]
    comparison.only_new = [name for name in variants if name not in old_versions]
    for name in variants:
        if name in old_versions and name in new_versions:
            pair = (old_versions[name], new_versions[name])
            if pair[0] != pair[1]:
                comparison.versions[name] = pair
    order = {v: i for i, v in enumerate(variants)}
    alone = {*comparison.only_old, *comparison.only_new}
    keys = sorted(
        (key for key in set(before) | set(after) if key[0] not in alone),
        key=lambda k: (order[k[0]], k[1]),
    )
    for key in keys:
        was, now = before.get(key), after.get(key)
        old_verdict = was.verdict if was else None
        new_verdict = now.verdict if now else None
        if old_verdict == new_verdict:
            continue
        if old_verdict in _PASSED and new_verdict in _FAILED:
            kind = "new failure"
        elif old_verdict in _FAILED and new_verdict in _PASSED:
            kind = "new pass"
        elif old_verdict is None and new_verdict in _UNEXPECTED:
            kind = "new failure"  # a case new to this run that fails against its manifest
        else:
            kind = "other"
        message = now.message if now else None
        comparison.changes.append(
            Change(
                key[0],
                key[1],
                None if old_verdict is None else str(old_verdict),
                None if new_verdict is None else str(new_verdict),
                kind,
                message,
            )
        )
    return comparison
