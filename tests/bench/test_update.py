"""``python -m bench PART --update``: one part measured again into the record of a full run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import bench.__main__ as cli


def _record() -> dict[str, Any]:
    return {
        "command": "python -m bench",
        "generated": "2026-11-30 10:00 UTC",
        "seconds": 60.0,
        "load": ["1.0 1.0 1.0", "1.0 1.0 1.0"],
        "environment": [["Python", "3.11"]],
        "sections": {"inprocess": "old in-process table", "suite": "old suite table"},
        "targets": [
            ["(a) reference_app faster than falcon", "0.8x", "yes"],
            ["the full conformance matrix in under 60 s", "66.3 s", "no"],
        ],
        "full": True,
    }


def test_update_replaces_one_part_and_says_when(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_path = tmp_path / "last-run.json"
    record_path.write_text(json.dumps(_record()), encoding="utf-8")
    monkeypatch.setattr(cli, "RECORD", record_path)

    def runners(
        settings: Any, sections: dict[str, str], targets: list[tuple[str, str, str]]
    ) -> dict[str, Callable[[], None]]:
        def suite() -> None:
            sections["suite"] = "new suite table"
            targets.append(("the full conformance matrix in under 60 s", "54.0 s", "yes"))

        return {"suite": suite}

    monkeypatch.setattr(cli, "_runners", runners)
    output = tmp_path / "BENCHMARKS.md"
    assert cli.main(["suite", "--update", "--output", str(output)]) == 0
    record = json.loads(record_path.read_text(encoding="utf-8"))
    assert record["sections"] == {"inprocess": "old in-process table", "suite": "new suite table"}
    assert record["targets"] == [
        ["(a) reference_app faster than falcon", "0.8x", "yes"],
        ["the full conformance matrix in under 60 s", "54.0 s", "yes"],
    ]
    assert record["generated"] == "2026-11-30 10:00 UTC"  # the full run's date stays
    document = output.read_text(encoding="utf-8")
    assert "new suite table" in document
    assert "old suite table" not in document
    assert "Measured again on its own:" in document
    assert "`python -m bench suite --update`" in document
    assert document.count("Measured again on its own") == 1  # in the suite section only


def test_update_needs_parts_and_a_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "RECORD", tmp_path / "none.json")
    with pytest.raises(SystemExit) as no_parts:
        cli.main(["--update"])
    assert no_parts.value.code == 2
    with pytest.raises(SystemExit) as no_record:
        cli.main(["suite", "--update"])
    assert no_record.value.code == 2
