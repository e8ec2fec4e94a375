"""``asgi-conformance history``: one server's verdicts across its releases.

For each release of a server, a virtual environment of its own (cached) gets that release, the
harness's own requirements, and a path entry to *this* copy of the suites; the suites run there
with ``--no-expectations`` (raw verdicts: the manifests describe one release, not all of them),
each release writing its run document. The timeline then lines up, for every case on every
variant, the verdict per release and the releases where it changed, each change with the
failure message that is its evidence.

This is what a server maintainer bisects a regression with, and what someone choosing a server
reads: which releases fixed what, and which broke what.

Layout of ``--out DIR``::

    DIR/<version>.json     the run document of one release (``asgi-conformance report`` reads it)
    DIR/<version>.log      what the run printed
    DIR/timeline.json      the timeline (releases, verdicts per case and variant, changes)
    DIR/timeline.md        the same, for people
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

from servers import SERVERS

from .report.model import Result

__all__ = [
    "Change",
    "HistoryError",
    "Release",
    "Timeline",
    "available_versions",
    "build_timeline",
    "default_cache",
    "render_markdown",
    "run_history",
    "select_versions",
]

#: The packages a server process imports from this copy of the project: the contract app is
#: built with the reference framework, and both are found through one path entry.
_PACKAGES: Final = ("conformance", "reference_app", "servers")
#: Extras a server needs for every one of its variants (uvicorn's httptools variant).
_EXTRAS: Final = {"uvicorn": "[standard]"}
#: How each verdict reads in the timeline.
_SHORT: Final = {
    "pass": "pass",
    "fail": "FAIL",
    "expected-failure": "xfail",
    "unexpected-pass": "XPASS",
    "not-applicable": "n/a",
    "timeout": "TIMEOUT",
    "harness-error": "ERROR",
}


class HistoryError(Exception):
    """Bad input to ``history`` (an unknown server, no release to run, a failed install)."""


@dataclass(frozen=True, slots=True)
class Release:
    """One release's run.

    Attributes:
        version: the server's version.
        document: its run document, or None when the run wrote none.
        error: why there is no document (the install or the run failed), else None.
    """

    version: str
    document: Mapping[str, Any] | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """A case whose verdict on a variant differs from the previous release's.

    Attributes:
        case: the case id.
        variant: the variant.
        version: the release where the new verdict first appears.
        previous: the release before it.
        before: the verdict in ``previous``.
        after: the verdict in ``version``.
        evidence: the failure message of the failing side (the newer one if both fail).
    """

    case: str
    variant: str
    version: str
    previous: str
    before: str
    after: str
    evidence: str | None


@dataclass(frozen=True, slots=True)
class Timeline:
    """Verdicts of every case on every variant, release by release (oldest first).

    Attributes:
        server: the server (distribution) name.
        releases: the versions, oldest first.
        errors: releases that could not run, with why.
        verdicts: ``(case, variant)`` -> one verdict per release (None: not run there).
        changes: every change between consecutive releases that both ran the case.
    """

    server: str
    releases: tuple[str, ...]
    errors: Mapping[str, str]
    verdicts: Mapping[tuple[str, str], tuple[str | None, ...]]
    changes: tuple[Change, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """The timeline as a JSON-ready dict."""
        return {
            "server": self.server,
            "releases": list(self.releases),
            "errors": dict(self.errors),
            "verdicts": [
                {"case": case, "variant": variant, "verdicts": list(verdicts)}
                for (case, variant), verdicts in self.verdicts.items()
            ],
            "changes": [asdict(change) for change in self.changes],
        }


def distribution_of(server: str) -> tuple[str, list[str]]:
    """The distribution to install for ``server`` (a server or a variant) and its variants.

    Raises:
        HistoryError: no built-in variant is, or belongs to, ``server``.
    """
    if server in SERVERS:
        spec = SERVERS[server]
        if spec.server is None:
            raise HistoryError(f"variant {server!r} names no distribution to install")
        return spec.server, [server]
    variants = [name for name, spec in SERVERS.items() if spec.server == server]
    if not variants:
        names = sorted({spec.server for spec in SERVERS.values() if spec.server})
        raise HistoryError(f"unknown server {server!r}; the servers are {', '.join(names)}")
    return server, variants


def available_versions(distribution: str, python: str = sys.executable) -> list[str]:
    """The final releases the package index offers for ``distribution``, oldest first.

    Raises:
        HistoryError: pip could not list them.
    """
    done = subprocess.run(
        [python, "-m", "pip", "index", "versions", distribution, "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Available versions:\s*(.+)", done.stdout)
    if done.returncode != 0 or found is None:
        why = (done.stderr or done.stdout).strip().splitlines()
        raise HistoryError(
            f"cannot list the releases of {distribution}: {why[-1] if why else 'no output'}"
        )
    return sort_versions(v.strip() for v in found.group(1).split(","))


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Final releases only, oldest first, duplicates removed.

    Raises:
        HistoryError: a version is not a version.
    """
    parsed: dict[Version, str] = {}
    for text in versions:
        try:
            version = Version(text)
        except InvalidVersion:
            raise HistoryError(f"{text!r} is not a version") from None
        if not version.is_prerelease and not version.is_devrelease:
            parsed.setdefault(version, text)
    return [parsed[v] for v in sorted(parsed)]


def select_versions(
    given: Sequence[str], since: str | None, available: Sequence[str] | None
) -> list[str]:
    """The releases to run: the given ones, or every available one from ``since`` on.

    Raises:
        HistoryError: neither or both were given, ``since`` is not a version, or nothing
            remains.
    """
    if bool(given) == (since is not None):
        raise HistoryError("give either --versions or --since")
    if given:
        versions = sort_versions(given)
    else:
        assert since is not None
        assert available is not None
        try:
            floor = Version(since)
        except InvalidVersion:
            raise HistoryError(f"--since {since!r} is not a version") from None
        versions = [v for v in available if Version(v) >= floor]
    if not versions:
        raise HistoryError("no release to run")
    return versions


def default_cache() -> Path:
    """Where the per-release environments are kept: ``$XDG_CACHE_HOME/asgi-conformance``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "asgi-conformance" / "history"


def harness_requirements() -> list[str]:
    """The requirements of the ``harness`` extra of this distribution."""
    try:
        declared = importlib.metadata.requires("asgi-conformance") or []
    except importlib.metadata.PackageNotFoundError:
        raise HistoryError("asgi-conformance is not installed; install it to run history") from None
    wanted = []
    for line in declared:
        requirement = Requirement(line)
        if requirement.marker is not None and requirement.marker.evaluate({"extra": "harness"}):
            requirement.marker = None
            wanted.append(str(requirement))
    return wanted


def source_link(cache: Path) -> Path:
    """A directory holding links to this copy of the project's packages (made once per copy).

    A release's environment gets one path entry to it, so that its server imports the contract
    app from the copy being run, and nothing else of this environment (its servers least of
    all) leaks into that one.
    """
    roots = {}
    for package in _PACKAGES:
        module = __import__(package)
        roots[package] = Path(module.__file__ or "").resolve().parent
    digest = hashlib.sha256(repr(sorted(roots.items())).encode()).hexdigest()[:16]
    directory = cache / f"source-{digest}"
    directory.mkdir(parents=True, exist_ok=True)
    for package, root in roots.items():
        link = directory / package
        if not link.exists():
            link.symlink_to(root, target_is_directory=True)
    return directory


def environment_for(
    distribution: str, version: str, cache: Path, *, python: str = sys.executable, log: Path
) -> Path:
    """The interpreter of a (cached) environment holding ``distribution==version``.

    Raises:
        HistoryError: the environment could not be made or the install failed.
    """
    requirements = harness_requirements()
    tag = f"py{sys.version_info.major}.{sys.version_info.minor}"
    # the harness's requirements are part of the key: a suite that needs more gets a new one
    digest = hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:8]
    home = cache / f"{distribution}-{version}-{tag}-{digest}"
    interpreter = home / "bin" / "python"
    stamp = home / ".complete"
    source = source_link(cache)
    if not stamp.exists():
        steps = [
            [python, "-m", "venv", "--clear", str(home)],
            [
                str(interpreter),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"{distribution}{_EXTRAS.get(distribution, '')}=={version}",
                *requirements,
            ],
        ]
        with log.open("a", encoding="utf-8") as out:
            for step in steps:
                out.write(f"$ {' '.join(step)}\n")
                out.flush()
                done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, check=False)
                if done.returncode != 0:
                    raise HistoryError(
                        f"installing {distribution}=={version} failed (exit {done.returncode}); "
                        f"see {log}"
                    )
        stamp.write_text(version, encoding="utf-8")
    purelib = subprocess.run(
        [str(interpreter), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "asgi_conformance_source.pth").write_text(f"{source}\n", encoding="utf-8")
    return interpreter


def run_release(
    distribution: str,
    variants: Sequence[str],
    version: str,
    *,
    cache: Path,
    out: Path,
    selection: Sequence[str] = (),
) -> Release:
    """Install one release (or reuse its environment) and run the suites there."""
    log = out / f"{version}.log"
    log.write_text("", encoding="utf-8")
    try:
        interpreter = environment_for(distribution, version, cache, log=log)
    except HistoryError as error:
        return Release(version, None, str(error))
    document_path = out / f"{version}.json"
    document_path.unlink(missing_ok=True)
    argv = [str(interpreter), "-m", "conformance", "run", "--no-expectations"]
    for variant in variants:
        argv += ["--server", variant]
    argv += ["--json", str(document_path), "--progress", "plain", *selection]
    with log.open("a", encoding="utf-8") as stream:
        stream.write(f"$ {' '.join(argv)}\n")
        stream.flush()
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        done = subprocess.run(argv, stdout=stream, stderr=subprocess.STDOUT, env=env, check=False)
    if not document_path.exists():
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
        why = tail[0] if tail else "no output"
        return Release(version, None, f"the run wrote no document (exit {done.returncode}): {why}")
    document = json.loads(document_path.read_text(encoding="utf-8"))
    errors = document["run"].get("errors") or []
    if errors and not document.get("results"):
        first = str(errors[0].get("message", "")).strip().splitlines()[:1]
        return Release(version, document, f"the run failed: {first[0] if first else errors[0]}")
    return Release(version, document)


def build_timeline(server: str, releases: Sequence[Release]) -> Timeline:
    """Line the releases' verdicts up and find where each case's verdict changed."""
    versions = tuple(r.version for r in releases)
    cells: dict[tuple[str, str], list[tuple[str, str | None] | None]] = {}
    for index, release in enumerate(releases):
        for data in (release.document or {}).get("results", []):
            result = Result.from_json(data)
            key = (result.case, result.variant)
            row = cells.setdefault(key, [None] * len(releases))
            row[index] = (str(result.verdict), result.message)
    changes = []
    for (case, variant), row in cells.items():
        last: tuple[int, tuple[str, str | None]] | None = None
        for index, cell in enumerate(row):
            if cell is None:
                continue
            if last is not None and last[1][0] != cell[0]:
                failing = cell if cell[0] != "pass" else last[1]
                changes.append(
                    Change(
                        case,
                        variant,
                        versions[index],
                        versions[last[0]],
                        last[1][0],
                        cell[0],
                        _first_lines(failing[1]),
                    )
                )
            last = (index, cell)
    order = {v: i for i, v in enumerate(versions)}
    changes.sort(key=lambda c: (order[c.version], c.case, c.variant))
    return Timeline(
        server,
        versions,
        {r.version: r.error for r in releases if r.error},
        {
            key: tuple(None if c is None else c[0] for c in row)
            for key, row in sorted(cells.items())
        },
        tuple(changes),
    )


def _first_lines(message: str | None, count: int = 6) -> str | None:
    if not message:
        return None
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return "\n".join(lines[:count])


def render_markdown(timeline: Timeline) -> str:
    """The timeline for people: the changes first, with evidence, then every case."""
    releases = timeline.releases
    out = [
        f"# {timeline.server} across releases",
        "",
        f"Releases, oldest first: {', '.join(releases)}. Each ran the suites with no manifest "
        "(raw verdicts); a change is a case whose verdict differs from the previous release "
        "that ran it.",
        "",
    ]
    if timeline.errors:
        out += ["## Releases that could not run", ""]
        out += [f"- **{version}**: {why}" for version, why in timeline.errors.items()]
        out.append("")
    out += ["## Changes", ""]
    if not timeline.changes:
        out += ["No case changed its verdict between these releases.", ""]
    for number, change in enumerate(timeline.changes, start=1):
        anchor = f"change-{number}"
        out.append(
            f'- <a id="{anchor}"></a>**{change.version}**: `{change.case}` on '
            f"{change.variant}: {_SHORT.get(change.before, change.before)} → "
            f"**{_SHORT.get(change.after, change.after)}** (since {change.previous}; runs: "
            f"[{change.previous}]({change.previous}.json), "
            f"[{change.version}]({change.version}.json))"
        )
        if change.evidence:
            quoted = "\n".join(f"  > {line}" for line in change.evidence.splitlines())
            out.append(quoted)
    out += ["", "## Every case", ""]
    out.append("| case | variant | " + " | ".join(releases) + " |")
    out.append("|---|---|" + "---|" * len(releases))
    for (case, variant), verdicts in timeline.verdicts.items():
        cells = []
        previous = None
        for verdict in verdicts:
            text = "" if verdict is None else _SHORT.get(verdict, verdict)
            if verdict is not None and previous is not None and verdict != previous:
                text = f"**{text}**"
            if verdict is not None:
                previous = verdict
            cells.append(text)
        out.append(f"| `{case}` | {variant} | " + " | ".join(cells) + " |")
    out.append("")
    return "\n".join(out)


def run_history(
    server: str,
    *,
    versions: Sequence[str] = (),
    since: str | None = None,
    out: Path,
    cache: Path | None = None,
    selection: Sequence[str] = (),
    report: Callable[[str], None] | None = None,
) -> Timeline:
    """Run every selected release of ``server`` and write the timeline into ``out``.

    ``report`` is called with one line per step (progress); ``selection`` is passed to each
    ``run`` (e.g. ``["--family", "streaming"]``).

    Raises:
        HistoryError: bad input (see :func:`distribution_of`, :func:`select_versions`).
    """
    distribution, variants = distribution_of(server)
    available = None if versions else available_versions(distribution)
    chosen = select_versions(versions, since, available)
    cache = cache or default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    releases = []
    for version in chosen:
        if report is not None:
            report(f"{distribution} {version}: installing and running {', '.join(variants)}")
        release = run_release(
            distribution, variants, version, cache=cache, out=out, selection=selection
        )
        if report is not None:
            report(f"{distribution} {version}: {release.error or 'done'}")
        releases.append(release)
    timeline = build_timeline(distribution, releases)
    (out / "timeline.json").write_text(
        json.dumps(timeline.to_json(), indent=1) + "\n", encoding="utf-8"
    )
    (out / "timeline.md").write_text(render_markdown(timeline), encoding="utf-8")
    return timeline
