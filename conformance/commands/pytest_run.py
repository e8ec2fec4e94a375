"""How a command runs pytest: the suites to collect, the plugin's options, a configuration
of its own (the project's pytest settings and conftest files in the current directory are not
used, so a user's settings cannot change results), and the real terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

from ..cases import FAMILIES
from ..selection import Selection
from . import CommandError, split

__all__ = ["INI", "SUITES", "pytest_args", "pytest_ini", "targets", "terminal"]

#: The bundled suites package.
SUITES: Final = "conformance.suites"
#: The pytest configuration of a command's run.
INI: Final = "[pytest]\nxfail_strict = true\n"


def targets(args: argparse.Namespace) -> list[str]:
    """The pytest collection arguments: the suites, narrowed to the selected families."""
    if args.suite:
        return list(args.suite)
    families = set(split(args.family)) | {c.partition("/")[0] for c in split(args.case)}
    unknown = sorted(families - set(FAMILIES))
    if unknown:
        raise CommandError(
            f"unknown families {', '.join(unknown)}; the families are {', '.join(FAMILIES)}"
        )
    if not families:
        return [SUITES]
    modules = [f"{SUITES}.test_{family}" for family in sorted(families, key=FAMILIES.index)]
    if all(importlib.util.find_spec(m) is not None for m in modules):
        return modules
    return [SUITES]


def pytest_args(args: argparse.Namespace, ini: Path) -> list[str]:
    """The pytest command line of a command's selection (:meth:`Selection.pytest_words`).

    Raises:
        CommandError: a family does not exist, or an argument is wrong.
    """
    collect = targets(args)
    selection = Selection.from_args(args)
    words = ["-c", str(ini), "--rootdir", os.getcwd(), "--noconftest"]
    # Only the plugin, not every plugin installed beside it: other plugins' hooks have no part
    # in a run, and the plugin's entry point would have pytest rewrite the asserts of every
    # module of this distribution in every shard (about a second of CPU each where bytecode
    # is not cached). A plugin a run needs is named with ``-- -p NAME``.
    words += ["--disable-plugin-autoload", "-p", "conformance.plugin"]
    words += ["-p", "no:cacheprovider"]
    if any(not Path(t).exists() for t in collect):
        words.append("--pyargs")
    return [*words, *selection.pytest_words(), *collect]


@contextlib.contextmanager
def pytest_ini() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="asgi-conformance-") as directory:
        path = Path(directory, "pytest.ini")
        path.write_text(INI, encoding="utf-8")
        yield path


def terminal() -> IO[str]:
    """The real stdout, kept past pytest's capturing of file descriptor 1."""
    try:
        return os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    except (OSError, ValueError, AttributeError):  # no real stdout (embedded, tests)
        return sys.stdout
