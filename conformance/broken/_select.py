"""pytest plugin of the proof runs: keep only the planned (variant, case) pairs.

Loaded with ``-p conformance.broken._select --proof-plan PLAN.json``, where the plan maps a
variant name (a ``--server`` of the run) to the case ids it must run. One pytest process can
then run different cases on each of its servers, which ``--case`` (a selection for every
variant) cannot.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.plugin import case_of, variant_of

__all__ = ["pytest_addoption", "pytest_collection_modifyitems"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--proof-plan``."""
    parser.getgroup("asgi-conformance").addoption(
        "--proof-plan",
        default=None,
        metavar="FILE",
        help="JSON {variant: [case ids]}: run only these cases on these variants",
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect every item outside the plan."""
    path = config.getoption("proof_plan")
    if not path:
        return
    plan = {name: set(cases) for name, cases in json.loads(Path(path).read_text()).items()}
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        found, variant = case_of(item), variant_of(item)
        if found is not None and variant is not None and found.id in plan.get(variant.name, ()):
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
