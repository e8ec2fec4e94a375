"""Which variants a run selects: ``--server`` options to variants, resolved once.

A ``--server`` option is a built-in variant (``uvicorn-h11``), a server meaning all its
installed variants (``uvicorn``), a comma-separated list of those, or a command template
(``NAME=COMMAND;caps=...``, see :mod:`servers.command`). ``=NAME`` selects exactly the variant
called NAME, never a server of that name's other variants (``=granian`` is the HTTP/1.1
variant alone; ``granian`` is every granian variant): a shard of a concurrent run is selected
so. No option selects every installed built-in variant.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from servers import ServerSpec, available, get, resolve
from servers.command import CommandArgv

__all__ = ["SelectedVariant", "select_variants", "variant_version"]

#: A version number in a ``--version`` output: the first one (a program name comes first).
_VERSION: Final = re.compile(r"\b(\d+(?:\.\d+)+(?:[.+-]?[A-Za-z0-9]+)*)\b")


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


def variant_version(spec: ServerSpec, given: str | None = None) -> str | None:
    """The server version of a variant: installed metadata, ``given``, or its ``--version``.

    A built-in variant (or a command running ``{python} -m PACKAGE``) has the installed
    distribution's version. A server given as any other command has ``given`` (the
    ``--server-version`` option), or else the first version number its program prints for
    ``--version`` (the command's words before its first option or template field).
    """
    found = spec.version()
    if found is not None or not isinstance(spec.argv, CommandArgv):
        return found
    if given:
        return given
    program = _program(spec.argv.template)
    if not program:
        return None
    try:
        done = subprocess.run(
            [*program, "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(done.stdout + "\n" + done.stderr) if done.returncode == 0 else None
    return match.group(1) if match else None


def _program(template: Sequence[str]) -> list[str]:
    """The words that name a command's program: ``python -m mycorn`` of a longer command."""
    words: list[str] = []
    items = iter(template)
    for item in items:
        if item == "-m":
            words += [item, next(items, "")]
            continue
        if item.startswith("-") or ("{" in item and item != "{python}"):
            break
        words.append(sys.executable if item == "{python}" else item)
    return words
