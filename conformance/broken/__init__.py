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
under it.

Each family's breaks live in ``conformance/broken/<family>.py`` as module-level ``BREAKS`` and
``LEGAL`` tuples; :func:`catalogue` discovers them, so adding a break edits only its family's
module. ``tests/conformance/test_broken_servers.py`` runs the catalogue and asserts the table:
every case is failed by at least one break (and passed by the clean run), no legal variation
fails any case.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from .apps import EARLY_DELAY, buffering_app, early_jobs_app, no_disconnect_app

__all__ = [
    "DEFAULT_VARIANT",
    "EARLY_DELAY",
    "Break",
    "Legal",
    "Proxy",
    "buffering_app",
    "catalogue",
    "early_jobs_app",
    "legal_variations",
    "no_disconnect_app",
]

#: The variant a break runs on unless it names another: it passes every case it can run.
DEFAULT_VARIANT: Final = "uvicorn-h11"

#: A wire break: called once per client connection with the client's streams and a fresh
#: connection to the real server; it relays (and breaks) bytes until either side closes.
Proxy = Callable[
    [asyncio.StreamReader, asyncio.StreamWriter, asyncio.StreamReader, asyncio.StreamWriter],
    Awaitable[None],
]


@dataclass(frozen=True, slots=True)
class Break:
    """One broken server.

    Attributes:
        name: stable id, e.g. ``"held-chunks"``.
        promise: the promise broken, in the spec's words, and the real bug it imitates.
        catches: the case ids that must fail under it.
        says: a regular expression every such failure message must match, so that a case
            failing for an unrelated reason does not count as a catch.
        app: import string of the ASGI middleware around the contract app (an ASGI break).
        proxy: import string of a :data:`Proxy` (a wire break).
        variant: the real variant underneath.
    """

    name: str
    promise: str
    catches: frozenset[str]
    says: str
    app: str | None = None
    proxy: str | None = None
    variant: str = DEFAULT_VARIANT

    def __post_init__(self) -> None:
        if (self.app is None) == (self.proxy is None):
            raise ValueError(f"break {self.name}: give exactly one of app= and proxy=")
        if not self.catches:
            raise ValueError(f"break {self.name}: catches no case")


@dataclass(frozen=True, slots=True)
class Legal:
    """A legal variation: what a correct server may do; every case must still pass.

    Attributes:
        name: stable id, e.g. ``"body-split-bytewise"``.
        freedom: the clause that allows it.
        app: import string of the ASGI middleware around the contract app.
        variant: the real variant underneath.
    """

    name: str
    freedom: str
    app: str
    variant: str = DEFAULT_VARIANT


def _family_modules() -> list[object]:
    return [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_") and info.name != "apps"
    ]


def catalogue() -> tuple[Break, ...]:
    """Every break of every family module, in module order.

    Raises:
        ValueError: two breaks share a name.
    """
    breaks = tuple(b for module in _family_modules() for b in getattr(module, "BREAKS", ()))
    names = [b.name for b in breaks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"break names used twice: {', '.join(duplicates)}")
    return breaks


def legal_variations() -> tuple[Legal, ...]:
    """Every legal variation of every family module."""
    return tuple(v for module in _family_modules() for v in getattr(module, "LEGAL", ()))
