"""Clients and probes shared by the server-launcher tests; independent of :mod:`servers`."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import h2.connection
import h2.events

from servers import RunningServer

#: The directory the servers run in, so that they import the test apps as ``asgi_apps:...``.
HERE = Path(__file__).parent
APP = "asgi_apps:app"
#: Seconds for any single client operation; scaled like the rest of the test suite.
TIMEOUT = 5.0 * float(os.environ.get("ASGI_TEST_TIMEOUT_FACTOR", "1"))


def h2c_get(host: str, port: int, path: str) -> tuple[int, bytes]:
    """One GET over HTTP/2 with prior knowledge on a plain socket; return status and body."""
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    request = [
        (":method", "GET"),
        (":path", path),
        (":scheme", "http"),
        (":authority", f"{host}:{port}"),
    ]
    conn.send_headers(1, request, end_stream=True)
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
    """Open a WebSocket with a raw HTTP/1.1 Upgrade; return the status line and first payload."""
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
        # A server frame is unmasked: FIN/opcode, then a 7-bit length or 126 + a 16-bit one.
        while len(buffer) < 4:
            buffer += sock.recv(4096)
        length, start = buffer[1] & 0x7F, 2
        if length == 126:
            length, start = int.from_bytes(buffer[2:4], "big"), 4
        while len(buffer) < start + length:
            buffer += sock.recv(4096)
    return head.split(b"\r\n")[0], buffer[start : start + length]


def wait_for_log(server: RunningServer, needle: str, start: int = 0) -> str:
    """Poll the log from byte ``start`` until it contains ``needle``; return that window.

    Servers write access lines after the response is sent, so a client can be a little early.
    """
    deadline = time.monotonic() + TIMEOUT
    while needle not in (window := server.read_log(start)):
        assert time.monotonic() < deadline, f"{needle!r} never logged; log window:\n{window}"
        time.sleep(0.02)
    return window


def live_members_from_ps(pgid: int) -> list[int]:
    """List the live (not zombie) pids of process group ``pgid`` as ``ps`` reports them."""
    table = subprocess.run(
        ["ps", "-e", "-o", "pid=,pgid=,stat="], capture_output=True, text=True, check=True
    ).stdout
    rows = (line.split() for line in table.splitlines() if line.strip())
    return [
        int(pid) for pid, group, stat in rows if int(group) == pgid and not stat.startswith("Z")
    ]


def wait_until_no_members(pgid: int, timeout: float = TIMEOUT) -> list[int]:
    """Poll ``ps`` until group ``pgid`` has no live member or ``timeout`` passes; return them."""
    deadline = time.monotonic() + timeout
    while (members := live_members_from_ps(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return members
