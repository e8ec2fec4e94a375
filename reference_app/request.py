"""The request a responder receives: scope accessors, headers, query, cookies, body and media.

Everything is computed lazily from the ASGI scope on first use, so a responder that looks at
nothing costs nothing. Header values are decoded as latin-1, as HTTP field values are octets
(RFC 9110 §5.5).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Generator, Mapping
from http.cookies import CookieError, SimpleCookie
from typing import Any, Final
from urllib.parse import unquote

from .errors import (
    ClientDisconnected,
    HTTPInvalidHeader,
    MediaMalformedError,
    MediaNotFoundError,
)
from .media import Handlers
from .stream import BoundedStream
from .types import Receive, Scope

__all__ = ["Context", "Request"]

_UNSET: Final[Any] = object()
#: Digits of the longest Content-Length taken (19: up to 9.2 EB, an int64); ``int()`` of a few
#: thousand digits would raise ValueError, a 500.
_MAX_LENGTH_DIGITS: Final = 19


class Context:
    """A per-request (or per-app) namespace: set any attribute, or use it like a dict."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"context has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__[name] = value

    def __getitem__(self, name: str) -> Any:
        return self.__dict__[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self.__dict__[name] = value

    def __contains__(self, name: object) -> bool:
        return name in self.__dict__

    def get(self, name: str, default: Any = None) -> Any:
        """Return the value of ``name``, or ``default``."""
        return self.__dict__.get(name, default)

    def __repr__(self) -> str:
        return f"Context({self.__dict__!r})"


class Request:
    """An HTTP request, as seen by responders and middleware.

    Args:
        scope: the ASGI HTTP connection scope.
        receive: the ASGI receive callable.
        max_body_size: the most bytes the body may have (None: no limit).
        media_handlers: handlers for :meth:`get_media`.
    """

    __slots__ = (
        "_context",
        "_cookies",
        "_headers",
        "_length",
        "_max_body_size",
        "_media",
        "_media_error",
        "_params",
        "_receive",
        "_stream",
        "media_handlers",
        "scope",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        *,
        max_body_size: int | None = None,
        media_handlers: Handlers | None = None,
    ) -> None:
        self.scope = scope
        self._receive = receive
        self._max_body_size = max_body_size
        self.media_handlers = media_handlers if media_handlers is not None else Handlers()
        self._context: Context | None = None  # made on first use
        self._headers: dict[str, str] | None = None
        self._length: int | None = _UNSET  # the Content-Length, once parsed
        self._params: dict[str, str | list[str]] | None = None
        self._cookies: dict[str, str] | None = None
        self._stream: BoundedStream | None = None
        self._media: Any = _UNSET
        self._media_error: BaseException | None = None

    @property
    def context(self) -> Context:
        """Per-request namespace for middleware and responders to share data."""
        context = self._context
        if context is None:
            context = self._context = Context()
        return context

    @context.setter
    def context(self, value: Context) -> None:
        self._context = value

    # -- request line -------------------------------------------------------------------------

    @property
    def method(self) -> str:
        """The request method, uppercase (``GET``)."""
        method: str = self.scope["method"]
        return method

    @property
    def path(self) -> str:
        """The percent-decoded path (``scope["path"]``)."""
        path: str = self.scope["path"]
        return path

    @property
    def root_path(self) -> str:
        """The mount point of the app (``scope["root_path"]``, default ``""``)."""
        root: str = self.scope.get("root_path", "")
        return root

    @property
    def query_string(self) -> str:
        """The raw query string, still percent-encoded, without the ``?``."""
        raw: bytes = self.scope.get("query_string", b"")
        return raw.decode("latin-1")

    @property
    def scheme(self) -> str:
        """``http`` or ``https`` (``scope["scheme"]``, default ``http``)."""
        scheme: str = self.scope.get("scheme") or "http"
        return scheme

    @property
    def http_version(self) -> str:
        """``1.0``, ``1.1``, ``2`` or ``3``."""
        version: str = self.scope.get("http_version", "1.1")
        return version

    @property
    def host(self) -> str:
        """The Host header (``:authority`` on HTTP/2), else the server address.

        Raises:
            HTTPInvalidHeader: (400) more than one Host header, or a comma in it (RFC 9112 §3.2).
        """
        host = self.get_header("host")
        if host:
            if "," in host:
                raise HTTPInvalidHeader("Host", "more than one host")
            return host
        server = self.scope.get("server")
        if not server:
            return ""
        # A unix socket server is ``[path, None]`` (ASGI HTTP spec 2.5, ``server``).
        return str(server[0]) if server[1] is None else f"{server[0]}:{server[1]}"

    @property
    def url(self) -> str:
        """The full request URL, reconstructed from scheme, host, root path, path and query."""
        query = self.query_string
        path = self.root_path + self.path
        return f"{self.scheme}://{self.host}{path}" + (f"?{query}" if query else "")

    @property
    def client(self) -> tuple[str, int] | None:
        """The client's ``(host, port)``, or None when the server does not say.

        Ports are normalized to int (granian reports them as str,
        docs/server-behaviour.md#granian-ports-as-strings).
        """
        client = self.scope.get("client")
        if not client:
            return None
        return (str(client[0]), int(client[1]) if client[1] is not None else 0)

    @property
    def remote_addr(self) -> str | None:
        """The client's host, or None."""
        client = self.client
        return client[0] if client else None

    @property
    def extensions(self) -> Mapping[str, Any]:
        """The ASGI extensions the server advertises for this request (may be empty)."""
        extensions: Mapping[str, Any] = self.scope.get("extensions") or {}
        return extensions

    @property
    def state(self) -> dict[str, Any]:
        """The lifespan state: a shallow copy of what startup handlers put there.

        Empty on a server without lifespan support (daphne), unless the app ran its startup
        handlers itself (see :class:`~reference_app.App`).
        """
        state = self.scope.get("state")
        if state is None:
            state = self.scope["state"] = {}
        return state

    # -- headers ------------------------------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        """All headers by lowercase name; repeated headers are joined with ``", "``.

        Repeated ``cookie`` headers (HTTP/2 may split them, RFC 9113 §8.2.3) are joined with
        ``"; "``.
        """
        headers = self._headers
        if headers is None:
            headers = {}
            for raw_name, raw_value in self.scope["headers"]:
                name = raw_name.decode("latin-1").lower()
                value = raw_value.decode("latin-1")
                if name in headers:
                    separator = "; " if name == "cookie" else ", "
                    headers[name] = headers[name] + separator + value
                else:
                    headers[name] = value
            self._headers = headers
        return headers

    def get_header(self, name: str, default: str | None = None) -> str | None:
        """Return a header's value (case-insensitive name), or ``default``."""
        return self.headers.get(name.lower(), default)

    def _field(self, name: bytes) -> str | None:
        """The value :attr:`headers` has for ``name`` (lowercase), without building the dict."""
        headers = self._headers
        if headers is not None:
            return headers.get(name.decode("latin-1"))
        found: str | None = None
        for raw_name, raw_value in self.scope["headers"]:
            if raw_name == name or (len(raw_name) == len(name) and raw_name.lower() == name):
                value = raw_value.decode("latin-1")
                found = value if found is None else found + ", " + value
        return found

    @property
    def content_type(self) -> str | None:
        """The Content-Type header, or None."""
        return self._field(b"content-type")

    @property
    def content_length(self) -> int | None:
        """The Content-Length as an int, or None when absent.

        Raises:
            HTTPInvalidHeader: (400) the value is not a non-negative integer (RFC 9110 §8.6).
        """
        length = self._length
        if length is not _UNSET:
            return length
        value = self._field(b"content-length")
        if value is None:
            self._length = None
            return None
        value = value.strip()
        if not value.isascii() or not value.isdigit():
            raise HTTPInvalidHeader(
                "Content-Length", f"{value[:40]!r} is not a non-negative integer"
            )
        if len(value) > _MAX_LENGTH_DIGITS and len(value.lstrip("0")) > _MAX_LENGTH_DIGITS:
            raise HTTPInvalidHeader(
                "Content-Length", f"{value[:40]!r}... is not a length any body has"
            )
        length = self._length = int(value)
        return length

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies sent by the client, by name (the first value wins for a repeated name)."""
        if self._cookies is None:
            cookies: dict[str, str] = {}
            for pair in (self.headers.get("cookie") or "").split(";"):
                name, sep, value = pair.strip().partition("=")
                if not sep or not name or name in cookies:
                    continue
                cookies[name] = _unquote_cookie(value.strip())
            self._cookies = cookies
        return self._cookies

    # -- query ----------------------------------------------------------------------------------

    @property
    def params(self) -> dict[str, str | list[str]]:
        """Query parameters: a str per name, or a list when the name is repeated.

        Parsed as ``urllib.parse.parse_qsl(query, keep_blank_values=True)`` does (``&``
        separates fields, ``+`` is a space, ``%XX`` is UTF-8 with errors replaced, a field
        without ``=`` has the value ``""``), without its cost for the fields that need no
        decoding.
        """
        params = self._params
        if params is None:
            params = self._params = _parse_query(self.scope.get("query_string", b""))
        return params

    def get_param(self, name: str, default: str | None = None) -> str | None:
        """Return a query parameter's (last) value, or ``default``."""
        params = self._params
        if params is None:
            params = self._params = _parse_query(self.scope.get("query_string", b""))
        value = params.get(name)
        if value is None:
            return default
        return value[-1] if isinstance(value, list) else value

    # -- body -----------------------------------------------------------------------------------

    @property
    def stream(self) -> BoundedStream:
        """The request body as a :class:`~reference_app.stream.BoundedStream`.

        Raises:
            HTTPInvalidHeader: the Content-Length is invalid (400).
        """
        stream = self._stream
        if stream is None:
            stream = self._stream = BoundedStream(
                self._receive, self.content_length, self._max_body_size
            )
        return stream

    #: ``bounded_stream`` is the same object as ``stream`` (it is always bounded here).
    bounded_stream = stream

    @property
    def stream_if_created(self) -> BoundedStream | None:
        """The body stream if anything has asked for it yet (framework use)."""
        return self._stream

    def watch_stream(self) -> BoundedStream:
        """The body stream that receives on the app's behalf while its response streams.

        The app's own :attr:`stream` if it made one (framework use). Otherwise a stream is made
        now that discards the unread body: the response started streaming before the app read
        it, so a later read raises :class:`~reference_app.errors.OperationNotAllowed` (Rule 6
        of :mod:`reference_app.stream`).
        """
        stream = self._stream
        if stream is None:
            stream = self._stream = BoundedStream(self._receive, None, None)
            stream.abandon()
        return stream

    @property
    def max_body_size(self) -> int | None:
        """The most bytes the body may have (None: no limit); the app sets the route's.

        It bounds the body stream made after it is set (:attr:`stream`).
        """
        return self._max_body_size

    @max_body_size.setter
    def max_body_size(self, limit: int | None) -> None:
        self._max_body_size = limit

    async def wait_disconnect(self) -> None:
        """Wait until the client disconnects (for long-polling; Falcon #1808 asks for it).

        Any unread request body is read and discarded first. Note that every server delivers
        ``http.disconnect`` as soon as the response is complete, so call this before
        responding.
        """
        stream = self.stream
        if not stream.eof and not stream.disconnected:
            with contextlib.suppress(ClientDisconnected):
                await stream.exhaust()
        if not stream.disconnected:
            await stream.wait_disconnect()

    async def get_media(self, default_when_empty: Any = _UNSET) -> Any:
        """Read and parse the body with the handler for its Content-Type (JSON by default).

        The result, or the error, is cached: the body is read once.

        Args:
            default_when_empty: returned instead of raising when the body is empty.

        Raises:
            MediaNotFoundError: (400) the body is empty and no default was given.
            MediaMalformedError: (400) the handler could not parse it.
            HTTPUnsupportedMediaType: (415) no handler for the Content-Type.
            ClientDisconnected: the client left in the middle of the body.
        """
        if self._media is not _UNSET:
            return self._media
        if self._media_error is not None:
            if isinstance(self._media_error, MediaNotFoundError) and (
                default_when_empty is not _UNSET
            ):
                return default_when_empty
            raise self._media_error
        media_type, handler = self.media_handlers.resolve(self.content_type)
        data = await self.stream.readall()
        if not data:
            self._media_error = MediaNotFoundError(media_type)
            if default_when_empty is not _UNSET:
                return default_when_empty
            raise self._media_error
        try:
            self._media = await handler.deserialize_async(data, media_type)
        except ValueError as error:
            self._media_error = MediaMalformedError(media_type, str(error))
            raise self._media_error from error
        return self._media

    @property
    def media(self) -> Awaitable[Any]:
        """``await req.media`` is ``await req.get_media()``."""
        return _AwaitMedia(self)


class _AwaitMedia:
    __slots__ = ("_request",)

    def __init__(self, request: Request) -> None:
        self._request = request

    def __await__(self) -> Generator[Any, None, Any]:
        return self._request.get_media().__await__()


def _parse_query(raw: bytes) -> dict[str, str | list[str]]:
    params: dict[str, str | list[str]] = {}
    if not raw:
        return params
    for field in raw.decode("latin-1").split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "%" in name or "+" in name:
            name = unquote(name.replace("+", " "))
        if "%" in value or "+" in value:
            value = unquote(value.replace("+", " "))
        previous = params.get(name)
        if previous is None:
            params[name] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            params[name] = [previous, value]
    return params


def _unquote_cookie(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            morsel = SimpleCookie(f"x={value}")
        except CookieError:
            return value[1:-1]
        return morsel["x"].value if "x" in morsel else value[1:-1]
    return value
