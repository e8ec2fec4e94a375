"""The gate in its users' hands: what a server maintainer and a CI job meet, run for real.

* a harness error shows its cause (the server's last log lines), once per variant;
* a report path that cannot be written, and a malformed manifest, are one line and exit 2,
  before the run;
* a new server's first run: its own manifest folder (made on demand), its version from its
  own ``--version`` or ``--server-version``, the first manifest in one command, a green rerun,
  and a comparison; ``update-expectations`` never writes into the installed package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: A server given as a command, as a maintainer would: uvicorn run by its own program name.
MYCORN = (
    "mycorn=python -m uvicorn {app} --host {host} --port {port} --http h11;"
    "caps=lifespan,lifespan_state,response_backpressure,websocket"
)
CASES = ("--case", "streaming/chunks-flushed", "--case", "streaming/headers-before-body")


def cli(cwd: Path, *args: str, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "conformance", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHONPATH": ""},
    )


def test_a_server_that_cannot_start_shows_why_once(tmp_path: Path) -> None:
    done = cli(
        tmp_path,
        "run",
        "--server",
        "uvicorn-h11",
        "--app",
        "no_such_module_here:app",
        "--family",
        "streaming",
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout.count("uvicorn-h11 did not start:") == 1, done.stdout
    assert 'Could not import module "no_such_module_here"' in done.stdout


def test_an_unwritable_report_path_is_refused_before_the_run(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = cli(tmp_path, "run", "--server", "uvicorn-h11", *CASES, "--json", f"{blocker}/run.json")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"asgi-conformance: cannot write {blocker}/run.json: "), line
    assert "[" not in done.stdout  # no case ran


def test_a_malformed_manifest_is_one_line(tmp_path: Path) -> None:
    manifests = tmp_path / "expect"
    manifests.mkdir()
    (manifests / "uvicorn-h11.toml").write_text('[[expected]]\ncase = "streaming/x"\n')
    done = cli(tmp_path, "run", "--server", "uvicorn-h11", *CASES, "--expectations", str(manifests))
    assert done.returncode == 2
    text = done.stdout + done.stderr
    assert "INTERNALERROR" not in text
    assert f"{manifests}/uvicorn-h11.toml: entry 1 lacks clause, match, outcome, reason" in text


def test_update_never_writes_into_the_installed_package(tmp_path: Path) -> None:
    import conformance

    bundled = Path(conformance.__file__).parent / "expectations"
    before = {p.name: p.read_text() for p in bundled.glob("*.toml")}
    run = cli(tmp_path, "run", "--server", "uvicorn-h11", *CASES, "--json", "run.json")
    assert run.returncode == 0, run.stdout
    document = json.loads((tmp_path / "run.json").read_text())
    document["results"][0].update(verdict="fail", message="AssertionError: made up")
    (tmp_path / "run.json").write_text(json.dumps(document))
    done = cli(tmp_path, "update-expectations", "run.json", "--reason", "made up for the test")
    assert done.returncode == 0, done.stdout + done.stderr
    written = tmp_path / "asgi-conformance-expectations" / "uvicorn-h11.toml"
    assert "made up for the test" in written.read_text()
    assert {p.name: p.read_text() for p in bundled.glob("*.toml")} == before


@pytest.mark.slow
def test_a_server_maintainers_first_run_in_a_fresh_environment(tmp_path: Path) -> None:
    """Install, run a command-given server with its own manifests, make the first manifest,
    rerun green, compare: the path the README gives server maintainers."""
    home = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(home)
    python = str(home / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", f"{ROOT}[harness]", "uvicorn"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    work = tmp_path / "ci"
    work.mkdir()
    env_bin = str(home / "bin")
    os.environ["PATH"] = f"{env_bin}:{os.environ['PATH']}"  # the maintainer's `python`
    try:
        first = cli(
            work,
            "run",
            "--server",
            MYCORN,
            "--expectations",
            "conformance-expect",
            *CASES,
            "--json",
            "first.json",
            python=python,
        )
        # the server defers nothing, so both pass; make one fail as a new server's would
        assert first.returncode == 0, first.stdout + first.stderr
        document = json.loads((work / "first.json").read_text())
        (variant,) = document["variants"]
        import uvicorn

        assert (variant["name"], variant["version"]) == ("mycorn", uvicorn.__version__)
        document["results"][1].update(verdict="fail", message="AssertionError: headers late")
        (work / "first.json").write_text(json.dumps(document))
        made = cli(
            work, "update-expectations", "first.json", "--reason", "first triage", python=python
        )
        assert made.returncode == 0, made.stdout + made.stderr
        manifest = work / "conformance-expect" / "mycorn.toml"
        assert "first triage" in manifest.read_text()
        site = subprocess.run(
            [
                python,
                "-c",
                "import conformance, pathlib; print(pathlib.Path(conformance.__file__).parent)",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert not (Path(site) / "expectations" / "mycorn.toml").exists()
        manifest.write_text("")  # the made-up failure is gone again: an empty manifest
        again = cli(
            work,
            "run",
            "--server",
            MYCORN,
            "--server-version",
            "1.2.3",
            "--expectations",
            "conformance-expect",
            *CASES,
            "--json",
            "second.json",
            python=python,
        )
        assert again.returncode == 0, again.stdout
        second = json.loads((work / "second.json").read_text())
        assert second["variants"][0]["version"] == "1.2.3"  # --server-version wins
        compared = cli(
            work,
            "report",
            "second.json",
            "--compare",
            "first.json",
            "--markdown",
            "-",
            python=python,
        )
        assert compared.returncode == 0
        assert "new pass" in compared.stdout.lower()
    finally:
        os.environ["PATH"] = os.environ["PATH"].removeprefix(f"{env_bin}:")
