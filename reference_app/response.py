"""The response a responder fills in: status, headers, one body source, pushes and jobs.

Body sources and their precedence (the first one set wins; the others are ignored):

1. ``resp.sse``: an async iterable of :class:`~reference_app.sse.SSEvent`, ``None`` (a keep-alive
   ping) or any object with ``serialize() -> bytes``.
2. ``resp.text`` (``resp.body`` is an alias): ``str``, encoded as UTF-8 (``bytes`` are tolerated).
3. ``resp.data``: ``bytes``.
4. ``resp.media``: serialized by the media handler for ``content_type`` (JSON by default).
5. ``resp.stream``: an async iterable of ``bytes``, or an object with an awaitable
   ``read(size)``; an awaitable ``close()`` on it is called exactly once, whatever happens.

A rendered body (2-4) always gets a correct ``content-length`` (any value the app set is
replaced); a stream gets one only through :meth:`Response.set_stream`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, Protocol

from . import spec
from .request import Context

if TYPE_CHECKING:
    from .request import Request

__all__ = ["PUSH_COPIED_HEADERS", "Job", "ReadableStream", "Response"]

#: Request headers copied into a push promise by default: the ones a user agent would send for
#: the pushed resource and that a cache matches on (RFC 9113 §8.4: the promised request must be
#: one the client would make, and its header fields are what the client compares).
PUSH_COPIED_HEADERS: Final = (
    "accept-encoding",
    "accept-language",
    "cache-control",
    "cookie",
    "user-agent",
)

# RFC 9110 §5.1: field-name = token; tchar = "!" / "#" / ... / DIGIT / ALPHA
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE = re.compile(r"[\r\n\x00]")


class ReadableStream(Protocol):
    """An object with an awaitable ``read(size)``, such as an aiofiles file."""

    async def read(self, size: int, /) -> bytes: ...


#: A scheduled background job: the callable and whether it is a coroutine function.
Job = tuple[Callable[[], Any], bool]


class Response:
    """An HTTP response under construction.

    Args:
        request: the request being answered (push promises copy headers from it).
    """

    __slots__ = (
        "_context",
        "_headers",
        "_request",
        "_set_cookies",
        "complete",
        "data",
        "jobs",
        "media",
        "pushes",
        "sse",
        "sse_keepalive",
        "status",
        "stream",
        "stream_length",
        "text",
    )

    def __init__(self, request: Request | None = None) -> None:
        self._request = request
        #: The status code (an ``int``; an ``HTTPStatus`` or ``"404 Not Found"`` is accepted).
        self.status: int | HTTPStatus | str = 200
        self._headers: dict[str, str] = {}
        self._set_cookies: list[str] = []
        #: The body as text (str, UTF-8 encoded when sent).
        self.text: str | bytes | None = None
        #: The body as bytes.
        self.data: bytes | None = None
        #: An object serialized by the media handler for ``content_type``.
        self.media: Any = None
        #: A streamed body; see the module docstring.
        self.stream: AsyncIterable[bytes] | ReadableStream | None = None
        #: The Content-Length to send with ``stream``, or None (set by :meth:`set_stream`).
        self.stream_length: int | None = None
        #: A server-sent event stream; see the module docstring.
        self.sse: AsyncIterable[Any] | None = None
        #: Seconds of silence after which an SSE stream sends a ``: ping`` comment, or None.
        self.sse_keepalive: float | None = None
        self._context: Context | None = None  # made on first use
        #: Set by ``process_request`` middleware that answered the request itself.
        self.complete = False
        #: The scheduled jobs, in order (framework use; add them with :meth:`schedule`).
        self.jobs: list[Job] = []
        #: The push promises to send, as ``(path, headers)`` (framework use; see :meth:`push`).
        self.pushes: list[tuple[str, list[tuple[bytes, bytes]]]] = []

    @property
    def context(self) -> Context:
        """Per-response namespace for middleware and responders to share data."""
        context = self._context
        if context is None:
            context = self._context = Context()
        return context

    @context.setter
    def context(self, value: Context) -> None:
        self._context = value

    # -- body aliases ---------------------------------------------------------------------------

    @property
    def body(self) -> str | bytes | None:
        """Alias of :attr:`text` (the seed's name)."""
        return self.text

    @body.setter
    def body(self, value: str | bytes | None) -> None:
        self.text = value

    def set_stream(
        self, stream: AsyncIterable[bytes] | ReadableStream, content_length: int
    ) -> None:
        """Set a streamed body whose length is known, so ``content-length`` is sent with it."""
        if content_length < 0:
            raise ValueError("content_length must be non-negative")
        self.stream = stream
        self.stream_length = content_length

    # -- status -----------------------------------------------------------------------------------

    @property
    def status_code(self) -> int:
        """The status as an int, validated (100-599)."""
        status = self.status
        if type(status) is int and 100 <= status <= 599:
            return status  # the common case, first
        if isinstance(status, str):
            code = status.partition(" ")[0]
            if not code.isdigit():
                raise ValueError(f"invalid status {status!r}")
            status = int(code)
        status = int(status)
        if not 100 <= status <= 599:
            raise ValueError(f"status must be 100 to 599, got {status}")
        return status

    # -- headers ----------------------------------------------------------------------------------

    def set_header(self, name: str, value: str) -> None:
        """Set a header, replacing any previous value.

        Raises:
            ValueError: the name is not an HTTP token, or the value has CR, LF or NUL or is not
                latin-1 encodable.
            TypeError: name or value is not a str.
        """
        key = _CHECKED_NAMES.get(name) if type(name) is str else None
        if key is None or type(value) is not str or not value.isascii() or not value.isprintable():
            key = _check_header(name, value)  # (else: a known name, a printable ASCII value)
        if key == "set-cookie":
            self._set_cookies = [value]
        else:
            self._headers[key] = value

    def append_header(self, name: str, value: str) -> None:
        """Append a value to a header (comma-joined, or a new line for ``set-cookie``)."""
        key = _check_header(name, value)
        if key == "set-cookie":
            self._set_cookies.append(value)
        elif key in self._headers:
            self._headers[key] = f"{self._headers[key]}, {value}"
        else:
            self._headers[key] = value

    def set_headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        """Set several headers at once."""
        items = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in items:
            self.set_header(name, value)

    def get_header(self, name: str, default: str | None = None) -> str | None:
        """Return a header's value (case-insensitive), or ``default``."""
        key = name.lower()
        if key == "set-cookie":
            return ", ".join(self._set_cookies) if self._set_cookies else default
        return self._headers.get(key, default)

    def delete_header(self, name: str) -> None:
        """Remove a header if present."""
        key = name.lower()
        if key == "set-cookie":
            self._set_cookies.clear()
        else:
            self._headers.pop(key, None)

    @property
    def headers(self) -> dict[str, str]:
        """A copy of the headers by lowercase name (``set-cookie`` lines joined)."""
        headers = dict(self._headers)
        if self._set_cookies:
            headers["set-cookie"] = ", ".join(self._set_cookies)
        return headers

    @property
    def content_type(self) -> str | None:
        """The Content-Type header."""
        return self._headers.get("content-type")

    @content_type.setter
    def content_type(self, value: str) -> None:
        self.set_header("content-type", value)

    def header_items(
        self,
        defaults: Iterable[tuple[bytes, bytes]] = (),
        length: int | None = None,
        *,
        drop_length: bool = False,
    ) -> list[tuple[bytes, bytes]]:
        """The headers as ASGI byte pairs (framework use).

        Args:
            defaults: lowercase pairs added after the app's headers, each one only when the app
                set no header of its name.
            length: a ``content-length`` added last.
            drop_length: leave out the ``content-length`` the app set.
        """
        headers = self._headers
        items: list[tuple[bytes, bytes]] = []
        if headers:  # (a loop: a comprehension is a function call of its own on Python 3.11)
            skip = "content-length" if drop_length else None
            for name, value in headers.items():
                if name != skip:
                    items.append((name.encode("latin-1"), value.encode("latin-1")))
        if self._set_cookies:
            items.extend((b"set-cookie", v.encode("latin-1")) for v in self._set_cookies)
        for pair in defaults:
            if not headers or pair[0].decode("latin-1") not in headers:
                items.append(pair)
        if length is not None:
            items.append((b"content-length", str(length).encode()))
        return items

    # -- push -------------------------------------------------------------------------------------

    def push(self, location: str, headers: Mapping[str, str | None] | None = None) -> bool:
        """Promise ``location`` to the client with an HTTP/2 server push, where possible.

        The push is sent (as the ``http.response.push`` ASGI extension) right after the response
        starts, only when the server advertises that extension for this request, which in
        practice means hypercorn over HTTP/2. The promised request carries the current request's
        :data:`PUSH_COPIED_HEADERS`; ``headers`` overrides them (a None value drops one).

        Args:
            location: the path and optional query of the pushed resource, starting with ``/``.
            headers: request headers for the promised request.

        Returns:
            True if the push will be sent, False if the server cannot push (nothing is sent and
            the response is unaffected).

        Raises:
            ValueError: ``location`` is not an absolute path.
        """
        if not location.startswith("/") or location.startswith("//"):
            raise ValueError(f"a push location is an absolute path, got {location!r}")
        if _BAD_VALUE.search(location) or " " in location or "#" in location:
            raise ValueError(f"invalid push location {location!r}")
        request = self._request
        if request is None or spec.EXT_PUSH not in request.extensions:
            return False
        copied = {
            name: value
            for name in PUSH_COPIED_HEADERS
            if (value := request.get_header(name)) is not None
        }
        for name, override in (headers or {}).items():
            key = name.lower()
            if override is None:
                copied.pop(key, None)
            else:
                _check_header(name, override)
                copied[key] = override
        self.pushes.append(
            (location, [(k.encode("latin-1"), v.encode("latin-1")) for k, v in copied.items()])
        )
        return True

    # -- background jobs --------------------------------------------------------------------------

    def schedule(self, callback: Callable[[], Any]) -> None:
        """Run a coroutine function after the response has been completely sent.

        Jobs run in the order they were scheduled, after the last body byte has been handed
        to the server. If the responder raises, its jobs are dropped (the request failed).

        Raises:
            TypeError: ``callback`` is a coroutine object (pass the function itself) or a sync
                function (use :meth:`schedule_sync`).
        """
        if inspect.iscoroutine(callback):
            callback.close()
            raise TypeError(
                "schedule() takes a coroutine function, not a coroutine object: pass the "
                "function itself (use functools.partial to bind arguments)"
            )
        if not _is_coroutine_function(callback):
            raise TypeError(
                f"schedule() takes a coroutine function, got {callback!r}; "
                "use schedule_sync() for a synchronous callable"
            )
        self.jobs.append((callback, True))

    def schedule_sync(self, callback: Callable[[], Any]) -> None:
        """Run a sync callable in the default executor after the response has been sent.

        It runs with a copy of the request's context variables, in order with the other jobs.

        Raises:
            TypeError: ``callback`` is a coroutine function or object (use :meth:`schedule`),
                or is not callable.
        """
        if inspect.iscoroutine(callback):
            callback.close()
            raise TypeError("schedule_sync() takes a sync callable, not a coroutine object")
        if _is_coroutine_function(callback):
            raise TypeError(f"{callback!r} is a coroutine function: use schedule() for it")
        if not callable(callback):
            raise TypeError(f"schedule_sync() takes a callable, got {callback!r}")
        self.jobs.append((callback, False))


def _is_coroutine_function(obj: object) -> bool:
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(
        getattr(obj, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


#: Header names already checked, by their lowercase form (names are few and come from code).
_CHECKED_NAMES: dict[str, str] = {}
_MAX_CHECKED_NAMES: Final = 512


def _check_header(name: str, value: str) -> str:
    key = _CHECKED_NAMES.get(name) if type(name) is str else None
    if key is None:
        if not isinstance(name, str):
            raise TypeError(f"header name and value must be str, got {name!r}: {value!r}")
        if not _TOKEN.match(name):
            raise ValueError(f"invalid header name {name!r}")
        key = name.lower()
        if len(_CHECKED_NAMES) < _MAX_CHECKED_NAMES:
            _CHECKED_NAMES[name] = key
    if type(value) is str and value.isascii() and value.isprintable():
        return key  # the common case: printable ASCII, nothing to refuse
    if not isinstance(value, str):
        raise TypeError(f"header name and value must be str, got {name!r}: {value!r}")
    if _BAD_VALUE.search(value):
        raise ValueError(f"header {name!r} value contains CR, LF or NUL: {value!r}")
    if not _is_latin1(value):
        # ASGI header values are bytes, and field values are octets (RFC 9110 §5.5): a value
        # that latin-1 cannot encode would only fail later, when the response is sent.
        raise ValueError(f"header {name!r} value is not latin-1 encodable: {value!r}")
    return key


def _is_latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
