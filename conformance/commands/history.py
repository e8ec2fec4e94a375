"""``asgi-conformance history``: one server's verdicts across its releases."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CommandError, split

__all__ = ["history"]


def history(args: argparse.Namespace) -> int:
    from ..history import HistoryError, run_history

    selection = [w for family in args.family for w in ("--family", family)]
    selection += [w for case in args.case for w in ("--case", case)]
    versions = split([args.versions]) if args.versions else []
    try:
        timeline = run_history(
            args.history_server,
            versions=versions,
            since=args.since,
            out=Path(args.out),
            cache=Path(args.cache) if args.cache else None,
            selection=selection,
            report=lambda line: print(line, flush=True),
        )
    except HistoryError as error:
        raise CommandError(str(error)) from None
    print(
        f"{len(timeline.releases)} releases, {len(timeline.changes)} changes: "
        f"{Path(args.out, 'timeline.md')}"
    )
    return 0
