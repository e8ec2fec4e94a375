"""Broken servers: the proof that every case in the server matrix can fail.

A *break* is a real server variant with one promise broken between it and the contract app,
the way real servers have broken it. Two kinds:

* an **ASGI break** is middleware around :data:`conformance.contract.app` (``app``, an import
  string): it changes what the app is given or what the server is sent, e.g. held-back chunks,
  a late disconnect, a mangled scope field;
* a **wire break** is a TCP proxy between the client and the real server (``proxy``, an import
  string of a :data:`Proxy`): it changes bytes on the wire, e.g. a server that accepts what it
  must refuse, drops a terminating chunk, or answers a pipelined request it must not.

A *legal variation* (:class:`Legal`) is something a correct server may do (split a body into
any messages, send empty ``http.request`` messages, add scope keys, ...): no case may fail
under it, except the informational cases that record whether a server uses that very freedom
(:attr:`Legal.shown_by`).

A break or legal variation runs on a *variant*: a built-in one (``servers.registry``) or a
:class:`Configured` one, a built-in variant started with extra server options (e.g. hypercorn
without its own ``date`` and ``server`` headers, the only way a pushing server passes every
push case).

Each family's breaks live in ``conformance/broken/<family>.py`` as module-level ``BREAKS``,
``LEGAL`` and ``VARIANTS`` tuples; :func:`catalogue`, :func:`legal_variations` and
:func:`configured_variants` discover them, so adding a break edits only its family's module.
``python -m conformance.broken`` runs the catalogue and prints the table of cases by breaks
(see ``docs/proof.md``); ``tests/conformance/test_broken_servers.py`` asserts it.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Final

__all__ = [
    "DEFAULT_VARIANT",
    "Break",
    "Configured",
    "Legal",
    "Proxy",
    "catalogue",
    "configured_variants",
    "legal_variations",
]

#: The variant a break runs on unless it names another: it passes every case it can run.
DEFAULT_VARIANT: Final = "uvicorn-h11"

#: A wire break: called once per client connection with the client's streams and a fresh
#: connection to the real server; it relays (and breaks) bytes until either side closes.
#: :mod:`conformance.broken.wire` has the pieces most proxies are made of.
Proxy = Callable[
    [asyncio.StreamReader, asyncio.StreamWriter, asyncio.StreamReader, asyncio.StreamWriter],
    Awaitable[None],
]


def _one_of(kind: str, name: str, app: str | None, proxy: str | None) -> None:
    if (app is None) == (proxy is None):
        raise ValueError(f"{kind} {name}: give exactly one of app= and proxy=")


@dataclass(frozen=True, slots=True)
class Break:
    """One broken server.

    Attributes:
        name: stable id, e.g. ``"held-chunks"`` (lowercase letters, digits and ``-``).
        promise: the promise broken, in the spec's words, and the real bug it imitates.
        catches: the case ids that must fail under it (the proof runs these; with
            ``--exact`` it runs every case of their families and checks that the others
            keep the verdict they have without the break: claim what it fails).
        says: a regular expression every such failure message must match, so that a case
            failing for an unrelated reason does not count as a catch.
        app: import string of the ASGI middleware around the contract app (an ASGI break).
        proxy: import string of a :data:`Proxy` (a wire break; cleartext variants only).
        variant: the variant underneath: built-in, or :class:`Configured`.
    """

    name: str
    promise: str
    catches: frozenset[str]
    says: str
    app: str | None = None
    proxy: str | None = None
    variant: str = DEFAULT_VARIANT

    def __post_init__(self) -> None:
        _one_of("break", self.name, self.app, self.proxy)
        if not self.catches:
            raise ValueError(f"break {self.name}: catches no case")

    @property
    def kind(self) -> str:
        """``"asgi"`` or ``"wire"``."""
        return "asgi" if self.app is not None else "wire"


@dataclass(frozen=True, slots=True)
class Legal:
    """A legal variation: what a correct server may do; every case must still pass.

    Attributes:
        name: stable id, e.g. ``"body-split-bytewise"``.
        freedom: the clause that allows it.
        app: import string of the ASGI middleware around the contract app.
        variant: the variant underneath.
        proxy: import string of a :data:`Proxy`, for a freedom on the wire (instead of app).
        shown_by: informational cases that record whether a server uses this very freedom
            (e.g. "are headers sent before the first body?" for a deferred response start):
            they may fail under it, as on a real server that uses it. Only informational
            cases may be listed; the proof refuses others.
        spares: families (or case ids) the proof does not run under it: families whose
            cases it cannot change (``websocket`` for middleware that only touches HTTP
            scopes; implied for apps made by :func:`conformance.broken.apps.around`),
            cases that cannot be judged through it (a proxy: the server's own address is
            not the one the client connected to).
    """

    name: str
    freedom: str
    app: str | None = None
    variant: str = DEFAULT_VARIANT
    proxy: str | None = None
    shown_by: frozenset[str] = frozenset()
    spares: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        _one_of("legal variation", self.name, self.app, self.proxy)


@dataclass(frozen=True, slots=True)
class Configured:
    """A built-in variant started with extra server options: a legal server of its own.

    Attributes:
        name: the variant id breaks name in ``variant=``, e.g. ``"hypercorn-h2c-bare"``.
        base: the built-in variant, e.g. ``"hypercorn-h2c"``.
        options: argv items inserted before the app in the base variant's command line.
        why: what it changes and why a break needs it.
    """

    name: str
    base: str
    options: tuple[str, ...]
    why: str


def _family_modules() -> list[ModuleType]:
    return [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_") and info.name not in {"apps", "wire"}
    ]


def _unique(kind: str, names: list[str]) -> None:
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{kind} names used twice: {', '.join(duplicates)}")


def catalogue() -> tuple[Break, ...]:
    """Every break of every family module, in module order.

    Raises:
        ValueError: two breaks share a name.
    """
    breaks = tuple(b for module in _family_modules() for b in getattr(module, "BREAKS", ()))
    _unique("break", [b.name for b in breaks])
    return breaks


def legal_variations() -> tuple[Legal, ...]:
    """Every legal variation of every family module.

    Raises:
        ValueError: two legal variations share a name.
    """
    variations = tuple(v for module in _family_modules() for v in getattr(module, "LEGAL", ()))
    _unique("legal variation", [v.name for v in variations])
    return variations


def configured_variants() -> tuple[Configured, ...]:
    """Every configured variant of every family module.

    Raises:
        ValueError: two configured variants share a name.
    """
    variants = tuple(v for module in _family_modules() for v in getattr(module, "VARIANTS", ()))
    _unique("configured variant", [v.name for v in variants])
    return variants
