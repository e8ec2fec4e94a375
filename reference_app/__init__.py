"""reference_app: a complete, fast ASGI framework, and the yardstick of asgi-conformance.

It implements the API of the Falcon ASGI proposal (resources with async ``on_<method>``
responders, ``req.stream``, ``resp.text/data/media/stream/sse``, ``resp.schedule``, push
promises) with bareASGI's typed routing templates, and is correct where those two are not: each
chunk is sent the moment it is produced, request bodies are bounded, background jobs are kept
alive and drained, SSE follows the WHATWG format, and a client disconnect finalizes a streaming
generator even while it is blocked.

Modules, one per concept: :mod:`~reference_app.app` (App, routing of requests to responders),
:mod:`~reference_app.routing` (templates and converters), :mod:`~reference_app.request`,
:mod:`~reference_app.stream` (the request body), :mod:`~reference_app.response`,
:mod:`~reference_app.transmit` (sending a response), :mod:`~reference_app.bodies`
(streams and event streams as chunks, finalized once), :mod:`~reference_app.sse`,
:mod:`~reference_app.media`, :mod:`~reference_app.background`, :mod:`~reference_app.lifespan`,
:mod:`~reference_app.errors`, :mod:`~reference_app.sync`, :mod:`~reference_app.websocket`
(WebSocket connections; its public names are exported here too), and
:mod:`~reference_app.testing` (an in-process ASGI driver for tests).
"""

from __future__ import annotations

from .app import App as App
from .errors import (
    ClientDisconnected as ClientDisconnected,
    HTTPBadRequest as HTTPBadRequest,
    HTTPError as HTTPError,
    HTTPInternalServerError as HTTPInternalServerError,
    HTTPInvalidHeader as HTTPInvalidHeader,
    HTTPMethodNotAllowed as HTTPMethodNotAllowed,
    HTTPNotFound as HTTPNotFound,
    HTTPPayloadTooLarge as HTTPPayloadTooLarge,
    HTTPUnsupportedMediaType as HTTPUnsupportedMediaType,
    IncompleteBodyError as IncompleteBodyError,
    MediaMalformedError as MediaMalformedError,
    MediaNotFoundError as MediaNotFoundError,
    OperationNotAllowed as OperationNotAllowed,
    ResponseAborted as ResponseAborted,
)
from .media import (
    BaseHandler as BaseHandler,
    JSONHandler as JSONHandler,
    URLEncodedFormHandler as URLEncodedFormHandler,
)
from .request import Request as Request
from .response import Response as Response
from .routing import RouteTemplateError as RouteTemplateError
from .sse import SSEvent as SSEvent
from .stream import BoundedStream as BoundedStream
from .sync import sync_to_async as sync_to_async
from .websocket import (
    DEFAULT_MAX_MESSAGE_SIZE as DEFAULT_MAX_MESSAGE_SIZE,
    EXT_WEBSOCKET_DENIAL as EXT_WEBSOCKET_DENIAL,
    RECEIVE_QUEUE as RECEIVE_QUEUE,
    PayloadTypeError as PayloadTypeError,
    WebSocket as WebSocket,
    WebSocketDisconnected as WebSocketDisconnected,
    WebSocketRequest as WebSocketRequest,
    WebSocketState as WebSocketState,
    deny as deny,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "EXT_WEBSOCKET_DENIAL",
    "RECEIVE_QUEUE",
    "App",
    "BaseHandler",
    "BoundedStream",
    "ClientDisconnected",
    "HTTPBadRequest",
    "HTTPError",
    "HTTPInternalServerError",
    "HTTPInvalidHeader",
    "HTTPMethodNotAllowed",
    "HTTPNotFound",
    "HTTPPayloadTooLarge",
    "HTTPUnsupportedMediaType",
    "IncompleteBodyError",
    "JSONHandler",
    "MediaMalformedError",
    "MediaNotFoundError",
    "OperationNotAllowed",
    "PayloadTypeError",
    "Request",
    "Response",
    "ResponseAborted",
    "RouteTemplateError",
    "SSEvent",
    "URLEncodedFormHandler",
    "WebSocket",
    "WebSocketDisconnected",
    "WebSocketRequest",
    "WebSocketState",
    "deny",
    "sync_to_async",
]
