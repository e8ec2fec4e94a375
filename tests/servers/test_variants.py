"""Every built-in variant, end to end: start, answer in its protocol, keep a log, stop cleanly.

One server per variant serves the read-only checks (module scope); the stop check starts its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from servers import SERVERS, Capability, HTTPProtocol, RunningServer, ServerSpec, launch
from tests.servers.support import (
    APP,
    HERE,
    TIMEOUT,
    h2c_get,
    live_members_from_ps,
    wait_for_log,
    websocket_first_message,
)

VARIANTS = [
    pytest.param(
        spec,
        id=name,
        marks=pytest.mark.skipif(not spec.available(), reason=f"{spec.server} is not installed"),
    )
    for name, spec in SERVERS.items()
]

# Capabilities that show up as names in scope["extensions"] of an HTTP request.
EXTENSION_OF = {
    Capability.PUSH: "http.response.push",
    Capability.TRAILERS: "http.response.trailers",
    Capability.EARLY_HINTS: "http.response.early_hint",
    Capability.PATHSEND: "http.response.pathsend",
}


# Not named "server": the conformance plugin parametrizes every test taking that fixture.
@pytest.fixture(scope="module", params=VARIANTS)
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    spec: ServerSpec = request.param
    log_dir = tmp_path_factory.mktemp(spec.name)
    with launch(spec, APP, cwd=str(HERE), log_dir=log_dir) as server:
        yield server


def get(server: RunningServer, path: str) -> tuple[int, dict[str, Any]]:
    """GET ``path`` in the variant's protocol; return the status and the decoded JSON body."""
    if server.spec.protocol is HTTPProtocol.H2C:
        status, body = h2c_get(server.host, server.port, path)
        return status, json.loads(body)
    verify = server.client_ssl_context() if server.spec.tls else True
    http2 = server.spec.protocol is HTTPProtocol.H2
    with httpx.Client(http2=http2, verify=verify, timeout=TIMEOUT) as client:
        response = client.get(server.base_url + path)
    assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    return response.status_code, response.json()


def test_answers_in_its_protocol(running: RunningServer) -> None:
    status, scope = get(running, "/hello")
    assert status == 200
    assert scope["http_version"] == ("1.1" if running.spec.protocol is HTTPProtocol.HTTP1 else "2")
    assert scope["scheme"] == running.spec.scheme
    assert scope["path"] == "/hello"


def test_advertised_extensions_match_capabilities(running: RunningServer) -> None:
    _, scope = get(running, "/extensions")
    declared = {name for cap, name in EXTENSION_OF.items() if running.spec.supports(cap)}
    assert declared == set(scope["extensions"]) & set(EXTENSION_OF.values())


def test_lifespan_capabilities_match_the_app(running: RunningServer) -> None:
    _, scope = get(running, "/lifespan")
    assert scope["lifespan"] == running.spec.supports(Capability.LIFESPAN)
    assert scope["state"] == running.spec.supports(Capability.LIFESPAN_STATE)


def test_websocket_capabilities_match_the_handshake(running: RunningServer) -> None:
    if running.spec.protocol is not HTTPProtocol.HTTP1:
        # WebSocket over HTTP/2 (RFC 8441) is not a declared capability of any variant.
        assert not running.spec.supports(Capability.WEBSOCKET)
        return
    assert running.spec.supports(Capability.WEBSOCKET)
    status_line, message = websocket_first_message(running.host, running.port)
    assert status_line.split()[1] == b"101"
    extensions = json.loads(message)["extensions"]
    assert ("websocket.http.response" in extensions) == running.spec.supports(
        Capability.WEBSOCKET_DENIAL
    )


def test_log_window_holds_the_servers_own_lines(running: RunningServer) -> None:
    start = running.log_offset()
    get(running, "/access-log-marker")
    window = wait_for_log(running, "/access-log-marker", start)
    assert "[servers]" not in window  # written by the server, not by the harness
    assert running.log_path.read_text(errors="replace").startswith("[servers] attempt 1: $ ")


@pytest.mark.parametrize("spec", VARIANTS)
def test_stops_gracefully_and_leaves_no_process(
    spec: ServerSpec,
    serve: Callable[..., RunningServer],
) -> None:
    server = serve(spec)
    assert get(server, "/")[0] == 200
    assert server.pid in live_members_from_ps(server.pid)
    server.stop()
    assert server.stopped_gracefully
    assert server.exit_code == 0
    assert live_members_from_ps(server.pid) == []
    assert "stopped (gracefully): exit code 0" in server.log_tail()
