"""Building blocks of ASGI breaks and legal variations: middleware around the contract app.

An ASGI break stands between a real server and :data:`conformance.contract.app` and breaks
one promise of the server, so it changes what the app receives (``receive``, the scope) or
what the server is asked to send (``send``). :func:`around` makes one from a *layer*, a
coroutine given the scope, the server's ``receive`` and ``send`` and the contract app::

    async def held_chunks_layer(scope, receive, send, app):
        await app(scope, receive, holding_send)

    held_chunks = around(held_chunks_layer)

The observation channel (``/observe/...`` and ``/gate/...``) and non-HTTP scopes (lifespan,
WebSocket) bypass the layer: the channel is the harness's instrument, not the behaviour under
test. A break that means to break lifespan or WebSocket writes its own app.

A break wraps the app the server was asked to run (:func:`inner_app`: the launcher names it
in :data:`INNER_APP`), so a case that launches a server of its own with another app gets that
app, broken the same way.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Awaitable, Callable
from typing import Final

from reference_app.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CONTRACT_APP",
    "INNER_APP",
    "INSTRUMENT",
    "STACK",
    "Around",
    "Layer",
    "around",
    "inner_app",
    "is_final_body",
    "stackable",
    "stacked",
    "under_test",
]

#: The environment variable naming (as an import string) the app a break wraps; the launcher
#: sets it to the app the server was asked to run.
INNER_APP: Final = "ASGI_CONFORMANCE_INNER_APP"
#: The contract app's import string.
CONTRACT_APP: Final = "conformance.contract:app"

#: Path prefixes of the harness's observation channel, which no break touches.
INSTRUMENT: Final = ("/observe/", "/gate/")

#: A break's behaviour: ``(scope, receive, send, app)``, where ``app`` is the contract app.
Layer = Callable[[Scope, Receive, Send, ASGIApp], Awaitable[None]]


def under_test(scope: Scope) -> bool:
    """Whether a request is one the break applies to (HTTP, not the observation channel)."""
    return scope["type"] == "http" and not str(scope["path"]).startswith(INSTRUMENT)


def is_final_body(message: Message) -> bool:
    """Whether ``message`` is the ``http.response.body`` that ends the response."""
    return message["type"] == "http.response.body" and not message.get("more_body", False)


def _load(target: str) -> object:
    module, _, attribute = target.partition(":")
    found: object = importlib.import_module(module)
    for part in attribute.split("."):
        found = getattr(found, part)
    return found


def inner_app() -> ASGIApp:
    """The app breaks wrap: the one :data:`INNER_APP` names, else the contract app."""
    app: ASGIApp = _load(os.environ.get(INNER_APP) or CONTRACT_APP)  # type: ignore[assignment]
    return app


class Around:
    """An ASGI app running a layer around an app for the requests :func:`under_test`.

    Attributes:
        layer: the behaviour.
        app: the app it wraps; None until the first call means :func:`inner_app`.
    """

    def __init__(self, layer: Layer, app: ASGIApp | None = None) -> None:
        """Wrap ``app`` (default: :func:`inner_app`, looked up at the first call)."""
        self.layer = layer
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the layer for a request under test, the app alone for anything else."""
        if self.app is None:
            self.app = inner_app()
        if under_test(scope):
            await self.layer(scope, receive, send, self.app)
        else:
            await self.app(scope, receive, send)


def around(layer: Layer, app: ASGIApp | None = None) -> Around:
    """An ASGI app running ``layer`` around ``app`` for the requests :func:`under_test`.

    Without ``app``, the layer wraps :func:`inner_app` (looked up at the first call): the
    app the server was asked to run, whichever a case launched it with.
    """
    return Around(layer, app)


def stackable(target: str) -> bool:
    """Whether the app ``target`` (an import string) is made by :func:`around`."""
    return isinstance(_load(target), Around)


async def _stacked(scope: Scope, receive: Receive, send: Send) -> None:
    if not _STACK:
        app: ASGIApp = inner_app()
        for target in reversed(os.environ.get(STACK, "").split(",")):
            layer = _load(target)
            assert isinstance(layer, Around), f"{target} is not made by around()"
            app = Around(layer.layer, app)
        _STACK.append(app)
    await _STACK[0](scope, receive, send)


_STACK: list[ASGIApp] = []
#: The apps :data:`stacked` stacks, as import strings separated by commas (the first is the
#: outermost: nearest the server); the launcher sets it.
STACK: Final = "ASGI_CONFORMANCE_STACK"
#: The layers of the apps listed in :data:`STACK`, one around the next, around
#: :func:`inner_app`: a server taking several freedoms at once.
stacked: ASGIApp = _stacked
