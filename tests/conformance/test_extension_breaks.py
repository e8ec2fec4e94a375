"""The extension cases no built-in variant runs can fail, and pass a server that does it right.

No built-in server lists ``http.response.zerocopysend`` or the ``tls`` extension, so the proof
catalogue (:mod:`conformance.broken`) cannot run their cases. Here each runs on a command-given
server that declares the capability, twice: under an app that implements the extension
correctly (the case passes) and under a broken one (the case fails, saying why).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from servers import get

ROOT: Final = Path(__file__).resolve().parents[2]
UVICORN: Final = "u={python} -m uvicorn --host {host} --port {port} --http h11 {app}"
HYPERCORN_TLS: Final = (
    "h={python} -m hypercorn --bind {host}:{port} --certfile {certfile} --keyfile {keyfile} "
    "{app};protocol=h2"
)
#: The apps (around the contract app) of this family's broken module.
APPS: Final = "conformance.broken.extensions"

CASES: Final = [
    pytest.param(
        "extensions/zerocopysend-file",
        f"{UVICORN};caps=lifespan,zerocopysend",
        "zerocopysend_emulated",
        "zerocopysend_offset_ignored",
        r"they differ from byte 5 on",
        id="zerocopysend",
    ),
    pytest.param(
        "extensions/tls-fields",
        f"{HYPERCORN_TLS};caps=lifespan,tls_scope",
        "tls_listed",
        "tls_malformed",
        r"tls_version is a str, not int or NoneType; cipher_suite is a str",
        id="tls",
    ),
]


def _verdict(case: str, server: str, app: str, tmp_path: Path) -> tuple[str, str]:
    """Run ``case`` on the command-given ``server`` running ``app``; verdict and message."""
    tmp_path.mkdir()
    results = tmp_path / "results.jsonl"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--pyargs",
            "conformance.suites",
            "--no-expectations",
            "-q",
            "--server",
            server,
            "--case",
            case,
            "--app",
            f"{APPS}:{app}",
            f"--results-json={results}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert results.exists(), f"no results:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["case"] for r in records] == [case]
    return records[0]["verdict"], records[0].get("message") or ""


@pytest.mark.skipif(
    not (get("uvicorn-h11").available() and get("hypercorn-h2").available()),
    reason="needs uvicorn and hypercorn",
)
@pytest.mark.parametrize(("case", "command", "legal", "broken", "says"), CASES)
def test_the_case_passes_a_correct_server_and_fails_the_broken_one(
    case: str, command: str, legal: str, broken: str, says: str, tmp_path: Path
) -> None:
    verdict, message = _verdict(case, command, legal, tmp_path / "legal")
    assert verdict == "pass", message
    verdict, message = _verdict(case, command, broken, tmp_path / "broken")
    assert verdict == "fail", message
    assert re.search(says, message), message
