"""The ``asgi-conformance`` commands, one module each; :mod:`conformance.cli` parses and
dispatches to them.

* :mod:`.run`: ``run`` (in this process, or as concurrent shards merged into one run);
* :mod:`.listing`: ``list``;
* :mod:`.report`: ``report`` (render, ``--compare``, ``--merge``);
* :mod:`.update`: ``update-expectations``;
* :mod:`.history`: ``history``;
* :mod:`.serve`: ``serve``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["CommandError", "load_document", "split", "write_run_reports"]


class CommandError(Exception):
    """Bad input to a command: printed as one line, exit status 2."""


def split(values: list[str]) -> list[str]:
    """Comma-separated and repeated option values, as one list."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def load_document(path: str) -> dict[str, Any]:
    """Read and validate a saved run document.

    Raises:
        CommandError: it is not one.
    """
    from ..report.model import load

    try:
        return load(Path(path))
    except ValueError as error:
        raise CommandError(str(error)) from None


def write_run_reports(
    args: argparse.Namespace, document: Mapping[str, Any], old: Mapping[str, Any] | None = None
) -> None:
    """Write the HTML and Markdown a command's ``--html``/``--markdown`` options ask for."""
    from ..report.write import write_reports

    write_reports(
        document,
        html_path=args.html,
        markdown_path=args.markdown,
        manifest_url=args.manifest_url,
        evidence=args.evidence,
        old=old,
    )
