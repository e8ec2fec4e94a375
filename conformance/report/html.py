"""The matrix as one self-contained HTML page: no script, no network, one file.

Layout, top to bottom:

* the run: date, suite version, Python, platform, duration, exit status and why;
* a summary per variant: server version, protocol, start and stop, one column per verdict;
* (with an old run) what changed: new failures, new passes, other changes per variant;
* the matrix: cases by variants, grouped by family, each cell coloured by verdict, each case
  with its grade and spec clause. A checkbox hides the rows where every variant passed;
* one click on a cell opens its evidence (a ``:target`` overlay, no script): the manifest
  entry that explains a non-pass (reason, clause, bug, ``match``, file and line), the failure,
  the reproduce command, the client's wire transcript, what the app observed and the server
  log of the case's time window;
* the manifest entries the run checked, each with an anchor (``#exp-<variant>--<case>``).

Element classes are stable, for tests and scrapers: ``table.summary`` rows
``tr.variant[data-variant]`` with ``td[data-verdict]`` counts; ``table.matrix`` cells
``td.cell[data-variant][data-case][data-verdict]``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from .compare import Comparison, compare
from .markdown import manifest_link
from .model import LABELS, MEANINGS, VERDICTS, Evidence, Result, RunDocument, Verdict, slug

__all__ = ["render"]

_COLOURS: Final = {
    # verdict: (background, text)
    Verdict.PASS: ("#d7f0db", "#1b5e20"),
    Verdict.EXPECTED_FAILURE: ("#ffe8a3", "#6b4e00"),
    Verdict.FAIL: ("#c62828", "#ffffff"),
    Verdict.UNEXPECTED_PASS: ("#6a1b9a", "#ffffff"),
    Verdict.TIMEOUT: ("#e65100", "#ffffff"),
    Verdict.NOT_APPLICABLE: ("#eceff1", "#607d8b"),
    Verdict.ERROR: ("#212121", "#ffffff"),
}

_CSS: Final = """
:root { --fg: #1d2329; --muted: #5f6b76; --line: #d8dee4; --bg: #ffffff; --head: #f4f6f8; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 64px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI",
  Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; }
a { color: #0b5cad; }
.meta { color: var(--muted); margin: 0 0 12px; }
.outcome { display: inline-block; padding: 4px 10px; border-radius: 6px; font-weight: 600; }
.outcome.ok { background: #d7f0db; color: #1b5e20; }
.outcome.bad { background: #c62828; color: #fff; }
.outcome.harness { background: #212121; color: #fff; }
table { border-collapse: collapse; }
th, td { border: 1px solid var(--line); padding: 4px 8px; vertical-align: top; }
thead th { background: var(--head); position: sticky; top: 0; z-index: 1; }
table.summary td.n { text-align: right; font-variant-numeric: tabular-nums; min-width: 3.5em; }
table.summary td.n.zero { color: #b0b8c0; }
table.summary tr.total td { font-weight: 600; background: var(--head); }
.chip { display: inline-block; min-width: 10px; height: 10px; border-radius: 2px;
  margin-right: 4px; vertical-align: -1px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 10px 0; color: var(--muted); }
.scroll { overflow-x: auto; max-width: 100%; }
table.matrix { width: auto; }
table.matrix th.case { text-align: left; font-weight: normal; min-width: 240px;
  max-width: 340px; position: sticky; left: 0; z-index: 2; background: var(--bg); }
table.matrix thead th.case { z-index: 3; background: var(--head); }
table.matrix th.case code { font-weight: 600; font-size: 13px; }
table.matrix .title { color: var(--fg); }
table.matrix .clause { color: var(--muted); font-size: 12px; }
table.matrix tr.family th { background: #263238; color: #fff; text-align: left;
  font-size: 15px; }
table.matrix tr.family th small { color: #b0bec5; font-weight: normal; margin-left: 8px; }
th.variant { white-space: nowrap; }
th.variant small { display: block; color: var(--muted); font-weight: normal; }
td.grade { white-space: nowrap; font-size: 12px; }
.grade-required { color: #b71c1c; font-weight: 600; }
.grade-recommended { color: #8d5a00; font-weight: 600; }
.grade-informational { color: var(--muted); }
td.cell { text-align: center; white-space: nowrap; padding: 0; min-width: 64px; }
td.cell a { display: block; padding: 6px 8px; color: inherit; text-decoration: none;
  font-weight: 600; font-size: 12.5px; }
td.cell a:hover { outline: 2px solid #0b5cad; outline-offset: -2px; }
td.cell .flake { display: block; font-size: 11px; font-weight: normal; }
td.cell.none { color: #b0b8c0; }
#only-issues:checked ~ table.matrix tr.all-pass { display: none; }
.filter { margin: 8px 0; display: inline-flex; gap: 6px; align-items: center; }
.ev { display: none; position: fixed; inset: 0; background: rgba(20, 26, 32, 0.55);
  z-index: 10; overflow-y: auto; padding: 32px; }
.ev:target { display: block; }
.ev .panel { background: #fff; max-width: 1100px; margin: 0 auto; border-radius: 8px;
  padding: 20px 24px; box-shadow: 0 10px 40px rgba(0,0,0,.35); position: relative; }
.ev .close { position: absolute; right: 16px; top: 10px; font-size: 26px;
  text-decoration: none; color: var(--muted); }
.ev h3 { margin: 0 40px 6px 0; font-size: 17px; }
.ev .verdict { display: inline-block; padding: 2px 8px; border-radius: 4px; font-weight: 600; }
.ev dl { display: grid; grid-template-columns: 120px 1fr; gap: 2px 12px; margin: 8px 0; }
.ev dt { color: var(--muted); }
.ev dd { margin: 0; }
.ev .manifest { border-left: 4px solid #f0b400; background: #fffaf0; padding: 8px 12px;
  margin: 10px 0; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 4px; padding: 8px;
  overflow-x: auto; white-space: pre-wrap; word-break: break-word; margin: 6px 0; }
details { margin: 8px 0; }
summary { cursor: pointer; font-weight: 600; }
table.transcript td { font-size: 12px; padding: 2px 6px; }
table.transcript td:nth-child(2) { white-space: nowrap; }
table.transcript td.t { text-align: right; color: var(--muted); white-space: nowrap; }
table.transcript td.d { text-align: center; font-weight: 600; }
table.transcript tr.out td.d { color: #0b5cad; }
table.transcript tr.in td.d { color: #1b5e20; }
table.transcript tr.err td { color: #b71c1c; }
table.expectations td { font-size: 13px; }
table.expectations tr:target td { background: #fff3c4; }
.changes li { margin: 2px 0; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


def render(
    document: Mapping[str, Any],
    *,
    here: Path | None = None,
    manifest_url: str | None = None,
    old: Mapping[str, Any] | None = None,
    evidence: str = "all",
    title: str = "ASGI server compatibility",
) -> str:
    """The HTML report of a run document.

    Args:
        document: the run document.
        here: the directory the page is written to (for relative links to manifests).
        manifest_url: a URL prefix of the manifests directory, instead of relative paths.
        old: an earlier run document; what changed is shown after the summary.
        evidence: ``"all"`` (every cell), ``"failures"`` (cells that are not a pass) or
            ``"none"`` (verdicts and manifest entries only).
        title: the page title.
    """
    e = html.escape
    view = RunDocument.from_json(document)
    variants = list(document["variants"])
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>",
        f"<style>{_CSS}{_verdict_css()}</style>",
        "</head><body>",
        f"<h1>{e(title)}</h1>",
        _run(document),
        "<h2>Summary per variant</h2>",
        _summary(document),
        _legend(),
    ]
    if old is not None:
        parts.append(_comparison(compare(RunDocument.from_json(old), view)))
    parts += [
        '<h2 id="matrix">Matrix</h2>',
        '<input type="checkbox" id="only-issues">'
        '<label class="filter" for="only-issues">show only cases with a result other than '
        "pass</label>",
        f'<div class="scroll">{_matrix(view, variants)}</div>',
        _overlays(view, here, manifest_url, evidence),
        _expectations(view.results, here, manifest_url),
        f"<footer>Generated by asgi-conformance {e(document['run']['suite_version'])} from a "
        f"run document of schema version {document['schema_version']}.</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _verdict_css() -> str:
    rules = []
    for verdict, (background, colour) in _COLOURS.items():
        rules.append(f".v-{verdict} {{ background: {background}; color: {colour}; }}")
    return "\n".join(rules)


def _run(document: Mapping[str, Any]) -> str:
    e = html.escape
    run = document["run"]
    code = run["exit_code"]
    kind = {0: "ok", 1: "bad"}.get(code, "harness")
    suite = run["suite_version"] + (f" ({run['suite_commit']})" if run.get("suite_commit") else "")
    python = run["python"]
    platform = run["platform"]
    verify = f" · each case run {run['verify']} times" if run.get("verify", 1) > 1 else ""
    lines = [
        f'<p class="meta">Run of {e(run["started_at"])} · {run["duration"]:.1f} s · '
        f"asgi-conformance {e(suite)} · {e(python['implementation'])} {e(python['version'])} · "
        f"{e(platform['description'])} · app <code>{e(run['app'])}</code>{verify}</p>",
        f'<p class="meta">Command: <code>{e(run["command"])}</code></p>',
        f'<p><span class="outcome {kind}" data-exit-code="{code}">exit status {code}</span> '
        f"{e(run['exit_reason'])}</p>",
    ]
    for error in run.get("errors", []):
        lines.append(
            f"<details open><summary>{e(error['kind'])} error in "
            f"<code>{e(error.get('where', ''))}</code></summary>"
            f"<pre>{e(error['message'])}</pre></details>"
        )
    return "\n".join(lines)


def _summary(document: Mapping[str, Any]) -> str:
    e = html.escape
    summary = document["summary"]
    head = "".join(
        f'<th title="{e(MEANINGS[v])}"><span class="chip v-{v}"></span>{e(LABELS[v])}</th>'
        for v in VERDICTS
    )
    rows = [
        '<table class="summary"><thead><tr><th>variant</th><th>server</th><th>protocol</th>'
        f"<th>start / stop</th>{head}<th>flaky</th><th>total</th></tr></thead><tbody>"
    ]
    for variant in document["variants"]:
        name = variant["name"]
        counts = summary["by_variant"].get(name, {})
        server = f"{variant['server'] or 'command'} {variant['version'] or ''}".strip()
        if variant.get("error"):
            lifecycle = f'<span class="v-harness-error">did not start</span>: {e(variant["error"])}'
        elif not variant.get("started"):
            lifecycle = "not started"
        else:
            stop = variant.get("stop") or {}
            graceful = stop.get("graceful")
            stopped = (
                "stopped gracefully"
                if graceful
                else f'<span class="v-fail">stop not graceful (exit {stop.get("exit_code")})</span>'
                if graceful is False
                else "running"
            )
            lifecycle = f"up in {variant.get('startup_seconds') or 0:.2f} s · {stopped}"
        cells = "".join(_count(v, counts.get(str(v), 0)) for v in VERDICTS)
        flaky = summary.get("flaky", {}).get(name, 0)
        rows.append(
            f'<tr class="variant" data-variant="{e(name)}"><th>{e(name)}</th><td>{e(server)}</td>'
            f"<td>{e(variant['protocol'])}{' (TLS)' if variant.get('tls') else ''}</td>"
            f"<td>{lifecycle}</td>{cells}"
            f'<td class="n{" zero" if not flaky else ""}" data-flaky="{flaky}">{flaky}</td>'
            f'<td class="n" data-total="{sum(counts.values())}">{sum(counts.values())}</td></tr>'
        )
    total = summary["total"]
    cells = "".join(_count(v, total.get(str(v), 0)) for v in VERDICTS)
    rows.append(
        f'<tr class="total"><td colspan="4">all variants</td>{cells}'
        f'<td class="n">{sum(summary.get("flaky", {}).values())}</td>'
        f'<td class="n">{sum(total.values())}</td></tr>'
    )
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _count(verdict: Verdict, n: int) -> str:
    return f'<td class="n{" zero" if not n else ""}" data-verdict="{verdict}">{n}</td>'


def _legend() -> str:
    e = html.escape
    items = "".join(
        f'<span><span class="chip v-{v}"></span><b>{e(LABELS[v])}</b> {e(MEANINGS[v])}</span>'
        for v in VERDICTS
    )
    return f'<div class="legend">{items}</div>'


_LITERAL: Final = re.compile(r"``(.+?)``|`([^`]+)`")


def inline(text: str) -> str:
    """Docstring text as HTML: escaped, with reST/Markdown literals as ``<code>``."""
    parts, last = [], 0
    for found in _LITERAL.finditer(text):
        parts.append(html.escape(text[last : found.start()]))
        parts.append(f"<code>{html.escape(found.group(1) or found.group(2))}</code>")
        last = found.end()
    parts.append(html.escape(text[last:]))
    return "".join(parts)


def _matrix(document: RunDocument, variants: list[Mapping[str, Any]]) -> str:
    e = html.escape
    cells = {(r.variant, r.case): r for r in document.results}
    heads = "".join(
        f'<th class="variant">{e(v["name"])}<small>{e(v.get("version") or "")} · '
        f"{e(v['protocol'])}</small></th>"
        for v in variants
    )
    rows = [
        '<table class="matrix"><thead><tr><th class="case">case</th><th>grade</th>'
        f"{heads}</tr></thead>"
    ]
    by_family: dict[str, list[Mapping[str, Any]]] = {}
    for case in document.cases:
        by_family.setdefault(case["family"], []).append(case)
    for family, cases in by_family.items():
        rows.append(
            f'<tbody id="family-{e(family)}"><tr class="family"><th colspan="{2 + len(variants)}">'
            f"{e(family)}<small>{len(cases)} case{'s' if len(cases) != 1 else ''}</small>"
            "</th></tr>"
        )
        for case in cases:
            results = [cells.get((v["name"], case["id"])) for v in variants]
            all_pass = all(
                r is None or r.verdict in (Verdict.PASS, Verdict.NOT_APPLICABLE) for r in results
            )
            requires = f" · needs {e(', '.join(case['requires']))}" if case.get("requires") else ""
            row = [
                f'<tr class="case-row{" all-pass" if all_pass else ""}" '
                f'data-case="{e(case["id"])}">',
                f'<th class="case"><code>{e(case["id"])}</code>'
                f'<div class="title">{inline(case["title"])}</div>'
                f'<div class="clause">{e(case["clause"])}{requires}</div></th>',
                f'<td class="grade grade-{e(case["grade"])}">{e(case["grade"])}</td>',
            ]
            for variant, result in zip(variants, results, strict=True):
                row.append(_cell(variant["name"], case["id"], result))
            row.append("</tr>")
            rows.append("".join(row))
        rows.append("</tbody>")
    rows.append("</table>")
    return "\n".join(rows)


def _cell(variant: str, case: str, result: Result | None) -> str:
    e = html.escape
    if result is None:
        return (
            f'<td class="cell none" data-variant="{e(variant)}" data-case="{e(case)}" '
            'data-verdict="none">—</td>'
        )
    verdict = result.verdict
    anchor = slug(variant, case)
    tip = LABELS[verdict]
    if result.expectation is not None:
        tip += f": {result.expectation.reason}"
    elif result.message:
        tip += f": {(result.message.strip().splitlines() or [''])[0][:200]}"
    flake = ""
    if result.flake_rate:
        flake = f'<span class="flake">{result.flake_rate:.0%} flaky of {result.runs}</span>'
    return (
        f'<td class="cell v-{verdict}" id="c-{anchor}" data-variant="{e(variant)}" '
        f'data-case="{e(case)}" data-verdict="{verdict}">'
        f'<a href="#r-{anchor}" title="{e(tip)}">{e(LABELS[verdict])}{flake}</a></td>'
    )


def _overlays(
    document: RunDocument, here: Path | None, manifest_url: str | None, evidence: str
) -> str:
    titles = {c["id"]: c for c in document.cases}
    return "\n".join(
        _overlay(r, titles.get(r.case, {}), here, manifest_url, evidence) for r in document.results
    )


def _overlay(
    result: Result,
    case: Mapping[str, Any],
    here: Path | None,
    manifest_url: str | None,
    evidence: str,
) -> str:
    e = html.escape
    verdict = result.verdict
    anchor = slug(result.variant, result.case)
    parts = [
        f'<div class="ev" id="r-{anchor}"><div class="panel">',
        f'<a class="close" href="#c-{anchor}" title="close">&times;</a>',
        f"<h3><code>{e(result.case)}</code> on {e(result.variant)}</h3>",
        f'<span class="verdict v-{verdict}">{e(LABELS[verdict])}</span> {e(MEANINGS[verdict])}',
        "<dl>",
        f"<dt>case</dt><dd>{inline(case.get('title', ''))}</dd>",
        f"<dt>grade</dt><dd>{e(result.grade)}</dd>",
        f"<dt>clause</dt><dd>{e(result.clause)}</dd>",
        f"<dt>duration</dt><dd>{result.duration:.3f} s</dd>",
    ]
    if result.runs > 1:
        runs = ", ".join(f"{n} {v}" for v, n in result.verdicts.items())
        parts.append(
            f"<dt>runs</dt><dd>{result.runs}: {e(runs)} (flake rate {result.flake_rate:.0%})</dd>"
        )
    if result.reproduce:
        parts.append(f"<dt>reproduce</dt><dd><code>{e(result.reproduce)}</code></dd>")
    parts.append("</dl>")
    expectation = result.expectation
    if expectation is not None:
        link = manifest_link(expectation, here, manifest_url)
        name = Path(expectation.manifest).name
        line = f":{expectation.line}" if expectation.line else ""
        parts.append(
            '<div class="manifest"><b>Manifest entry</b> '
            f'(<a href="{e(link or "")}">{e(name)}{e(line)}</a>, '
            f'<a href="#exp-{anchor}">all entries</a>)<dl>'
            f"<dt>reason</dt><dd>{e(expectation.reason)}</dd>"
            f"<dt>clause</dt><dd>{e(expectation.clause)}</dd>"
            f"<dt>bug</dt><dd>{_bug(expectation.bug)}</dd>"
            f"<dt>match</dt><dd><code>{e(expectation.match)}</code></dd></dl></div>"
        )
    if result.message:
        parts.append(f"<pre>{e(result.message)}</pre>")
    shown = evidence == "all" or (evidence == "failures" and verdict is not Verdict.PASS)
    ev = result.evidence
    if shown and ev is not None:
        parts.append(_transcript(ev))
        parts.append(_observations(ev))
        log = ev.server_log
        parts.append(
            f"<details{' open' if verdict is not Verdict.PASS and log else ''}>"
            f"<summary>Server log of the case's time window ({len(log)} lines)</summary>"
            f"<pre>{e(chr(10).join(log)) or '(nothing)'}</pre></details>"
        )
        if ev.failure:
            parts.append(
                f"<details><summary>Failure detail</summary><pre>{e(ev.failure)}</pre></details>"
            )
    parts.append("</div></div>")
    return "".join(parts)


def _transcript(ev: Evidence) -> str:
    e = html.escape
    entries = ev.transcript
    if not entries:
        return "<details><summary>Client transcript (no recorded traffic)</summary></details>"
    rows = []
    for entry in entries:
        kind = {">": "out", "<": "in"}.get(entry["dir"], "err")
        rows.append(
            f'<tr class="{kind}"><td class="t">{entry["t"] * 1000:.1f} ms</td>'
            f'<td>{e(entry["channel"])}</td><td class="d">{e(entry["dir"])}</td>'
            f'<td class="mono">{e(entry["text"])}</td></tr>'
        )
    return (
        f"<details open><summary>Client transcript ({len(entries)} entries; ms since the case "
        'started; &gt; sent, &lt; received)</summary><table class="transcript">'
        + "".join(rows)
        + "</table></details>"
    )


def _observations(ev: Evidence) -> str:
    e = html.escape
    observations = ev.observations
    if not observations:
        return "<details><summary>What the app observed (no token)</summary></details>"
    blocks = []
    for token, snapshot in observations.items():
        events = snapshot.get("events", [])
        lines = []
        for event in events:
            rest = {k: v for k, v in event.items() if k not in ("event", "t")}
            t = event.get("t")
            stamp = f"{t * 1000:9.1f} ms  " if isinstance(t, int | float) else ""
            lines.append(f"{stamp}{event.get('event')}  {json.dumps(rest) if rest else ''}")
        counters = snapshot.get("counters") or {}
        if counters:
            lines.append(f"counters: {json.dumps(counters)}")
        blocks.append(
            f"<div>token <code>{e(token)}</code> ({snapshot.get('events_total', len(events))} "
            f"events)<pre>{e(chr(10).join(lines)) or '(none)'}</pre></div>"
        )
    return (
        f"<details open><summary>What the app observed ({len(observations)} token"
        f"{'s' if len(observations) != 1 else ''})</summary>" + "".join(blocks) + "</details>"
    )


def _expectations(results: Sequence[Result], here: Path | None, manifest_url: str | None) -> str:
    e = html.escape
    entries = [(r, r.expectation) for r in results if r.expectation is not None]
    if not entries:
        return '<h2 id="expectations">Manifest entries</h2><p>None was checked by this run.</p>'
    rows = [
        '<h2 id="expectations">Manifest entries</h2>',
        "<p>Every entry of the per-variant manifests that this run checked: why the case is "
        "expected to fail there.</p>",
        '<table class="expectations"><thead><tr><th>variant</th><th>case</th><th>this run</th>'
        "<th>reason</th><th>clause</th><th>bug</th><th>match</th><th>source</th></tr></thead>"
        "<tbody>",
    ]
    for r, x in entries:
        anchor = slug(r.variant, r.case)
        verdict = r.verdict
        link = manifest_link(x, here, manifest_url)
        line = f":{x.line}" if x.line else ""
        rows.append(
            f'<tr id="exp-{anchor}"><td>{e(r.variant)}</td><td><code>{e(r.case)}</code></td>'
            f'<td class="v-{verdict}"><a href="#r-{anchor}" style="color:inherit">'
            f"{e(LABELS[verdict])}</a></td>"
            f"<td>{e(x.reason)}</td><td>{e(x.clause)}</td><td>{_bug(x.bug)}</td>"
            f"<td><code>{e(x.match)}</code></td>"
            f'<td><a href="{e(link or "")}">{e(Path(x.manifest).name)}{e(line)}</a></td></tr>'
        )
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _bug(bug: str | None) -> str:
    if not bug:
        return "—"
    words = []
    for word in bug.split():
        if word.startswith(("http://", "https://")):
            url = word.rstrip(").,;")
            words.append(f'<a href="{html.escape(url)}">{html.escape(url)}</a>')
            words.append(html.escape(word[len(url) :]))
        else:
            words.append(html.escape(word))
    return " ".join(w for w in words if w)


def _comparison(comparison: Comparison) -> str:
    e = html.escape
    old = comparison.old_run
    rows = [
        f'<h2 id="changes">Changes since the run of {e(old["started_at"])}</h2>',
        '<table class="summary changes-table"><thead><tr><th>variant</th><th>server version'
        "</th><th>new failures</th><th>new passes</th><th>other changes</th></tr></thead><tbody>",
    ]
    for variant in comparison.variants:
        shown = comparison.describe(variant)
        rows.append(
            f'<tr data-variant="{e(variant)}"><th>{e(variant)}</th><td>{e(shown)}</td>'
            f'<td class="n">{len(comparison.of("new failure", variant))}</td>'
            f'<td class="n">{len(comparison.of("new pass", variant))}</td>'
            f'<td class="n">{len(comparison.of("other", variant))}</td></tr>'
        )
    rows.append("</tbody></table>")
    if not comparison.changes:
        rows.append("<p>No result changed.</p>")
    items = []
    for change in comparison.changes:
        target = (
            f'<a href="#r-{slug(change.variant, change.case)}">{e(change.case)}</a>'
            if change.new
            else e(change.case)
        )
        items.append(
            f'<li class="change" data-kind="{e(change.kind)}"><b>{e(change.kind)}</b> '
            f"{e(change.variant)} <code>{target}</code>: {e(change.old or 'absent')} → "
            f"{e(change.new or 'absent')}</li>"
        )
    if items:
        rows.append('<ul class="changes">' + "".join(items) + "</ul>")
    return "\n".join(rows)
