"""granian: one cleartext command, two columns (HTTP/1.1, h2c), and HTTP/2 over TLS.

``--http auto`` (granian's default, spelled out) answers HTTP/1.1 and recognises the HTTP/2
preface on the same port, so ``granian`` and ``granian-h2c`` share one command line; with a
certificate the same setting negotiates ``h2`` by ALPN (``granian-h2``). ``--interface asgi``
is mandatory: the default interface is RSGI. Granian runs its worker as a second process in
the server's process group.

The port is always one the harness picked (see :mod:`servers.process`), never ``--port 0``:
granian binds a random port then, but its log says ``Listening at: http://127.0.0.1:0`` (the
socket is opened by the worker process), so the real port could only be found from outside.
"""

from __future__ import annotations

from servers.spec import Capability, HTTPProtocol, LaunchContext, ServerSpec

__all__ = ["GRANIAN", "GRANIAN_H2", "GRANIAN_H2C", "VARIANTS"]

# Granian advertises http.response.pathsend (which works) over HTTP/1.1 and HTTP/2, and no
# push, trailers or early hints.
_BASE = frozenset(
    {
        Capability.LIFESPAN,
        Capability.LIFESPAN_STATE,
        Capability.PATHSEND,
        Capability.RESPONSE_BACKPRESSURE,
    }
)


def _argv(context: LaunchContext) -> list[str]:
    return [
        context.python,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--http",
        "auto",
        "--host",
        context.host,
        "--port",
        str(context.port),
        "--workers",
        "1",
        "--access-log",
        context.app,
    ]


def _tls_argv(context: LaunchContext) -> list[str]:
    # granian takes the key as PKCS#8 only, which is how servers.tls writes it.
    certfile, keyfile = context.tls_files()
    return [
        *_argv(context)[:-1],
        "--ssl-certificate",
        certfile,
        "--ssl-keyfile",
        keyfile,
        context.app,
    ]


GRANIAN = ServerSpec(
    name="granian",
    server="granian",
    module="granian",
    protocol=HTTPProtocol.HTTP1,
    argv=_argv,
    capabilities=_BASE | {Capability.WEBSOCKET, Capability.WEBSOCKET_DENIAL},
)
GRANIAN_H2C = ServerSpec(
    name="granian-h2c",
    server="granian",
    module="granian",
    protocol=HTTPProtocol.H2C,
    argv=_argv,
    capabilities=_BASE | {Capability.HTTP2},
)
GRANIAN_H2 = ServerSpec(
    name="granian-h2",
    server="granian",
    module="granian",
    protocol=HTTPProtocol.H2,
    argv=_tls_argv,
    tls=True,
    capabilities=_BASE | {Capability.HTTP2},
)

VARIANTS = (GRANIAN, GRANIAN_H2C, GRANIAN_H2)
