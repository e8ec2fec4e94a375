"""Which variants a run selects: ``--server`` options to variants, resolved once.

A ``--server`` option is a built-in variant (``uvicorn-h11``), a server meaning all its
installed variants (``uvicorn``), a comma-separated list of those, or a command template
(``NAME=COMMAND;caps=...``, see :mod:`servers.command`). ``=NAME`` selects exactly the variant
called NAME, never a server of that name's other variants (``=granian`` is the HTTP/1.1
variant alone; ``granian`` is every granian variant): a shard of a concurrent run is selected
so. No option selects every installed built-in variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from servers import ServerSpec, available, get, resolve

__all__ = ["SelectedVariant", "select_variants"]


@dataclass(frozen=True, slots=True)
class SelectedVariant:
    """One selected variant and the ``--server`` value that selects it alone."""

    spec: ServerSpec
    option: str


def select_variants(options: Sequence[str]) -> dict[str, SelectedVariant]:
    """The variants ``options`` select, by name, in selection order.

    Raises:
        HarnessError: an option names no variant or server, or is a malformed command.
    """
    if not options:
        return {name: SelectedVariant(spec, name) for name, spec in available().items()}
    selected: dict[str, SelectedVariant] = {}
    for option in options:
        items = [option] if "=" in option else [item for item in option.split(",") if item.strip()]
        for item in items:
            item = item.strip()
            if item.startswith("="):
                spec = get(item[1:])
                selected[spec.name] = SelectedVariant(spec, item)
                continue
            family = [spec for spec in available().values() if spec.server == item]
            for spec in family or [resolve(item)]:
                selected[spec.name] = SelectedVariant(spec, item if "=" in item else spec.name)
    return selected
