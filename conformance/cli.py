"""``asgi-conformance`` (also ``python -m conformance``): run, list, report, update, serve.

Commands::

    asgi-conformance run [SELECTION] [--json F] [--junit F] [--html F] [--markdown F]
                         [--verify N] [--gate required|recommended|all]
                         [--progress auto|live|plain|pytest] [-- PYTEST-ARGS]
    asgi-conformance list [SELECTION] [--json]
    asgi-conformance report RUN.json [--markdown F] [--html F] [--compare OLD.json]
    asgi-conformance update-expectations RUN.json [--expectations DIR] [--reason TEXT]
                         [--reason-for CASE[@VARIANT] TEXT] [--bug TEXT] [--interactive]
                         [--dry-run]
    asgi-conformance serve SERVER [--app IMPORT]

SELECTION is ``--server NAME`` (a variant, a server meaning all its variants, or
``NAME=COMMAND;caps=..;protocol=..``), ``--family NAME``, ``--case ID`` (exact), ``-k EXPR``
(pytest's keyword expression; it also matches case ids), ``--app``, ``--expectations DIR`` or
``--no-expectations``, ``--suite MODULE|PATH`` (other suites than the bundled ones).

``run`` runs the suites in-process with pytest, with a configuration of its own (the project's
pytest settings and conftest files in the current directory are not used). On a terminal it
shows live progress per variant (cases done, failures so far); otherwise one plain line per
case. Exit status of ``run`` (and of ``list``): 0 when every result matched the expectations,
1 when anything did not, 2 when the harness failed or no case ran; see
:mod:`conformance.report.model` for the verdicts and the precise rules. ``--gate`` chooses the
grades whose results count for the exit status (:class:`conformance.cases.Gate`; default
``all``): every case is still run, judged and shown in the matrix with its grade.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .cases import FAMILIES, Gate
from .commands import CommandError
from .commands.history import history
from .commands.listing import list_cases
from .commands.report import report
from .commands.run import run
from .commands.serve import serve
from .commands.update import UPDATE_DIRECTORY, update

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra and extra[0] == "--":
        extra = extra[1:]
    args.pytest_args = extra
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        parser.print_help()
        return 2
    handler = {
        "run": run,
        "list": list_cases,
        "report": report,
        "update-expectations": update,
        "serve": serve,
        "history": history,
    }[args.command]
    try:
        return handler(args)
    except CommandError as error:
        print(f"asgi-conformance: {error}", file=sys.stderr)
        return 2


# -- the command line -------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asgi-conformance",
        description="Conformance suite for ASGI servers: run it, list its cases, render and "
        "compare reports, update the per-server manifests, serve the reference app.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the suites",
        description="Run the suites on the selected server variants. Exit status: 0 when every "
        "result matched the expectations, 1 when anything did not, 2 when the harness failed "
        "or no case ran. Arguments after -- go to pytest.",
    )
    _selection(run)
    run.add_argument("--json", metavar="FILE", help="write the run document (JSON)")
    run.add_argument("--junit", metavar="FILE", help="write JUnit XML (pytest --junitxml)")
    run.add_argument("--html", metavar="FILE", help="write the HTML report")
    run.add_argument("--markdown", metavar="FILE", help="write the Markdown report")
    run.add_argument(
        "--verify", type=int, default=1, metavar="N", help="run each case N times; flake rate"
    )
    run.add_argument(
        "--gate",
        choices=[str(g) for g in Gate],
        default=str(Gate.ALL),
        help="which grades decide the exit status: required, recommended (and required) or "
        "all (default); every case is still run and reported",
    )
    run.add_argument(
        "-j",
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="shards run at once, each in a process of its own (default: eight per core, as a "
        "shard mostly waits; -j 1 runs the variants one after the other in this process)",
    )
    run.add_argument("--startup-timeout", type=float, metavar="S", help="seconds to first answer")
    run.add_argument(
        "--server-version",
        metavar="VERSION",
        help="the version of servers given as commands (default: what COMMAND --version prints)",
    )
    run.add_argument("--case-timeout", type=float, metavar="S", help="the deadline of one case")
    run.add_argument(
        "--progress",
        choices=("auto", "live", "plain", "pytest"),
        default="auto",
        help="live display (terminal), plain lines, or pytest's own output (default: auto)",
    )
    _rendering(run)

    listing = commands.add_parser("list", help="list the cases", description="List the cases.")
    _selection(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")

    report = commands.add_parser(
        "report",
        help="render a saved run",
        description="Render a saved run document as Markdown (default: to stdout) or HTML; "
        "with --compare, show what changed since an older run.",
    )
    report.add_argument("run_json", metavar="RUN.json", nargs="?")
    report.add_argument(
        "--merge",
        nargs="+",
        metavar="RUN.json",
        help="merge runs made apart (one per shard) into one; exit status: the merged run's",
    )
    report.add_argument("--json", metavar="FILE", help="write the (merged) run document here")
    report.add_argument("--markdown", metavar="FILE", help="write Markdown here ('-': stdout)")
    report.add_argument("--html", metavar="FILE", help="write HTML here")
    report.add_argument("--compare", metavar="OLD.json", help="an older run to compare with")
    _rendering(report)

    update = commands.add_parser(
        "update-expectations",
        help="rewrite the manifests from a saved run",
        description="Rewrite the per-variant manifests from a saved run: stale entries go, "
        "failures that changed get a new match, new failures get an entry if given a reason "
        "(never invented). Exit status: 0 done, 1 new failures were left out for lack of a "
        "reason, 2 bad input.",
    )
    update.add_argument("run_json", metavar="RUN.json")
    update.add_argument(
        "--expectations",
        metavar="DIR",
        help="the manifests to write, made if missing (default: the run's own folder, or "
        f"./{UPDATE_DIRECTORY}/ when the run used the bundled ones)",
    )
    update.add_argument("--reason", help="the reason of every new entry not given one otherwise")
    update.add_argument(
        "--reason-for",
        nargs=2,
        action="append",
        default=[],
        metavar=("CASE[@VARIANT]", "TEXT"),
        help="the reason of one new entry (repeatable)",
    )
    update.add_argument("--bug", help="the bug (B-number or URL) of new entries")
    update.add_argument(
        "--interactive",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ask for missing reasons (default: when stdin is a terminal)",
    )
    update.add_argument("--dry-run", action="store_true", help="show the changes, write nothing")

    history = commands.add_parser(
        "history",
        help="one server's verdicts across its releases",
        description="Install each release of a server into a cached environment of its own, "
        "run the suites there (no manifests: raw verdicts), and write a timeline of every "
        "case's verdict per release, with the releases where it changed and the evidence.",
    )
    history.add_argument("history_server", metavar="SERVER", help="a server or one variant")
    history.add_argument("--versions", help="comma-separated releases, e.g. 0.30.6,0.32.1")
    history.add_argument("--since", metavar="VERSION", help="every final release from VERSION on")
    history.add_argument(
        "--out", default="asgi-conformance-history", metavar="DIR", help="where to write"
    )
    history.add_argument("--cache", metavar="DIR", help="the environments' cache")
    history.add_argument("--family", action="append", default=[], help="only these families")
    history.add_argument("--case", action="append", default=[], help="only these cases")

    serve = commands.add_parser(
        "serve",
        help="run the reference app under a server",
        description="Start the contract app under one server variant, print its URL, and keep "
        "it running until Ctrl-C.",
    )
    serve.add_argument("server", metavar="SERVER", help="a variant, a server, or NAME=COMMAND")
    serve.add_argument("--app", default=None, help="the app import string")
    serve.add_argument("--startup-timeout", type=float, default=20.0, metavar="S")
    return parser


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="NAME",
        help="a variant, a server (all its variants), or NAME=COMMAND;caps=..;protocol=.. "
        "(repeatable; default: every installed variant)",
    )
    parser.add_argument(
        "--family",
        action="append",
        default=[],
        metavar="NAME",
        help=f"only these families (repeatable; {', '.join(FAMILIES)})",
    )
    parser.add_argument(
        "--case", action="append", default=[], metavar="ID", help="only this case (repeatable)"
    )
    parser.add_argument("-k", dest="keyword", metavar="EXPR", help="pytest keyword expression")
    parser.add_argument("--app", default=None, help="the app import string")
    parser.add_argument("--expectations", metavar="DIR", help="the per-variant manifests")
    parser.add_argument("--no-expectations", action="store_true", help="ignore the manifests")
    parser.add_argument(
        "--suite",
        action="append",
        default=[],
        metavar="MODULE|PATH",
        help="run these suites instead of the bundled ones (repeatable)",
    )


def _rendering(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--manifest-url",
        metavar="URL",
        help="link manifest entries to URL/<variant>.toml#L<line> instead of relative paths",
    )
    parser.add_argument(
        "--evidence",
        choices=("all", "failures", "none"),
        default="all",
        help="which HTML cells carry their evidence (default: all)",
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
