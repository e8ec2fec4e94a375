"""granian: one command, two columns (HTTP/1.1, and h2c with prior knowledge).

``--http auto`` (granian's default, spelled out) answers HTTP/1.1 and recognises the HTTP/2
preface on the same port, so both columns share one command line. ``--interface asgi`` is
mandatory: the default interface is RSGI. Granian runs its worker as a second process in the
server's process group.
"""

from __future__ import annotations

from servers.spec import Capability, HTTPProtocol, LaunchContext, ServerSpec

__all__ = ["GRANIAN", "GRANIAN_H2C", "VARIANTS"]

# servers.md §4.8: pathsend works over HTTP/1.1 and HTTP/2; no push, trailers or early hints.
_BASE = frozenset(
    {
        Capability.LIFESPAN,
        Capability.LIFESPAN_STATE,
        Capability.PATHSEND,
        Capability.RESPONSE_BACKPRESSURE,
    }
)


def _argv(context: LaunchContext) -> list[str]:
    # The port is always the harness's own pick: with --port 0 granian logs ":0" and the
    # real port is owned by the worker process (B12).
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

VARIANTS = (GRANIAN, GRANIAN_H2C)
