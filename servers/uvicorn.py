"""uvicorn: two HTTP/1.1 columns, one per HTTP parser (``--http h11`` and ``--http httptools``).

The parsers differ on the wire: httptools answers 400 to a body longer than its
Content-Length (B13) and has no header size limit; h11 sends ``str`` headers as they are
(servers.md §4.3, §4.7). uvicorn speaks no h2c, and its ``--http zttp --http2`` backend cannot
answer a GET over HTTP/2 (B14), so there is no HTTP/2 column.
"""

from __future__ import annotations

from servers.spec import ArgvBuilder, Capability, HTTPProtocol, LaunchContext, ServerSpec

__all__ = ["UVICORN_H11", "UVICORN_HTTPTOOLS", "VARIANTS"]

_CAPABILITIES = frozenset(
    {
        Capability.LIFESPAN,
        Capability.LIFESPAN_STATE,
        Capability.RESPONSE_BACKPRESSURE,
        Capability.WEBSOCKET,
        Capability.WEBSOCKET_DENIAL,
    }
)


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

VARIANTS = (UVICORN_H11, UVICORN_HTTPTOOLS)
