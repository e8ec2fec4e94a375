"""The ASGI vocabulary shared by the framework, the launchers and the suites.

ASGI 3 single-callable applications, as specified at
https://asgi.readthedocs.io/en/latest/specs/main.html. Messages are plain mappings; the keys the
framework relies on are named in :mod:`reference_app.spec`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["ASGIApp", "Headers", "Message", "Receive", "Scope", "Send"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: Raw header pairs as ASGI carries them: lowercase names, byte strings, order kept.
Headers = list[tuple[bytes, bytes]]
