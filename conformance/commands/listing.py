"""``asgi-conformance list``: the selected cases, with grade, clause and requirements."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import pytest

from ..cases import FAMILIES
from .pytest_run import pytest_args, pytest_ini

__all__ = ["list_cases"]


def list_cases(args: argparse.Namespace) -> int:
    from ..plugin import case_of, variant_of

    class Collector:
        def __init__(self) -> None:
            self.cases: dict[str, dict[str, Any]] = {}

        def pytest_collection_finish(self, session: pytest.Session) -> None:
            for item in session.items:
                found = case_of(item)
                if found is None:
                    continue
                entry = self.cases.setdefault(
                    found.id,
                    {
                        "id": found.id,
                        "family": found.family,
                        "grade": str(found.grade),
                        "clause": found.clause,
                        "title": found.title,
                        "requires": sorted(str(r) for r in found.requires),
                        "variants": [],
                    },
                )
                variant = variant_of(item)
                if variant is not None and variant.name not in entry["variants"]:
                    entry["variants"].append(variant.name)

    collector = Collector()
    with pytest_ini() as ini:
        words = [*pytest_args(args, ini), "--collect-only", "-p", "no:terminal"]
        status = pytest.main(words, plugins=[collector])
    if status not in (0, 5):
        print(f"asgi-conformance: collection failed (pytest status {status})", file=sys.stderr)
        return 2
    cases = sorted(collector.cases.values(), key=lambda c: (FAMILIES.index(c["family"]), c["id"]))
    if args.json:
        for found in cases:
            print(json.dumps(found))
    else:
        width = max((len(c["id"]) for c in cases), default=10)
        for found in cases:
            needs = f"  [needs {', '.join(found['requires'])}]" if found["requires"] else ""
            print(f"{found['id']:<{width}}  {found['grade']:<13}  {found['clause']}{needs}")
        print(f"{len(cases)} case{'s' if len(cases) != 1 else ''}", file=sys.stderr)
    return 0 if cases else 2
