"""Apps for the lifecycle cases' own launches: what the contract app never does itself.

* :data:`raising` raises when it is called with a ``lifespan`` scope, the way an app without
  lifespan support does ("apps should reject unknown scope types by raising"), and passes
  every other scope to the app named by :data:`SERVED_ENV` (the contract app by default). The
  ASGI lifespan spec 2.0 says what the server must do then: "continue but not send any
  lifespan events". Each lifespan call is reported on the control channel
  (:mod:`conformance.contract.control`) as ``lifespan-called`` and logged.

Run it as ``conformance.contract.lifespan_apps:raising``.
"""

from __future__ import annotations

import importlib
import os
from typing import Final

from reference_app.types import ASGIApp, Receive, Scope, Send

from . import control
from ._common import logger

__all__ = ["SERVED_ENV", "LifespanUnsupported", "RaisingLifespan", "raising"]

#: The environment variable naming the app to serve (an import string ``module:attribute``).
SERVED_ENV: Final = "ASGI_CONFORMANCE_SERVED_APP"
_DEFAULT_INNER: Final = "conformance.contract:app"


class LifespanUnsupported(RuntimeError):
    """Raised into the server for a ``lifespan`` scope."""


def _load(target: str) -> ASGIApp:
    module, _, attribute = target.partition(":")
    app: ASGIApp = getattr(importlib.import_module(module), attribute or "app")
    return app


class RaisingLifespan:
    """ASGI middleware: raise on a ``lifespan`` scope, pass every other scope to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.lifespan_calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            self.lifespan_calls += 1
            control.tell("lifespan-called", call=self.lifespan_calls)
            logger.info("lifespan_apps: lifespan scope refused (call %d)", self.lifespan_calls)
            raise LifespanUnsupported("this app does not support the lifespan protocol")
        await self.app(scope, receive, send)


#: The contract app (or :data:`SERVED_ENV`'s) without lifespan support.
raising = RaisingLifespan(_load(os.environ.get(SERVED_ENV) or _DEFAULT_INNER))
