"""``asgi-conformance update-expectations``: rewrite the manifests from a saved run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Final

from ..report.model import Result
from . import CommandError, load_document

__all__ = ["UPDATE_DIRECTORY", "update", "update_directory"]


#: Where update-expectations writes when neither --expectations nor the run names a folder
#: of the user's: never into the installed package.
UPDATE_DIRECTORY: Final = "asgi-conformance-expectations"


def update_directory(given: str | None, recorded: str | None) -> Path:
    """The manifests folder to update: given, else the run's own unless it is the bundled one."""
    from ..expectations import DEFAULT_DIRECTORY

    if given:
        return Path(given)
    if recorded and Path(recorded).resolve() != DEFAULT_DIRECTORY.resolve():
        return Path(recorded)
    return Path(UPDATE_DIRECTORY)


def update(args: argparse.Namespace) -> int:
    from ..expectations import ExpectationError
    from ..report import update

    document = load_document(args.run_json)
    directory = update_directory(args.expectations, document["run"].get("expectations"))
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"cannot make {directory}: {error.strerror or error}") from None
    interactive = args.interactive if args.interactive is not None else sys.stdin.isatty()
    reasons = {key: text for key, text in args.reason_for}
    try:
        result = update.plan(
            document,
            directory,
            reasons=reasons,
            reason=args.reason,
            bug=args.bug,
            ask=ask if interactive else None,
        )
    except ExpectationError as error:
        raise CommandError(str(error)) from None
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


def ask(variant: str, result: Result) -> tuple[str, str | None]:
    message = (result.message or "").strip().splitlines()
    print(f"\n{variant}: {result.case} ({result.verdict}) needs a manifest entry")
    if message:
        print(f"  failure: {message[0][:300]}")
    print(f"  clause:  {result.clause}")
    try:
        reason = input("reason (what the server does; empty to leave it out): ").strip()
        bug = (
            input("bug (upstream issue URL or docs section; optional): ").strip() if reason else ""
        )
    except EOFError:
        return "", None
    return reason, bug or None
