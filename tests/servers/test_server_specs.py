"""The built-in variants as data: the capability table, the command lines, the registry."""

from __future__ import annotations

import importlib.metadata
import sys

import pytest

import servers
from servers import (
    SERVERS,
    Capability,
    HTTPProtocol,
    LaunchContext,
    ServerSpec,
    UnknownServerError,
    available,
    get,
)

C = Capability
# The declared capabilities of each variant, as observed on the servers (docs/server-behaviour.md)
# and §0; a change to a spec must be argued against those notes, not only against this table.
EXPECTED = {
    "hypercorn": (
        "hypercorn", HTTPProtocol.HTTP1, False,
        {C.LIFESPAN, C.LIFESPAN_STATE, C.RESPONSE_BACKPRESSURE, C.WEBSOCKET, C.WEBSOCKET_DENIAL},
    ),
    "hypercorn-h2c": (
        "hypercorn", HTTPProtocol.H2C, False,
        {C.HTTP2, C.PUSH, C.TRAILERS, C.EARLY_HINTS, C.LIFESPAN, C.LIFESPAN_STATE,
         C.RESPONSE_BACKPRESSURE},
    ),
    "hypercorn-h2": (
        "hypercorn", HTTPProtocol.H2, True,
        {C.HTTP2, C.PUSH, C.TRAILERS, C.EARLY_HINTS, C.LIFESPAN, C.LIFESPAN_STATE,
         C.RESPONSE_BACKPRESSURE},
    ),
    "uvicorn-h11": (
        "uvicorn", HTTPProtocol.HTTP1, False,
        {C.LIFESPAN, C.LIFESPAN_STATE, C.RESPONSE_BACKPRESSURE, C.WEBSOCKET, C.WEBSOCKET_DENIAL},
    ),
    "uvicorn-httptools": (
        "uvicorn", HTTPProtocol.HTTP1, False,
        {C.LIFESPAN, C.LIFESPAN_STATE, C.RESPONSE_BACKPRESSURE, C.WEBSOCKET, C.WEBSOCKET_DENIAL},
    ),
    # zttp's HTTP/2 lists trailers and early hints; no WebSocket over it.
    "uvicorn-zttp-h2": (
        "uvicorn", HTTPProtocol.H2, True,
        {C.HTTP2, C.TRAILERS, C.EARLY_HINTS, C.LIFESPAN, C.LIFESPAN_STATE,
         C.RESPONSE_BACKPRESSURE},
    ),
    # No lifespan, no state, no backpressure, no websocket.http.response.
    "daphne": ("daphne", HTTPProtocol.HTTP1, False, {C.WEBSOCKET}),
    "daphne-h2": ("daphne", HTTPProtocol.H2, True, {C.HTTP2}),
    "granian": (
        "granian", HTTPProtocol.HTTP1, False,
        {C.LIFESPAN, C.LIFESPAN_STATE, C.PATHSEND, C.RESPONSE_BACKPRESSURE, C.WEBSOCKET,
         C.WEBSOCKET_DENIAL},
    ),
    "granian-h2c": (
        "granian", HTTPProtocol.H2C, False,
        {C.HTTP2, C.LIFESPAN, C.LIFESPAN_STATE, C.PATHSEND, C.RESPONSE_BACKPRESSURE},
    ),
    "granian-h2": (
        "granian", HTTPProtocol.H2, True,
        {C.HTTP2, C.LIFESPAN, C.LIFESPAN_STATE, C.PATHSEND, C.RESPONSE_BACKPRESSURE},
    ),
}  # fmt: skip

CONTEXT = LaunchContext("127.0.0.1", 8123, "pkg.mod:app", "/c/cert.pem", "/c/key.pem")


def test_the_variant_list_is_fixed_and_ordered() -> None:
    assert list(SERVERS) == list(EXPECTED)


@pytest.mark.parametrize("name", EXPECTED)
def test_capability_table_matches_the_server_notes(name: str) -> None:
    spec = SERVERS[name]
    server, protocol, tls, capabilities = EXPECTED[name]
    assert (spec.name, spec.server, spec.protocol, spec.tls) == (name, server, protocol, tls)
    assert spec.capabilities == capabilities
    assert spec.scheme == ("https" if tls else "http")


# Runs of argv items each command line must contain, and why.
REQUIRED_RUNS = {
    "hypercorn": [["--bind", "127.0.0.1:8123"], ["--workers", "1"], ["--access-logfile", "-"]],
    "hypercorn-h2": [["--certfile", "/c/cert.pem", "--keyfile", "/c/key.pem"]],
    "uvicorn-h11": [
        ["--host", "127.0.0.1", "--port", "8123"],
        ["--http", "h11"],
        ["--workers", "1"],
    ],
    "uvicorn-httptools": [["--http", "httptools"]],
    "daphne": [["--bind", "127.0.0.1", "--port", "8123"], ["--access-log", "-"]],
    # --interface asgi: the default is rsgi (§1). The port is pre-picked, never 0 (B12).
    "granian": [["--interface", "asgi"], ["--port", "8123"], ["--workers", "1"], ["--access-log"]],
    # --http auto recognises the HTTP/2 preface on the HTTP/1.1 port (§4.9).
    "granian-h2c": [["--interface", "asgi"], ["--http", "auto"]],
}


def contains_run(argv: list[str], run: list[str]) -> bool:
    return any(argv[i : i + len(run)] == run for i in range(len(argv)))


@pytest.mark.parametrize("name", EXPECTED)
def test_command_lines_run_the_server_module_on_loopback(name: str) -> None:
    spec = SERVERS[name]
    argv = spec.build_argv(CONTEXT)
    assert argv[:3] == [sys.executable, "-m", spec.module]
    assert argv[-1] == "pkg.mod:app"
    assert "0.0.0.0" not in " ".join(argv)
    for run in REQUIRED_RUNS.get(name, []):
        assert contains_run(argv, run), f"{name}: {run} missing from {argv}"


# Each cleartext HTTP/2 variant runs the same command as its HTTP/1.1 sibling (the server
# answers both on one port); the pairs name two different variants, never one twice.
SAME_COMMAND = [("hypercorn-h2c", "hypercorn"), ("granian-h2c", "granian")]


@pytest.mark.parametrize(("h2c", "http1"), SAME_COMMAND, ids=[pair[0] for pair in SAME_COMMAND])
def test_an_h2c_variant_shares_the_http1_command(h2c: str, http1: str) -> None:
    assert SERVERS[h2c] is not SERVERS[http1]
    assert SERVERS[h2c].protocol is HTTPProtocol.H2C
    assert SERVERS[http1].protocol is HTTPProtocol.HTTP1
    assert SERVERS[h2c].build_argv(CONTEXT) == SERVERS[http1].build_argv(CONTEXT)


def test_a_tls_variant_refuses_a_context_without_certificates() -> None:
    with pytest.raises(ValueError, match="no certificate"):
        get("hypercorn-h2").build_argv(LaunchContext("127.0.0.1", 8123, "pkg.mod:app"))


@pytest.mark.parametrize("name", EXPECTED)
def test_versions_come_from_package_metadata(name: str) -> None:
    spec = SERVERS[name]
    assert spec.server is not None
    assert spec.version() == importlib.metadata.version(spec.server)


def test_all_four_servers_are_installed_here() -> None:
    # The venv has every server: nothing in tests/servers may skip for lack of one.
    assert available() == SERVERS


def _argv(context: LaunchContext) -> list[str]:
    return [context.python]


@pytest.mark.parametrize(
    ("protocol", "tls", "capabilities", "message"),
    [
        pytest.param(HTTPProtocol.H2, False, {C.HTTP2}, "tls must be True", id="h2-cleartext"),
        pytest.param(HTTPProtocol.H2C, True, {C.HTTP2}, "tls must be False", id="h2c-tls"),
        pytest.param(HTTPProtocol.H2C, False, set(), "http2 must be declared", id="h2c-no-http2"),
        pytest.param(HTTPProtocol.HTTP1, False, {C.HTTP2}, "http2 must be declared", id="h1-http2"),
    ],
)
def test_inconsistent_specs_are_refused(
    protocol: HTTPProtocol, tls: bool, capabilities: set[Capability], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ServerSpec("x", None, None, protocol, _argv, tls=tls, capabilities=frozenset(capabilities))


def test_availability_follows_every_required_module() -> None:
    present = ServerSpec("x", None, "json", HTTPProtocol.HTTP1, _argv, requires=("csv",))
    assert present.available()
    assert not ServerSpec(
        "x", None, "json", HTTPProtocol.HTTP1, _argv, requires=("nope_x",)
    ).available()
    assert not ServerSpec("x", None, "nope_x.sub", HTTPProtocol.HTTP1, _argv).available()
    assert ServerSpec("x", "no-such-dist-x", None, HTTPProtocol.HTTP1, _argv).version() is None


def test_get_names_the_known_variants_when_it_fails() -> None:
    assert get("daphne") is SERVERS["daphne"]
    with pytest.raises(
        UnknownServerError, match="unknown server 'gunicorn'; built-in variants: hypercorn,"
    ):
        get("gunicorn")


def test_the_public_surface_is_sorted_and_complete() -> None:
    assert servers.__all__ == sorted(servers.__all__, key=lambda name: (not name.isupper(), name))
    assert all(hasattr(servers, name) for name in servers.__all__)
    public = {name for name in vars(servers) if name.isidentifier() and not name.startswith("_")}
    assert public - set(servers.__all__) == {
        # Submodules, reachable as attributes once imported.
        "annotations", "command", "daphne", "errors", "granian", "hypercorn", "logfile", "probe",
        "process", "registry", "spec", "tls", "uvicorn",
    }  # fmt: skip
