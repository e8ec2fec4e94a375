"""The report package on made-up runs: verdict sums, exit status, schema, renderers, compare,
manifest updates. (Real runs of the CLI are in test_cli.py.)"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from conformance.expectations import load
from conformance.report import compare, html, markdown, update
from conformance.report.model import (
    SCHEMA_PATH,
    VERDICTS,
    CaseRecord,
    Result,
    RunDocument,
    Verdict,
    aggregate,
    build_document,
    exit_status,
    manifest_lines,
    validate,
)

jsonschema = pytest.importorskip("jsonschema")

MANIFEST = """\
# streaming
[[expected]]
case = "streaming/b"
outcome = "fail"
match = "the server said \\\\d+"
reason = "it says 200"
clause = "clause b"
bug = "docs/server-behaviour.md#daphne-no-backpressure"

[[expected]]
case = "streaming/stale"
outcome = "fail"
match = "never"
reason = "it used to fail"
clause = "clause s"
"""


def record(case: str, variant: str, verdict: str, **extra: Any) -> CaseRecord:
    """One plugin record (built from its JSON, as the plugin's report carries it)."""
    family = case.partition("/")[0]
    base: dict[str, Any] = {
        "case": case,
        "family": family,
        "grade": "required",
        "clause": f"clause {case[-1]}",
        "variant": variant,
        "verdict": verdict,
        "duration": 0.5,
        "reason": None,
        "iteration": 1,
        "message": None,
        "expectation": None,
        "reproduce": f"asgi-conformance run --server {variant} --case {case}",
        "evidence": {
            "server_log": ["GET / 200"],
            "log_truncated": False,
            "transcript": [{"t": 0.001, "channel": "http-1", "dir": ">", "text": "GET /"}],
            "transcript_dropped": 0,
            "observations": {
                "tok": {"events": [{"event": "produced", "t": 0.002}], "counters": {}}
            },
            "failure": None,
        },
    }
    base.update(extra)
    return CaseRecord.from_json(base)


def document(
    records: list[CaseRecord],
    *,
    manifests: Path | None = None,
    variants: tuple[str, ...] = ("alpha", "beta"),
    pytest_status: int = 0,
    started_at: str = "2026-01-01T00:00:00+00:00",
    versions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A run document of ``records`` on ``variants``."""
    ids = list(dict.fromkeys(r.case for r in records))
    return build_document(
        records,
        run={
            "started_at": started_at,
            "finished_at": started_at,
            "duration": 12.5,
            "command": "pytest",
            "app": "conformance.contract:app",
            "expectations": None if manifests is None else str(manifests),
            "verify": 1,
            "selection": {"servers": list(variants), "families": [], "cases": [], "keyword": None},
        },
        variants=[
            {
                "name": name,
                "server": "uvicorn",
                "version": (versions or {}).get(name, "1.0"),
                "protocol": "http/1.1",
                "tls": False,
                "capabilities": [],
                "option": name,
                "started": True,
                "command": "python -m uvicorn",
                "startup_seconds": 0.3,
                "log": "/tmp/x.log",
                "error": None,
                "stop": {"graceful": True, "exit_code": 0, "log_tail": None},
                "manifest": None,
            }
            for name in variants
        ],
        cases=[
            {
                "id": case,
                "family": case.partition("/")[0],
                "grade": "required",
                "clause": f"clause {case[-1]}",
                "title": f"Title of {case}.",
                "requires": [],
            }
            for case in ids
        ],
        pytest_status=pytest_status,
    )


def expectation(manifests: Path, variant: str, case: str, reason: str) -> dict[str, Any]:
    """The expectation part of a record, as the plugin writes it."""
    path = manifests / f"{variant}.toml"
    return {
        "outcome": "fail",
        "match": "x",
        "reason": reason,
        "clause": "c",
        "bug": "https://example.invalid/issue/1",
        "manifest": str(path),
        "line": manifest_lines(path).get(case),
    }


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    directory = tmp_path / "expectations"
    directory.mkdir()
    (directory / "alpha.toml").write_text(MANIFEST, encoding="utf-8")
    return directory


@pytest.fixture
def every_verdict(manifests: Path) -> dict[str, Any]:
    """alpha: one case per verdict; beta: all pass but one not applicable."""
    a = "alpha"
    records = [
        record("streaming/a", a, "pass"),
        record(
            "streaming/b",
            a,
            "expected-failure",
            message="AssertionError: the server said 200",
            expectation=expectation(manifests, a, "streaming/b", "it says 200"),
        ),
        record("streaming/c", a, "fail", message="AssertionError: the <b>body</b> was 3 bytes"),
        record(
            "streaming/stale",
            a,
            "unexpected-pass",
            message="UNEXPECTED PASS: ...",
            expectation=expectation(manifests, a, "streaming/stale", "it used to fail"),
        ),
        record("sse/d", a, "timeout", message="httpx.ReadTimeout"),
        record("push/e", a, "not-applicable", message="not applicable: alpha lacks push"),
        record("jobs/f", a, "harness-error", message="ServerStartError: alpha: exited"),
    ]
    records += [
        record(r.case, "beta", "not-applicable" if r.case == "push/e" else "pass") for r in records
    ]
    return document(records, manifests=manifests)


# -- verdicts and exit status --------------------------------------------------------------


def test_every_verdict_is_counted_on_its_own(every_verdict: dict[str, Any]) -> None:
    alpha = every_verdict["summary"]["by_variant"]["alpha"]
    assert alpha == {str(v): 1 for v in VERDICTS}
    assert every_verdict["summary"]["by_variant"]["beta"]["pass"] == 6
    assert every_verdict["summary"]["total"]["not-applicable"] == 2


@pytest.mark.parametrize(
    ("verdicts", "pytest_status", "code", "why"),
    [
        (["pass", "expected-failure", "not-applicable"], 0, 0, "matched"),
        (["pass", "unexpected-pass"], 1, 1, "1 unexpected-pass"),
        (["pass", "fail"], 1, 1, "1 fail"),
        (["pass", "timeout"], 1, 1, "1 timeout"),
        (["pass", "harness-error"], 1, 2, "harness error"),
        (["fail", "harness-error"], 1, 2, "harness error"),
        (["not-applicable"], 0, 2, "every selected case was not applicable"),
        ([], 5, 2, "nothing was selected"),
        (["pass"], 2, 2, "the run was interrupted (pytest exit status 2)"),
        (["pass"], 3, 2, "internal error"),
        (["pass"], 4, 2, "a usage error (pytest exit status 4)"),
        (["pass"], 1, 2, "outside the conformance cases"),
    ],
)
def test_exit_status(verdicts: list[str], pytest_status: int, code: int, why: str) -> None:
    results = aggregate(record(f"streaming/{i}", "alpha", v) for i, v in enumerate(verdicts))
    assert exit_status(results, pytest_status=pytest_status)[0] == code
    assert why in exit_status(results, pytest_status=pytest_status)[1]


def test_a_server_that_did_not_stop_gracefully_fails_the_run() -> None:
    results = aggregate([record("streaming/a", "alpha", "pass")])
    variants = [{"name": "alpha", "stop": {"graceful": False, "exit_code": -9}}]
    code, why = exit_status(results, pytest_status=1, variants=variants)
    assert (code, why) == (1, "not as expected: alpha did not stop gracefully")


def test_a_collection_error_is_a_harness_failure() -> None:
    errors = [{"kind": "collection", "where": "x.py", "message": "ImportError: no\nmore"}]
    code, why = exit_status(
        aggregate([record("streaming/a", "alpha", "pass")]), pytest_status=2, errors=errors
    )
    assert (code, why) == (2, "the harness failed: ImportError: no")


def test_verify_runs_sum_up_to_the_worst_verdict_and_a_flake_rate() -> None:
    runs = [
        record("streaming/a", "alpha", verdict, iteration=i, duration=float(i))
        for i, verdict in enumerate(["pass", "fail", "pass"], start=1)
    ]
    (result,) = aggregate(runs)
    assert result.verdict is Verdict.FAIL
    assert result.runs == 3
    assert result.verdicts == {Verdict.PASS: 2, Verdict.FAIL: 1}
    assert result.flake_rate == pytest.approx(1 / 3, abs=1e-3)
    assert result.duration == pytest.approx(2.0)
    assert result.to_json()["verdicts"] == {"pass": 2, "fail": 1}
    assert document(runs)["summary"]["flaky"]["alpha"] == 1


def test_records_and_results_round_trip_through_their_json(every_verdict: dict[str, Any]) -> None:
    """The typed records are the document's format: to_json(from_json(x)) is x."""
    for data in every_verdict["results"]:
        result = Result.from_json(data)
        assert result.to_json() == data
        assert list(result.to_json()) == list(data)  # the key order of the file, too
    view = RunDocument.from_json(every_verdict)
    assert view.to_json() == json.loads(json.dumps(every_verdict))
    assert {r.verdict for r in view.results} == set(VERDICTS)
    xfail = next(r for r in view.results if r.verdict is Verdict.EXPECTED_FAILURE)
    assert xfail.expectation is not None
    assert xfail.expectation.reason == "it says 200"
    assert xfail.evidence is not None
    assert xfail.evidence.server_log == ("GET / 200",)
    one = record("streaming/a", "alpha", "fail", message="AssertionError: x")
    assert CaseRecord.from_json(json.loads(json.dumps(one.to_json()))) == one


# -- the schema ----------------------------------------------------------------------------


def test_the_document_follows_its_schema(every_verdict: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(every_verdict, schema)
    validate(json.loads(json.dumps(every_verdict)))


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: d["results"][0].update(verdict="flaky"),
        lambda d: d["results"][2].update(reproduce=None),  # a failure must say how to reproduce
        lambda d: d["results"][1].update(expectation=None),  # an xfail must name its entry
        lambda d: d["run"].update(exit_code=3),
        lambda d: d["run"].pop("suite_version"),
        lambda d: d["variants"][0].pop("version"),
    ],
)
def test_the_schema_refuses_a_spoilt_document(every_verdict: dict[str, Any], spoil: Any) -> None:
    spoilt = copy.deepcopy(every_verdict)
    spoil(spoilt)
    with pytest.raises(jsonschema.ValidationError):
        validate(spoilt)


def test_another_schema_version_is_refused(every_verdict: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="schema version 1"):
        validate({**every_verdict, "schema_version": 2})


def test_manifest_lines_point_at_each_entry_header(manifests: Path) -> None:
    assert manifest_lines(manifests / "alpha.toml") == {"streaming/b": 2, "streaming/stale": 10}


# -- Markdown ------------------------------------------------------------------------------


def test_markdown_links_every_cell_that_is_not_a_pass(every_verdict: dict[str, Any]) -> None:
    here = every_verdict["run"]["expectations"] and Path(every_verdict["run"]["expectations"])
    assert here is not None
    text = markdown.render(every_verdict, here=here.parent / "docs")
    matrix = text[text.index("## Matrix") : text.index("## Known deviations")]
    rows = {
        line.split("|")[1].strip(): line for line in matrix.splitlines() if line.startswith("| `")
    }
    assert len(rows) == 7
    assert "[🟡 xfail](../expectations/alpha.toml#L2)" in rows["`streaming/b`"]
    assert "[🟣 XPASS](../expectations/alpha.toml#L10)" in rows["`streaming/stale`"]
    assert "[❌ FAIL](#unexpected-results)" in rows["`streaming/c`"]
    assert "[⏱️ TIMEOUT](#unexpected-results)" in rows["`sse/d`"]
    assert "[\u2796 n/a](#not-applicable)" in rows["`push/e`"]
    assert "[💥 ERROR](#unexpected-results)" in rows["`jobs/f`"]
    cells = [c.strip() for line in rows.values() for c in line.split("|")[3:-1]]
    assert len(cells) == 14
    assert all(c.startswith("[") or c == "\u2705" for c in cells), cells
    assert "| `streaming/c` | required | clause c | Title of streaming/c. |" in text
    assert "## Not applicable" in text
    assert "## Unexpected results" in text
    assert "reproduce: `asgi-conformance run --server alpha --case streaming/c`" in text
    summary = next(line for line in text.splitlines() if line.startswith("| alpha"))
    assert summary.split("|")[4:11] == [" 1 "] * 7


def test_markdown_links_to_the_html_evidence_and_a_manifest_url(
    every_verdict: dict[str, Any],
) -> None:
    text = markdown.render(
        every_verdict, html_name="report.html", manifest_url="https://h.invalid/m/"
    )
    assert "[❌ FAIL](#unexpected-results)" in text
    assert "the <b>body" not in text
    assert "AssertionError: the &lt;b&gt;body&lt;/b&gt; was 3 bytes" in text
    assert "([evidence](report.html#r-alpha--streaming-c))" in text
    assert "[🟡 xfail](https://h.invalid/m/alpha.toml#L2)" in text


# -- HTML ----------------------------------------------------------------------------------


def test_html_is_self_contained_and_escapes_what_it_quotes(every_verdict: dict[str, Any]) -> None:
    page = html.render(every_verdict)
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(", page)
    assert "the <b>body</b>" not in page
    assert "the &lt;b&gt;body&lt;/b&gt;" in page
    # every external URL is a link a reader may follow, never something the page loads
    assert set(re.findall(r'(?:src|href)="(https?:[^"]*)"', page)) <= {
        "https://example.invalid/issue/1"
    }


def test_html_cells_carry_their_verdict_and_link_to_their_evidence(
    every_verdict: dict[str, Any],
) -> None:
    page = html.render(every_verdict, here=Path("/"))
    cells = re.findall(
        r'<td class="cell v-([a-z-]+)" id="c-([^"]+)" data-variant="([^"]+)" data-case="([^"]+)" '
        r'data-verdict="([a-z-]+)"><a href="#r-([^"]+)"',
        page,
    )
    assert len(cells) == 14
    for colour, cell_id, variant, case, verdict, target in cells:
        assert colour == verdict
        assert cell_id == target == f"{variant}--{case.replace('/', '-')}"
        assert f'<div class="ev" id="r-{target}">' in page
    overlay = page[page.index('id="r-alpha--streaming-b"') :]
    overlay = overlay[: overlay.index('<div class="ev"')]
    assert "Manifest entry" in overlay
    assert "it says 200" in overlay
    assert 'href="#exp-alpha--streaming-b"' in overlay
    assert 'id="exp-alpha--streaming-b"' in page


def test_html_evidence_can_be_left_out_for_passes(every_verdict: dict[str, Any]) -> None:
    everything = html.render(every_verdict, evidence="all")
    failures = html.render(every_verdict, evidence="failures")
    nothing = html.render(every_verdict, evidence="none")
    assert everything.count("Client transcript") == 14
    assert failures.count("Client transcript") == 7
    assert nothing.count("Client transcript") == 0


# -- compare -------------------------------------------------------------------------------


def test_compare_tells_new_failures_new_passes_and_other_changes() -> None:
    old = document(
        [
            record("streaming/a", "alpha", "pass"),
            record("streaming/b", "alpha", "fail"),
            record("streaming/c", "alpha", "expected-failure"),
            record("streaming/d", "alpha", "fail"),
            record("streaming/gone", "alpha", "pass"),
            record("streaming/a", "beta", "pass"),
        ],
        versions={"alpha": "1.0"},
    )
    new = document(
        [
            record("streaming/a", "alpha", "expected-failure", message="AssertionError: broke"),
            record("streaming/b", "alpha", "pass"),
            record("streaming/c", "alpha", "unexpected-pass"),
            record("streaming/d", "alpha", "timeout"),
            record("streaming/new", "alpha", "fail"),
            record("streaming/a", "beta", "pass"),
        ],
        versions={"alpha": "2.0"},
        started_at="2026-02-01T00:00:00+00:00",
    )
    result = compare.compare(old, new)
    kinds = {(c.variant, c.case): c.kind for c in result.changes}
    assert kinds == {
        ("alpha", "streaming/a"): "new failure",
        ("alpha", "streaming/b"): "new pass",
        ("alpha", "streaming/c"): "new pass",
        ("alpha", "streaming/d"): "other",
        ("alpha", "streaming/gone"): "other",
        ("alpha", "streaming/new"): "new failure",
    }
    assert result.versions == {"alpha": ("1.0", "2.0")}
    assert result.regressed
    text = "\n".join(markdown.render_comparison(result))
    assert "| alpha | 1.0 → 2.0 | 2 | 2 | 2 |" in text
    assert "| beta | unchanged | 0 | 0 | 0 |" in text
    assert "- **alpha** `streaming/a`: pass → expected-failure — AssertionError: broke" in text
    page = html.render(new, old=old)
    assert page.count('class="change" data-kind="new failure"') == 2
    assert not compare.compare(new, new).changes


def test_compare_across_different_variant_sets() -> None:
    """A shard with other variants: its cells are not changes, and the variants say so."""
    old = document(
        [record("streaming/a", "alpha", "pass"), record("streaming/a", "gone", "pass")],
        variants=("alpha", "gone"),
    )
    new = document(
        [
            record("streaming/a", "alpha", "pass"),
            record("streaming/a", "fresh", "expected-failure"),
            record("streaming/x", "alpha", "expected-failure"),
        ],
        variants=("alpha", "fresh"),
    )
    result = compare.compare(old, new)
    assert [(c.variant, c.case, c.kind) for c in result.changes] == [
        ("alpha", "streaming/x", "other")
    ]
    assert not result.regressed
    assert (result.only_old, result.only_new) == (["gone"], ["fresh"])
    text = "\n".join(markdown.render_comparison(result))
    assert "| gone | only in the old run | 0 | 0 | 0 |" in text
    assert "| fresh | only in the new run | 0 | 0 | 0 |" in text
    assert "| alpha | unchanged | 0 | 0 | 1 |" in text
    assert "only in the old run" in html.render(new, old=old)


# -- update-expectations -------------------------------------------------------------------


def test_update_plans_every_kind_of_change(manifests: Path) -> None:
    run = document(
        [
            record("streaming/b", "alpha", "fail", message="AssertionError: now it says 500!"),
            record("streaming/stale", "alpha", "unexpected-pass"),
            record("streaming/new", "alpha", "fail", message="AssertionError: took 42 ms, [x]"),
            record("sse/slow", "alpha", "timeout", message="TimeoutError: no response in 5.0 s"),
            record("streaming/new", "beta", "fail", message="AssertionError: took 7 ms, [x]"),
            record("streaming/b", "beta", "harness-error", message="ServerStartError"),
        ],
        manifests=manifests,
    )
    plan = update.plan(
        run,
        manifests,
        reasons={"streaming/new@alpha": "alpha is slow"},
        ask=lambda variant, result: ("", None),
    )
    kinds = {(a.variant, a.case): a.kind for a in plan.actions}
    assert kinds == {
        ("alpha", "streaming/b"): "rematch",
        ("alpha", "streaming/stale"): "remove",
        ("alpha", "streaming/new"): "add",
        ("alpha", "sse/slow"): "pending",
        ("beta", "streaming/new"): "pending",
        ("beta", "streaming/b"): "keep",
    }
    written = update.write(plan, manifests)
    assert written == [manifests / "alpha.toml"]
    entries = load(manifests / "alpha.toml")
    assert list(entries) == ["streaming/b", "streaming/new"]
    b, new = entries["streaming/b"], entries["streaming/new"]
    assert (b.reason, b.clause, b.bug) == (
        "it says 200",
        "clause b",
        "docs/server-behaviour.md#daphne-no-backpressure",
    )
    assert b.matches("AssertionError: now it says 503!")
    assert (new.reason, new.clause, new.bug) == ("alpha is slow", "clause w", None)
    assert new.match == r"took \d+ ms, \[x\]"
    text = (manifests / "alpha.toml").read_text(encoding="utf-8")
    assert "\n# streaming\n[[expected]]" in text
    assert not (manifests / "beta.toml").exists()


def test_update_asks_and_uses_a_general_reason_and_bug(manifests: Path) -> None:
    run = document(
        [
            record("sse/slow", "alpha", "timeout", message="TimeoutError: no response in 5.0 s"),
            record("streaming/new", "beta", "fail", message='AssertionError: it said "no"\x7f'),
        ],
        manifests=manifests,
    )
    asked: list[str] = []

    def ask(variant: str, result: Result) -> tuple[str, str | None]:
        asked.append(f"{variant} {result.case}")
        return "it never answers", "B9"

    plan = update.plan(run, manifests, ask=ask)
    assert asked == ["alpha sse/slow", "beta streaming/new"]
    update.write(plan, manifests)
    slow = load(manifests / "alpha.toml")["sse/slow"]
    assert (slow.reason, slow.bug) == ("it never answers", "B9")
    assert slow.matches("TimeoutError: no response in 30.0 s")
    assert load(manifests / "beta.toml")["streaming/new"].matches(
        'AssertionError: it said "no"\x7f'
    )
    plan = update.plan(run, manifests, reason="general", bug="B2")
    assert {a.kind for a in plan.actions} == {"keep"}  # both now fail as recorded


def test_update_leaves_flaky_results_and_unchanged_files_alone(manifests: Path) -> None:
    before = (manifests / "alpha.toml").stat().st_mtime_ns
    run = document(
        [
            record("streaming/b", "alpha", "expected-failure"),
            record("streaming/stale", "alpha", "pass", iteration=1),
            record("streaming/stale", "alpha", "unexpected-pass", iteration=2),
        ],
        manifests=manifests,
    )
    plan = update.plan(run, manifests, reason="never used")
    assert [a.kind for a in plan.actions] == ["keep", "keep"]
    assert "flaky" in plan.actions[1].why
    assert update.write(plan, manifests) == []
    assert (manifests / "alpha.toml").stat().st_mtime_ns == before


@pytest.mark.parametrize(
    ("failure", "pattern"),
    [
        ("AssertionError: the server grew by 40 MiB", r"the server grew by \d+ MiB"),
        (
            "TimeoutError: no complete response within 5.0 s",
            r"TimeoutError: no complete response within \d+\.\d+ s",
        ),
        ("AssertionError: x\nassert 1 == 2", "x"),
        ("AssertionError: " + "word " * 60, None),
    ],
)
def test_derive_match(failure: str, pattern: str | None) -> None:
    derived = update.derive_match(failure)
    if pattern is not None:
        assert derived == pattern
    assert len(derived) <= 200
    assert re.search(derived, failure, re.DOTALL)


# -- merge ---------------------------------------------------------------------------------


def _shards() -> tuple[dict[str, Any], dict[str, Any]]:
    one = document(
        [
            record("streaming/a", "alpha", "pass"),
            record("streaming/b", "alpha", "fail", message="AssertionError: b broke"),
        ],
        variants=("alpha",),
        started_at="2026-01-01T00:00:00+00:00",
    )
    two = document(
        [
            record("streaming/a", "beta", "pass"),
            record("sse/c", "beta", "pass"),
        ],
        variants=("beta",),
        started_at="2026-01-01T00:00:30+00:00",
    )
    two["run"]["finished_at"] = "2026-01-01T00:01:00+00:00"
    return one, two


def test_merge_sums_up_shards_into_one_valid_run() -> None:
    from conformance.report.merge import merge

    one, two = _shards()
    merged = merge([one, two], command="asgi-conformance report --merge a b")
    validate(merged)
    assert [v["name"] for v in merged["variants"]] == ["alpha", "beta"]
    assert [c["id"] for c in merged["cases"]] == ["streaming/a", "streaming/b", "sse/c"]
    assert len(merged["results"]) == 4
    assert merged["summary"]["total"]["fail"] == 1
    assert merged["summary"]["by_variant"]["beta"]["pass"] == 2
    assert (merged["run"]["exit_code"], merged["run"]["duration"]) == (1, 60.0)
    assert [s["variants"] for s in merged["run"]["shards"]] == [["alpha"], ["beta"]]
    text = markdown.render(merged)
    assert "alpha" in text
    assert "beta" in text


def test_merge_of_one_variant_split_by_family_reads_as_one_run() -> None:
    """Shards of one variant (families apart) and of another merge into the order of a run in
    one process: variant as listed, then family, then collection."""
    from conformance.report.merge import merge

    sse = document(
        [record("sse/c", "alpha", "pass")],
        variants=("alpha",),
        started_at="2026-01-01T00:00:00+00:00",
    )
    streaming = document(
        [record("streaming/a", "alpha", "pass"), record("streaming/b", "alpha", "pass")],
        variants=("alpha",),
        started_at="2026-01-01T00:00:00+00:00",
    )
    beta = document(
        [record("sse/c", "beta", "pass"), record("streaming/a", "beta", "pass")],
        variants=("beta",),
        started_at="2026-01-01T00:00:00+00:00",
    )
    merged = merge([sse, streaming, beta], command="x")
    validate(merged)
    assert [v["name"] for v in merged["variants"]] == ["alpha", "beta"]
    assert [c["id"] for c in merged["cases"]] == ["streaming/a", "streaming/b", "sse/c"]
    assert [(r["variant"], r["case"]) for r in merged["results"]] == [
        ("alpha", "streaming/a"),
        ("alpha", "streaming/b"),
        ("alpha", "sse/c"),
        ("beta", "streaming/a"),
        ("beta", "sse/c"),
    ]


def test_merge_refuses_other_suite_versions_and_overlapping_shards() -> None:
    from conformance.report.merge import MergeError, merge

    one, two = _shards()
    other = copy.deepcopy(two)
    other["run"]["suite_version"] = "9.9.9"
    with pytest.raises(MergeError, match="different suite versions"):
        merge([one, other], command="x")
    with pytest.raises(MergeError, match="streaming/a on alpha is in run 1 and run 2"):
        merge([one, one], command="x")
    with pytest.raises(MergeError, match="nothing to merge"):
        merge([], command="x")


def test_report_merge_command_writes_the_merged_run_and_gates_on_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conformance.cli import main

    one, two = _shards()
    paths = []
    for name, doc in (("one", one), ("two", two)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(doc))
    out = tmp_path / "merged" / "run.json"
    markdown_out = tmp_path / "merged.md"
    status = main(
        ["report", "--merge", *map(str, paths), "--json", str(out), "--markdown", str(markdown_out)]
    )
    assert status == 1  # streaming/b fails on alpha
    merged = json.loads(out.read_text())
    validate(merged)
    assert "beta" in markdown_out.read_text()
    assert "exit status 1: not as expected: 1 fail" in capsys.readouterr().err
    two["run"]["suite_version"] = "9.9.9"
    paths[1].write_text(json.dumps(two))
    assert main(["report", "--merge", *map(str, paths)]) == 2
    assert main(["report"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [
        "asgi-conformance: cannot merge: the runs are of different suite versions: "
        f"{one['run']['suite_version']}, 9.9.9",
        "asgi-conformance: report needs one RUN.json, or --merge RUN.json [RUN.json ...]",
    ]
