"""One report writer, for the command line and the pytest plugin alike: HTML and Markdown
from a run document (JSON is the document itself)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["write_reports"]


def write_reports(
    document: Mapping[str, Any],
    *,
    html_path: str | None = None,
    markdown_path: str | None = None,
    manifest_url: str | None = None,
    evidence: str = "all",
    old: Mapping[str, Any] | None = None,
) -> None:
    """Write the HTML and Markdown reports of ``document`` (``markdown_path`` ``-``: stdout).

    Args:
        document: the run document.
        html_path: where the HTML goes, if anywhere.
        markdown_path: where the Markdown goes, if anywhere; ``-`` is standard output.
        manifest_url: link manifest entries under this URL instead of relative paths.
        evidence: which HTML cells carry their evidence: ``all``, ``failures`` or ``none``.
        old: an older run to compare with.
    """
    from . import html, markdown

    html_file = Path(html_path) if html_path else None
    for target in (html_path, markdown_path):
        if target and target != "-":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
    if html_file is not None:
        text = html.render(
            document, here=html_file.parent, manifest_url=manifest_url, old=old, evidence=evidence
        )
        html_file.write_text(text, encoding="utf-8")
    if markdown_path:
        name = None
        if html_file is not None and markdown_path != "-":
            same = html_file.resolve().parent == Path(markdown_path).resolve().parent
            name = html_file.name if same else None
        here = Path(markdown_path).parent if markdown_path != "-" else Path.cwd()
        text = markdown.render(
            document, here=here, manifest_url=manifest_url, html_name=name, old=old
        )
        if markdown_path == "-":
            sys.stdout.write(text)
        else:
            Path(markdown_path).write_text(text, encoding="utf-8")
