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
import contextlib
import importlib.util
import json
import os
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final

import pytest

from servers import HarnessError

from .cases import FAMILIES, Gate
from .parallel import Shard, default_jobs, order_shards, run_shards
from .selection import SelectedVariant, select_variants

__all__ = ["main"]

_SUITES: Final = "conformance.suites"
_INI: Final = "[pytest]\nxfail_strict = true\n"


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
        "run": _run,
        "list": _list,
        "report": _report,
        "update-expectations": _update,
        "serve": _serve,
        "history": _history,
    }[args.command]
    try:
        return handler(args)
    except _Fail as error:
        print(f"asgi-conformance: {error}", file=sys.stderr)
        return 2


class _Fail(Exception):
    """A usage or input error: printed, exit status 2."""


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
        help="variants run at once, each in a process of its own (default: one per core, at "
        "least 2; -j 1 runs them one after the other in this process)",
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


# -- run and list -----------------------------------------------------------------------


def _split(values: list[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _targets(args: argparse.Namespace) -> list[str]:
    """The pytest collection arguments: the suites, narrowed to the selected families."""
    if args.suite:
        return list(args.suite)
    families = set(_split(args.family)) | {c.partition("/")[0] for c in _split(args.case)}
    unknown = sorted(families - set(FAMILIES))
    if unknown:
        raise _Fail(
            f"unknown families {', '.join(unknown)}; the families are {', '.join(FAMILIES)}"
        )
    if not families:
        return [_SUITES]
    modules = [f"{_SUITES}.test_{family}" for family in sorted(families, key=FAMILIES.index)]
    if all(importlib.util.find_spec(m) is not None for m in modules):
        return modules
    return [_SUITES]


def _pytest_args(args: argparse.Namespace, ini: Path) -> list[str]:
    """The pytest command line of a selection (the plugin's options)."""
    targets = _targets(args)
    words = ["-c", str(ini), "--rootdir", os.getcwd(), "--noconftest"]
    words += ["-p", "no:cacheprovider", "-p", "no:randomly"]
    if any(not Path(t).exists() for t in targets):
        words.append("--pyargs")
    for server in args.server:
        words += ["--server", server]
    for family in _split(args.family):
        words += ["--family", family]
    for case in _split(args.case):
        words += ["--case", case]
    if args.keyword:
        words += ["-k", args.keyword]
    if args.app:
        words += ["--app", args.app]
    if args.no_expectations:
        words.append("--no-expectations")
    elif args.expectations:
        directory = Path(args.expectations)
        if directory.exists() and not directory.is_dir():
            raise _Fail(f"--expectations {directory}: not a directory")
        words += ["--expectations", str(directory.resolve())]
    return [*words, *targets]


@contextlib.contextmanager
def _ini() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="asgi-conformance-") as directory:
        path = Path(directory, "pytest.ini")
        path.write_text(_INI, encoding="utf-8")
        yield path


def _run(args: argparse.Namespace) -> int:
    if args.verify < 1:
        raise _Fail("--verify needs a count of at least 1")
    jobs = default_jobs() if args.workers is None else args.workers
    if jobs < 1:
        raise _Fail("-j needs a count of at least 1")
    _targets(args)  # the families and cases exist
    for target in (args.json, args.junit, args.html, args.markdown):
        if target and target != "-":
            _check_writable(Path(target))
    out = _terminal()
    mode = args.progress
    if mode == "auto":
        mode = "live" if out.isatty() else "plain"
    if jobs > 1 and not args.suite:
        try:
            selected = select_variants(args.server)
        except HarnessError as error:
            raise _Fail(str(error)) from None
        if len(selected) > 1:
            return _run_shards(args, selected, jobs, out, mode)
    # SIGTERM (a CI job's timeout) stops the run as Ctrl-C does: documents written, exit 2.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _run_here(args, out, mode)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_writable(path: Path) -> None:
    """Refuse, before the run, a report path that could not be written after it."""
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise _Fail(f"cannot write {path}: {error.strerror or error}") from None
    if not existed:
        path.unlink()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _child_args(args: argparse.Namespace) -> list[str]:
    """The arguments every shard's ``run`` gets: the selection but the servers, and limits."""
    words: list[str] = []
    for family in args.family:
        words += ["--family", family]
    for case in args.case:
        words += ["--case", case]
    if args.keyword:
        words += ["-k", args.keyword]
    if args.app:
        words += ["--app", args.app]
    if args.no_expectations:
        words.append("--no-expectations")
    elif args.expectations:
        words += ["--expectations", str(Path(args.expectations).resolve())]
    if args.verify > 1:
        words += ["--verify", str(args.verify)]
    if args.startup_timeout is not None:
        words += ["--startup-timeout", str(args.startup_timeout)]
    if args.server_version:
        words += ["--server-version", args.server_version]
    if args.case_timeout is not None:
        words += ["--case-timeout", str(args.case_timeout)]
    gate = getattr(args, "gate", None)
    if gate:
        words += ["--gate", gate]
    if args.pytest_args:
        words += ["--", *args.pytest_args]
    return words


def _run_shards(
    args: argparse.Namespace,
    selected: Mapping[str, SelectedVariant],
    jobs: int,
    out: IO[str],
    mode: str,
) -> int:
    """Run each variant as a shard of its own, ``jobs`` at once, and merge their documents."""
    from .report.merge import MergeError, merge
    from .report.model import exit_status, load

    shards = order_shards(
        [
            Shard(name, v.option if "=" in v.option else f"={name}", v.spec)
            for name, v in selected.items()
        ]
    )
    progress = _Progress(out, live=mode == "live", quiet=mode == "pytest")
    progress.expect(shards, jobs)
    with tempfile.TemporaryDirectory(prefix="asgi-conformance-shards-") as directory:
        outcomes, interrupted = run_shards(
            shards,
            _child_args(args),
            jobs=jobs,
            directory=Path(directory),
            junit=bool(args.junit),
            on_case=progress.note,
            on_total=progress.announce,
        )
        progress.stop()
        documents, errors = [], []
        order = list(selected)
        for outcome in sorted(outcomes, key=lambda o: order.index(o.shard.name)):
            try:
                documents.append(load(outcome.document_path))
            except ValueError:
                why = outcome.tail() or f"exit status {outcome.returncode}"
                errors.append(
                    {
                        "kind": "shard",
                        "where": outcome.shard.name,
                        "message": f"no run document:\n{why}",
                    }
                )
        if args.junit and documents:
            _merge_junit([o.document_path.with_suffix(".xml") for o in outcomes], Path(args.junit))
    command = shlex.join(["asgi-conformance", *args.argv])
    if not documents:
        first = errors[0]["message"] if errors else "no shard ran"
        print(f"asgi-conformance: {first}", file=sys.stderr)
        return 2
    try:
        document = merge(documents, command=command)
    except MergeError as error:
        raise _Fail(f"the shards cannot be merged: {error}") from None
    run = document["run"]
    run["errors"] = [*run["errors"], *errors]
    status = 2 if interrupted else run["pytest_status"]
    run["pytest_status"] = status
    run["exit_code"], run["exit_reason"] = exit_status(
        document["results"],
        pytest_status=status,
        errors=run["errors"],
        variants=document["variants"],
        gate=run.get("gate", "all"),
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    _render(args, document)
    if mode != "pytest":
        progress.finish(document, args)
    out.flush()
    code: int = run["exit_code"]
    return code


def _merge_junit(parts: Sequence[Path], target: Path) -> None:
    """One JUnit XML file holding every shard's test suites."""
    import xml.etree.ElementTree as ElementTree

    merged = ElementTree.Element("testsuites")
    for part in parts:
        if not part.exists():
            continue
        root = ElementTree.parse(part).getroot()
        suites = [root] if root.tag == "testsuite" else list(root)
        merged.extend(suites)
    target.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(merged).write(target, encoding="utf-8", xml_declaration=True)


def _run_here(args: argparse.Namespace, out: IO[str], mode: str) -> int:
    """Run the selection in this process, one variant after the other."""
    with _ini() as ini:
        words = _pytest_args(args, ini)
        if args.verify > 1:
            words += ["--verify", str(args.verify)]
        if args.startup_timeout is not None:
            words += ["--startup-timeout", str(args.startup_timeout)]
        if args.server_version:
            words += ["--server-version", args.server_version]
        if args.case_timeout is not None:
            words += ["--case-timeout", str(args.case_timeout)]
        words += ["--gate", args.gate]
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            words += ["--conformance-json", args.json]
        if args.junit:
            words += ["--junitxml", args.junit]
        if mode != "pytest":
            words += ["-p", "no:terminal"]
        words += ["--conformance-command", shlex.join(["asgi-conformance", *args.argv])]
        words += args.pytest_args
        progress = _Progress(out, live=mode == "live", quiet=mode == "pytest")
        status = pytest.main(words, plugins=[progress])
    document = progress.document
    if document is None:
        print(f"asgi-conformance: pytest stopped before the run began (status {status})", file=out)
        out.flush()
        return 2
    _render(args, document)
    if mode != "pytest":
        progress.finish(document, args)
    out.flush()
    code: int = document["run"]["exit_code"]
    return code


def _terminal() -> IO[str]:
    """The real stdout, kept past pytest's capturing of file descriptor 1."""
    try:
        return os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    except (OSError, ValueError, AttributeError):  # no real stdout (embedded, tests)
        return sys.stdout


def _render(args: argparse.Namespace, document: Mapping[str, Any], old: Any = None) -> None:
    from .report import html, markdown

    html_path = Path(args.html) if args.html else None
    for target in (args.html, args.markdown):
        if target and target != "-":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
    if html_path is not None:
        text = html.render(
            document,
            here=html_path.parent,
            manifest_url=args.manifest_url,
            old=old,
            evidence=args.evidence,
        )
        html_path.write_text(text, encoding="utf-8")
    markdown_path = args.markdown
    if markdown_path:
        name = None
        if html_path is not None and markdown_path != "-":
            same = html_path.resolve().parent == Path(markdown_path).resolve().parent
            name = html_path.name if same else None
        here = Path(markdown_path).parent if markdown_path != "-" else Path.cwd()
        text = markdown.render(
            document, here=here, manifest_url=args.manifest_url, html_name=name, old=old
        )
        if markdown_path == "-":
            sys.stdout.write(text)
        else:
            Path(markdown_path).write_text(text, encoding="utf-8")


class _Progress:
    """A pytest plugin showing the run: a live table on a terminal, else plain lines."""

    def __init__(self, out: IO[str], *, live: bool, quiet: bool) -> None:
        self.out = out
        self.live_mode = live
        self.quiet = quiet
        self.document: dict[str, Any] | None = None
        self.totals: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.current: dict[str, str] = {}
        self.variant_of_node: dict[str, str] = {}
        self.finished = 0
        self.started = False
        self._live: Any = None

    # pytest hooks

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from .plugin import case_of, variant_of

        for item in session.items:
            variant, found = variant_of(item), case_of(item)
            if variant is None or found is None:
                continue
            self.variant_of_node[item.nodeid] = variant.name
            self.totals[variant.name] = self.totals.get(variant.name, 0) + 1
            self.done.setdefault(variant.name, 0)
            self.counts.setdefault(variant.name, {})

    def _start(self) -> None:
        """Show the display, once the first case starts (collection went well)."""
        if self.quiet or self.started:
            return
        self.started = True
        if self.live_mode and self.totals:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.out, force_terminal=True)
            self._live = Live(
                self._table(),
                console=console,
                refresh_per_second=8,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        elif self.totals:
            total = sum(self.totals.values())
            names = ", ".join(f"{n} ({c})" for n, c in self.totals.items())
            self._print(f"asgi-conformance: {total} case runs on {names}")

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self._start()
        variant = self.variant_of_node.get(nodeid)
        if variant is not None:
            self.current[variant] = location[2]
            self._refresh()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name != "conformance" or report.when == "teardown":
                continue
            record = json.loads(str(value))
            if (report.nodeid, report.when) in getattr(self, "_seen", set()):
                continue
            self._note(report, record)

    def _note(self, report: pytest.TestReport, record: dict[str, Any]) -> None:
        seen: set[tuple[str, str]] = getattr(self, "_seen", set())
        seen.add((report.nodeid, report.when))
        self._seen = seen
        self.note(
            record["variant"],
            record["case"],
            record["verdict"],
            record["duration"],
            record.get("iteration", 1),
        )

    # the shards of a concurrent run report here (conformance.parallel)

    def expect(self, shards: Sequence[Shard], jobs: int) -> None:
        """Show the display for a run of shards (their sizes come as each one starts)."""
        for shard in shards:
            self.totals.setdefault(shard.name, 0)
            self.done.setdefault(shard.name, 0)
            self.counts.setdefault(shard.name, {})
        if not self.quiet and not self.live_mode:
            names = ", ".join(shard.name for shard in shards)
            self._print(f"asgi-conformance: {len(shards)} variants, {jobs} at a time: {names}")
            self.started = True
        self._start()

    def announce(self, variant: str, total: int) -> None:
        """A shard knows how many case runs it has."""
        self.totals[variant] = total
        self._refresh()

    def note(self, variant: str, case: str, verdict: str, duration: float, iteration: int) -> None:
        """One case run finished."""
        self.done[variant] = self.done.get(variant, 0) + 1
        counts = self.counts.setdefault(variant, {})
        counts[verdict] = counts.get(verdict, 0) + 1
        self.finished += 1
        if self.quiet:
            return
        if self._live is None:
            total = sum(self.totals.values())
            again = f" run {iteration}" if iteration > 1 else ""
            self._print(
                f"[{self.finished:>4}/{total}] {variant:<18} {case}{again}: {verdict} "
                f"({duration:.2f} s)"
            )
        else:
            self._refresh()

    def stop(self) -> None:
        """Close the live display (the run is over)."""
        if self._live is not None:
            self.current.clear()
            self._live.update(self._table())
            self._live.stop()
            self._live = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from .plugin import DOCUMENT

        self.document = session.config.stash.get(DOCUMENT, None)
        self.stop()

    # display

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._table())

    def _table(self) -> Any:
        from rich import box
        from rich.table import Table

        from .report.model import LABELS, VERDICTS

        table = Table(
            title="asgi-conformance", title_justify="left", expand=False, box=box.SIMPLE_HEAD
        )
        width = max((len(v) for v in self.totals), default=7)
        table.add_column("variant", style="bold", no_wrap=True, min_width=width)
        table.add_column("done", justify="right")
        styles = {
            "pass": "green",
            "expected-failure": "yellow",
            "fail": "bold red",
            "unexpected-pass": "bold magenta",
            "timeout": "bold dark_orange",
            "not-applicable": "grey50",
            "harness-error": "bold white on red",
        }
        for verdict in VERDICTS:
            table.add_column(
                LABELS[verdict], justify="right", style=styles[str(verdict)], no_wrap=True
            )
        table.add_column("running", no_wrap=True, overflow="ellipsis", max_width=48)
        for variant, total in self.totals.items():
            counts = self.counts.get(variant, {})
            done = self.done.get(variant, 0)
            table.add_row(
                variant,
                f"{done}/{total}",
                *(str(counts.get(str(v), 0) or "") for v in VERDICTS),
                self.current.get(variant, "") if done < total else ("done" if total else ""),
            )
        return table

    def _print(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def finish(self, document: Mapping[str, Any], args: argparse.Namespace) -> None:
        """The summary after the run: the table, what went wrong, the files, the status."""
        from .plugin import compatibility_table

        run = document["run"]
        for error in run["errors"]:
            self._print(f"\n{error['kind']} error in {error.get('where', '')}:\n{error['message']}")
        for variant in document["variants"]:
            if variant.get("error"):
                self._print(f"\n{variant['name']} did not start: {variant['error']}")
                for line in (variant.get("error_log") or "").splitlines()[-6:]:
                    self._print(f"  | {line}")
            stop = variant.get("stop") or {}
            if stop.get("graceful") is False:
                self._print(
                    f"{variant['name']} did not stop gracefully (exit code {stop.get('exit_code')})"
                )
        if document["results"]:
            self._print("")
            self._print(compatibility_table(list(document["results"])))
        self._unexpected(document["results"])
        for label, path in (
            ("JSON", args.json),
            ("JUnit XML", args.junit),
            ("HTML", args.html),
            ("Markdown", args.markdown),
        ):
            if path:
                self._print(f"{label}: {path}")
        self._print(
            f"\nexit status {run['exit_code']}: {run['exit_reason']} ({run['duration']:.1f} s)"
        )

    def _unexpected(self, results: Sequence[Mapping[str, Any]]) -> None:
        """Each result that did not match (harness errors grouped by variant and message)."""
        from .report.model import BAD, Verdict

        bad = [r for r in results if Verdict(r["verdict"]) in BAD]
        errors: dict[tuple[str, str], list[str]] = {}
        for r in results:
            if r["verdict"] == Verdict.ERROR:
                first = (r.get("message") or "").strip().splitlines()[:1] or [""]
                errors.setdefault((r["variant"], first[0][:300]), []).append(r["case"])
        if bad or errors:
            self._print("\nnot as expected:")
        for (variant, why), cases in errors.items():
            self._print(f"  {variant}: {len(cases)} harness error(s), e.g. {cases[0]}")
            self._print(f"    {why}")
        for r in bad[:50]:
            lines = (r.get("message") or "").strip().splitlines()
            self._print(f"  {r['variant']} {r['case']}: {r['verdict']}")
            if lines:
                self._print(f"    {lines[0][:300]}")
            if r.get("reproduce"):
                self._print(f"    reproduce: {r['reproduce']}")
        if len(bad) > 50:
            self._print(f"  ... and {len(bad) - 50} more")


def _list(args: argparse.Namespace) -> int:
    from .plugin import case_of, variant_of

    class Collector:
        def __init__(self) -> None:
            self.cases: dict[str, dict[str, Any]] = {}

        def pytest_collection_finish(self, session: pytest.Session) -> None:
            for item in session.items:
                found = case_of(item)
                if found is None:
                    continue
                entry = self.cases.setdefault(
                    found.id,
                    {
                        "id": found.id,
                        "family": found.family,
                        "grade": str(found.grade),
                        "clause": found.clause,
                        "title": found.title,
                        "requires": sorted(str(r) for r in found.requires),
                        "variants": [],
                    },
                )
                variant = variant_of(item)
                if variant is not None and variant.name not in entry["variants"]:
                    entry["variants"].append(variant.name)

    collector = Collector()
    with _ini() as ini:
        words = [*_pytest_args(args, ini), "--collect-only", "-p", "no:terminal"]
        status = pytest.main(words, plugins=[collector])
    if status not in (0, 5):
        print(f"asgi-conformance: collection failed (pytest status {status})", file=sys.stderr)
        return 2
    cases = sorted(collector.cases.values(), key=lambda c: (FAMILIES.index(c["family"]), c["id"]))
    if args.json:
        for found in cases:
            print(json.dumps(found))
    else:
        width = max((len(c["id"]) for c in cases), default=10)
        for found in cases:
            needs = f"  [needs {', '.join(found['requires'])}]" if found["requires"] else ""
            print(f"{found['id']:<{width}}  {found['grade']:<13}  {found['clause']}{needs}")
        print(f"{len(cases)} case{'s' if len(cases) != 1 else ''}", file=sys.stderr)
    return 0 if cases else 2


# -- report and update-expectations ------------------------------------------------------


def _load(path: str) -> dict[str, Any]:
    from .report.model import load

    try:
        return load(Path(path))
    except ValueError as error:
        raise _Fail(str(error)) from None


def _report(args: argparse.Namespace) -> int:
    from .report.merge import MergeError, merge

    if (args.run_json is None) == (args.merge is None):
        raise _Fail("report needs one RUN.json, or --merge RUN.json [RUN.json ...]")
    if args.merge is None:
        document = _load(args.run_json)
    else:
        try:
            document = merge(
                [_load(path) for path in args.merge],
                command=shlex.join(["asgi-conformance", *args.argv]),
            )
        except MergeError as error:
            raise _Fail(f"cannot merge: {error}") from None
    old = _load(args.compare) if args.compare else None
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    if not args.html and not args.markdown and not args.json:
        args.markdown = "-"
    _render(args, document, old)
    if args.merge is None:
        return 0
    code: int = document["run"]["exit_code"]
    print(f"exit status {code}: {document['run']['exit_reason']}", file=sys.stderr)
    return code


def _update(args: argparse.Namespace) -> int:
    from .expectations import ExpectationError
    from .report import update

    document = _load(args.run_json)
    directory = _update_directory(args.expectations, document["run"].get("expectations"))
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _Fail(f"cannot make {directory}: {error.strerror or error}") from None
    interactive = args.interactive if args.interactive is not None else sys.stdin.isatty()
    reasons = {key: text for key, text in args.reason_for}
    try:
        result = update.plan(
            document,
            directory,
            reasons=reasons,
            reason=args.reason,
            bug=args.bug,
            ask=_ask if interactive else None,
        )
    except ExpectationError as error:
        raise _Fail(str(error)) from None
    for action in result.actions:
        if action.kind in ("remove", "add", "rematch", "pending"):
            print(f"{action.kind:<8} {action.variant} {action.case}: {action.why}")
    if args.dry_run:
        for variant in result.entries:
            if result.changed(variant):
                print(f"\n--- {variant}.toml (would be) ---")
                print(update.render_toml(variant, result.entries[variant]), end="")
        return 1 if result.of("pending") else 0
    for path in update.write(result, directory):
        print(f"wrote {path}")
    pending = result.of("pending")
    if pending:
        print(
            f"{len(pending)} new failure(s) left out: give a reason with --reason-for CASE@VARIANT "
            "TEXT, --reason TEXT, or --interactive",
            file=sys.stderr,
        )
        return 1
    return 0


#: Where update-expectations writes when neither --expectations nor the run names a folder
#: of the user's: never into the installed package.
UPDATE_DIRECTORY: Final = "asgi-conformance-expectations"


def _update_directory(given: str | None, recorded: str | None) -> Path:
    """The manifests folder to update: given, else the run's own unless it is the bundled one."""
    from .expectations import DEFAULT_DIRECTORY

    if given:
        return Path(given)
    if recorded and Path(recorded).resolve() != DEFAULT_DIRECTORY.resolve():
        return Path(recorded)
    return Path(UPDATE_DIRECTORY)


def _ask(variant: str, result: Mapping[str, Any]) -> tuple[str, str | None]:
    message = (result.get("message") or "").strip().splitlines()
    print(f"\n{variant}: {result['case']} ({result['verdict']}) needs a manifest entry")
    if message:
        print(f"  failure: {message[0][:300]}")
    print(f"  clause:  {result.get('clause', '')}")
    try:
        reason = input("reason (what the server does; empty to leave it out): ").strip()
        bug = (
            input("bug (servers.md B-number or upstream URL; optional): ").strip() if reason else ""
        )
    except EOFError:
        return "", None
    return reason, bug or None


# -- serve ------------------------------------------------------------------------------


def _history(args: argparse.Namespace) -> int:
    from .history import HistoryError, run_history

    selection = [w for family in args.family for w in ("--family", family)]
    selection += [w for case in args.case for w in ("--case", case)]
    versions = _split([args.versions]) if args.versions else []
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
        raise _Fail(str(error)) from None
    print(
        f"{len(timeline.releases)} releases, {len(timeline.changes)} changes: "
        f"{Path(args.out, 'timeline.md')}"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from servers import HarnessError, available, launch, resolve

    from .plugin import DEFAULT_APP

    try:
        family = [s for s in available().values() if s.server == args.server]
        spec = family[0] if family else resolve(args.server)
    except HarnessError as error:
        raise _Fail(str(error)) from None
    app = args.app or DEFAULT_APP
    try:
        server = launch(spec, app, startup_timeout=args.startup_timeout)
    except HarnessError as error:
        print(f"asgi-conformance: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        version = spec.version()
        print(
            f"{spec.name} ({spec.server or 'command'} {version or ''}".rstrip()
            + f") serving {app} at {server.base_url}",
            flush=True,
        )
        print(f"  the client speaks {spec.protocol}{_hint(spec.protocol, server)}", flush=True)
        print(f"  log: {server.log_path}", flush=True)
        print("  Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            if not server.running:
                print(f"{spec.name} exited on its own:\n{server.log_tail()}", file=sys.stderr)
                return 1
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        server.stop()
    print(
        f"{spec.name} stopped {'gracefully' if server.stopped_gracefully else 'by force'} "
        f"(exit code {server.exit_code})",
        flush=True,
    )
    return 0 if server.stopped_gracefully else 1


def _hint(protocol: Any, server: Any) -> str:
    url = server.base_url
    ca = f" --cacert {server.ca_path}" if getattr(server, "ca_path", None) else ""
    if str(protocol) == "h2c":
        return f" (e.g. curl --http2-prior-knowledge {url}/)"
    if str(protocol) == "h2":
        return f" (e.g. curl --http2{ca} {url}/)"
    return f" (e.g. curl{ca} {url}/)"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
