"""``asgi-conformance report``: render a saved run, compare it with an older one, or merge
shards into one run."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from . import CommandError, load_document, write_run_reports

__all__ = ["report"]


def report(args: argparse.Namespace) -> int:
    from ..report.merge import MergeError, merge

    if (args.run_json is None) == (args.merge is None):
        raise CommandError("report needs one RUN.json, or --merge RUN.json [RUN.json ...]")
    if args.merge is None:
        document = load_document(args.run_json)
    else:
        try:
            document = merge(
                [load_document(path) for path in args.merge],
                command=shlex.join(["asgi-conformance", *args.argv]),
            )
        except MergeError as error:
            raise CommandError(f"cannot merge: {error}") from None
    old = load_document(args.compare) if args.compare else None
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    if not args.html and not args.markdown and not args.json:
        args.markdown = "-"
    write_run_reports(args, document, old)
    if args.merge is None:
        return 0
    code: int = document["run"]["exit_code"]
    print(f"exit status {code}: {document['run']['exit_reason']}", file=sys.stderr)
    return code
