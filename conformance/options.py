"""The options of the pytest plugin (group "asgi-conformance"); a session reads them once, into
a :class:`conformance.selection.Selection` (the output options aside).

Options (group "asgi-conformance")::

    --server NAME[,NAME]     variants (``uvicorn-h11``) or servers (``uvicorn``: all its
                             variants), repeatable; default: every installed built-in variant
    --server 'NAME=COMMAND;caps=...;protocol=...'
                             any other server, as a command template (see servers.command)
    --app IMPORT             the app the servers run (default conformance.contract:app)
    --expectations DIR       the per-variant manifests (default: the bundled ones)
    --no-expectations        report raw pass/fail, ignoring the manifests
    --startup-timeout S      how long a server may take to answer its first request
    --family NAME[,NAME]     only the cases of these families (repeatable)
    --case ID                only this case (exact id, repeatable); ``-k`` also matches ids
    --verify N               run each selected case N times; the report gives its flake rate
    --gate required|recommended|all
                             which grades decide the exit status (default all); every grade
                             is still judged and reported (see conformance.cases.Gate)
    --case-timeout S         the deadline of one case (default CASE_TIMEOUT)
    --results-json FILE      one JSON line per case run (the records)
    --conformance-json FILE  the run document (schema conformance/schema/run-1.json)
    --conformance-html FILE  the matrix as one self-contained HTML page
    --conformance-markdown FILE
                             the matrix in Markdown
"""

from __future__ import annotations

import pytest

from .cases import FAMILIES, Gate
from .selection import CASE_TIMEOUT, DEFAULT_APP, STARTUP_TIMEOUT

__all__ = ["CASE_TIMEOUT", "add_options"]


def add_options(parser: pytest.Parser) -> None:
    """Add the suites' options to pytest's command line."""
    group = parser.getgroup("asgi-conformance", "ASGI server conformance")
    group.addoption(
        "--server",
        action="append",
        default=[],
        metavar="NAME",
        help="variant or server name, or NAME=COMMAND;caps=..;protocol=.. (repeatable)",
    )
    group.addoption("--app", default=DEFAULT_APP, help="the app import string")
    group.addoption("--expectations", default=None, help="directory of per-variant manifests")
    group.addoption("--no-expectations", action="store_true", help="ignore the manifests")
    group.addoption(
        "--startup-timeout",
        type=float,
        default=STARTUP_TIMEOUT,
        help="seconds to first answer",
    )
    group.addoption(
        "--server-version",
        default=None,
        help="the version of servers given as commands (default: what their --version prints)",
    )
    group.addoption(
        "--family",
        action="append",
        default=[],
        metavar="NAME",
        help=f"only the cases of these families (repeatable; {', '.join(FAMILIES)})",
    )
    group.addoption(
        "--case",
        action="append",
        default=[],
        metavar="ID",
        help="only the case with this exact id, e.g. streaming/chunks-flushed (repeatable)",
    )
    group.addoption(
        "--verify",
        type=int,
        default=1,
        metavar="N",
        help="run each selected case N times and report its flake rate",
    )
    group.addoption(
        "--gate",
        choices=[str(g) for g in Gate],
        default=str(Gate.ALL),
        help="which grades decide the exit status: required, recommended (and required) or "
        "all (default); every grade is still judged and reported",
    )
    group.addoption(
        "--case-timeout",
        type=float,
        default=CASE_TIMEOUT,
        metavar="S",
        help=f"the deadline of one case in seconds (default {CASE_TIMEOUT:g})",
    )
    group.addoption("--results-json", default=None, help="write one JSON line per case run")
    group.addoption("--conformance-json", default=None, help="write the run document (JSON)")
    group.addoption("--conformance-html", default=None, help="write the matrix as HTML")
    group.addoption("--conformance-markdown", default=None, help="write the matrix as Markdown")
    group.addoption(
        "--conformance-command",
        default=None,
        help="the command line to record in the run document (set by asgi-conformance)",
    )
