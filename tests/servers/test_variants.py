"""Every built-in variant, end to end: start, answer in its protocol, keep a log, stop cleanly.

One server per variant serves the read-only checks (module scope); the stop check starts its own.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h2.connection
import h2.events
import httpx
import pytest

from servers import SERVERS, Capability, HTTPProtocol, RunningServer, ServerSpec, launch

HERE = Path(__file__).parent
APP = "asgi_apps:app"
TIMEOUT = 5.0

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


@pytest.fixture(scope="module", params=VARIANTS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    spec: ServerSpec = request.param
    log_dir = tmp_path_factory.mktemp(spec.name)
    with launch(spec, APP, cwd=str(HERE), log_dir=log_dir) as running:
        yield running


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


def h2c_get(host: str, port: int, path: str) -> tuple[int, bytes]:
    """One GET over HTTP/2 with prior knowledge on a plain socket."""
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    conn.send_headers(
        1,
        [
            (":method", "GET"),
            (":path", path),
            (":scheme", "http"),
            (":authority", f"{host}:{port}"),
        ],
        end_stream=True,
    )
    status, body = 0, b""
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(conn.data_to_send())
        while data := sock.recv(65536):
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.headers is not None:
                    status = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived) and event.data is not None:
                    body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, 1)
                elif isinstance(event, h2.events.StreamEnded):
                    return status, body
            sock.sendall(conn.data_to_send())
    raise AssertionError(f"the connection closed before the response ended: {status} {body!r}")


def websocket_first_message(host: str, port: int) -> tuple[bytes, bytes]:
    """Open a WebSocket with a raw HTTP/1.1 Upgrade; return the status line and first frame."""
    handshake = (
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(handshake.encode())
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(4096)
            assert chunk, f"closed during the handshake: {buffer!r}"
            buffer += chunk
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        # A server frame is unmasked: FIN/opcode, then a 7-bit length or 126 + 16-bit length.
        while len(buffer) < 4:
            buffer += sock.recv(4096)
        length, start = buffer[1] & 0x7F, 2
        if length == 126:
            length, start = int.from_bytes(buffer[2:4], "big"), 4
        while len(buffer) < start + length:
            buffer += sock.recv(4096)
    return head.split(b"\r\n")[0], buffer[start : start + length]


def wait_for_log(server: RunningServer, needle: str, start: int) -> str:
    """Poll the log window from ``start`` until it contains ``needle`` (access logs are async)."""
    deadline = time.monotonic() + TIMEOUT
    while needle not in (window := server.read_log(start)):
        assert time.monotonic() < deadline, f"{needle!r} not logged; log window:\n{window}"
        time.sleep(0.02)
    return window


def test_answers_in_its_protocol(server: RunningServer) -> None:
    status, scope = get(server, "/hello")
    assert status == 200
    assert scope["http_version"] == ("1.1" if server.spec.protocol is HTTPProtocol.HTTP1 else "2")
    assert scope["scheme"] == server.spec.scheme
    assert scope["path"] == "/hello"


def test_advertised_extensions_match_capabilities(server: RunningServer) -> None:
    _, scope = get(server, "/extensions")
    declared = {name for cap, name in EXTENSION_OF.items() if server.spec.supports(cap)}
    assert declared == set(scope["extensions"]) & set(EXTENSION_OF.values())


def test_lifespan_capabilities_match_the_app(server: RunningServer) -> None:
    _, scope = get(server, "/lifespan")
    assert scope["lifespan"] == server.spec.supports(Capability.LIFESPAN)
    assert scope["state"] == server.spec.supports(Capability.LIFESPAN_STATE)


def test_websocket_capabilities_match_the_handshake(server: RunningServer) -> None:
    if server.spec.protocol is not HTTPProtocol.HTTP1:
        # WebSocket over HTTP/2 (RFC 8441) is not a declared capability of any variant.
        assert not server.spec.supports(Capability.WEBSOCKET)
        return
    assert server.spec.supports(Capability.WEBSOCKET)
    status_line, message = websocket_first_message(server.host, server.port)
    assert status_line.split()[1] == b"101"
    extensions = json.loads(message)["extensions"]
    assert ("websocket.http.response" in extensions) == server.spec.supports(
        Capability.WEBSOCKET_DENIAL
    )


def test_log_window_holds_the_servers_own_lines(server: RunningServer) -> None:
    start = server.log_offset()
    get(server, "/access-log-marker")
    window = wait_for_log(server, "/access-log-marker", start)
    assert "[servers]" not in window  # written by the server, not by the harness
    assert server.log_path.read_text(errors="replace").startswith("[servers] attempt 1: $ ")


@pytest.mark.parametrize("spec", VARIANTS)
def test_stops_gracefully_and_leaves_no_process(
    spec: ServerSpec,
    serve: Callable[..., RunningServer],
    group_members: Callable[[int], list[int]],
) -> None:
    server = serve(spec)
    assert get(server, "/")[0] == 200
    assert server.pid in group_members(server.pid)
    server.stop()
    assert server.stopped_gracefully
    assert server.exit_code == 0
    assert group_members(server.pid) == []
    assert "stopped (gracefully): exit code 0" in server.log_tail()
