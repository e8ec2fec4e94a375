"""Run the proof: every break fails what it claims, the clean runs pass, legal ones fail nothing.

Theory of operation::

    catalogue, legal variations, every suite module imported (REGISTRY full)
      -> targets (conformance.broken._plan): clean variants, breaks, legal variations
      -> batches, run 2-4 at a time: `python -m pytest --pyargs conformance.suites
         --server TARGET... --proof-plan PLAN --results-json OUT --no-expectations`
      -> outcomes (verdict, message) per target and case
      -> problems (:func:`check`), and the table (conformance.broken._table)

The checks, for a break on variant V claiming cases C in families F:

* each case of C exists, can run on V, passes on V without the break (the *clean* run), and
  fails (verdict ``fail`` or ``timeout``) under the break with a message matching ``says``;
* with ``exact`` (``python -m conformance.broken --exact``; too slow for every test run),
  each other case of F run on V gets the verdict it gets in the clean run: a break claims
  exactly what it fails, family by family (a break that fails more must claim it);

for a legal variation on V: no case that passes on V in the clean run fails under it, except
the informational cases it lists in ``shown_by`` (ASGI variations of one variant run as one
stack; a stack that fails a case runs each member alone on it, to name the culprit); and
across the catalogue: every case of the registry is claimed by a break, unless no installed
variant can run it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ..cases import FAMILIES, REGISTRY, Case, Grade
from ..report.model import CaseRecord, Verdict
from . import Break, Legal, catalogue, legal_variations
from ._plan import (
    CASE_TIMEOUT,
    Batch,
    Target,
    applicable,
    batches,
    installed_variants,
    legal_target,
    targets,
)

__all__ = [
    "CAUGHT",
    "JOBS",
    "Outcome",
    "Problem",
    "Proof",
    "check",
    "load_suites",
    "run",
    "static_problems",
]

#: The verdicts that count as a break caught.
CAUGHT: Final = frozenset({Verdict.FAIL, Verdict.TIMEOUT})
#: How many pytest processes run at once by default.
JOBS: Final = 4
#: The most one batch may take (seconds) before it is killed.
BATCH_DEADLINE: Final = 600.0
_NAME: Final = re.compile(r"[a-z][a-z0-9-]*")


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict of one case on one target, and its failure message."""

    verdict: str
    message: str = ""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing the proof found wrong.

    Attributes:
        subject: the break, legal variation or variant concerned (``break.NAME``...).
        case: the case id, or ``""``.
        what: what is wrong, in a sentence.
    """

    subject: str
    case: str
    what: str

    def __str__(self) -> str:
        return f"{self.subject}{f' / {self.case}' if self.case else ''}: {self.what}"


@dataclass(slots=True)
class Proof:
    """A proof run: what ran, what came out, what is wrong.

    Attributes:
        registry: every case, by id.
        breaks: the breaks selected.
        legal: the legal variations selected.
        variants: the variant each break or legal variation ran on; absent: not installed.
        outcomes: target id (``break.NAME``, ``legal.NAME``, ``clean.VARIANT``) -> case ->
            outcome.
        problems: what is wrong; empty when the proof holds.
        seconds: the wall time of the runs.
        complete: whether the whole catalogue was run (the table may be written).
    """

    registry: dict[str, Case]
    breaks: tuple[Break, ...]
    legal: tuple[Legal, ...]
    outcomes: dict[str, dict[str, Outcome]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    complete: bool = False

    def caught(self, entry: Break, case: str) -> bool:
        """Whether ``entry`` was proven to catch ``case``."""
        return (
            case in entry.catches
            and not any(
                p.subject == f"break.{entry.name}" and p.case == case for p in self.problems
            )
            and case in self.outcomes.get(f"break.{entry.name}", {})
        )


def load_suites() -> dict[str, Case]:
    """Import every bundled suite module (filling the registry); return the registry."""
    from .. import suites

    for info in pkgutil.iter_modules(suites.__path__):
        if info.name.startswith("test_"):
            importlib.import_module(f"{suites.__name__}.{info.name}")
    return dict(REGISTRY)


def static_problems(
    breaks: Sequence[Break], legal: Sequence[Legal], registry: dict[str, Case]
) -> list[Problem]:
    """What is wrong without running anything: names, claims, variants, coverage."""
    problems: list[Problem] = []
    variants = installed_variants()
    for entry in breaks:
        subject = f"break.{entry.name}"
        if not _NAME.fullmatch(entry.name):
            problems.append(Problem(subject, "", "a name is lowercase letters, digits and '-'"))
        for case in sorted(entry.catches - set(registry)):
            problems.append(Problem(subject, case, "claims a case that does not exist"))
        spec = variants.get(entry.variant)
        if spec is None:
            continue
        for case in sorted(entry.catches & set(registry)):
            if not applicable(registry[case], spec):
                problems.append(Problem(subject, case, f"claims a case {entry.variant} cannot run"))
    for variation in legal:
        subject = f"legal.{variation.name}"
        if not _NAME.fullmatch(variation.name):
            problems.append(Problem(subject, "", "a name is lowercase letters, digits and '-'"))
        for spared in sorted(variation.spares - set(FAMILIES) - set(registry)):
            problems.append(Problem(subject, spared, "spares neither a family nor a case"))
        for case in sorted(variation.shown_by):
            if case not in registry:
                problems.append(Problem(subject, case, "shown_by names a case that does not exist"))
            elif registry[case].grade is not Grade.INFORMATIONAL:
                problems.append(
                    Problem(subject, case, "shown_by may only name informational cases")
                )
    claimed = {case for entry in breaks if entry.variant in variants for case in entry.catches}
    for case in sorted(set(registry) - claimed):
        if any(applicable(registry[case], spec) for spec in variants.values()):
            problems.append(Problem("catalogue", case, "no break claims this case"))
    return problems


def _results(path: Path) -> dict[str, dict[str, Outcome]]:
    outcomes: dict[str, dict[str, Outcome]] = {}
    if not path.exists():
        return outcomes
    for line in path.read_text().splitlines():
        record = CaseRecord.from_json(json.loads(line))
        outcome = Outcome(str(record.verdict), record.message or "")
        outcomes.setdefault(record.variant, {})[record.case] = outcome
    return outcomes


def _run_batch(
    batch: Batch, number: int, directory: Path
) -> tuple[dict[str, dict[str, Outcome]], str]:
    """Run one batch; return its outcomes and its output (for a failed batch's diagnosis)."""
    plan = directory / f"plan-{number}.json"
    plan.write_text(json.dumps({t.id: list(t.cases) for t in batch.targets}))
    results = directory / f"results-{number}.jsonl"
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:randomly",
        "-p",
        "conformance.broken._select",
        f"--proof-plan={plan}",
        "--pyargs",
        "conformance.suites",
        "--no-expectations",
        "-q",
        f"--case-timeout={batch.case_timeout}",
        f"--results-json={results}",
        *(word for t in batch.targets for word in ("--server", t.server_option())),
    ]
    env = {**os.environ, "ASGI_CONFORMANCE_TIMEOUT_FACTOR": str(batch.factor)}
    log = directory / f"batch-{number}.out"
    with log.open("wb") as out, contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=BATCH_DEADLINE)
    return _results(results), log.read_text(errors="replace")


def run(
    breaks: Sequence[Break] | None = None,
    legal: Sequence[Legal] | None = None,
    *,
    jobs: int = JOBS,
    directory: Path | None = None,
    exact: bool = False,
) -> Proof:
    """Run ``breaks`` and ``legal`` (default: the whole catalogue) and check the outcomes.

    With ``exact``, each break also runs the unclaimed cases of its families (see
    :func:`conformance.broken._plan.targets`).
    """
    registry = load_suites()
    complete = breaks is None and legal is None
    chosen = tuple(catalogue() if breaks is None else breaks)
    variations = tuple(legal_variations() if legal is None else legal)
    proof = Proof(registry, chosen, variations, complete=complete)
    found = targets(chosen, variations, registry, exact=exact)
    work = Path(directory or tempfile.mkdtemp(prefix="asgi-conformance-proof-"))
    work.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    _run_all(proof, batches(found, jobs), jobs, work, 0)
    for target in found:
        if target.id not in proof.outcomes:
            proof.problems.append(
                Problem(target.id, "", f"no results (see the batch logs in {work})")
            )
    problems = check(proof, found)
    proof.problems += _diagnose(proof, found, problems, jobs, work)
    proof.seconds = time.monotonic() - began
    return proof


def _run_all(proof: Proof, planned: Sequence[Batch], jobs: int, work: Path, first: int) -> None:
    """Run ``planned`` batches, ``jobs`` at a time; keep their outcomes in ``proof``."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        runs = [
            pool.submit(_run_batch, batch, number, work)
            for number, batch in enumerate(planned, first)
        ]
        for future in runs:
            outcomes, _output = future.result()
            proof.outcomes.update(outcomes)


def _diagnose(
    proof: Proof, found: Sequence[Target], problems: list[Problem], jobs: int, work: Path
) -> list[Problem]:
    """Name the member of a failing stack: run each alone on the cases the stack failed.

    Problems of stacks become problems of the members that fail alone. A case that only the
    whole stack fails, while every member alone passes it, is no problem of any variation: a
    stack is a way to run many variations at once, and its dozen middlewares add memory and
    latency of their own (a 64 MiB upload split byte-wise and at random, through every layer,
    costs the stack a few MiB that no member costs alone). It is printed as a note.
    """
    stacks = {t.id: t for t in found if t.members}
    failing: dict[str, set[str]] = {}
    for problem in problems:
        if problem.subject in stacks:
            failing.setdefault(problem.subject, set()).add(problem.case)
    if not failing:
        return problems
    known = {v.name: v for v in proof.legal}
    alone = [
        legal_target([known[member]], stacks[sid].spec, tuple(sorted(cases)))
        for sid, cases in failing.items()
        for member in stacks[sid].members
    ]
    _run_all(proof, [Batch(tuple(alone), 1.0, CASE_TIMEOUT)], jobs, work, 10_000)
    kept = [p for p in problems if p.subject not in failing]
    for target in alone:
        kept += _check_legal(proof, known[target.name].shown_by, target)
    for sid, cases in failing.items():
        for problem in problems:
            if problem.subject != sid or problem.case not in cases:
                continue
            members = [f"legal.{m}" for m in stacks[sid].members]
            if not any(p.subject in members and p.case == problem.case for p in kept):
                print(
                    f"note: {sid} / {problem.case}: only the whole stack fails it "
                    f"({'+'.join(stacks[sid].members)}); each variation alone passes",
                    file=sys.stderr,
                )
    return kept


def check(proof: Proof, found: Sequence[Target]) -> list[Problem]:
    """The problems of a run's outcomes (see the module docstring)."""
    problems = static_problems(proof.breaks, proof.legal, proof.registry)
    if not proof.complete:
        problems = [p for p in problems if p.subject != "catalogue"]
    by_id = {target.id: target for target in found}
    for entry in proof.breaks:
        target = by_id.get(f"break.{entry.name}")
        if target is not None:
            problems += _check_break(proof, entry, target)
    shown = {v.name: v.shown_by for v in proof.legal}
    for target in found:
        if target.kind == "legal":
            members = target.members or (target.name,)
            shown_by = frozenset().union(*(shown.get(m, frozenset()) for m in members))
            problems += _check_legal(proof, shown_by, target)
    return problems


def _excerpt(outcome: Outcome | None) -> str:
    if outcome is None:
        return "no result"
    message = " ".join(outcome.message.split())
    return f"{outcome.verdict}{f': {message[:300]}' if message else ''}"


def _check_break(proof: Proof, entry: Break, target: Target) -> list[Problem]:
    problems: list[Problem] = []
    subject = target.id
    got = proof.outcomes.get(subject, {})
    clean = proof.outcomes.get(f"clean.{target.variant}", {})
    if not got:
        return problems
    for case in target.cases:
        outcome, reference = got.get(case), clean.get(case)
        if case in entry.catches:
            if reference is None or reference.verdict != Verdict.PASS:
                problems.append(
                    Problem(
                        subject,
                        case,
                        f"does not pass on {target.variant} without the break "
                        f"({_excerpt(reference)}): the catch proves nothing",
                    )
                )
            if outcome is None or outcome.verdict not in CAUGHT:
                problems.append(Problem(subject, case, f"not caught: {_excerpt(outcome)}"))
            elif not re.search(entry.says, outcome.message):
                problems.append(
                    Problem(
                        subject, case, f"failed, but not saying {entry.says!r}: {_excerpt(outcome)}"
                    )
                )
        elif outcome is not None and reference is not None and outcome.verdict != reference.verdict:
            problems.append(
                Problem(
                    subject,
                    case,
                    f"changes an unclaimed case: {reference.verdict} on "
                    f"{target.variant}, {_excerpt(outcome)} under the break (claim it?)",
                )
            )
    return problems


def _check_legal(proof: Proof, shown_by: frozenset[str], target: Target) -> list[Problem]:
    problems: list[Problem] = []
    got = proof.outcomes.get(target.id, {})
    clean = proof.outcomes.get(f"clean.{target.variant}", {})
    for case, outcome in sorted(got.items()):
        reference = clean.get(case)
        if outcome.verdict in {Verdict.PASS, Verdict.NOT_APPLICABLE} or case in shown_by:
            continue
        if reference is not None and reference.verdict == Verdict.PASS:
            problems.append(
                Problem(target.id, case, f"a legal server fails it: {_excerpt(outcome)}")
            )
    return problems
