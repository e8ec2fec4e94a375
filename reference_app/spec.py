"""The ASGI spec's strings, named once.

Sources: the ASGI HTTP and WebSocket spec 2.5 (``specs/www.rst``), the lifespan spec 2.0
(``specs/lifespan.rst``) and the extensions (``docs/extensions.rst``) in asgiref.
"""

from __future__ import annotations

from typing import Final

HTTP: Final = "http"
LIFESPAN: Final = "lifespan"
WEBSOCKET: Final = "websocket"

HTTP_REQUEST: Final = "http.request"
HTTP_DISCONNECT: Final = "http.disconnect"
HTTP_RESPONSE_START: Final = "http.response.start"
HTTP_RESPONSE_BODY: Final = "http.response.body"
HTTP_RESPONSE_PUSH: Final = "http.response.push"

LIFESPAN_STARTUP: Final = "lifespan.startup"
LIFESPAN_STARTUP_COMPLETE: Final = "lifespan.startup.complete"
LIFESPAN_STARTUP_FAILED: Final = "lifespan.startup.failed"
LIFESPAN_SHUTDOWN: Final = "lifespan.shutdown"
LIFESPAN_SHUTDOWN_COMPLETE: Final = "lifespan.shutdown.complete"
LIFESPAN_SHUTDOWN_FAILED: Final = "lifespan.shutdown.failed"

WEBSOCKET_CONNECT: Final = "websocket.connect"
WEBSOCKET_CLOSE: Final = "websocket.close"

#: Extension names as they appear as keys of ``scope["extensions"]``.
EXT_PUSH: Final = "http.response.push"
EXT_TRAILERS: Final = "http.response.trailers"
EXT_EARLY_HINT: Final = "http.response.early_hint"
EXT_PATHSEND: Final = "http.response.pathsend"
