"""hypercorn: one command, three columns (HTTP/1.1, h2c with prior knowledge, HTTP/2 over TLS).

Hypercorn answers HTTP/1.1 and an HTTP/2 prior-knowledge preface on the same cleartext port,
so ``hypercorn`` and ``hypercorn-h2c`` share their command line.

``--workers 1`` (the default) makes hypercorn spawn one worker process, plus multiprocessing's
resource tracker, in the server's process group; the launcher kills the group, not one pid.
"""

from __future__ import annotations

from servers.spec import Capability, HTTPProtocol, LaunchContext, ServerSpec

__all__ = ["HYPERCORN", "HYPERCORN_H2", "HYPERCORN_H2C", "VARIANTS"]

_BASE = frozenset(
    {
        Capability.LIFESPAN,
        Capability.LIFESPAN_STATE,
        Capability.RESPONSE_BACKPRESSURE,
    }
)
# Push, trailers and early hints only exist over HTTP/2, where hypercorn advertises all three
# (h2c and TLS behave the same). Push promises carry hypercorn's own date and server headers
# (docs/server-behaviour.md#hypercorn-push-promise-response-headers).
_HTTP2 = _BASE | {Capability.HTTP2, Capability.PUSH, Capability.TRAILERS, Capability.EARLY_HINTS}


def _cleartext(context: LaunchContext) -> list[str]:
    return [
        context.python,
        "-m",
        "hypercorn",
        "--bind",
        f"{context.host}:{context.port}",
        "--workers",
        "1",
        # "-" is stdout for the access log and stderr for the error log; both go to the log file.
        "--access-logfile",
        "-",
        "--error-logfile",
        "-",
        context.app,
    ]


def _tls(context: LaunchContext) -> list[str]:
    certfile, keyfile = context.tls_files()
    return [*_cleartext(context)[:-1], "--certfile", certfile, "--keyfile", keyfile, context.app]


HYPERCORN = ServerSpec(
    name="hypercorn",
    server="hypercorn",
    module="hypercorn",
    protocol=HTTPProtocol.HTTP1,
    argv=_cleartext,
    # Over HTTP/1.1 hypercorn advertises no extension; trailers: True even truncates the
    # response (docs/server-behaviour.md#hypercorn-h11-unlisted-trailers-truncate).
    capabilities=_BASE | {Capability.WEBSOCKET, Capability.WEBSOCKET_DENIAL},
)
HYPERCORN_H2C = ServerSpec(
    name="hypercorn-h2c",
    server="hypercorn",
    module="hypercorn",
    protocol=HTTPProtocol.H2C,
    argv=_cleartext,
    capabilities=_HTTP2,
)
HYPERCORN_H2 = ServerSpec(
    name="hypercorn-h2",
    server="hypercorn",
    module="hypercorn",
    protocol=HTTPProtocol.H2,
    argv=_tls,
    tls=True,
    capabilities=_HTTP2,
)

VARIANTS = (HYPERCORN, HYPERCORN_H2C, HYPERCORN_H2)
