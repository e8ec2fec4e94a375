"""One readiness request, spoken in a variant's protocol.

A server is ready when it *answers*: any HTTP status counts, a TCP accept does not (the gap is
30-80 ms on every server, and granian's socket belongs to its worker process). HTTP/1.1
goes through :mod:`http.client`; HTTP/2 (h2c with prior knowledge, or TLS with ALPN ``h2``) is a
single GET on a raw socket driven by the ``h2`` state machine.
"""

from __future__ import annotations

import http.client
import socket
import ssl

from servers.spec import HTTPProtocol

__all__ = ["ProbeError", "probe"]


class ProbeError(Exception):
    """The server did not answer this probe (closed, garbled, wrong ALPN, timed out)."""


def probe(
    host: str,
    port: int,
    protocol: HTTPProtocol,
    path: str = "/",
    *,
    timeout: float,
    ssl_context: ssl.SSLContext | None = None,
) -> int:
    """Send one GET and return the response status.

    Args:
        host: The server's address.
        port: The server's port.
        protocol: What to speak; ``h2`` needs an ``ssl_context``.
        path: The request target.
        timeout: Seconds for each socket operation.
        ssl_context: Set for TLS servers.

    Raises:
        ProbeError: No status line or HEADERS frame arrived.
        OSError: The connection failed (refused, reset, timed out).
    """
    if protocol is HTTPProtocol.HTTP1:
        return _probe_http1(host, port, path, timeout, ssl_context)
    return _probe_h2(host, port, path, timeout, ssl_context)


def _probe_http1(
    host: str, port: int, path: str, timeout: float, ssl_context: ssl.SSLContext | None
) -> int:
    connection = (
        http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl_context)
        if ssl_context is not None
        else http.client.HTTPConnection(host, port, timeout=timeout)
    )
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        return connection.getresponse().status
    except http.client.HTTPException as error:
        raise ProbeError(f"no HTTP/1.1 response: {error!r}") from error
    finally:
        connection.close()


def _probe_h2(
    host: str, port: int, path: str, timeout: float, ssl_context: ssl.SSLContext | None
) -> int:
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
            if (alpn := sock.selected_alpn_protocol()) != "h2":
                raise ProbeError(f"ALPN selected {alpn!r}, not 'h2'")
        return _h2_exchange(
            sock, f"{host}:{port}", path, "http" if ssl_context is None else "https"
        )
    finally:
        sock.close()


def _h2_exchange(sock: socket.socket, authority: str, path: str, scheme: str) -> int:
    # Imported here: h2 is only needed by HTTP/2 variants.
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions

    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    request = [(":method", "GET"), (":path", path), (":scheme", scheme), (":authority", authority)]
    conn.send_headers(conn.get_next_available_stream_id(), request, end_stream=True)
    sock.sendall(conn.data_to_send())
    while data := sock.recv(65536):
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError as error:
            raise ProbeError(f"not an HTTP/2 peer: {error!r}") from error
        for event in events:
            if isinstance(event, h2.events.ResponseReceived) and event.headers is not None:
                return int(dict(event.headers)[b":status"])
        sock.sendall(conn.data_to_send())
    raise ProbeError("the server closed the connection before answering")
