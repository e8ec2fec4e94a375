"""What a server advertises, observed, beside what its variant declares.

A variant *declares* its capabilities (:class:`servers.Capability`): what the server was seen
to do when the variant was written. Six of them are ASGI extensions a server *advertises* by
listing them in ``scope["extensions"]`` (:data:`EXTENSIONS`). The harness asks the running
server what it lists, with one request to the contract app's ``/raw/extensions/advertised``
(:mod:`conformance.contract.extensions`), and compares: a server release that starts or stops
listing an extension then shows up as a difference, in the terminal summary and in the run
document (``variants[].advertised``), and as a failure of the case
``extensions/advertised-as-declared``, instead of only as cases turning "not applicable".

Extension names under ``websocket.`` are the WebSocket scope's (the WebSocket family judges
them there; granian lists ``websocket.http.response`` in HTTP scopes too) and are left out of
the comparison, as are names outside the ``http.`` namespace of the ASGI extensions (a
server's own, e.g. ``x.vendor.feature``: a server lists whichever it supports). Any other
``http.`` name no capability stands for (``http.response.debug``, an extension added to the
spec later) is a difference of its own.

:func:`observe` asks (async, for the cases); :func:`check` asks and compares (sync, for the
plugin, when it has started a variant's server).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import httpx

from servers import Capability, RunningServer

from .client import TIMEOUT, http_client

__all__ = [
    "EXTENSIONS",
    "Advertised",
    "CapabilityCheck",
    "ObservationError",
    "TLSField",
    "check",
    "observe",
    "spec_version_tuple",
]

#: The capabilities that are ASGI extensions, and the name a server lists each under.
EXTENSIONS: Final[Mapping[Capability, str]] = MappingProxyType(
    {
        Capability.PUSH: "http.response.push",
        Capability.TRAILERS: "http.response.trailers",
        Capability.EARLY_HINTS: "http.response.early_hint",
        Capability.PATHSEND: "http.response.pathsend",
        Capability.ZEROCOPYSEND: "http.response.zerocopysend",
        Capability.TLS_SCOPE: "tls",
    }
)
#: The prefix of the HTTP extensions the ASGI specs define (besides ``tls``).
HTTP_EXTENSIONS: Final = "http."


class ObservationError(Exception):
    """The server's advertisement could not be read (no answer, not the contract app...)."""


def spec_version_tuple(text: object) -> tuple[int, ...]:
    """``"2.4"`` as ``(2, 4)``; absent or malformed is ``(2, 0)``, the spec's default."""
    try:
        return tuple(int(part) for part in str(text).split("."))
    except ValueError:
        return (2, 0)


@dataclass(frozen=True, slots=True)
class TLSField:
    """One entry of the ``tls`` extension as the app saw it.

    Attributes:
        name: the key, e.g. ``"tls_version"``.
        type: the Python type name of its value (``"int"``, ``"NoneType"``, ...).
        items: the type names of its items, for a list or tuple; else None.
        value: the value as JSON carries it.
    """

    name: str
    type: str
    items: tuple[str, ...] | None
    value: Any


@dataclass(frozen=True, slots=True)
class Advertised:
    """What one HTTP request's scope advertised.

    Attributes:
        asgi_version: ``scope["asgi"]["version"]``.
        spec_version: ``scope["asgi"]["spec_version"]`` (None: not given, which means 2.0).
        http_version: ``scope["http_version"]``.
        scheme: ``scope["scheme"]``.
        extensions: the names in ``scope["extensions"]``, sorted.
        tls: the ``tls`` extension's entries, or None when it is not listed.
    """

    asgi_version: str | None
    spec_version: str | None
    http_version: str | None
    scheme: str | None
    extensions: tuple[str, ...]
    tls: tuple[TLSField, ...] | None = None

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> Advertised:
        """Read the body of :data:`ADVERTISED`.

        Raises:
            ObservationError: it is not that body.
        """
        try:
            asgi = payload["asgi"]
            tls = payload.get("tls")
            fields = None
            if isinstance(tls, Mapping):
                fields = tuple(
                    TLSField(
                        str(name),
                        str(entry["type"]),
                        None if entry.get("items") is None else tuple(entry["items"]),
                        entry.get("value"),
                    )
                    for name, entry in tls.items()
                )
            return cls(
                asgi_version=asgi.get("version"),
                spec_version=asgi.get("spec_version"),
                http_version=payload.get("http_version"),
                scheme=payload.get("scheme"),
                extensions=tuple(sorted(str(name) for name in payload["extensions"])),
                tls=fields,
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ObservationError(f"not an advertisement: {error!r} in {payload!r}") from None

    def lists(self, name: str) -> bool:
        """Whether the extension ``name`` is listed."""
        return name in self.extensions

    @property
    def capabilities(self) -> frozenset[Capability]:
        """The capabilities of :data:`EXTENSIONS` whose extension is listed."""
        return frozenset(c for c, name in EXTENSIONS.items() if name in self.extensions)

    @property
    def unknown(self) -> tuple[str, ...]:
        """Listed ``http.`` names no capability stands for."""
        known = set(EXTENSIONS.values())
        return tuple(
            name
            for name in self.extensions
            if name not in known and name.startswith(HTTP_EXTENSIONS)
        )

    def spec_at_least(self, *version: int) -> bool:
        """Whether the advertised HTTP spec version is ``version`` or later."""
        return spec_version_tuple(self.spec_version or "2.0") >= version

    def document(self) -> dict[str, Any]:
        """The JSON form (the run document's ``variants[].advertised.scope``)."""
        return {
            "asgi_version": self.asgi_version,
            "spec_version": self.spec_version,
            "http_version": self.http_version,
            "extensions": list(self.extensions),
            "tls": None if self.tls is None else [f.name for f in self.tls],
        }


@dataclass(frozen=True, slots=True)
class CapabilityCheck:
    """A variant's declared extension capabilities beside what its server advertised.

    Attributes:
        variant: the variant's name.
        declared: the capabilities of :data:`EXTENSIONS` the variant declares.
        advertised: what the server advertised, or None if it could not be read.
        error: why it could not be read.
    """

    variant: str
    declared: frozenset[Capability]
    advertised: Advertised | None
    error: str | None = None

    @property
    def missing(self) -> frozenset[Capability]:
        """Declared, not advertised."""
        if self.advertised is None:
            return frozenset()
        return self.declared - self.advertised.capabilities

    @property
    def unexpected(self) -> frozenset[Capability]:
        """Advertised, not declared."""
        if self.advertised is None:
            return frozenset()
        return self.advertised.capabilities - self.declared

    @property
    def matches(self) -> bool:
        """Whether what was advertised is what is declared (True if nothing was read)."""
        unknown = () if self.advertised is None else self.advertised.unknown
        return not (self.missing or self.unexpected or unknown)

    def differences(self) -> list[str]:
        """One sentence per difference; none when :attr:`matches`."""
        found = [
            f"declares {c} but does not list {EXTENSIONS[c]}" for c in sorted(self.missing)
        ] + [f"lists {EXTENSIONS[c]} but does not declare {c}" for c in sorted(self.unexpected)]
        if self.advertised is not None:
            found += [
                f"lists {name}, which no capability stands for" for name in self.advertised.unknown
            ]
        return found

    def describe(self) -> str:
        """One line for the terminal summary."""
        if self.error is not None:
            return f"{self.variant}: what the server advertises is unknown ({self.error})"
        if self.matches:
            return f"{self.variant}: advertises what it declares"
        return f"{self.variant}: " + "; ".join(self.differences())

    def document(self) -> dict[str, Any]:
        """The JSON form (the run document's ``variants[].advertised``)."""
        return {
            "scope": None if self.advertised is None else self.advertised.document(),
            "declared": sorted(str(c) for c in self.declared),
            "matches": self.matches,
            "differences": self.differences(),
            "error": self.error,
        }


async def observe(
    server: RunningServer, *, timeout: float = TIMEOUT, record: bool = False
) -> Advertised:
    """Ask ``server`` what it advertises, in its variant's protocol.

    With ``record``, the exchange goes to the running case's evidence.

    Raises:
        ObservationError: no answer, or not the contract app's advertisement.
    """
    # Imported here: the contract app is built when its package is first imported, which
    # the plugin (imported by every pytest run) must not do.
    from .contract.extensions import ADVERTISED

    try:
        async with http_client(server, record=record) as client:
            response = await client.get(ADVERTISED, timeout=timeout)
    except (httpx.HTTPError, OSError) as error:
        raise ObservationError(f"GET {ADVERTISED} failed: {error!r}") from error
    if response.status_code != 200:
        raise ObservationError(f"GET {ADVERTISED} answered {response.status_code}")
    try:
        payload = response.json()
    except ValueError:
        raise ObservationError(f"GET {ADVERTISED} answered no JSON") from None
    if not isinstance(payload, Mapping):
        raise ObservationError(f"GET {ADVERTISED} answered {payload!r}")
    return Advertised.from_json(payload)


def check(server: RunningServer, *, timeout: float = TIMEOUT) -> CapabilityCheck:
    """Observe ``server`` and compare with its variant's declaration (never raises).

    Runs its own event loop, in a thread of its own if the caller's thread has one running.
    """
    declared = frozenset(c for c in server.spec.capabilities if c in EXTENSIONS)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        run = _observe_now
    else:
        run = _observe_in_thread
    try:
        advertised = run(server, timeout)
    except ObservationError as error:
        return CapabilityCheck(server.spec.name, declared, None, str(error))
    return CapabilityCheck(server.spec.name, declared, advertised)


def _observe_now(server: RunningServer, timeout: float) -> Advertised:
    return asyncio.run(observe(server, timeout=timeout))


def _observe_in_thread(server: RunningServer, timeout: float) -> Advertised:
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_observe_now, server, timeout).result()
