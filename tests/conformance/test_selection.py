"""The run's selection as one record: pytest's options and ``asgi-conformance run``'s arguments
make equal :class:`Selection` records, and the words each renders parse back to the same record.

pytest's side is parsed for real: ``pytest.main`` with the words a command hands it, the
plugin loaded, and collection skipped (the plugin's own session reads the same options).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from conformance import recording
from conformance.cases import FAMILIES, Gate
from conformance.cli import _parser
from conformance.commands import CommandError
from conformance.commands.pytest_run import pytest_args, pytest_ini
from conformance.commands.run import child_args
from conformance.parallel import Shard
from conformance.selection import DEFAULT_APP, Selection
from servers import get

COMMAND = "mycorn=python -m mycorn --bind {host}:{port} {app};caps=lifespan,lifespan_state"
CASE = "scope/client-and-server"


def every_option(expectations: Path) -> list[str]:
    """A ``run`` command line giving every option of the selection a value not its default."""
    return [
        "--server",
        "uvicorn-h11,hypercorn",
        "--server",
        COMMAND,
        "--family",
        "scope,headers",
        "--family",
        "scope",
        "--case",
        CASE,
        "-k",
        "client or host",
        "--app",
        "conformance.broken.scope:app",
        "--expectations",
        str(expectations),
        "--verify",
        "3",
        "--gate",
        "required",
        "--startup-timeout",
        "7.5",
        "--server-version",
        "1.2.3",
        "--case-timeout",
        "12.5",
    ]


def parsed(*words: str) -> argparse.Namespace:
    """The namespace ``asgi-conformance`` hands a command, for these words."""
    args, extra = _parser().parse_known_args(list(words))
    args.pytest_args = extra[1:] if extra[:1] == ["--"] else extra
    args.argv = list(words)
    return args


class _Grab:
    """Reads the selection of a pytest session, and skips its collection."""

    def __init__(self) -> None:
        self.selection: Selection | None = None

    def pytest_configure(self, config: pytest.Config) -> None:
        self.selection = Selection.from_config(config)

    def pytest_collection(self, session: pytest.Session) -> bool:
        return True


def configured(words: list[str]) -> Selection:
    """The selection pytest makes of these words (run with the conformance plugin alone)."""
    grab = _Grab()
    status = pytest.main([*words, "-p", "no:terminal"], plugins=[grab])
    assert grab.selection is not None, f"pytest status {status}"
    return grab.selection


def plugin_words(selection: Selection, directory: Path) -> list[str]:
    """A pytest command line with the plugin alone and the selection's options."""
    ini = directory / "pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")
    return [
        *("-c", str(ini), "--rootdir", str(directory), "--noconftest"),
        *("--disable-plugin-autoload", "-p", "conformance.plugin", "-p", "no:cacheprovider"),
        *selection.pytest_words(),
        str(directory),
    ]


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    path = (tmp_path / "manifests").resolve()
    path.mkdir()
    return path


def test_every_option_has_a_value_not_its_default(manifests: Path) -> None:
    """The command line of these tests gives each field but ``no_expectations`` a value."""
    selection = Selection.from_args(parsed("run", *every_option(manifests)))
    default = Selection()
    same = [
        f.name
        for f in dataclasses.fields(Selection)
        if getattr(selection, f.name) == getattr(default, f.name)
    ]
    assert same == ["no_expectations"]
    assert selection.servers == ("uvicorn-h11,hypercorn", COMMAND)  # a command keeps its commas
    assert selection.families == ("scope", "headers")
    assert selection.expectations == manifests
    assert selection.gate is Gate.REQUIRED


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([], id="defaults"),
        pytest.param(["--every-option"], id="every-option"),
        pytest.param(["--no-expectations", "--expectations", "ignored"], id="no-expectations"),
        pytest.param(["--family", "scope", "--verify", "1", "--gate", "all"], id="at-defaults"),
    ],
)
def test_from_args_and_from_config_agree(extra: list[str], manifests: Path, tmp_path: Path) -> None:
    """A command's Selection equals the one its pytest session makes of the words it gets."""
    if extra == ["--every-option"]:
        extra = every_option(manifests)
    args = parsed("run", *extra, "--suite", str(tmp_path))
    with pytest_ini() as ini:
        words = pytest_args(args, ini)
        assert configured(words) == Selection.from_args(args)


def test_defaults_are_no_words() -> None:
    """A selection at its defaults adds nothing: ``list``'s pytest command line is unchanged."""
    assert Selection().pytest_words() == []
    assert Selection().child_words() == []
    assert Selection.from_args(parsed("list")) == Selection()
    assert Selection.from_args(parsed("run")) == Selection()


@pytest.mark.parametrize("no_expectations", [False, True])
def test_the_plugin_words_round_trip(
    no_expectations: bool, manifests: Path, tmp_path: Path
) -> None:
    """pytest parses the plugin words back into the same selection, the servers included."""
    extra = ["--no-expectations"] if no_expectations else []
    selection = Selection.from_args(parsed("run", *every_option(manifests), *extra))
    assert selection.no_expectations is no_expectations
    assert configured(plugin_words(selection, tmp_path)) == selection


@pytest.mark.parametrize("no_expectations", [False, True])
def test_a_shard_child_gets_every_option_but_the_servers(
    no_expectations: bool, manifests: Path
) -> None:
    """``child_args`` carries every option but the servers and families (the shard's own
    words add them), then pytest's arguments."""
    extra = ["--no-expectations"] if no_expectations else []
    args = parsed("run", *every_option(manifests), *extra, "--", "-x", "--tb=short")
    selection = Selection.from_args(args)
    words = child_args(selection, args.pytest_args)
    assert "--server" not in words
    assert "--family" not in words
    assert words == [*selection.child_words(), "--", "-x", "--tb=short"]
    spec = get("uvicorn-h11")
    shard = Shard("uvicorn-h11", "=uvicorn-h11", spec, families=selection.families)
    child = parsed("run", *shard.words(), "--json", "shard.json", *words)
    assert Selection.from_args(child) == dataclasses.replace(selection, servers=("=uvicorn-h11",))
    assert child.pytest_args == ["-x", "--tb=short"]
    assert Selection.from_args(parsed("run", *selection.child_words())) == dataclasses.replace(
        selection, servers=(), families=()
    )


def test_command_errors_keep_their_one_line_messages(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"^--verify needs a count of at least 1$"):
        Selection.from_args(parsed("run", "--verify", "0"))
    with pytest.raises(CommandError) as unknown:
        Selection.from_args(parsed("run", "--family", "scope,nosuch"))
    assert str(unknown.value) == f"unknown families nosuch; the families are {', '.join(FAMILIES)}"
    afile = tmp_path / "afile"
    afile.write_text("", encoding="utf-8")
    with pytest.raises(CommandError, match=r"^--expectations .*afile: not a directory$"):
        Selection.from_args(parsed("run", "--expectations", str(afile)))
    # A file given beside --no-expectations is ignored, as the manifests are.
    ignored = Selection.from_args(parsed("run", "--no-expectations", "--expectations", str(afile)))
    assert ignored.expectations is None
    assert ignored.manifests is None


def test_pytest_option_errors_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grab = _Grab()
    words = plugin_words(Selection(), tmp_path)
    status = pytest.main([*words, "--verify", "0", "-p", "no:terminal"], plugins=[grab])
    assert status == pytest.ExitCode.USAGE_ERROR
    assert "--verify needs a count of at least 1" in capsys.readouterr().err


def test_one_default_app() -> None:
    assert recording.DEFAULT_APP == DEFAULT_APP
