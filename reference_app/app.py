"""The application: routing, responders, middleware, error handling and the ASGI entry point.

Request flow (one HTTP request)::

    __call__ ─► middleware.process_request ─► route (404/405/OPTIONS/HEAD)
             ─► Content-Length vs max_body_size (413 before any body is read)
             ─► middleware.process_resource ─► responder(req, resp, **params)
             ─► error handlers (on any exception) ─► middleware.process_response (reversed)
             ─► transmit.send_response ─► background jobs (if the responder succeeded)

Responders are ``async def on_<method>(self, req, resp, **params)`` on a resource object added
with :meth:`App.add_route`, or async functions registered with :meth:`App.route`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final, Protocol

from . import spec
from .background import JobRunner
from .bodies import close_body_sources
from .errors import (
    ClientDisconnected,
    HTTPBadRequest,
    HTTPError,
    HTTPMethodNotAllowed,
    HTTPNotFound,
    HTTPPayloadTooLarge,
    ResponseAborted,
)
from .lifespan import Hook, Lifespan
from .media import BaseHandler, Handlers
from .request import Request
from .response import Response
from .routing import ConverterFactory, Router
from .transmit import DISCONNECTED, send_response
from .types import Receive, Scope, Send
from .websocket import (
    DEFAULT_MAX_MESSAGE_SIZE,
    WebSocket,
    WebSocketDisconnected,
    WebSocketRequest,
    deny,
)

__all__ = ["DEFAULT_MAX_BODY_SIZE", "HTTP_METHODS", "App", "ErrorHandler", "Responder"]

logger = logging.getLogger("reference_app")

#: The methods a resource may have responders for (``on_get`` ... ``on_options``).
HTTP_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: The default request body limit: 16 MiB. Routes that stream large uploads raise or lift it.
DEFAULT_MAX_BODY_SIZE: Final = 16 * 1024 * 1024

Responder = Callable[..., Awaitable[None]]
#: ``async def handler(req, resp, error, params) -> None``
ErrorHandler = Callable[[Request, Response, Any, dict[str, Any]], Awaitable[None]]

_UNSET: Final[Any] = object()
_MIDDLEWARE_METHODS: Final = (
    "process_request",
    "process_resource",
    "process_response",
    "process_startup",
    "process_shutdown",
    "process_request_ws",
    "process_resource_ws",
)


class Middleware(Protocol):
    """A middleware component: any of these async methods, all optional.

    * ``process_request(req, resp)``: before routing; it may answer the request itself by
      filling ``resp`` and setting ``resp.complete = True`` (routing and the responder are then
      skipped), or by raising :class:`~reference_app.errors.HTTPError`.
    * ``process_resource(req, resp, resource, params)``: after routing, before the responder.
    * ``process_response(req, resp, resource, req_succeeded)``: after the responder or error
      handler, before the response is sent (called in reverse order).
    * ``process_startup(scope, event)`` / ``process_shutdown(scope, event)``: lifespan.
    * ``process_request_ws(req, ws)`` / ``process_resource_ws(req, ws, resource, params)``:
      the same two steps for a WebSocket handshake (an ``HTTPError`` raised there denies it).
    """


class _Completed(Exception):
    """Raised when ``process_request`` completed the response itself."""


class _Route:
    """What the router finds: the responders of one template, and per-route options."""

    __slots__ = (
        "allow",
        "max_body_size",
        "max_message_size",
        "resource",
        "responders",
        "template",
        "websocket",
    )

    def __init__(
        self, template: str, resource: object, responders: dict[str, Responder], limit: Any
    ) -> None:
        self.template = template
        self.resource = resource
        self.responders = responders
        self.max_body_size: int | Any | None = limit
        #: The ``on_websocket`` responder, and its incoming message limit (_UNSET: the app's).
        self.websocket: Responder | None = None
        self.max_message_size: int | Any | None = _UNSET
        self.allow = ""
        self.refresh()

    def refresh(self) -> None:
        methods = set(self.responders) | {"OPTIONS"}
        if "GET" in methods:
            methods.add("HEAD")
        self.allow = ", ".join(sorted(methods))


class App:
    """An ASGI 3 application.

    Args:
        middleware: middleware components, outermost first.
        media_handlers: media handlers by media type (default: JSON and URL-encoded forms).
        max_body_size: the default request body limit in bytes (None: no limit); a Content-Length
            over it is answered 413 before the body is read, and a body of unknown length that
            crosses it fails with 413 while it is read.
        sse_keepalive: seconds of silence after which SSE streams send a ``: ping`` comment
            (None: never, unless the response asks).
        shutdown_timeout: how long lifespan shutdown waits for background jobs before it
            cancels them.
        converters: extra route field converters, by name.
        max_message_size: the default limit of one incoming WebSocket message in bytes (None:
            no limit); a bigger message closes the connection with 1009.
    """

    def __init__(
        self,
        *,
        middleware: Iterable[object] = (),
        media_handlers: Mapping[str, BaseHandler] | None = None,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        sse_keepalive: float | None = None,
        shutdown_timeout: float = 10.0,
        converters: Mapping[str, ConverterFactory] | None = None,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self.media_handlers = Handlers(media_handlers)
        self.max_message_size = max_message_size
        self.max_body_size = max_body_size
        self.sse_keepalive = sse_keepalive
        self.shutdown_timeout = shutdown_timeout
        self.jobs = JobRunner()
        self.lifespan = Lifespan()
        self._router: Router[_Route] = Router(converters)
        self._routes: dict[str, _Route] = {}
        self._function_routes: set[str] = set()
        self._error_handlers: dict[type[BaseException], ErrorHandler] = {
            HTTPError: _render_http_error
        }
        self._request_mw: list[Callable[..., Awaitable[None]]] = []
        self._resource_mw: list[Callable[..., Awaitable[None]]] = []
        self._response_mw: list[Callable[..., Awaitable[None]]] = []
        self._request_ws_mw: list[Callable[..., Awaitable[None]]] = []
        self._resource_ws_mw: list[Callable[..., Awaitable[None]]] = []
        for component in middleware:
            self.add_middleware(component)

    # -- configuration --------------------------------------------------------------------------

    def add_route(
        self,
        template: str,
        resource: object,
        *,
        max_body_size: int | Any | None = _UNSET,
        max_message_size: int | Any | None = _UNSET,
    ) -> None:
        """Route ``template`` to ``resource``, whose ``on_<method>`` responders must be async.

        Args:
            template: a URI template (see :mod:`reference_app.routing`).
            resource: an object with ``async def on_get(self, req, resp, **params)`` etc., and
                /or ``async def on_websocket(self, req, ws, **params)``.
            max_body_size: this route's body limit, overriding the app's (None: no limit).
            max_message_size: this route's incoming WebSocket message limit, overriding the
                app's (None: no limit).

        Raises:
            TypeError: a responder is not a coroutine function, or there is none.
            RouteTemplateError: the template is invalid or ambiguous with an existing one.
        """
        responders: dict[str, Responder] = {}
        for method in HTTP_METHODS:
            responder = getattr(resource, f"on_{method.lower()}", None)
            if responder is None:
                continue
            if not inspect.iscoroutinefunction(responder):
                raise TypeError(
                    f"{type(resource).__name__}.on_{method.lower()} must be a coroutine function "
                    "(async def): the ASGI App cannot call sync responders"
                )
            responders[method] = responder
        websocket = getattr(resource, "on_websocket", None)
        if websocket is not None and not inspect.iscoroutinefunction(websocket):
            raise TypeError(f"{type(resource).__name__}.on_websocket must be a coroutine function")
        if not responders and websocket is None:
            raise TypeError(f"{resource!r} has no on_<method> responders")
        route = _Route(template, resource, responders, max_body_size)
        route.websocket, route.max_message_size = websocket, max_message_size
        self._add(route)

    def route(
        self,
        template: str,
        methods: Iterable[str] = ("GET",),
        *,
        max_body_size: int | Any | None = _UNSET,
    ) -> Callable[[Responder], Responder]:
        """Decorator form: route ``methods`` of ``template`` to an async function.

        ``@app.route('/hello-world', methods={'GET'})`` registers
        ``async def hello(req, resp, **params)``. Several functions may share a template with
        different methods.
        """
        wanted = [method.upper() for method in methods]
        for method in wanted:
            if method not in HTTP_METHODS:
                raise ValueError(f"unsupported method {method!r}; one of {', '.join(HTTP_METHODS)}")

        def register(function: Responder) -> Responder:
            if not inspect.iscoroutinefunction(function):
                raise TypeError(f"{function!r} must be a coroutine function (async def)")
            route = self._routes.get(template)
            if route is None:
                self._add(
                    _Route(template, function, dict.fromkeys(wanted, function), max_body_size)
                )
                self._function_routes.add(template)
                return function
            if template not in self._function_routes:
                raise ValueError(f"{template!r} is already routed to a resource")
            for method in wanted:
                if method in route.responders:
                    raise ValueError(f"{method} {template} is already routed")
                route.responders[method] = function
            route.refresh()
            return function

        return register

    def websocket(
        self, template: str, *, max_message_size: int | Any | None = _UNSET
    ) -> Callable[[Responder], Responder]:
        """Decorator form of ``on_websocket``: ``async def chat(req, ws, **params)``.

        The template may also have HTTP functions (:meth:`route`), not a resource.
        """

        def register(function: Responder) -> Responder:
            if not inspect.iscoroutinefunction(function):
                raise TypeError(f"{function!r} must be a coroutine function (async def)")
            route = self._routes.get(template)
            if route is None:
                route = _Route(template, function, {}, _UNSET)
                self._add(route)
                self._function_routes.add(template)
            elif template not in self._function_routes:
                raise ValueError(f"{template!r} is already routed to a resource")
            elif route.websocket is not None:
                raise ValueError(f"WebSocket {template} is already routed")
            route.websocket, route.max_message_size = function, max_message_size
            return function

        return register

    def _add(self, route: _Route) -> None:
        self._router.add(route.template, route)
        self._routes[route.template] = route

    def add_error_handler(self, exception: type[BaseException], handler: ErrorHandler) -> None:
        """Handle ``exception`` (and subclasses) with ``async def handler(req, resp, ex, params)``.

        The most specific handler (by the exception's MRO) wins. The default handler of
        :class:`HTTPError` renders it as JSON; other exceptions become a logged 500.
        """
        if not inspect.iscoroutinefunction(handler):
            raise TypeError("an error handler must be a coroutine function")
        self._error_handlers[exception] = handler

    def add_middleware(self, component: object) -> None:
        """Add a middleware component (see :class:`Middleware`).

        Raises:
            TypeError: it has no middleware method, or one is not async (nothing is added).
        """
        methods = {
            name: method
            for name in _MIDDLEWARE_METHODS
            if (method := getattr(component, name, None)) is not None
        }
        if not methods:
            raise TypeError(f"{component!r} has no middleware methods")
        for name, method in methods.items():
            if not inspect.iscoroutinefunction(method):
                raise TypeError(f"{type(component).__name__}.{name} must be async")
        if "process_request" in methods:
            self._request_mw.append(methods["process_request"])
        if "process_resource" in methods:
            self._resource_mw.append(methods["process_resource"])
        if "process_response" in methods:
            self._response_mw.insert(0, methods["process_response"])
        if "process_request_ws" in methods:
            self._request_ws_mw.append(methods["process_request_ws"])
        if "process_resource_ws" in methods:
            self._resource_ws_mw.append(methods["process_resource_ws"])
        if "process_startup" in methods:
            self.lifespan.startup.append(self.lifespan.middleware_hook(methods["process_startup"]))
        if "process_shutdown" in methods:
            self.lifespan.shutdown.append(
                self.lifespan.middleware_hook(methods["process_shutdown"])
            )

    def on_startup(self, hook: Hook) -> Hook:
        """Register ``async def hook(state)`` to run at lifespan startup (usable as a decorator)."""
        if not inspect.iscoroutinefunction(hook):
            raise TypeError("a startup hook must be a coroutine function")
        self.lifespan.startup.append(hook)
        return hook

    def on_shutdown(self, hook: Hook) -> Hook:
        """Register ``async def hook(state)`` to run at lifespan shutdown (a decorator too)."""
        if not inspect.iscoroutinefunction(hook):
            raise TypeError("a shutdown hook must be a coroutine function")
        self.lifespan.shutdown.append(hook)
        return hook

    # -- ASGI -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI 3 entry point."""
        kind = scope["type"]
        if kind == spec.HTTP:
            await self._http(scope, receive, send)
        elif kind == spec.LIFESPAN:
            await self.lifespan.serve(scope, receive, send, self.jobs, self.shutdown_timeout)
        elif kind == spec.WEBSOCKET:
            await self._websocket(scope, receive, send)
        else:
            raise ValueError(f"unsupported ASGI scope type {kind!r}")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        req = Request(
            scope, receive, max_body_size=self.max_body_size, media_handlers=self.media_handlers
        )
        resp = Response(req)
        route: _Route | None = None
        params: dict[str, Any] = {}
        head = False
        method = scope["method"]
        try:
            declares_length = _scan_headers(scope["headers"])
            lifespan = self.lifespan
            if lifespan.kept_state is not None or (not lifespan.observed and lifespan.startup):
                await self._fallback_state(scope)
            for process_request in self._request_mw:
                await process_request(req, resp)
                if resp.complete:  # answered by the middleware: the rest is skipped
                    raise _Completed
            found = self._router.find(scope["path"])
            if found is None:
                raise HTTPNotFound()
            route, params = found
            responder = route.responders.get(method)
            if responder is None:
                responder, head = self._fallback_responder(route, method)
            limit = route.max_body_size
            if limit is _UNSET:  # the app's, unless middleware changed it
                limit = req.max_body_size if self._request_mw else self.max_body_size
            else:
                req.max_body_size = limit
            if (
                limit is not None
                and declares_length
                and (length := req.content_length) is not None
                and length > limit
            ):
                raise HTTPPayloadTooLarge(
                    description=f"Content-Length {length} is over the limit of {limit} bytes."
                )
            for process_resource in self._resource_mw:
                await process_resource(req, resp, route.resource, params)
            await responder(req, resp, **params)
            succeeded = True
        except _Completed:
            succeeded = True
        except Exception as error:
            succeeded = False
            await self._handle_error(req, resp, error, params)
        if self._response_mw:
            resource = route.resource if route is not None else None
            succeeded = await self._process_response(req, resp, resource, params, succeeded)
        head = head or method == "HEAD"
        try:
            outcome = await send_response(
                resp,
                send,
                req,
                head=head,
                media_handlers=self.media_handlers,
                sse_keepalive=self.sse_keepalive,
            )
        except Exception as error:
            await self._send_failed(req, resp, send, head, error)
            return
        if resp.jobs:
            self._start_jobs(resp, succeeded)
        if outcome is DISCONNECTED:
            logger.debug("client disconnected during %s %s", method, req.path)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a WebSocket connection; see :mod:`reference_app.websocket` for the states."""
        connect = await receive()
        if connect["type"] != spec.WEBSOCKET_CONNECT:
            return  # the client left before the handshake reached the app
        req = WebSocketRequest(scope, receive, media_handlers=self.media_handlers)
        ws = WebSocket(
            scope,
            receive,
            send,
            media_handlers=self.media_handlers,
            max_message_size=self.max_message_size,
        )
        params: dict[str, Any] = {}
        try:
            lifespan = self.lifespan
            if lifespan.kept_state is not None or (not lifespan.observed and lifespan.startup):
                await self._fallback_state(scope)
            for process_request_ws in self._request_ws_mw:
                await process_request_ws(req, ws)
            found = self._router.find(scope["path"])
            route = found[0] if found is not None else None
            if route is None or route.websocket is None:
                await ws.close()  # no route, or no on_websocket: a 403 handshake
                return
            params = found[1] if found is not None else {}
            if route.max_message_size is not _UNSET:
                ws.max_message_size = route.max_message_size
            for process_resource_ws in self._resource_ws_mw:
                await process_resource_ws(req, ws, route.resource, params)
            await route.websocket(req, ws, **params)
        except WebSocketDisconnected as gone:
            logger.debug("WebSocket %s closed (%d): %s", req.path, gone.code, gone.reason)
        except Exception as error:
            if ws.unaccepted:
                resp = Response(req)
                await self._handle_error(req, resp, error, params)
                await deny(ws, resp, self.media_handlers)
            else:
                logger.error("unhandled error in WebSocket %s", req.path, exc_info=error)
                if ws.ready:
                    await ws.close(1011)
        finally:
            if ws.unaccepted:  # returned without answering the handshake
                await ws.close()
            await ws._finish()

    def _fallback_responder(self, route: _Route, method: str) -> tuple[Responder, bool]:
        if method == "HEAD" and "GET" in route.responders:
            return route.responders["GET"], True
        if method == "OPTIONS":
            allow = route.allow

            async def options(req: Request, resp: Response, **params: Any) -> None:
                resp.status = 200
                resp.set_header("allow", allow)

            return options, False
        raise HTTPMethodNotAllowed(route.allow.split(", "))

    async def _process_response(
        self,
        req: Request,
        resp: Response,
        resource: object,
        params: dict[str, Any],
        succeeded: bool,
    ) -> bool:
        """Run the ``process_response`` middleware; return whether the request still succeeds."""
        for process_response in self._response_mw:
            try:
                await process_response(req, resp, resource, succeeded)
            except Exception as error:
                succeeded = False
                await self._handle_error(req, resp, error, params)
        return succeeded

    def _start_jobs(self, resp: Response, succeeded: bool) -> None:
        if succeeded:
            self.jobs.start(resp.jobs)
        else:
            logger.info("dropping %d background job(s): the responder failed", len(resp.jobs))

    async def _send_failed(
        self, req: Request, resp: Response, send: Send, head: bool, error: Exception
    ) -> None:
        """The response failed: aborted after its start, or could not even start."""
        if isinstance(error, ResponseAborted):
            if resp.jobs:
                logger.warning(
                    "dropping %d background job(s) of an aborted response", len(resp.jobs)
                )
            raise error
        # The response could not even start (e.g. media that does not serialize).
        await close_body_sources(resp)
        if resp.jobs:
            logger.info("dropping %d background job(s): the response failed", len(resp.jobs))
        fallback = Response(req)
        await self._handle_error(req, fallback, error, {})
        await send_response(
            fallback, send, req, head=head, media_handlers=self.media_handlers, sse_keepalive=None
        )

    async def _handle_error(
        self, req: Request, resp: Response, error: Exception, params: dict[str, Any]
    ) -> None:
        await close_body_sources(resp)
        if isinstance(error, ClientDisconnected):
            # Nobody is left to answer; whatever is sent now is dropped by the server.
            logger.info("client disconnected during %s %s: %s", req.method, req.path, error)
            await _render_http_error(req, resp, HTTPBadRequest(description=str(error)), params)
            return
        handler = None
        for kind in type(error).__mro__:
            handler = self._error_handlers.get(kind)
            if handler is not None:
                break
        if handler is not None:
            try:
                await handler(req, resp, error, params)
                return
            except Exception as handler_error:
                logger.exception("error handler %r failed", handler)
                error = handler_error
        logger.error("unhandled error in %s %s", req.method, req.path, exc_info=error)
        await _render_http_error(req, resp, HTTPError(500), params)

    async def _fallback_state(self, scope: Scope) -> None:
        """Give the request the app's own lifespan state where the server gives none."""
        kept = self.lifespan.kept_state
        if kept is not None:  # lifespan ran, but the server has no state to copy into requests
            if scope.get("state") is None:
                scope["state"] = dict(kept)
            return
        state = self.lifespan.fallback_state
        if state is None:
            state = await self.lifespan.fallback_startup()
        scope["state"] = dict(state)


def _scan_headers(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a header is named Content-Length (a request without one, most GETs, then needs
    no header dict for the 413 check).

    Raises:
        HTTPBadRequest: more than one Host header (RFC 9112 §3.2: a server MUST answer 400; a
            server that lets them through would make ``req.url`` ``http://a, b/...``).
    """
    length = host = False
    for name, _ in headers:
        size = len(name)  # (servers lowercase names: lower() only for a name of the right size)
        if size == 4:
            if name == b"host" or name.lower() == b"host":
                if host:
                    raise HTTPBadRequest(description="The request has more than one Host header.")
                host = True
        elif size == 14 and (name == b"content-length" or name.lower() == b"content-length"):
            length = True
    return length


async def _render_http_error(
    req: Request, resp: Response, error: HTTPError, params: dict[str, Any]
) -> None:
    """The default handler of :class:`HTTPError`: a JSON body with title and description."""
    resp.status = error.status
    resp.text = resp.media = resp.stream = resp.sse = None
    resp.data = error.to_json()
    resp.set_header("content-type", "application/json")
    for name, value in error.headers:
        resp.set_header(name, value)
