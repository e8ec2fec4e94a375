"""The CI workflow of docs/ci.md, its commands run as written: two shards, then the gate.

The shard commands run the streaming family only (an added ``--family``), to keep the test
short; everything else is the documented command with the matrix variable filled in. A shard
exits 0 or 1 (results not as the manifest says are the gate's to judge); the gate exits with
the merged run's status, which the test checks against the shards' documents.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import conformance

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = Path(conformance.__file__).parent / "expectations"


def commands() -> list[str]:
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    (workflow,) = re.findall(r"```yaml\n(.*?)```", text, re.S)
    runs = re.findall(r"^\s*- run: (.*)$", workflow, re.M)
    return [run for run in runs if "asgi-conformance" in run and not run.startswith("pip ")]


def test_the_workflow_names_a_shard_and_a_gate_command() -> None:
    shard, gate = commands()
    assert "${{ matrix.variant }}" in shard
    assert shard.startswith("asgi-conformance run ")
    assert gate.startswith("asgi-conformance report --merge ")


@pytest.mark.slow
def test_the_workflow_commands_shard_and_gate(tmp_path: Path) -> None:
    shard, gate = commands()
    variants = re.search(r"variant: \[(.*)\]", (ROOT / "docs" / "ci.md").read_text())
    assert variants is not None
    (tmp_path / "conformance-expect").mkdir()
    codes: list[int] = []
    for variant in (v.strip() for v in variants.group(1).split(",")):
        manifest = BUNDLED / f"{variant}.toml"
        if manifest.exists():
            shutil.copy(manifest, tmp_path / "conformance-expect" / manifest.name)
        run, _, tolerate = shard.replace("${{ matrix.variant }}", variant).partition(" || ")
        command = f"{run} --family streaming || {tolerate}" if tolerate else run
        done = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        shard_doc = json.loads((tmp_path / "shards" / f"{variant}.json").read_text())
        codes.append(shard_doc["run"]["exit_code"])
    done = subprocess.run(
        ["bash", "-c", gate],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert done.returncode == max(codes), done.stdout + done.stderr
    merged = json.loads((tmp_path / "conformance.json").read_text())
    assert merged["run"]["exit_code"] == max(codes)
    assert {v["name"] for v in merged["variants"]} == {"uvicorn-h11", "uvicorn-httptools"}
    assert (tmp_path / "conformance.html").exists()
    assert "uvicorn-httptools" in (tmp_path / "conformance.md").read_text()
