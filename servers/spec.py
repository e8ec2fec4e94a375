"""What a server variant is: a name, how to start it, what the client speaks, what it supports.

A *variant* is one column of every result: one server started one way and spoken to in one
protocol. ``hypercorn`` and ``hypercorn-h2c`` run the same command but are different columns,
because the client speaks HTTP/1.1 to one and HTTP/2 with prior knowledge to the other.

A :class:`ServerSpec` is pure data plus an argv builder. It starts nothing: see
:mod:`servers.process` for that.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["ArgvBuilder", "Capability", "HTTPProtocol", "LaunchContext", "ServerSpec"]


class HTTPProtocol(StrEnum):
    """What the client must speak to a variant."""

    HTTP1 = "http/1.1"
    """HTTP/1.1, over TCP or TLS."""
    H2C = "h2c"
    """HTTP/2 over TCP with prior knowledge (RFC 9113 §3.3), no Upgrade."""
    H2 = "h2"
    """HTTP/2 over TLS, negotiated with ALPN ``h2``."""


class Capability(StrEnum):
    """Optional behaviour a variant supports; the suites skip or expect failure without it.

    A built-in variant declares what the server was seen to do, not what it claims. The
    capabilities that are ASGI extensions (:data:`conformance.capabilities.EXTENSIONS` maps
    them to their names) are also observed at every launch, from the extensions the server
    lists in a request's scope, and a difference from the declaration is reported.
    """

    HTTP2 = "http2"
    """The variant speaks HTTP/2 (its protocol is ``h2c`` or ``h2``)."""
    PUSH = "push"
    """``http.response.push`` is advertised and sends PUSH_PROMISE frames."""
    LIFESPAN = "lifespan"
    """The app is called with a ``lifespan`` scope."""
    LIFESPAN_STATE = "lifespan_state"
    """Lifespan ``state`` is given, and copied into every request scope."""
    TRAILERS = "trailers"
    """``http.response.trailers`` is advertised and works."""
    EARLY_HINTS = "early_hints"
    """``http.response.early_hint`` is advertised (and sends a 103)."""
    PATHSEND = "pathsend"
    """``http.response.pathsend`` is advertised and works."""
    ZEROCOPYSEND = "zerocopysend"
    """``http.response.zerocopysend`` is advertised and works."""
    TLS_SCOPE = "tls_scope"
    """The ``tls`` extension (connection information) is in the scope of TLS connections."""
    RESPONSE_BACKPRESSURE = "response_backpressure"
    """``send()`` blocks while the client does not read."""
    WEBSOCKET = "websocket"
    """WebSocket over the variant's own protocol (the HTTP/1.1 Upgrade handshake)."""
    WEBSOCKET_DENIAL = "websocket_denial"
    """``websocket.http.response`` is advertised in the WebSocket scope."""


@dataclass(frozen=True, slots=True)
class LaunchContext:
    """Everything an argv builder may put on the command line.

    Attributes:
        host: The loopback address to bind.
        port: The port the harness picked.
        app: The app's import string, e.g. ``"reference_app.asgi:app"``.
        certfile: The PEM certificate chain, for TLS variants.
        keyfile: The PEM (PKCS#8) private key, for TLS variants.
        python: The interpreter to run the server with.
    """

    host: str
    port: int
    app: str
    certfile: str | None = None
    keyfile: str | None = None
    python: str = sys.executable

    def tls_files(self) -> tuple[str, str]:
        """Return ``(certfile, keyfile)``.

        Raises:
            ValueError: When the context carries no certificate.
        """
        if self.certfile is None or self.keyfile is None:
            raise ValueError("this variant needs TLS, but the launch context has no certificate")
        return self.certfile, self.keyfile


#: Builds the full argv, interpreter first, for one launch.
ArgvBuilder = Callable[[LaunchContext], list[str]]


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """One server variant: how to start it and what to expect from it.

    Attributes:
        name: The stable variant id, used as a column name, e.g. ``"hypercorn-h2c"``.
        server: The distribution to read the version from, or None if unknown.
        module: The module the server runs as (``python -m module``), or None.
        protocol: What the client must speak.
        argv: Builds the command line from a :class:`LaunchContext`.
        tls: Whether the server listens with TLS (certificates are made per launch).
        capabilities: What the variant supports.
        requires: Further modules the variant needs, e.g. an optional HTTP parser.
    """

    name: str
    server: str | None
    module: str | None
    protocol: HTTPProtocol
    argv: ArgvBuilder = field(repr=False)
    tls: bool = False
    capabilities: frozenset[Capability] = frozenset()
    requires: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.protocol is HTTPProtocol.H2 and not self.tls:
            raise ValueError(f"{self.name}: protocol h2 is HTTP/2 over TLS, so tls must be True")
        if self.protocol is HTTPProtocol.H2C and self.tls:
            raise ValueError(f"{self.name}: protocol h2c is cleartext, so tls must be False")
        speaks_h2 = self.protocol is not HTTPProtocol.HTTP1
        if speaks_h2 != (Capability.HTTP2 in self.capabilities):
            raise ValueError(
                f"{self.name}: capability http2 must be declared exactly when the protocol "
                f"is h2c or h2 (protocol is {self.protocol})"
            )

    @property
    def scheme(self) -> str:
        """``"https"`` for TLS variants, else ``"http"``."""
        return "https" if self.tls else "http"

    def supports(self, capability: Capability) -> bool:
        """Return whether the variant declares ``capability``."""
        return capability in self.capabilities

    def build_argv(self, context: LaunchContext) -> list[str]:
        """Return the full command line for one launch."""
        return self.argv(context)

    def available(self) -> bool:
        """Return whether ``module`` and ``requires`` are importable from this interpreter.

        A variant without any module is assumed available; a missing executable then
        surfaces as a :class:`~servers.errors.ServerStartError` at launch.
        """
        modules = self.requires if self.module is None else (self.module, *self.requires)
        return all(_importable(module) for module in modules)

    def version(self) -> str | None:
        """Return the installed version of ``server``, or None if unknown or not installed."""
        if self.server is None:
            return None
        try:
            return importlib.metadata.version(self.server)
        except importlib.metadata.PackageNotFoundError:
            return None

    @classmethod
    def from_command(
        cls,
        name: str,
        template: str | Sequence[str],
        *,
        protocol: HTTPProtocol | str = HTTPProtocol.HTTP1,
        capabilities: Iterable[Capability | str] = (),
        tls: bool | None = None,
    ) -> ServerSpec:
        """Build a variant from a command template; see :mod:`servers.command`.

        Raises:
            CommandTemplateError: The template or a declaration is malformed.
        """
        # Imported here because servers.command builds on this module.
        from servers.command import command_spec

        return command_spec(name, template, protocol=protocol, capabilities=capabilities, tls=tls)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package of a dotted module name
        return False
