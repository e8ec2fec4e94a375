"""daphne: an HTTP/1.1 column, and HTTP/2 over TLS (``daphne-h2``).

Daphne (Twisted) speaks HTTP/2 only over TLS with ALPN, never with prior knowledge on a
cleartext port, so its HTTP/2 column listens on a Twisted ``ssl:`` endpoint string
(``-e ssl:PORT:privateKey=...:certKey=...:interface=...``): ``--bind``/``--port`` cannot carry
a certificate. Twisted needs ``h2`` and ``priority`` for HTTP/2 (its ``http2`` extra); without
them ALPN falls back to HTTP/1.1, so the variant requires both.

Daphne never runs lifespan and has no response backpressure
(docs/server-behaviour.md#daphne-no-backpressure): its capability set is the smallest of all.
It does not advertise ``websocket.http.response``.
"""

from __future__ import annotations

from servers.spec import Capability, HTTPProtocol, LaunchContext, ServerSpec

__all__ = ["DAPHNE", "DAPHNE_H2", "VARIANTS"]


def _argv(context: LaunchContext) -> list[str]:
    return [
        context.python,
        "-m",
        "daphne",
        "--bind",
        context.host,
        "--port",
        str(context.port),
        # "-" is stdout, which shares the log file.
        "--access-log",
        "-",
        context.app,
    ]


def _endpoint_value(text: str) -> str:
    """Escape a value for a Twisted endpoint string, where ``:`` and ``=`` separate fields."""
    return text.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def _tls_argv(context: LaunchContext) -> list[str]:
    certfile, keyfile = context.tls_files()
    endpoint = ":".join(
        [
            "ssl",
            str(context.port),
            f"privateKey={_endpoint_value(keyfile)}",
            f"certKey={_endpoint_value(certfile)}",
            f"interface={_endpoint_value(context.host)}",
        ]
    )
    return [context.python, "-m", "daphne", "-e", endpoint, "--access-log", "-", context.app]


DAPHNE = ServerSpec(
    name="daphne",
    server="daphne",
    module="daphne",
    protocol=HTTPProtocol.HTTP1,
    argv=_argv,
    capabilities=frozenset({Capability.WEBSOCKET}),
)
DAPHNE_H2 = ServerSpec(
    name="daphne-h2",
    server="daphne",
    module="daphne",
    requires=("h2", "priority"),
    protocol=HTTPProtocol.H2,
    argv=_tls_argv,
    tls=True,
    # WebSocket over HTTP/2 (RFC 8441) is not offered; no extension is advertised.
    capabilities=frozenset({Capability.HTTP2}),
)

VARIANTS = (DAPHNE, DAPHNE_H2)
