"""The asgi-conformance command line, run for real: exit codes for each situation, the JSON
against its schema, the HTML in headless Chromium, Markdown, JUnit, --compare, update-expectations,
list, serve, and the live display on a terminal.

Runs are kept tiny: a few cases of the bundled streaming family, or of the plugin's self-test
suite (test_plugin.SELFTEST_SUITE), on uvicorn-h11, with manifests in temporary directories.
"""

from __future__ import annotations

import html.parser
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from conformance.expectations import load
from conformance.report.model import SCHEMA_PATH

from .test_plugin import write_selftest

jsonschema = pytest.importorskip("jsonschema")

BROKEN = 'broken=python -c "raise SystemExit(3)" {host} {port} {app}'
STREAMING = (
    "--case",
    "streaming/chunks-flushed",
    "--case",
    "streaming/head-has-no-body",
    "--case",
    "streaming/early-response-keeps-connection",
)
STALE = """\
[[expected]]
case = "streaming/chunks-flushed"
outcome = "fail"
match = "the app had produced"
reason = "a stale entry: uvicorn flushes every chunk"
clause = "ASGI HTTP 2.5"
"""
WRONG_MATCH = """\
[[expected]]
case = "streaming/selftest-fail"
outcome = "fail"
match = "the server hung up"
reason = "recorded for another failure"
clause = "selftest clause B"
"""


def cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m conformance ARGS`` (stdout is a pipe: plain progress lines)."""
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def verdicts(path: Path) -> dict[str, str]:
    document = json.loads(path.read_text(encoding="utf-8"))
    return {f"{r['variant']} {r['case']}": r["verdict"] for r in document["results"]}


def manifests(directory: Path, text: str | None = None) -> Path:
    path = directory / "expectations"
    path.mkdir(exist_ok=True)
    if text is not None:
        (path / "uvicorn-h11.toml").write_text(text, encoding="utf-8")
    return path


# -- exit codes ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Bundled streaming cases on uvicorn-h11, every output asked for."""
    directory = tmp_path_factory.mktemp("good")
    done = cli(
        directory,
        "run",
        "--server",
        "uvicorn-h11",
        *STREAMING,
        "--expectations",
        str(manifests(directory)),
        "--json",
        "run.json",
        "--junit",
        "junit.xml",
        "--html",
        "run.html",
        "--markdown",
        "new/dir/run.md",
    )
    return directory, done


def test_everything_as_expected_exits_0(
    good_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    directory, done = good_run
    assert done.returncode == 0, done.stdout + done.stderr
    assert verdicts(directory / "run.json") == {
        "uvicorn-h11 streaming/chunks-flushed": "pass",
        "uvicorn-h11 streaming/head-has-no-body": "pass",
        "uvicorn-h11 streaming/early-response-keeps-connection": "not-applicable",
    }
    lines = done.stdout.splitlines()
    # not a terminal: one plain line per case, then the table and the exit status
    assert lines[0] == "asgi-conformance: 3 case runs on uvicorn-h11 (3)"
    assert re.fullmatch(
        r"\[   1/3\] uvicorn-h11 +streaming/chunks-flushed: pass \(\d+\.\d\d s\)", lines[1]
    )
    assert re.search(r"\nstreaming +2/2 -1\n", done.stdout)
    assert lines[-1].startswith("exit status 0: every result matched the expectations (")


def test_a_stale_manifest_is_an_unexpected_pass_and_exits_1(tmp_path: Path) -> None:
    done = cli(
        tmp_path,
        "run",
        "--server",
        "uvicorn-h11",
        *STREAMING,
        "--expectations",
        str(manifests(tmp_path, STALE)),
        "--json",
        "run.json",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert verdicts(tmp_path / "run.json")["uvicorn-h11 streaming/chunks-flushed"] == (
        "unexpected-pass"
    )
    assert "exit status 1: not as expected: 1 unexpected-pass" in done.stdout
    assert (
        "reproduce: asgi-conformance run --server uvicorn-h11 --case streaming/chunks-flushed "
        f"--expectations {tmp_path / 'expectations'}" in done.stdout
    )


def test_a_failure_other_than_the_recorded_one_and_a_timeout_exit_1(tmp_path: Path) -> None:
    suite, directory = write_selftest(tmp_path, WRONG_MATCH)
    done = cli(
        tmp_path,
        "run",
        "--suite",
        str(suite),
        "--server",
        "uvicorn-h11",
        "--expectations",
        str(directory),
        "-k",
        "selftest-fail or selftest-timeout or selftest-pass",
        "--json",
        "run.json",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert verdicts(tmp_path / "run.json") == {
        "uvicorn-h11 streaming/selftest-pass": "pass",
        "uvicorn-h11 streaming/selftest-fail": "fail",
        "uvicorn-h11 streaming/selftest-timeout": "timeout",
    }
    assert "exit status 1: not as expected: 1 fail, 1 timeout" in done.stdout


def test_gate_required_leaves_other_grades_out_of_the_exit_status(tmp_path: Path) -> None:
    suite, directory = write_selftest(tmp_path, WRONG_MATCH)
    selection = (
        *("--suite", str(suite), "--server", "uvicorn-h11", "--expectations"),
        *(str(directory), "-k", "selftest-fail or selftest-timeout or selftest-pass"),
    )
    gated = cli(tmp_path, "run", *selection, "--gate", "required", "--json", "gated.json")
    assert gated.returncode == 0, gated.stdout + gated.stderr
    assert (
        "exit status 0: every gated result matched the expectations (--gate required; "
        "not gated: 1 fail, 1 timeout)" in gated.stdout
    )
    # the matrix still has every grade's verdict, and the document says how it was gated
    assert verdicts(tmp_path / "gated.json") == {
        "uvicorn-h11 streaming/selftest-pass": "pass",
        "uvicorn-h11 streaming/selftest-fail": "fail",
        "uvicorn-h11 streaming/selftest-timeout": "timeout",
    }
    document = json.loads((tmp_path / "gated.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    assert document["run"]["gate"] == "required"
    recommended = cli(tmp_path, "run", *selection, "--gate", "recommended", "--json", "r.json")
    assert recommended.returncode == 1, recommended.stdout + recommended.stderr
    assert "exit status 1: not as expected: 1 fail" in recommended.stdout
    assert json.loads((tmp_path / "r.json").read_text())["run"]["gate"] == "recommended"
    wrong = cli(tmp_path, "run", *selection, "--gate", "some")
    assert wrong.returncode == 2
    assert "invalid choice: 'some'" in wrong.stderr


def test_no_case_selected_exits_2(tmp_path: Path) -> None:
    done = cli(tmp_path, "run", "--server", "uvicorn-h11", "-k", "no-such-case", "--json", "r.json")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "exit status 2: no case ran: nothing was selected" in done.stdout
    assert json.loads((tmp_path / "r.json").read_text())["run"]["exit_code"] == 2


def test_a_server_that_cannot_start_exits_2(tmp_path: Path) -> None:
    done = cli(
        tmp_path,
        "run",
        "--server",
        BROKEN,
        "--case",
        "streaming/chunks-flushed",
        "--json",
        "r.json",
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "broken did not start: broken: exited with code 3 before answering" in done.stdout
    assert verdicts(tmp_path / "r.json") == {"broken streaming/chunks-flushed": "harness-error"}
    assert "exit status 2: the harness failed: 1 harness error(s)" in done.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    unknown = cli(tmp_path, "run", "--server", "nosuch")
    assert unknown.returncode == 2
    assert "unknown server 'nosuch'" in unknown.stderr
    family = cli(tmp_path, "run", "--family", "nosuch")
    assert family.returncode == 2
    assert "unknown families nosuch" in family.stderr


# -- the outputs ---------------------------------------------------------------------------


def test_json_follows_the_schema_and_says_what_ran_where(
    good_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    directory, _ = good_run
    document = json.loads((directory / "run.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    run = document["run"]
    assert run["suite_version"] == "0.1.0"
    assert run["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert run["exit_code"] == 0
    assert run["duration"] > 0
    (variant,) = document["variants"]
    import uvicorn

    assert (variant["name"], variant["version"]) == ("uvicorn-h11", uvicorn.__version__)
    assert variant["stop"]["graceful"] is True
    flushed = next(r for r in document["results"] if r["case"] == "streaming/chunks-flushed")
    evidence = flushed["evidence"]
    assert evidence["transcript"]
    assert evidence["observations"]
    assert evidence["server_log"]


def test_junit_xml(good_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    directory, _ = good_run
    junit = (directory / "junit.xml").read_text(encoding="utf-8")
    assert junit.count("<testcase ") == 3
    assert junit.count("<skipped ") == 1  # not applicable
    assert junit.count('<property name="conformance"') == 3


def test_markdown_has_the_matrix(good_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    directory, _ = good_run
    text = (directory / "new" / "dir" / "run.md").read_text(encoding="utf-8")
    assert "| `streaming/chunks-flushed` | required | \u2705 |" in text
    assert (
        "| `streaming/early-response-keeps-connection` | required | [\u2796 n/a](#not-applicable) |"
        in text
    )
    assert (
        "- not applicable: uvicorn-h11 lacks http2: `streaming/early-response-keeps-connection`"
        in text
    )
    assert "**Exit status 0**" in text


class _Cells(html.parser.HTMLParser):
    """The verdict counts of a dumped DOM: the summary table's and the matrix's."""

    def __init__(self) -> None:
        super().__init__()
        self.summary: dict[str, dict[str, int]] = {}
        self.matrix: Counter[tuple[str, str]] = Counter()
        self.visible_text: list[str] = []
        self._variant: str | None = None
        self._verdict: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("class") == "variant":
            self._variant = a["data-variant"]
            self.summary[self._variant or ""] = {}
        elif tag == "td" and "cell" in (a.get("class") or "").split():
            self.matrix[a["data-variant"] or "", a["data-verdict"] or ""] += 1
        elif tag == "td" and self._variant and a.get("data-verdict"):
            self._verdict = a["data-verdict"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._variant = None

    def handle_data(self, data: str) -> None:
        if self._variant and self._verdict:
            self.summary[self._variant][self._verdict] = int(data)
            self._verdict = None


def chromium(*args: str, user_data: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={user_data}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_html_in_chromium_shows_the_matrix_with_the_right_counts(tmp_path: Path) -> None:
    """Every verdict at once: the self-test suite on uvicorn-h11 and on a server that cannot
    start; the page must show the JSON's counts in its summary and in its matrix."""
    suite, directory = write_selftest(tmp_path)
    done = cli(
        tmp_path,
        "run",
        "--suite",
        str(suite),
        "--server",
        "uvicorn-h11",
        "--server",
        BROKEN,
        "--expectations",
        str(directory),
        "--case-timeout",
        "1",
        "--json",
        "run.json",
        "--html",
        "run.html",
    )
    assert done.returncode == 2, done.stdout + done.stderr
    document = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    by_variant = document["summary"]["by_variant"]
    assert by_variant["uvicorn-h11"] == {
        "pass": 2,
        "expected-failure": 1,
        "fail": 0,
        "unexpected-pass": 1,
        "timeout": 3,
        "not-applicable": 2,
        "harness-error": 2,
    }
    assert by_variant["broken"]["harness-error"] == 10
    assert by_variant["broken"]["not-applicable"] == 1

    page = tmp_path / "run.html"
    dumped = chromium("--dump-dom", page.as_uri(), user_data=tmp_path / "profile")
    assert dumped.returncode == 0, dumped.stderr
    cells = _Cells()
    cells.feed(dumped.stdout)
    assert cells.summary == {
        variant: {verdict: n for verdict, n in counts.items()}
        for variant, counts in by_variant.items()
    }
    matrix: dict[str, dict[str, int]] = {}
    for (variant, verdict), n in cells.matrix.items():
        matrix.setdefault(variant, {})[verdict] = n
    assert matrix == {
        variant: {verdict: n for verdict, n in counts.items() if n}
        for variant, counts in by_variant.items()
    }
    assert 'data-exit-code="2"' in dumped.stdout
    shot = tmp_path / "matrix.png"
    taken = chromium(
        "--window-size=1400,1200",
        f"--screenshot={shot}",
        page.as_uri(),
        user_data=tmp_path / "profile",
    )
    assert taken.returncode == 0, taken.stderr
    assert shot.stat().st_size > 20_000
    evidence = tmp_path / "evidence.png"
    chromium(
        "--window-size=1400,1200",
        f"--screenshot={evidence}",
        page.as_uri() + "#r-uvicorn-h11--streaming-selftest-timeout",
        user_data=tmp_path / "profile",
    )
    assert evidence.stat().st_size > 20_000
    if os.environ.get("ASGI_CONFORMANCE_KEEP_SCREENSHOTS"):
        keep = Path(os.environ["ASGI_CONFORMANCE_KEEP_SCREENSHOTS"])
        shutil.copy(shot, keep / "matrix.png")
        shutil.copy(evidence, keep / "evidence.png")


# -- compare and update-expectations -------------------------------------------------------


@pytest.fixture(scope="module")
def flip_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two runs of the same cases where one case flips from pass to fail."""
    directory = tmp_path_factory.mktemp("flip")
    suite, _ = write_selftest(directory, manifest=None)
    runs = {}
    for name, flip in (("before", "0"), ("after", "1")):
        done = cli(
            directory,
            "run",
            "--suite",
            str(suite),
            "--server",
            "uvicorn-h11",
            "--no-expectations",
            "--case",
            "streaming/selftest-flip",
            "--case",
            "streaming/selftest-pass",
            "--json",
            f"{name}.json",
            env={"SELFTEST_FLIP": flip},
        )
        assert done.returncode == int(flip), done.stdout + done.stderr
        runs[name] = directory / f"{name}.json"
    runs["suite"] = suite
    return runs


def test_compare_shows_new_failures_and_new_passes(flip_runs: dict[str, Path]) -> None:
    directory = flip_runs["after"].parent
    worse = cli(directory, "report", str(flip_runs["after"]), "--compare", str(flip_runs["before"]))
    assert worse.returncode == 0, worse.stderr
    assert "| uvicorn-h11 | unchanged | 1 | 0 | 0 |" in worse.stdout
    assert "### New failures" in worse.stdout
    assert (
        "- **uvicorn-h11** `streaming/selftest-flip`: pass → fail — AssertionError: selftest: "
        "flipped" in worse.stdout
    )
    better = cli(
        directory,
        "report",
        str(flip_runs["before"]),
        "--compare",
        str(flip_runs["after"]),
        "--html",
        "better.html",
        "--markdown",
        "better.md",
    )
    assert better.returncode == 0, better.stderr
    text = (directory / "better.md").read_text(encoding="utf-8")
    assert "| uvicorn-h11 | unchanged | 0 | 1 | 0 |" in text
    assert "- **uvicorn-h11** `streaming/selftest-flip`: fail → pass" in text
    page = (directory / "better.html").read_text(encoding="utf-8")
    assert page.count('class="change" data-kind="new pass"') == 1
    bad = cli(directory, "report", str(flip_runs["suite"]))
    assert bad.returncode == 2
    assert "selftest_cases.py" in bad.stderr


def test_update_expectations_round_trip(flip_runs: dict[str, Path], tmp_path: Path) -> None:
    """A new failure needs a reason; given one, the next run judges it an expected failure;
    once it passes again, the entry is stale and goes."""
    directory = manifests(tmp_path)
    after = str(flip_runs["after"])
    pending = cli(tmp_path, "update-expectations", after, "--expectations", str(directory))
    assert pending.returncode == 1
    assert (
        "pending  uvicorn-h11 streaming/selftest-flip: new fail without a reason" in pending.stdout
    )
    assert not (directory / "uvicorn-h11.toml").exists()

    asked = cli(
        tmp_path,
        "update-expectations",
        after,
        "--expectations",
        str(directory),
        "--interactive",
        stdin="the flag is set\nB99\n",
    )
    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert "needs a manifest entry" in asked.stdout
    entry = load(directory / "uvicorn-h11.toml")["streaming/selftest-flip"]
    assert (entry.reason, entry.bug, entry.clause) == (
        "the flag is set",
        "B99",
        "selftest clause F",
    )
    assert entry.match == "selftest: flipped"

    (directory / "uvicorn-h11.toml").unlink()
    given = cli(
        tmp_path,
        "update-expectations",
        after,
        "--expectations",
        str(directory),
        "--reason-for",
        "streaming/selftest-flip@uvicorn-h11",
        "SELFTEST_FLIP makes it fail",
    )
    assert given.returncode == 0, given.stdout + given.stderr
    assert f"wrote {directory / 'uvicorn-h11.toml'}" in given.stdout

    def run(flip: str) -> subprocess.CompletedProcess[str]:
        return cli(
            tmp_path,
            "run",
            "--suite",
            str(flip_runs["suite"]),
            "--server",
            "uvicorn-h11",
            "--expectations",
            str(directory),
            "--case",
            "streaming/selftest-flip",
            "--json",
            "run.json",
            env={"SELFTEST_FLIP": flip},
        )

    judged = run("1")
    assert judged.returncode == 0, judged.stdout
    assert verdicts(tmp_path / "run.json") == {
        "uvicorn-h11 streaming/selftest-flip": "expected-failure"
    }
    fixed = run("0")
    assert fixed.returncode == 1
    assert verdicts(tmp_path / "run.json") == {
        "uvicorn-h11 streaming/selftest-flip": "unexpected-pass"
    }
    removed = cli(tmp_path, "update-expectations", str(tmp_path / "run.json"))
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert (
        "remove   uvicorn-h11 streaming/selftest-flip: passes: the entry was stale"
        in removed.stdout
    )
    assert load(directory / "uvicorn-h11.toml") == {}


# -- list, serve, the entry point, the live display ----------------------------------------


def test_list_selects_like_run(tmp_path: Path) -> None:
    listed = cli(tmp_path, "list", "--family", "streaming")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) >= 8
    assert all(line.startswith("streaming/") for line in lines)
    assert any(
        re.fullmatch(
            r"streaming/early-response-keeps-connection +required +.+\[needs http2\]", line
        )
        for line in lines
    )
    as_json = cli(
        tmp_path, "list", "--case", "streaming/chunks-flushed", "--json", "--server", "=daphne"
    )
    (case,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert case["id"] == "streaming/chunks-flushed"
    assert case["grade"] == "required"
    assert case["variants"] == ["daphne"]
    assert cli(tmp_path, "list", "-k", "no-such-case").returncode == 2


def test_serve_prints_the_url_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "conformance", "serve", "uvicorn-h11"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        found = re.search(r"serving conformance.contract:app at (http://127\.0\.0\.1:\d+)", first)
        assert found, first
        assert httpx.get(found.group(1) + "/", timeout=5).text == "asgi-conformance contract app"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "uvicorn-h11 stopped gracefully (exit code 0)" in out


def test_the_console_script_is_the_same_command() -> None:
    script = Path(sys.executable).parent / "asgi-conformance"
    if not script.exists():
        pytest.skip("the project is not installed with its console script here")
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    for command in ("run", "list", "report", "update-expectations", "serve"):
        assert command in done.stdout


def test_a_terminal_gets_the_live_display(tmp_path: Path) -> None:
    suite, _ = write_selftest(tmp_path, manifest=None)
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "conformance",
            "run",
            "--suite",
            str(suite),
            "--server",
            "uvicorn-h11",
            "--no-expectations",
            "--case",
            "streaming/selftest-pass",
            "--case",
            "streaming/selftest-flip",
        ],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
    )
    os.close(secondary)
    output = bytearray()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    os.close(primary)
    assert process.wait(timeout=30) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode("utf-8", "replace"))
    assert "asgi-conformance" in text
    assert re.search(r"uvicorn-h11 +2/2 +2 ", text), text
    assert "done" in text
    assert "[   1/2]" not in text  # no plain lines on a terminal
    assert "exit status 0" in text
