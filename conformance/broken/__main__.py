"""``python -m conformance.broken``: run the proof, print the table, check or write the doc.

Examples::

    python -m conformance.broken --check             # no run: every case claimed, claims exist
    python -m conformance.broken --break held-chunks --table   # one break, and its table
    python -m conformance.broken --table             # the whole catalogue
    python -m conformance.broken --exact --break NAME   # and the unclaimed cases of its families
    python -m conformance.broken --write-doc docs/proof.md

Exit status: 0 when the proof holds, 1 when it found problems, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import catalogue, configured_variants, legal_variations
from ._runner import JOBS, load_suites, run, static_problems
from ._table import markdown, text

__all__ = ["main"]


def main(args: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m conformance.broken", description=__doc__)
    parser.add_argument(
        "--break",
        dest="breaks",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this break (repeatable)",
    )
    parser.add_argument(
        "--legal",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this legal variation (repeatable)",
    )
    parser.add_argument("--table", action="store_true", help="print the cases x breaks table")
    parser.add_argument(
        "--check",
        action="store_true",
        help="run nothing: check that every case is claimed and claims exist",
    )
    parser.add_argument("--write-doc", metavar="PATH", help="write the Markdown table")
    parser.add_argument(
        "--exact",
        action="store_true",
        help="also run each break on the unclaimed cases of its families: it must not fail them",
    )
    parser.add_argument("--jobs", type=int, default=JOBS, help="pytest processes at once")
    parser.add_argument("--keep", metavar="DIR", help="keep plans, results and logs here")
    options = parser.parse_args(args)
    breaks, legal = catalogue(), legal_variations()
    if options.check:
        problems = static_problems(breaks, legal, load_suites())
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s)")
        return 1 if problems else 0
    known = {b.name: b for b in breaks}
    variations = {v.name: v for v in legal}
    unknown = [n for n in options.breaks if n not in known]
    unknown += [n for n in options.legal if n not in variations]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    partial = bool(options.breaks or options.legal)
    if partial and options.write_doc:
        parser.error("--write-doc needs the whole catalogue (no --break, no --legal)")
    proof = run(
        [known[n] for n in options.breaks] if partial else None,
        [variations[n] for n in options.legal] if partial else None,
        jobs=options.jobs,
        directory=Path(options.keep) if options.keep else None,
        exact=options.exact,
    )
    if options.table:
        print(text(proof))
    for problem in proof.problems:
        print(problem)
    print(
        f"{len(proof.breaks)} break(s), {len(proof.legal)} legal variation(s), "
        f"{len(proof.problems)} problem(s), {proof.seconds:.1f} s"
    )
    if options.write_doc:
        Path(options.write_doc).write_text(markdown(proof, configured_variants()))
    return 1 if proof.problems else 0


if __name__ == "__main__":
    sys.exit(main())
