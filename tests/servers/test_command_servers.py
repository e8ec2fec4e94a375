"""Servers given as command templates: parsing, strict errors, and real launches."""

from __future__ import annotations

import sys
from collections.abc import Callable

import httpx
import pytest

from servers import (
    Capability,
    CommandTemplateError,
    HTTPProtocol,
    LaunchContext,
    RunningServer,
    ServerSpec,
    parse_server_option,
    resolve,
)
from tests.servers.support import TIMEOUT

UVICORN_TEMPLATE = "{python} -m uvicorn --host {host} --port {port} --http h11 {app}"
CONTEXT = LaunchContext("127.0.0.1", 8123, "pkg.mod:app", "/c/cert.pem", "/c/key.pem")


def test_option_string_builds_a_full_spec() -> None:
    spec = parse_server_option(
        "mycorn={python} -m mycorn.main --bind '{host}:{port}' -c 'a; b' {app}"
        " ; caps=lifespan,websocket ; protocol=h2c"
    )
    assert spec.name == "mycorn"
    assert spec.protocol is HTTPProtocol.H2C
    assert not spec.tls
    assert spec.capabilities == {Capability.LIFESPAN, Capability.WEBSOCKET, Capability.HTTP2}
    assert spec.module == "mycorn.main"
    assert spec.server == "mycorn"
    # The quoted ";" stays in the command; the options after bare ";" are split off.
    assert spec.build_argv(CONTEXT) == [
        sys.executable,
        "-m",
        "mycorn.main",
        "--bind",
        "127.0.0.1:8123",
        "-c",
        "a; b",
        "pkg.mod:app",
    ]


def test_from_command_with_tls_fills_the_certificate_fields() -> None:
    spec = ServerSpec.from_command(
        "tlscorn",
        ["tlscorn", "{host}", "{port}", "--cert={certfile}", "--key={keyfile}", "{app}"],
        protocol="h2",
    )
    assert spec.tls
    assert spec.scheme == "https"
    assert spec.module is None
    assert spec.available()  # nothing to check without a module
    assert spec.version() is None
    assert spec.build_argv(CONTEXT) == [
        "tlscorn",
        "127.0.0.1",
        "8123",
        "--cert=/c/cert.pem",
        "--key=/c/key.pem",
        "pkg.mod:app",
    ]


def test_a_missing_module_makes_a_command_unavailable() -> None:
    spec = ServerSpec.from_command("ghost", "{python} -m no_such_server_module {host} {port} {app}")
    assert not spec.available()


def test_literal_braces_survive() -> None:
    spec = ServerSpec.from_command("braces", "srv {host} {port} {app} '--json={{\"a\":1}}'")
    assert spec.build_argv(CONTEXT)[-1] == '--json={"a":1}'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("mycorn", "expected NAME=COMMAND", id="no-equals"),
        pytest.param("MyCorn=srv {host} {port} {app}", "bad server name 'MyCorn'", id="bad-name"),
        pytest.param("x=", "the command is empty", id="empty-command"),
        pytest.param("x=srv '{host} {port} {app}", "No closing quotation", id="open-quote"),
        pytest.param("x=srv {host} {port}", r"must use \{app\}", id="no-app"),
        pytest.param("x=srv {port} {app}", r"must use \{host\}", id="no-host"),
        pytest.param(
            "x=srv {host} {port} {app} {prot}", r"unknown field \{prot\}", id="unknown-field"
        ),
        pytest.param("x=srv {host} {port:05} {app}", "no format spec", id="format-spec"),
        pytest.param("x=srv {host} {port} {app!r}", "no format spec", id="conversion"),
        pytest.param("x=srv {host} {0} {port} {app}", r"unknown field \{0\}", id="positional"),
        pytest.param("x=srv {host} {port} {app} }", "bad braces", id="single-brace"),
        pytest.param(
            "x=srv {host} {port} {app};speed=fast", "bad option 'speed=fast'", id="bad-option"
        ),
        pytest.param("x=srv {host} {port} {app};caps", "bad option 'caps'", id="option-no-value"),
        pytest.param("x=srv {host} {port} {app};", "bad option ''", id="trailing-semicolon"),
        pytest.param("x=srv {host} {port} {app};tls=no;tls=no", "given twice", id="duplicate"),
        pytest.param(
            "x=srv {host} {port} {app};caps=telepathy",
            "unknown capability 'telepathy'",
            id="bad-cap",
        ),
        pytest.param(
            "x=srv {host} {port} {app};protocol=h3", "unknown protocol 'h3'", id="bad-protocol"
        ),
        pytest.param(
            "x=srv {host} {port} {app};tls=maybe", "tls must be 'yes' or 'no'", id="bad-tls"
        ),
        pytest.param(
            "x=srv {host} {port} {app};caps=http2",
            "http2 needs protocol h2c or h2",
            id="http2-on-h1",
        ),
        pytest.param(
            "x=srv {host} {port} {app};protocol=h2",
            r"must use \{certfile\} \{keyfile\}",
            id="h2-no-cert",
        ),
        pytest.param(
            "x=srv {host} {port} {app} {certfile} {keyfile};protocol=h2;tls=no",
            "h2 is HTTP/2 over TLS",
            id="h2-no-tls",
        ),
        pytest.param(
            "x=srv {host} {port} {app} {certfile} {keyfile};protocol=h2c;tls=yes",
            "cleartext",
            id="h2c-tls",
        ),
        pytest.param(
            "x=srv {host} {port} {app} {keyfile}",
            r"\{keyfile\} given, but the server is not TLS",
            id="key-no-tls",
        ),
    ],
)
def test_malformed_option_strings_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(CommandTemplateError, match=message):
        parse_server_option(text)


def test_resolve_takes_a_builtin_name_or_a_command() -> None:
    assert resolve("granian").name == "granian"
    assert resolve("mine=srv {host} {port} {app}").name == "mine"
    with pytest.raises(CommandTemplateError, match="'granian' is a built-in variant"):
        resolve("granian=srv {host} {port} {app}")


def test_a_uvicorn_template_runs_end_to_end(serve: Callable[..., RunningServer]) -> None:
    spec = parse_server_option(f"my-uvicorn={UVICORN_TEMPLATE};caps=lifespan,lifespan_state")
    assert spec.available()
    server = serve(spec)
    assert server.argv[:3] == [sys.executable, "-m", "uvicorn"]
    scope = httpx.get(server.base_url + "/custom", timeout=TIMEOUT).json()
    assert scope["path"] == "/custom"
    assert scope["lifespan"]
    server.stop()
    assert server.stopped_gracefully
    assert server.exit_code == 0


def test_a_granian_tls_template_gets_usable_pkcs8_certificates(
    serve: Callable[..., RunningServer],
) -> None:
    spec = ServerSpec.from_command(
        "granian-tls",
        "{python} -m granian --interface asgi --host {host} --port {port}"
        " --ssl-certificate {certfile} --ssl-keyfile {keyfile} {app}",
        tls=True,
    )
    server = serve(spec)
    assert server.certificates is not None
    assert server.certificates.keyfile.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    with httpx.Client(verify=server.client_ssl_context(), timeout=TIMEOUT) as client:
        scope = client.get(server.base_url + "/tls").json()
    assert scope["scheme"] == "https"
    assert scope["http_version"] == "1.1"
