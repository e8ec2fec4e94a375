"""Run any ASGI app under real server processes on loopback.

Architecture, one module per concept:

- :mod:`servers.spec`: :class:`ServerSpec`, a *variant* (one column of every result): its
  name, the protocol the client speaks (:class:`HTTPProtocol`), TLS, its
  :class:`Capability` set and an argv builder fed a :class:`LaunchContext`.
- :mod:`servers.hypercorn`, :mod:`servers.uvicorn`, :mod:`servers.daphne`,
  :mod:`servers.granian`: one module per server, all of the same shape: the variants as
  data and one argv builder. The quirks they work around are described in
  ``docs/server-behaviour.md``.
- :mod:`servers.registry`: :data:`SERVERS`, :func:`available`, :func:`get`, :func:`resolve`.
- :mod:`servers.command`: any other server as a command template
  (:meth:`ServerSpec.from_command`, :func:`parse_server_option`).
- :mod:`servers.process`: :func:`launch` and :class:`RunningServer`: free port, spawn in a
  process group, readiness in the variant's protocol (:mod:`servers.probe`), the per-server
  log file (:mod:`servers.logfile`), graceful stop. :mod:`servers._groups` and
  :mod:`servers._guardian` make sure no server process outlives the harness.
- :mod:`servers.tls`: throwaway certificates and client contexts.
- :mod:`servers.errors`: :class:`HarnessError` and its subclasses.

Example::

    from servers import available, launch

    for spec in available().values():
        with launch(spec, "reference_app.asgi:app") as server:
            ...  # talk to server.base_url in spec.protocol
"""

from __future__ import annotations

from servers.command import parse_server_option as parse_server_option
from servers.errors import (
    CommandTemplateError as CommandTemplateError,
    HarnessError as HarnessError,
    ServerStartError as ServerStartError,
    ServerStopError as ServerStopError,
    UnknownServerError as UnknownServerError,
)
from servers.logfile import LogFile as LogFile
from servers.process import LOOPBACK as LOOPBACK, RunningServer as RunningServer, launch as launch
from servers.registry import (
    SERVERS as SERVERS,
    available as available,
    get as get,
    resolve as resolve,
)
from servers.spec import (
    Capability as Capability,
    HTTPProtocol as HTTPProtocol,
    LaunchContext as LaunchContext,
    ServerSpec as ServerSpec,
)
from servers.tls import (
    Certificates as Certificates,
    client_ssl_context as client_ssl_context,
    make_certificates as make_certificates,
)

__all__ = [
    "LOOPBACK",
    "SERVERS",
    "Capability",
    "Certificates",
    "CommandTemplateError",
    "HTTPProtocol",
    "HarnessError",
    "LaunchContext",
    "LogFile",
    "RunningServer",
    "ServerSpec",
    "ServerStartError",
    "ServerStopError",
    "UnknownServerError",
    "available",
    "client_ssl_context",
    "get",
    "launch",
    "make_certificates",
    "parse_server_option",
    "resolve",
]
