"""daphne: one HTTP/1.1 column.

Daphne speaks HTTP/2 only over TLS with ALPN (Twisted's endpoint string), never h2c
(servers.md §4.9); a ``daphne-h2`` column would need that endpoint syntax and is not built in.
It never runs lifespan and has no response backpressure (servers.md §0.5, B15): its capability
set is the smallest of all.
"""

from __future__ import annotations

from servers.spec import Capability, HTTPProtocol, LaunchContext, ServerSpec

__all__ = ["DAPHNE", "VARIANTS"]


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


DAPHNE = ServerSpec(
    name="daphne",
    server="daphne",
    module="daphne",
    protocol=HTTPProtocol.HTTP1,
    argv=_argv,
    # No WEBSOCKET_DENIAL: daphne does not advertise websocket.http.response (servers.md §4.8).
    capabilities=frozenset({Capability.WEBSOCKET}),
)

VARIANTS = (DAPHNE,)
