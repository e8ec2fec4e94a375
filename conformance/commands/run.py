"""``asgi-conformance run``: the suites on the selected variants, side by side or in turn.

With more than one variant and ``-j`` above 1 (the default), each variant is a shard run in a
process of its own (:mod:`conformance.parallel`) and the shards' documents are merged into the
run's one document; otherwise pytest runs here, one variant after the other. Either way SIGTERM
stops the run as Ctrl-C does.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from servers import HarnessError

from ..parallel import default_jobs, plan_shards, run_shards
from ..progress import Progress
from ..selection import SelectedVariant, Selection, select_variants
from . import CommandError, write_run_reports
from .pytest_run import pytest_args, pytest_ini, targets, terminal

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    if args.verify < 1:
        raise CommandError("--verify needs a count of at least 1")
    jobs = default_jobs() if args.workers is None else args.workers
    if jobs < 1:
        raise CommandError("-j needs a count of at least 1")
    targets(args)  # the families and cases exist
    for target in (args.json, args.junit, args.html, args.markdown):
        if target and target != "-":
            check_writable(Path(target))
    out = terminal()
    mode = args.progress
    if mode == "auto":
        mode = "live" if out.isatty() else "plain"
    if jobs > 1 and not args.suite:
        try:
            selected = select_variants(args.server)
        except HarnessError as error:
            raise CommandError(str(error)) from None
        if len(selected) > 1:
            return run_shards_of(args, selected, jobs, out, mode)
    # SIGTERM (a CI job's timeout) stops the run as Ctrl-C does: documents written, exit 2.
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        return run_here(args, out, mode)
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_writable(path: Path) -> None:
    """Refuse, before the run, a report path that could not be written after it."""
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror or error}") from None
    if not existed:
        path.unlink()


def interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def child_args(selection: Selection, pytest_args: Sequence[str]) -> list[str]:
    """The arguments every shard's ``run`` gets: the selection but the servers and families,
    and limits (:meth:`Selection.child_words`), then pytest's own arguments."""
    words = selection.child_words()
    if pytest_args:
        words += ["--", *pytest_args]
    return words


def run_shards_of(
    args: argparse.Namespace,
    selected: Mapping[str, SelectedVariant],
    jobs: int,
    out: IO[str],
    mode: str,
) -> int:
    """Run each variant as a shard of its own, ``jobs`` at once, and merge their documents."""
    from ..report.merge import MergeError, merge
    from ..report.model import Result, exit_status, load

    selection = Selection.from_args(args)
    shards = plan_shards(
        [(v.option if "=" in v.option else f"={name}", v.spec) for name, v in selected.items()],
        families=selection.families,
        expected=expected_failures(selection.manifests),
        jobs=jobs,
        split=not (selection.cases or selection.keyword),
    )
    order = list(selected)
    progress = Progress(out, live=mode == "live", quiet=mode == "pytest")
    progress.expect(sorted(shards, key=lambda shard: order.index(shard.variant)), jobs)
    with tempfile.TemporaryDirectory(prefix="asgi-conformance-shards-") as directory:
        outcomes, interrupted = run_shards(
            shards,
            child_args(selection, args.pytest_args),
            jobs=jobs,
            directory=Path(directory),
            junit=bool(args.junit),
            on_case=progress.note,
            on_total=progress.announce,
        )
        progress.stop()
        documents, errors = [], []
        for outcome in sorted(outcomes, key=lambda o: order.index(o.shard.variant)):
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
            merge_junit([o.document_path.with_suffix(".xml") for o in outcomes], Path(args.junit))
    command = shlex.join(["asgi-conformance", *args.argv])
    if not documents:
        first = errors[0]["message"] if errors else "no shard ran"
        print(f"asgi-conformance: {first}", file=sys.stderr)
        return 2
    try:
        document = merge(documents, command=command)
    except MergeError as error:
        raise CommandError(f"the shards cannot be merged: {error}") from None
    run = document["run"]
    run["selection"]["families"] = list(selection.families)
    run["errors"] = [*run["errors"], *errors]
    status = 2 if interrupted else run["pytest_status"]
    run["pytest_status"] = status
    run["exit_code"], run["exit_reason"] = exit_status(
        [Result.from_json(r) for r in document["results"]],
        pytest_status=status,
        errors=run["errors"],
        variants=document["variants"],
        gate=run.get("gate", "all"),
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    write_run_reports(args, document)
    if mode != "pytest":
        progress.finish(document, args)
    out.flush()
    code: int = run["exit_code"]
    return code


def expected_failures(directory: Path | None) -> dict[str, dict[str, int]]:
    """Per variant, how many expected failures each family has in the manifests (a hint)."""
    from ..expectations import ExpectationError, load_all

    if directory is None or not directory.is_dir():
        return {}
    try:
        manifests = load_all(directory)
    except ExpectationError:
        return {}  # each shard reports it
    counts: dict[str, dict[str, int]] = {}
    for variant, entries in manifests.items():
        families = counts.setdefault(variant, {})
        for case in entries:
            family = case.partition("/")[0]
            families[family] = families.get(family, 0) + 1
    return counts


def merge_junit(parts: Sequence[Path], target: Path) -> None:
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


def run_here(args: argparse.Namespace, out: IO[str], mode: str) -> int:
    """Run the selection in this process, one variant after the other."""
    with pytest_ini() as ini:
        words = pytest_args(args, ini)  # the selection: Selection.pytest_words
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            words += ["--conformance-json", args.json]
        if args.junit:
            words += ["--junitxml", args.junit]
        if mode != "pytest":
            words += ["-p", "no:terminal"]
        words += ["--conformance-command", shlex.join(["asgi-conformance", *args.argv])]
        words += args.pytest_args
        progress = Progress(out, live=mode == "live", quiet=mode == "pytest")
        status = pytest.main(words, plugins=[progress])
    document = progress.document
    if document is None:
        print(f"asgi-conformance: pytest stopped before the run began (status {status})", file=out)
        out.flush()
        return 2
    write_run_reports(args, document)
    if mode != "pytest":
        progress.finish(document, args)
    out.flush()
    code: int = document["run"]["exit_code"]
    return code
