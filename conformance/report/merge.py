"""Merge run documents made apart (one CI job per variant, or per machine) into one.

Sharding is how a run scales past one machine: each job runs some variants and saves its run
document; a last job merges them, renders one report and gates on the merged exit status.

Documents merge only when they judged the same suite (the same ``suite_version``) with the same
app, and no cell (a case on a variant) is in two of them. The merged run starts with the earliest
shard and ends with the latest; its results, summary and exit status are recomputed from the
shards' results, in the order of a run in one process (variant, then family, then collection),
and ``run.shards`` keeps what each shard ran on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ..cases import FAMILIES
from .model import SCHEMA_VERSION, Result, exit_status, summarize

__all__ = ["MergeError", "merge"]

#: pytest exit statuses that mean the harness failed, worst first.
_HARNESS_STATUSES = (3, 2, 4)


class MergeError(ValueError):
    """The documents cannot be merged into one run."""


def _same(documents: Sequence[Mapping[str, Any]], key: str, what: str) -> Any:
    values = {str(d["run"][key]) for d in documents}
    if len(values) > 1:
        raise MergeError(f"the runs are of different {what}: {', '.join(sorted(values))}")
    return documents[0]["run"][key]


def _union(lists: Sequence[Sequence[str]]) -> list[str]:
    return list(dict.fromkeys(item for items in lists for item in items))


def _pytest_status(documents: Sequence[Mapping[str, Any]]) -> int:
    statuses = [int(d["run"]["pytest_status"]) for d in documents]
    for status in _HARNESS_STATUSES:
        if status in statuses:
            return status
    ran = [s for s in statuses if s != 5]  # 5: a shard that collected nothing
    return max(ran) if ran else 5


def _in_family_order(cases: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cases by family (:data:`conformance.cases.FAMILIES`), in their order within one."""

    def family(case: Mapping[str, Any]) -> int:
        name = str(case["id"]).partition("/")[0]
        return FAMILIES.index(name) if name in FAMILIES else len(FAMILIES)

    return sorted(cases, key=family)


def merge(documents: Sequence[Mapping[str, Any]], *, command: str) -> dict[str, Any]:
    """One run document holding every shard's results.

    Args:
        documents: validated run documents (see :func:`conformance.report.model.load`).
        command: the command that merged them, recorded as the run's command.

    Raises:
        MergeError: no documents, different suite versions or apps, or a cell in two shards.
    """
    if not documents:
        raise MergeError("nothing to merge")
    _same(documents, "suite_version", "suite versions")
    app = _same(documents, "app", "apps")
    seen: dict[tuple[str, str], int] = {}
    shards = [[Result.from_json(r) for r in d["results"]] for d in documents]
    for index, shard in enumerate(shards):
        for result in shard:
            key = (result.case, result.variant)
            if key in seen:
                raise MergeError(
                    f"{key[0]} on {key[1]} is in run {seen[key] + 1} and run {index + 1}: "
                    "shards must run different variants"
                )
            seen[key] = index
    variants = [v for d in documents for v in d["variants"]]
    names = _union([[v["name"] for v in variants]])
    if len(names) != len(variants):
        variants = [next(v for v in variants if v["name"] == name) for name in names]
    cases = _in_family_order({c["id"]: c for d in documents for c in d["cases"]}.values())
    position = {c["id"]: index for index, c in enumerate(cases)}
    # The order of a run in one process: variant as listed, then family and collection, so
    # that a variant split into shards by family reads as if it had run whole.
    results = sorted(
        (r for shard in shards for r in shard),
        key=lambda r: (names.index(r.variant), position.get(r.case, len(position))),
    )
    errors = [e for d in documents for e in d["run"]["errors"]]
    status = _pytest_status(documents)
    gates = {d["run"].get("gate", "all") for d in documents}
    if len(gates) > 1:
        raise MergeError(f"the runs have different gates: {', '.join(sorted(gates))}")
    gate = gates.pop()
    code, reason = exit_status(
        results, pytest_status=status, errors=errors, variants=variants, gate=gate
    )
    starts = [datetime.fromisoformat(d["run"]["started_at"]) for d in documents]
    ends = [datetime.fromisoformat(d["run"]["finished_at"]) for d in documents]
    first = documents[0]["run"]
    keywords = {d["run"]["selection"]["keyword"] for d in documents}
    selections = [d["run"]["selection"] for d in documents]
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            **first,
            "started_at": min(starts).isoformat(),
            "finished_at": max(ends).isoformat(),
            "duration": round((max(ends) - min(starts)).total_seconds(), 3),
            "command": command,
            "app": app,
            "verify": max(int(d["run"]["verify"]) for d in documents),
            "selection": {
                "servers": _union([s["servers"] for s in selections]),
                "families": _union([s["families"] for s in selections]),
                "cases": _union([s["cases"] for s in selections]),
                "keyword": keywords.pop() if len(keywords) == 1 else None,
            },
            "pytest_status": status,
            "exit_code": code,
            "exit_reason": reason,
            "errors": errors,
            "shards": [
                {
                    "command": d["run"]["command"],
                    "started_at": d["run"]["started_at"],
                    "duration": d["run"]["duration"],
                    "python": d["run"]["python"]["version"],
                    "platform": d["run"]["platform"]["description"],
                    "variants": [v["name"] for v in d["variants"]],
                    "exit_code": d["run"]["exit_code"],
                }
                for d in documents
            ],
        },
        "variants": variants,
        "cases": cases,
        "results": [r.to_json() for r in results],
        "summary": summarize(results, names),
    }
