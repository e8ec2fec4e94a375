"""The matrix in Markdown, compact, for a README or a pull request comment.

Layout: the run (date, suite, Python, platform, duration, outcome), a summary per variant
(server version, protocol, one column per verdict), then one table per family: cases by
variants, each cell a verdict (✅ for a pass). Every cell that is not a pass links to its
explanation: the manifest entry (``<variant>.toml#L<line>``) for expected failures and
unexpected passes, and otherwise the *Not applicable* or *Unexpected results* section below
the matrix (whose entries link to the HTML report's evidence, when one was written beside
it). Last, every case with its grade and the clause it checks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from .compare import Comparison, compare
from .model import LABELS, MEANINGS, VERDICTS, ExpectationRef, Result, RunDocument, Verdict, slug

__all__ = ["render", "render_comparison"]

_SYMBOLS: Final = {
    Verdict.PASS: "✅",
    Verdict.EXPECTED_FAILURE: "🟡",
    Verdict.FAIL: "❌",
    Verdict.UNEXPECTED_PASS: "🟣",
    Verdict.TIMEOUT: "⏱️",
    Verdict.NOT_APPLICABLE: "\u2796",  # heavy minus sign
    Verdict.ERROR: "💥",
}


def manifest_link(
    expectation: ExpectationRef | None, here: Path | None, manifest_url: str | None
) -> str | None:
    """The link to a manifest entry: ``manifest_url`` + file name, or a relative path."""
    if expectation is None or not expectation.manifest:
        return None
    path = Path(expectation.manifest)
    line = expectation.line
    anchor = f"#L{line}" if line else ""
    if manifest_url:
        return f"{manifest_url.rstrip('/')}/{path.name}{anchor}"
    if here is not None:
        return Path(os.path.relpath(path, here.resolve())).as_posix() + anchor
    return path.as_posix() + anchor


def render(
    document: Mapping[str, Any],
    *,
    here: Path | None = None,
    manifest_url: str | None = None,
    html_name: str | None = None,
    old: Mapping[str, Any] | None = None,
    title: str = "ASGI server compatibility",
) -> str:
    """The Markdown report of a run document.

    Args:
        document: the run document.
        here: the directory the Markdown is written to (for relative links to manifests).
        manifest_url: a URL prefix of the manifests directory, used instead of relative paths.
        html_name: the HTML report written beside it, whose evidence the cells link to.
        old: an earlier run document; its changes are listed first.
        title: the heading.
    """
    run = document["run"]
    view = RunDocument.from_json(document)
    variants = [v["name"] for v in document["variants"]]
    cells = {(r.variant, r.case): r for r in view.results}
    out = [f"# {title}", ""]
    out += _run_lines(run, document)
    if old is not None:
        out += ["", *render_comparison(compare(RunDocument.from_json(old), view), level=2)]
    out += ["", "## Summary", "", *_summary(document), ""]
    out += [
        "Legend: "
        + " · ".join(f"{_SYMBOLS[v]} {LABELS[v]} ({MEANINGS[v]})" for v in VERDICTS)
        + ". Grades: **required** (a MUST), **recommended** (a SHOULD), "
        "**informational** (what the specs leave open).",
        "",
        "## Matrix",
    ]
    by_family: dict[str, list[Mapping[str, Any]]] = {}
    for case in document["cases"]:
        by_family.setdefault(case["family"], []).append(case)
    for family, cases in by_family.items():
        out += ["", f"### {family}", ""]
        out.append("| case | grade | " + " | ".join(variants) + " |")
        out.append("|---|---|" + "---|" * len(variants))
        for case in cases:
            row = [f"`{case['id']}`", case["grade"]]
            for variant in variants:
                result = cells.get((variant, case["id"]))
                row.append(_cell(result, here, manifest_url, html_name))
            out.append("| " + " | ".join(row) + " |")
    out += _explanations(view.results, here, manifest_url, html_name)
    out += _cases(document)
    return "\n".join(out) + "\n"


def _run_lines(run: Mapping[str, Any], document: Mapping[str, Any]) -> list[str]:
    python = run["python"]
    platform = run["platform"]
    suite = run["suite_version"] + (f" ({run['suite_commit']})" if run.get("suite_commit") else "")
    versions = ", ".join(
        f"{server} {variant['version'] or '(version unknown)'}"
        for server, variant in {
            v.get("server") or v["name"]: v for v in document["variants"]
        }.items()
    )
    lines = [
        f"Run {run['started_at']} · {run['duration']:.0f} s · asgi-conformance {suite} · "
        f"{python['implementation']} {python['version']} · {platform['system']} "
        f"{platform['machine']} · app `{run['app']}`"
        + (f" · each case {run['verify']} times" if run.get("verify", 1) > 1 else ""),
        "",
        f"Servers: {versions or 'none'}.",
        "",
        f"Command: `{run['command']}`",
        "",
        f"**Exit status {run['exit_code']}**: {run['exit_reason']}.",
    ]
    for error in run.get("errors", []):
        lines += [
            "",
            f"> **{error['kind']} error** in `{error.get('where', '')}`: "
            + _escape(error["message"].strip().splitlines()[-1]),
        ]
    return lines


def _summary(document: Mapping[str, Any]) -> list[str]:
    summary = document["summary"]
    head = (
        "| variant | server | protocol | "
        + " | ".join(f"{_SYMBOLS[v]} {LABELS[v]}" for v in VERDICTS)
        + " | total |"
    )
    lines = [head, "|---|---|---|" + "---:|" * (len(VERDICTS) + 1)]
    for variant in document["variants"]:
        counts = summary["by_variant"].get(variant["name"], {})
        server = f"{variant['server'] or 'command'} {variant['version'] or ''}".strip()
        notes = ""
        if variant.get("error"):
            notes = f" (did not start: {_escape(variant['error'])})"
        elif (variant.get("stop") or {}).get("graceful") is False:
            notes = " (did not stop gracefully)"
        flaky = summary.get("flaky", {}).get(variant["name"])
        if flaky:
            notes += f" ({flaky} flaky)"
        lines.append(
            f"| {variant['name']}{notes} | {server} | {variant['protocol']} | "
            + " | ".join(str(counts.get(str(v), 0)) for v in VERDICTS)
            + f" | {sum(counts.values())} |"
        )
    total = summary["total"]
    lines.append(
        "| **all** | | | "
        + " | ".join(f"**{total.get(str(v), 0)}**" for v in VERDICTS)
        + f" | **{sum(total.values())}** |"
    )
    return lines


def _cell(
    result: Result | None,
    here: Path | None,
    manifest_url: str | None,
    html_name: str | None,
) -> str:
    """A matrix cell: ✅ for a pass; otherwise the verdict, linked to its explanation."""
    if result is None:
        return "—"
    verdict = result.verdict
    text = f"{_SYMBOLS[verdict]} {LABELS[verdict]}"
    if result.flake_rate:
        text += f" ({result.flake_rate:.0%} flaky)"
    if verdict is Verdict.PASS:
        return _SYMBOLS[verdict] if not result.flake_rate else text
    link = manifest_link(result.expectation, here, manifest_url)
    if link is None:
        section = "not-applicable" if verdict is Verdict.NOT_APPLICABLE else "unexpected-results"
        link = f"#{section}"
    return f"[{text}]({link})"


def _explanations(
    results: Sequence[Result],
    here: Path | None,
    manifest_url: str | None,
    html_name: str | None,
) -> list[str]:
    out: list[str] = []
    expected = [(r, r.expectation) for r in results if r.expectation is not None]
    if expected:
        out += ["", "## Known deviations", ""]
        out += ["Manifest entries that this run checked (reason, clause, bug):", ""]
        for r, e in expected:
            link = manifest_link(e, here, manifest_url)
            bug = f"; {_escape(e.bug)}" if e.bug else ""
            out.append(
                f"- **{r.variant}** `{r.case}` ({LABELS[r.verdict]}): "
                f"{_escape(e.reason)} — {_escape(e.clause)}{bug} ([manifest]({link}))"
            )
    skipped = [r for r in results if r.verdict is Verdict.NOT_APPLICABLE]
    if skipped:
        out += ["", "## Not applicable", ""]
        reasons: dict[str, list[str]] = {}
        for r in skipped:
            reasons.setdefault(r.message or "not applicable", []).append(r.case)
        for reason, cases in reasons.items():
            out.append(f"- {_escape(reason)}: " + ", ".join(f"`{c}`" for c in cases))
    bad = [
        r
        for r in results
        if r.verdict not in (Verdict.PASS, Verdict.EXPECTED_FAILURE, Verdict.NOT_APPLICABLE)
    ]
    if bad:
        out += ["", "## Unexpected results", ""]
        for r in bad:
            message = (r.message or "").strip().splitlines()
            first = _escape(message[0][:300]) if message else ""
            evidence = (
                f" ([evidence]({html_name}#r-{slug(r.variant, r.case)}))" if html_name else ""
            )
            out.append(f"- **{r.variant}** `{r.case}`: {LABELS[r.verdict]} — {first}{evidence}")
            if r.reproduce:
                out.append(f"  reproduce: `{r.reproduce}`")
    return out


def _cases(document: Mapping[str, Any]) -> list[str]:
    """Every case with its grade, the clause it checks and what it checks."""
    out = ["", "## Cases", "", "| case | grade | clause | checks |", "|---|---|---|---|"]
    for case in document["cases"]:
        needs = f" (needs {', '.join(case['requires'])})" if case.get("requires") else ""
        out.append(
            f"| `{case['id']}` | {case['grade']} | {_escape(case['clause'])} | "
            f"{_escape(case['title'].replace('``', '`'))}{needs} |"
        )
    return out


def render_comparison(comparison: Comparison, *, level: int = 1) -> list[str]:
    """The changes between two runs, per variant, as Markdown lines."""
    h = "#" * level
    old, new = comparison.old_run, comparison.new_run
    out = [
        f"{h} Changes since the run of {old['started_at']}",
        "",
        f"Old: asgi-conformance {old['suite_version']}, exit status {old['exit_code']}. "
        f"New: asgi-conformance {new['suite_version']}, exit status {new['exit_code']}.",
        "",
        "| variant | server version | new failures | new passes | other changes |",
        "|---|---|---:|---:|---:|",
    ]
    for variant in comparison.variants:
        shown = comparison.describe(variant)
        out.append(
            f"| {variant} | {shown} | {len(comparison.of('new failure', variant))} | "
            f"{len(comparison.of('new pass', variant))} | {len(comparison.of('other', variant))} |"
        )
    if not comparison.changes:
        return [*out, "", "No result changed."]
    for kind, heading in (
        ("new failure", "New failures"),
        ("new pass", "New passes"),
        ("other", "Other changes"),
    ):
        changes = comparison.of(kind)
        if not changes:
            continue
        out += ["", f"{h}# {heading}", ""]
        for change in changes:
            line = (
                f"- **{change.variant}** `{change.case}`: {change.old or 'absent'} → "
                f"{change.new or 'absent'}"
            )
            if change.message and kind == "new failure":
                line += f" — {_escape(change.message.strip().splitlines()[0][:200])}"
            out.append(line)
    return out


def _escape(text: str) -> str:
    """Text for a table cell or a list item: no pipes, no newlines, no HTML."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ")
