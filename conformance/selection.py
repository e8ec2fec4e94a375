"""Which variants a run selects: ``--server`` options to variants, resolved once.

A ``--server`` option is a built-in variant (``uvicorn-h11``), a server meaning all its
installed variants (``uvicorn``), a comma-separated list of those, or a command template
(``NAME=COMMAND;caps=...``, see :mod:`servers.command`). ``=NAME`` selects exactly the variant
called NAME, never a server of that name's other variants (``=granian`` is the HTTP/1.1
variant alone; ``granian`` is every granian variant): a shard of a concurrent run is selected
so. No option selects every installed built-in variant.

:class:`Selection` is the whole of a run's selection (servers, families, cases, ``-k``, app,
manifests, repeats, gate, limits), one record whether pytest options or ``asgi-conformance
run`` arguments asked for it, and the one place its options are spelled as words again.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from servers import ServerSpec, available, get, resolve
from servers.command import CommandArgv

from .cases import FAMILIES, Case, Gate
from .commands import CommandError
from .expectations import DEFAULT_DIRECTORY

__all__ = [
    "CASE_TIMEOUT",
    "DEFAULT_APP",
    "STARTUP_TIMEOUT",
    "SelectedVariant",
    "Selection",
    "select_variants",
    "variant_version",
]

#: The app the servers run unless ``--app`` names another (it implements the contract).
DEFAULT_APP: Final = "conformance.contract:app"
#: How long a server may take to answer its first request (seconds), unless
#: ``--startup-timeout`` says otherwise.
STARTUP_TIMEOUT: Final = 20.0
#: The most one case may take (seconds), unless ``--case-timeout`` says otherwise.
CASE_TIMEOUT: Final = 60.0

#: A version number in a ``--version`` output: the first one (a program name comes first).
_VERSION: Final = re.compile(r"\b(\d+(?:\.\d+)+(?:[.+-]?[A-Za-z0-9]+)*)\b")


@dataclass(frozen=True, slots=True)
class SelectedVariant:
    """One selected variant and the ``--server`` value that selects it alone."""

    spec: ServerSpec
    option: str


def select_variants(options: Sequence[str]) -> dict[str, SelectedVariant]:
    """The variants ``options`` select, by name, in selection order.

    Raises:
        HarnessError: an option names no variant or server, or is a malformed command.
    """
    if not options:
        return {name: SelectedVariant(spec, name) for name, spec in available().items()}
    selected: dict[str, SelectedVariant] = {}
    for option in options:
        items = [option] if "=" in option else [item for item in option.split(",") if item.strip()]
        for item in items:
            item = item.strip()
            if item.startswith("="):
                spec = get(item[1:])
                selected[spec.name] = SelectedVariant(spec, item)
                continue
            family = [spec for spec in available().values() if spec.server == item]
            for spec in family or [resolve(item)]:
                selected[spec.name] = SelectedVariant(spec, item if "=" in item else spec.name)
    return selected


@dataclass(frozen=True, slots=True)
class Selection:
    """What a run selects and how it is judged, with every default filled in.

    Built from pytest's options (:meth:`from_config`) or from the arguments of
    ``asgi-conformance run`` or ``list`` (:meth:`from_args`): the same command line makes an
    equal record either way. Its words (:meth:`pytest_words`, :meth:`child_words`) ask for it
    again; the plugin's options and ``run``'s are spelled alike, so :meth:`_words` spells each
    option once for both, and leaves out those at their default.
    """

    #: The ``--server`` options as given (a command template may hold commas).
    servers: tuple[str, ...] = ()
    #: The ``--family`` names, split at commas, each once, in the order given.
    families: tuple[str, ...] = ()
    #: The ``--case`` ids, split at commas, each once, in the order given.
    cases: tuple[str, ...] = ()
    #: pytest's ``-k`` expression (it also matches case ids).
    keyword: str | None = None
    app: str = DEFAULT_APP
    #: The ``--expectations`` directory, resolved; None for the bundled manifests (or none).
    expectations: Path | None = None
    no_expectations: bool = False
    verify: int = 1
    gate: Gate = Gate.ALL
    startup_timeout: float = STARTUP_TIMEOUT
    #: The version of servers given as commands (``--server-version``).
    server_version: str | None = None
    case_timeout: float = CASE_TIMEOUT

    @classmethod
    def from_config(cls, config: pytest.Config) -> Selection:
        """The selection of a pytest session's options.

        Raises:
            pytest.UsageError: an option is wrong (one line).
        """
        try:
            return cls.of(
                servers=config.getoption("server"),
                families=config.getoption("family"),
                cases=config.getoption("case"),
                keyword=config.getoption("keyword"),
                app=config.getoption("app"),
                expectations=config.getoption("expectations"),
                no_expectations=config.getoption("no_expectations"),
                verify=config.getoption("verify"),
                gate=config.getoption("gate"),
                startup_timeout=config.getoption("startup_timeout"),
                server_version=config.getoption("server_version"),
                case_timeout=config.getoption("case_timeout"),
            )
        except CommandError as error:
            raise pytest.UsageError(str(error)) from None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Selection:
        """The selection of a command's arguments (those ``list`` lacks take their default).

        Raises:
            CommandError: an argument is wrong (one line), or ``--expectations`` names a file.
        """
        selection = cls.of(
            servers=args.server,
            families=args.family,
            cases=args.case,
            keyword=args.keyword,
            app=args.app,
            expectations=args.expectations,
            no_expectations=args.no_expectations,
            verify=getattr(args, "verify", None),
            gate=getattr(args, "gate", None),
            startup_timeout=getattr(args, "startup_timeout", None),
            server_version=getattr(args, "server_version", None),
            case_timeout=getattr(args, "case_timeout", None),
        )
        directory = selection.expectations
        if directory is not None and directory.exists() and not directory.is_dir():
            raise CommandError(f"--expectations {Path(args.expectations)}: not a directory")
        return selection

    @classmethod
    def of(
        cls,
        *,
        servers: Iterable[str] = (),
        families: Iterable[str] = (),
        cases: Iterable[str] = (),
        keyword: str | None = None,
        app: str | None = None,
        expectations: str | Path | None = None,
        no_expectations: bool = False,
        verify: int | None = None,
        gate: str | None = None,
        startup_timeout: float | None = None,
        server_version: str | None = None,
        case_timeout: float | None = None,
    ) -> Selection:
        """The selection of options as parsed (None or empty: the default), checked.

        Raises:
            CommandError: ``verify`` is below 1, or a family is unknown.
        """
        if verify is not None and verify < 1:
            raise CommandError("--verify needs a count of at least 1")
        chosen = _split(families)
        unknown = sorted(set(chosen) - set(FAMILIES))
        if unknown:
            raise CommandError(
                f"unknown families {', '.join(unknown)}; the families are {', '.join(FAMILIES)}"
            )
        return cls(
            servers=tuple(servers),
            families=chosen,
            cases=_split(cases),
            keyword=keyword or None,
            app=app or DEFAULT_APP,
            expectations=None
            if no_expectations or not expectations
            else Path(expectations).resolve(),
            no_expectations=bool(no_expectations),
            verify=verify or 1,
            gate=Gate(gate) if gate else Gate.ALL,
            startup_timeout=STARTUP_TIMEOUT if startup_timeout is None else startup_timeout,
            server_version=server_version or None,
            case_timeout=CASE_TIMEOUT if case_timeout is None else case_timeout,
        )

    @property
    def manifests(self) -> Path | None:
        """The manifests' directory: the one given, the bundled one, or None (ignored)."""
        if self.no_expectations:
            return None
        return self.expectations or DEFAULT_DIRECTORY

    def variants(self) -> dict[str, SelectedVariant]:
        """The variants the servers select, by name (see :func:`select_variants`).

        Raises:
            HarnessError: a server option names no variant or server, or is malformed.
        """
        return select_variants(self.servers)

    def keeps(self, found: Case | None) -> bool:
        """Whether the families and cases keep a collected test (None: not a case)."""
        if self.families and (found is None or found.family not in self.families):
            return False
        return not (self.cases and (found is None or found.id not in self.cases))

    def pytest_words(self) -> list[str]:
        """The pytest plugin's options that select this again (the servers first)."""
        return [*(w for server in self.servers for w in ("--server", server)), *self._words()]

    def child_words(self) -> list[str]:
        """A shard's ``run`` arguments: every option but the servers and the families (a shard
        has its own: :meth:`conformance.parallel.Shard.words`)."""
        return dataclasses.replace(self, families=())._words()

    def _words(self) -> list[str]:
        """Every option but the servers, each spelled once, those at their default left out."""
        words = [w for family in self.families for w in ("--family", family)]
        words += [w for case in self.cases for w in ("--case", case)]
        if self.keyword:
            words += ["-k", self.keyword]
        if self.app != DEFAULT_APP:
            words += ["--app", self.app]
        if self.no_expectations:
            words.append("--no-expectations")
        elif self.expectations is not None:
            words += ["--expectations", str(self.expectations)]
        if self.verify != 1:
            words += ["--verify", str(self.verify)]
        if self.startup_timeout != STARTUP_TIMEOUT:
            words += ["--startup-timeout", str(self.startup_timeout)]
        if self.server_version:
            words += ["--server-version", self.server_version]
        if self.case_timeout != CASE_TIMEOUT:
            words += ["--case-timeout", str(self.case_timeout)]
        if self.gate is not Gate.ALL:
            words += ["--gate", str(self.gate)]
        return words


def _split(values: Iterable[str]) -> tuple[str, ...]:
    """Comma-separated and repeated option values, each once, in order."""
    items = (item.strip() for value in values for item in value.split(","))
    return tuple(dict.fromkeys(item for item in items if item))


def variant_version(spec: ServerSpec, given: str | None = None) -> str | None:
    """The server version of a variant: installed metadata, ``given``, or its ``--version``.

    A built-in variant (or a command running ``{python} -m PACKAGE``) has the installed
    distribution's version. A server given as any other command has ``given`` (the
    ``--server-version`` option), or else the first version number its program prints for
    ``--version`` (the command's words before its first option or template field).
    """
    found = spec.version()
    if found is not None or not isinstance(spec.argv, CommandArgv):
        return found
    if given:
        return given
    program = _program(spec.argv.template)
    if not program:
        return None
    try:
        done = subprocess.run(
            [*program, "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(done.stdout + "\n" + done.stderr) if done.returncode == 0 else None
    return match.group(1) if match else None


def _program(template: Sequence[str]) -> list[str]:
    """The words that name a command's program: ``python -m mycorn`` of a longer command."""
    words: list[str] = []
    items = iter(template)
    for item in items:
        if item == "-m":
            words += [item, next(items, "")]
            continue
        if item.startswith("-") or ("{" in item and item != "{python}"):
            break
        words.append(sys.executable if item == "{python}" else item)
    return words
