"""``update-expectations``: rewrite the per-variant manifests from a saved run.

For each variant of the run and each case it judged there (cases the run did not select are
left alone):

====================  ==========================================================================
result                the manifest entry afterwards
====================  ==========================================================================
pass, unexpected      removed (the server passes: the entry is stale)
pass
expected failure      kept as written
fail, timeout         an entry whose ``match`` matches the failure is kept; one that does not
                      gets a new ``match`` and keeps its reason, clause and bug (the change is
                      reported, so that someone checks the reason still holds); a case with no
                      entry gets a new one, **if a reason is given** (``--reason``,
                      ``--reason-for``, or at the prompt): the reason is never invented, and a
                      new failure without one is left out and reported
not applicable,       kept as written (the run could not judge the case)
harness error, flaky
====================  ==========================================================================

A new entry's ``match`` is the failure's first line (without ``AssertionError:``), escaped, with
every run of digits made ``\\d+``; its clause is the case's. Files are rewritten grouped by
family (a ``# family`` comment before each group), entries in their previous order, new ones
last; a manifest whose entries do not change is not touched.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..cases import FAMILIES
from ..expectations import Expectation, load
from .model import Result, Verdict

__all__ = ["Action", "Entry", "Plan", "derive_match", "plan", "render_toml", "write"]

_MATCH_LENGTH: Final = 160


@dataclass(frozen=True, slots=True)
class Entry:
    """One manifest entry, as written."""

    case: str
    match: str
    reason: str
    clause: str
    bug: str | None = None
    outcome: str = "fail"

    @classmethod
    def of(cls, expectation: Expectation) -> Entry:
        """The entry of a loaded expectation."""
        return cls(
            expectation.case,
            expectation.match,
            expectation.reason,
            expectation.clause,
            expectation.bug,
            expectation.outcome,
        )


@dataclass(frozen=True, slots=True)
class Action:
    """What happens to one (variant, case): ``kind`` is keep, remove, add, rematch or pending."""

    variant: str
    case: str
    kind: str
    why: str
    entry: Entry | None = None


@dataclass(slots=True)
class Plan:
    """The new entries of each variant, and every change made or left undone."""

    entries: dict[str, list[Entry]] = field(default_factory=dict)
    previous: dict[str, list[Entry]] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)

    def changed(self, variant: str) -> bool:
        """Whether the variant's entries differ from its manifest's."""
        return self.entries.get(variant, []) != self.previous.get(variant, [])

    def of(self, kind: str) -> list[Action]:
        """The actions of one kind."""
        return [a for a in self.actions if a.kind == kind]


#: Asked for the reason (and the bug) of a new entry: ``(variant, result) -> (reason, bug)``.
Ask = Callable[[str, Result], tuple[str, str | None]]


def derive_match(failure: str) -> str:
    """A regex for a failure message: its first line, escaped, digits generalised."""
    lines = failure.strip().splitlines()
    first = lines[0] if lines else failure.strip()
    first = first.removeprefix("AssertionError: ").strip() or first
    if len(first) > _MATCH_LENGTH:
        cut = first.rfind(" ", 0, _MATCH_LENGTH)
        first = first[: cut if cut > _MATCH_LENGTH // 2 else _MATCH_LENGTH]
    # Escape only what is special, so that the pattern stays readable in the manifest.
    pattern = re.sub(r"\d+", r"\\d+", re.sub(r"([\\.^$*+?{}\[\]|()])", r"\\\1", first))
    if re.search(pattern, failure, re.DOTALL) is None:  # pragma: no cover - defensive
        pattern = re.escape(first)
    return pattern


def plan(
    document: Mapping[str, Any],
    directory: Path,
    *,
    reasons: Mapping[str, str] | None = None,
    reason: str | None = None,
    bug: str | None = None,
    ask: Ask | None = None,
) -> Plan:
    """Work out the new manifests of the run's variants.

    Args:
        document: the run document.
        directory: the manifests directory.
        reasons: reasons of new entries by ``case@variant`` or ``case``.
        reason: the reason of every other new entry.
        bug: the bug of new entries given a reason by ``reasons`` or ``reason``.
        ask: asks for a reason where none was given (interactive use).
    """
    reasons = reasons or {}
    result = Plan()
    clauses = {c["id"]: c["clause"] for c in document["cases"]}
    results = [Result.from_json(r) for r in document["results"]]
    for variant in (v["name"] for v in document["variants"]):
        path = directory / f"{variant}.toml"
        existing = {e.case: Entry.of(e) for e in load(path).values()} if path.is_file() else {}
        result.previous[variant] = list(existing.values())
        entries = dict(existing)
        for r in (r for r in results if r.variant == variant):
            action = _decide(r, entries.get(r.case), clauses, reasons, reason, bug, ask)
            result.actions.append(action)
            if action.kind == "remove":
                entries.pop(r.case, None)
            elif action.kind in ("add", "rematch") and action.entry is not None:
                entries[r.case] = action.entry
        result.entries[variant] = _grouped(list(entries.values()))
        result.previous[variant] = _grouped(result.previous[variant])
    return result


def _decide(
    r: Result,
    entry: Entry | None,
    clauses: Mapping[str, str],
    reasons: Mapping[str, str],
    reason: str | None,
    bug: str | None,
    ask: Ask | None,
) -> Action:
    variant, case = r.variant, r.case
    verdict = r.verdict
    if r.flake_rate:
        counts = {str(v): n for v, n in r.verdicts.items()}
        return Action(variant, case, "keep", f"flaky ({counts}): not judged", entry)
    if verdict in (Verdict.PASS, Verdict.UNEXPECTED_PASS):
        if entry is None:
            return Action(variant, case, "keep", "passes", None)
        return Action(variant, case, "remove", "passes: the entry was stale", entry)
    if verdict in (Verdict.NOT_APPLICABLE, Verdict.ERROR, Verdict.EXPECTED_FAILURE):
        return Action(variant, case, "keep", f"{verdict}", entry)
    message = r.message or str(verdict)
    if entry is not None:
        if re.search(entry.match, message, re.DOTALL):
            return Action(variant, case, "keep", "fails as recorded", entry)
        new = Entry(case, derive_match(message), entry.reason, entry.clause, entry.bug)
        return Action(
            variant,
            case,
            "rematch",
            f"fails differently now; check that the reason still holds: {message[:200]}",
            new,
        )
    given = reasons.get(f"{case}@{variant}") or reasons.get(case) or reason
    given_bug = bug
    if not given and ask is not None:
        given, given_bug = ask(variant, r)
    if not given or not given.strip():
        return Action(variant, case, "pending", f"new {verdict} without a reason: {message[:200]}")
    clause = clauses.get(case) or r.clause or ""
    new = Entry(case, derive_match(message), given.strip(), clause, given_bug or None)
    return Action(variant, case, "add", f"new {verdict}: {message[:200]}", new)


def _grouped(entries: list[Entry]) -> list[Entry]:
    def family(entry: Entry) -> int:
        name = entry.case.partition("/")[0]
        return FAMILIES.index(name) if name in FAMILIES else len(FAMILIES)

    return sorted(entries, key=family)  # stable: the order within a family is kept


def _string(text: str) -> str:
    # A TOML basic string: JSON's escapes are TOML's, but DEL must be escaped too.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def render_toml(variant: str, entries: list[Entry]) -> str:
    """The manifest text of ``entries`` (grouped by family, a comment before each group)."""
    lines = [
        f"# Expected results of {variant}: every case whose correct result here is not a pass",
        "# (see conformance/expectations.py). Rewritten by `asgi-conformance update-expectations`.",
    ]
    family = None
    for entry in _grouped(entries):
        name = entry.case.partition("/")[0]
        if name != family:
            lines += ["", f"# {name}"]
            family = name
        lines.append("[[expected]]")
        lines.append(f"case = {_string(entry.case)}")
        lines.append(f"outcome = {_string(entry.outcome)}")
        lines.append(f"match = {_string(entry.match)}")
        lines.append(f"reason = {_string(entry.reason)}")
        lines.append(f"clause = {_string(entry.clause)}")
        if entry.bug:
            lines.append(f"bug = {_string(entry.bug)}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def write(result: Plan, directory: Path) -> list[Path]:
    """Write the manifests that changed; return their paths.

    Each file is checked by loading it back before it replaces the old one.
    """
    written = []
    for variant, entries in result.entries.items():
        if not result.changed(variant):
            continue
        path = directory / f"{variant}.toml"
        text = render_toml(variant, entries)
        tomllib.loads(text)  # a bug here must not leave a broken manifest behind
        temporary = path.with_suffix(".toml.new")
        temporary.write_text(text, encoding="utf-8")
        try:
            loaded = [Entry.of(e) for e in load(temporary).values()]
            if loaded != _grouped(entries):  # pragma: no cover - defensive
                raise ValueError(f"{temporary} does not read back as written")
            temporary.replace(path)
        finally:
            temporary.unlink(missing_ok=True)
        written.append(path)
    return written
