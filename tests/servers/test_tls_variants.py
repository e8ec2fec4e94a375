"""The HTTP/2-over-TLS variants' command lines: certificates where each server takes them.

That each one starts, negotiates ``h2`` by ALPN and answers is ``test_variants.py``'s job.
"""

from __future__ import annotations

import pytest

from servers import SERVERS, HTTPProtocol, LaunchContext, get

CONTEXT = LaunchContext("127.0.0.1", 8123, "pkg.mod:app", "/c/cert.pem", "/c/key.pem")
TLS_H2 = sorted(name for name, spec in SERVERS.items() if spec.protocol is HTTPProtocol.H2)


def test_every_server_with_http2_over_tls_has_a_variant() -> None:
    assert TLS_H2 == ["daphne-h2", "granian-h2", "hypercorn-h2", "uvicorn-zttp-h2"]


@pytest.mark.parametrize("name", TLS_H2)
def test_a_tls_variant_passes_both_files_and_the_port(name: str) -> None:
    argv = get(name).build_argv(CONTEXT)
    text = " ".join(argv)
    assert "/c/cert.pem" in text
    assert "/c/key.pem" in text
    assert "8123" in text
    assert argv[-1] == "pkg.mod:app"


def test_daphne_listens_on_a_twisted_ssl_endpoint() -> None:
    argv = get("daphne-h2").build_argv(CONTEXT)
    endpoint = argv[argv.index("-e") + 1]
    assert endpoint == ("ssl:8123:privateKey=/c/key.pem:certKey=/c/cert.pem:interface=127.0.0.1")
    assert "--bind" not in argv


def test_daphne_escapes_what_would_split_its_endpoint_string() -> None:
    context = LaunchContext("127.0.0.1", 8123, "m:app", "/t/a:b=c\\d.pem", "/t/k.pem")
    argv = get("daphne-h2").build_argv(context)
    endpoint = argv[argv.index("-e") + 1]
    assert "certKey=/t/a\\:b\\=c\\\\d.pem" in endpoint


def test_daphne_h2_needs_twisteds_http2_dependencies() -> None:
    assert set(get("daphne-h2").requires) == {"h2", "priority"}


def test_granian_keeps_auto_http_and_adds_its_certificate_options() -> None:
    argv = get("granian-h2").build_argv(CONTEXT)
    assert argv[argv.index("--http") + 1] == "auto"
    assert argv[argv.index("--ssl-certificate") + 1] == "/c/cert.pem"
    assert argv[argv.index("--ssl-keyfile") + 1] == "/c/key.pem"


def test_uvicorn_http2_is_the_zttp_backend_over_tls() -> None:
    spec = get("uvicorn-zttp-h2")
    argv = spec.build_argv(CONTEXT)
    assert argv[argv.index("--http") + 1] == "zttp"
    assert "--http2" in argv
    assert argv[argv.index("--ssl-certfile") + 1] == "/c/cert.pem"
    assert argv[argv.index("--ssl-keyfile") + 1] == "/c/key.pem"
    assert spec.requires == ("zttp",)
