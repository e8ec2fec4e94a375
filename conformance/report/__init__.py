"""Everything made from a run: the JSON document, Markdown and HTML, comparisons, manifests.

* :mod:`conformance.report.model`: verdicts, the run document (schema
  ``conformance/schema/run-1.json``), exit status;
* :mod:`conformance.report.markdown` and :mod:`conformance.report.html`: the matrix;
* :mod:`conformance.report.compare`: what changed between two runs;
* :mod:`conformance.report.update`: the manifests rewritten from a run.
"""

from __future__ import annotations

from .model import (
    SCHEMA_VERSION as SCHEMA_VERSION,
    VERDICTS as VERDICTS,
    Verdict as Verdict,
    build_document as build_document,
    exit_status as exit_status,
    load as load,
    validate as validate,
)

__all__ = [
    "SCHEMA_VERSION",
    "VERDICTS",
    "Verdict",
    "build_document",
    "exit_status",
    "load",
    "validate",
]
