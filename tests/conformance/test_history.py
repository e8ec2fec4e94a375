"""``asgi-conformance history``: release selection, the timeline, and one real run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.history import (
    HistoryError,
    Release,
    build_timeline,
    distribution_of,
    render_markdown,
    select_versions,
    sort_versions,
)


def _document(verdicts: dict[tuple[str, str], str]) -> dict[str, Any]:
    return {
        "results": [
            {
                "case": case,
                "family": case.partition("/")[0],
                "grade": "required",
                "clause": "a clause",
                "variant": variant,
                "verdict": verdict,
                "duration": 0.1,
                "message": f"{case} broke",
            }
            for (case, variant), verdict in verdicts.items()
        ]
    }


def test_versions_are_final_releases_oldest_first() -> None:
    assert sort_versions(["0.10.0", "0.9.1", "0.10.0rc1", "0.27.0.post1", "0.9.1"]) == [
        "0.9.1",
        "0.10.0",
        "0.27.0.post1",
    ]
    with pytest.raises(HistoryError, match="not a version"):
        sort_versions(["banana"])


def test_since_takes_every_available_release_from_it_on() -> None:
    available = ["0.28.0", "0.29.0", "0.30.0", "0.31.0"]
    assert select_versions([], "0.29.0", available) == ["0.29.0", "0.30.0", "0.31.0"]
    assert select_versions(["0.31.0", "0.28.0"], None, None) == ["0.28.0", "0.31.0"]
    with pytest.raises(HistoryError, match="either --versions or --since"):
        select_versions(["0.28.0"], "0.28.0", available)
    with pytest.raises(HistoryError, match="either --versions or --since"):
        select_versions([], None, available)
    with pytest.raises(HistoryError, match="no release"):
        select_versions([], "9.0", available)


def test_a_server_names_all_its_variants_and_an_unknown_one_is_refused() -> None:
    distribution, variants = distribution_of("uvicorn")
    assert distribution == "uvicorn"
    assert {"uvicorn-h11", "uvicorn-httptools"} <= set(variants)
    assert distribution_of("uvicorn-h11") == ("uvicorn", ["uvicorn-h11"])
    with pytest.raises(HistoryError, match="unknown server 'mycorn'"):
        distribution_of("mycorn")


def test_the_timeline_finds_each_change_and_its_evidence() -> None:
    releases = [
        Release("1.0", _document({("a/x", "v"): "fail", ("a/y", "v"): "pass"})),
        Release("1.1", None, "installing failed"),
        Release("1.2", _document({("a/x", "v"): "pass", ("a/y", "v"): "pass"})),
        Release("1.3", _document({("a/x", "v"): "pass", ("a/y", "v"): "timeout"})),
    ]
    timeline = build_timeline("srv", releases)
    assert timeline.releases == ("1.0", "1.1", "1.2", "1.3")
    assert timeline.errors == {"1.1": "installing failed"}
    assert timeline.verdicts[("a/x", "v")] == ("fail", None, "pass", "pass")
    changes = [(c.case, c.previous, c.version, c.before, c.after) for c in timeline.changes]
    # a release that could not run is skipped over, not counted as a change
    assert changes == [
        ("a/x", "1.0", "1.2", "fail", "pass"),
        ("a/y", "1.2", "1.3", "pass", "timeout"),
    ]
    assert [c.evidence for c in timeline.changes] == ["a/x broke", "a/y broke"]
    text = render_markdown(timeline)
    assert "**1.2**: `a/x` on v: FAIL → **pass** (since 1.0" in text
    assert "  > a/y broke" in text
    assert "| `a/x` | v | FAIL |  | **pass** | pass |" in text
    assert "- **1.1**: installing failed" in text
    json.dumps(timeline.to_json())


def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "mycorn", "--versions", "1.0"]) == 2
    assert main(["history", "uvicorn"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "asgi-conformance: unknown server 'mycorn'; "
        "the servers are daphne, granian, hypercorn, uvicorn",
        "asgi-conformance: give either --versions or --since",
    ]


@pytest.mark.slow
def test_two_real_releases_run_in_their_own_environments(tmp_path: Path) -> None:
    """Two uvicorn releases installed side by side; each run reports its own version."""
    out = tmp_path / "out"
    status = main(
        [
            "history",
            "uvicorn-h11",
            "--versions",
            "0.30.6,0.34.3",
            "--case",
            "streaming/chunks-flushed",
            "--out",
            str(out),
            "--cache",
            str(tmp_path / "cache"),
        ]
    )
    assert status == 0
    timeline = json.loads((out / "timeline.json").read_text())
    assert timeline["releases"] == ["0.30.6", "0.34.3"]
    assert timeline["verdicts"] == [
        {"case": "streaming/chunks-flushed", "variant": "uvicorn-h11", "verdicts": ["pass", "pass"]}
    ]
    for version in ("0.30.6", "0.34.3"):
        document = json.loads((out / f"{version}.json").read_text())
        assert [v["version"] for v in document["variants"]] == [version]
    assert "0.30.6, 0.34.3" in (out / "timeline.md").read_text()
