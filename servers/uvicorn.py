"""uvicorn: two HTTP/1.1 columns, one per HTTP parser, and the experimental HTTP/2 backend.

``--http h11`` and ``--http httptools`` differ on the wire: httptools answers 400 to a body
longer than its Content-Length (docs/server-behaviour.md#uvicorn-httptools-extra-bytes-400) and
has no header size limit; h11 sends ``str`` headers as they are.

``uvicorn-zttp-h2`` is ``--http zttp --http2`` (the ``zttp`` parser, a separate package) over
TLS with ALPN ``h2``. uvicorn calls the backend experimental, and it is: a request whose
HEADERS frame ends the stream (any GET) never gets its ``http.request`` message, so an app that
reads the (empty) body waits forever (docs/server-behaviour.md#uvicorn-zttp-bodyless-receive).
It advertises ``http.response.trailers`` and ``http.response.early_hint`` over HTTP/2.
"""

from __future__ import annotations

from servers.spec import ArgvBuilder, Capability, HTTPProtocol, LaunchContext, ServerSpec

__all__ = ["UVICORN_H11", "UVICORN_HTTPTOOLS", "UVICORN_ZTTP_H2", "VARIANTS"]

_LIFESPAN = frozenset(
    {Capability.LIFESPAN, Capability.LIFESPAN_STATE, Capability.RESPONSE_BACKPRESSURE}
)
_CAPABILITIES = _LIFESPAN | {Capability.WEBSOCKET, Capability.WEBSOCKET_DENIAL}


def _argv(http: str) -> ArgvBuilder:
    def build(context: LaunchContext) -> list[str]:
        # The access log is on by default and goes to stdout, which shares the log file.
        return [
            context.python,
            "-m",
            "uvicorn",
            "--host",
            context.host,
            "--port",
            str(context.port),
            "--http",
            http,
            "--workers",
            "1",
            context.app,
        ]

    return build


def _zttp_h2_argv(context: LaunchContext) -> list[str]:
    certfile, keyfile = context.tls_files()
    return [
        *_argv("zttp")(context)[:-1],
        "--http2",
        "--ssl-certfile",
        certfile,
        "--ssl-keyfile",
        keyfile,
        context.app,
    ]


UVICORN_H11 = ServerSpec(
    name="uvicorn-h11",
    server="uvicorn",
    module="uvicorn",
    protocol=HTTPProtocol.HTTP1,
    argv=_argv("h11"),
    capabilities=_CAPABILITIES,
)
UVICORN_HTTPTOOLS = ServerSpec(
    name="uvicorn-httptools",
    server="uvicorn",
    module="uvicorn",
    requires=("httptools",),
    protocol=HTTPProtocol.HTTP1,
    argv=_argv("httptools"),
    capabilities=_CAPABILITIES,
)
UVICORN_ZTTP_H2 = ServerSpec(
    name="uvicorn-zttp-h2",
    server="uvicorn",
    module="uvicorn",
    requires=("zttp",),
    protocol=HTTPProtocol.H2,
    argv=_zttp_h2_argv,
    tls=True,
    capabilities=_LIFESPAN | {Capability.HTTP2, Capability.TRAILERS, Capability.EARLY_HINTS},
)

VARIANTS = (UVICORN_H11, UVICORN_HTTPTOOLS, UVICORN_ZTTP_H2)
