"""Expected results per server variant: the data that turns the suites into a CI gate.

One TOML file per variant in ``conformance/expectations/<variant>.toml`` lists every case whose
correct result on that variant is *not* a pass (WPT's expectation files, Connect's
``--known-failing``), each with what was observed and why::

    [[expected]]
    case = "streaming/head-has-no-body"
    outcome = "fail"
    match = "bytes after the header section"   # regex the failure message must match
    reason = "daphne sends the 2nd and later chunks of a streamed response to HEAD, unframed"
    clause = "RFC 9110 §9.3.2: the server MUST NOT send content in the response to HEAD"
    bug = "docs/server-behaviour.md#daphne-head-body"

Verdicts, given the entry or its absence:

* no entry, the case passes: **pass**; fails: **fail** (a regression).
* an entry, it fails matching ``match``: **expected failure**.
* an entry, it fails some other way: **fail** (it broke differently).
* an entry, it passes: **unexpected pass**, which fails the run: the manifest is stale.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["DEFAULT_DIRECTORY", "Expectation", "ExpectationError", "load", "load_all"]

DEFAULT_DIRECTORY: Final = Path(__file__).parent / "expectations"
_OUTCOMES: Final = frozenset({"fail"})
_KEYS: Final = frozenset({"case", "outcome", "match", "reason", "clause", "bug"})


class ExpectationError(ValueError):
    """A manifest is malformed."""


@dataclass(frozen=True, slots=True)
class Expectation:
    """One manifest entry."""

    variant: str
    case: str
    outcome: str
    match: str
    reason: str
    clause: str
    bug: str | None

    def matches(self, failure: str) -> bool:
        """Whether a failure message is the recorded way of failing."""
        return re.search(self.match, failure, re.DOTALL) is not None

    def describe(self) -> str:
        """One line for reports: reason, clause and bug."""
        bug = f"; {self.bug}" if self.bug else ""
        return f"{self.reason} ({self.clause}{bug})"


def load(path: Path) -> dict[str, Expectation]:
    """Load one variant's manifest (the variant is the file's stem).

    Raises:
        ExpectationError: an entry lacks a key, has an unknown one, a bad regex or a duplicate.
    """
    variant = path.stem
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ExpectationError(f"{path}: {error}") from None
    entries: dict[str, Expectation] = {}
    for index, entry in enumerate(data.get("expected", [])):
        where = f"{path}: entry {index + 1}"
        missing = {"case", "outcome", "match", "reason", "clause"} - entry.keys()
        if missing:
            raise ExpectationError(f"{where} lacks {', '.join(sorted(missing))}")
        unknown = entry.keys() - _KEYS
        if unknown:
            raise ExpectationError(f"{where} has unknown keys {', '.join(sorted(unknown))}")
        if entry["outcome"] not in _OUTCOMES:
            raise ExpectationError(f"{where}: outcome must be one of {sorted(_OUTCOMES)}")
        if not str(entry["reason"]).strip():
            raise ExpectationError(f"{where}: the reason is empty")
        try:
            re.compile(entry["match"])
        except re.error as error:
            raise ExpectationError(f"{where}: bad match regex: {error}") from None
        if entry["case"] in entries:
            raise ExpectationError(f"{where}: {entry['case']} is listed twice")
        entries[entry["case"]] = Expectation(
            variant=variant,
            case=entry["case"],
            outcome=entry["outcome"],
            match=entry["match"],
            reason=entry["reason"],
            clause=entry["clause"],
            bug=entry.get("bug"),
        )
    return entries


def load_all(directory: Path = DEFAULT_DIRECTORY) -> dict[str, dict[str, Expectation]]:
    """Load every manifest in ``directory``: ``{variant: {case: Expectation}}``."""
    return {path.stem: load(path) for path in sorted(directory.glob("*.toml"))}
