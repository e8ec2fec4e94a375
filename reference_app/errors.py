"""Exceptions raised by the framework, and the HTTP errors an app raises to answer with an error.

The tree::

    Exception
    ├── HTTPError                     an HTTP error response (rendered as a JSON body)
    │   ├── HTTPBadRequest            400
    │   │   ├── HTTPInvalidHeader     400, a header the framework could not parse
    │   │   ├── MediaNotFoundError    400, ``get_media()`` on an empty body
    │   │   ├── MediaMalformedError   400, ``get_media()`` on a body the handler cannot parse
    │   │   └── IncompleteBodyError   400, the server ended the body before Content-Length bytes
    │   ├── HTTPNotFound              404
    │   ├── HTTPMethodNotAllowed      405, carries the ``Allow`` header
    │   ├── HTTPPayloadTooLarge       413
    │   ├── HTTPUnsupportedMediaType  415
    │   └── HTTPInternalServerError   500
    ├── ClientDisconnected            the client went away while the app was reading its body
    ├── OperationNotAllowed           (a ValueError) API misuse, e.g. reading a closed stream
    └── ResponseAborted               raised to the server when a response must be cut short
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from http import HTTPStatus
from typing import Final

__all__ = [
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
    "MediaMalformedError",
    "MediaNotFoundError",
    "OperationNotAllowed",
    "ResponseAborted",
]


class HTTPError(Exception):
    """An error an app raises (or the framework raises for it) to answer with an HTTP error.

    The default error handler renders it as a JSON body ``{"title": ..., "description": ...}``
    with ``content-type: application/json`` and the given extra headers.

    Args:
        status: the HTTP status code, 400 to 599.
        title: a short summary; defaults to the status phrase ("Not Found").
        description: a longer human-readable explanation, or None.
        headers: extra response headers, as a mapping or pairs of strings.
    """

    status: int = 500

    def __init__(
        self,
        status: int | None = None,
        title: str | None = None,
        description: str | None = None,
        headers: dict[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        if status is not None:
            self.status = status
        if not 400 <= self.status <= 599:
            raise ValueError(f"HTTPError status must be 400 to 599, got {self.status}")
        self.title = title if title is not None else _phrase(self.status)
        self.description = description
        items = headers.items() if isinstance(headers, dict) else headers or ()
        self.headers: list[tuple[str, str]] = list(items)
        super().__init__(self.title if description is None else f"{self.title}: {description}")

    def to_dict(self) -> dict[str, str]:
        """Return the error as the JSON-serializable dict the default handler renders."""
        body = {"title": self.title}
        if self.description is not None:
            body["description"] = self.description
        return body

    def to_json(self) -> bytes:
        """Return the rendered JSON body."""
        return json.dumps(self.to_dict(), ensure_ascii=False).encode()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.status} {self.title}>"


#: The RFC 9110 reason phrases that ``http.HTTPStatus`` only has from Python 3.13 on; before,
#: it gives the RFC 7231 ones ("Request Entity Too Large"), so error bodies would depend on the
#: interpreter.
_RFC9110_PHRASES: Final = {
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}


def _phrase(status: int) -> str:
    if status in _RFC9110_PHRASES:
        return _RFC9110_PHRASES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


class HTTPBadRequest(HTTPError):
    """400 Bad Request."""

    status = 400


class HTTPInvalidHeader(HTTPBadRequest):
    """400: a request header has a value the framework cannot accept.

    Args:
        header: the header name, as the client would see it (``Content-Length``).
        problem: what is wrong with it.
    """

    def __init__(self, header: str, problem: str) -> None:
        super().__init__(title="Invalid header value", description=f"{header}: {problem}")
        self.header = header


class MediaNotFoundError(HTTPBadRequest):
    """400: ``get_media()`` was called but the request body is empty."""

    def __init__(self, media_type: str) -> None:
        super().__init__(
            title="Empty request body",
            description=f"The request body is empty, but {media_type} content was expected.",
        )


class MediaMalformedError(HTTPBadRequest):
    """400: the media handler could not parse the request body (the cause is chained)."""

    def __init__(self, media_type: str, problem: str) -> None:
        super().__init__(
            title="Malformed request body",
            description=f"Could not parse the {media_type} body: {problem}",
        )


class IncompleteBodyError(HTTPBadRequest):
    """400: the server ended the request body before Content-Length bytes arrived."""

    def __init__(self, expected: int, received: int) -> None:
        super().__init__(
            title="Incomplete request body",
            description=f"Content-Length is {expected} but the body ended after {received} bytes.",
        )


class HTTPNotFound(HTTPError):
    """404 Not Found."""

    status = 404


class HTTPMethodNotAllowed(HTTPError):
    """405 Method Not Allowed, with the ``Allow`` header listing the methods that are.

    Args:
        allowed: the methods the resource supports.
    """

    status = 405

    def __init__(self, allowed: Iterable[str], description: str | None = None) -> None:
        self.allowed = sorted(allowed)
        super().__init__(description=description, headers=[("allow", ", ".join(self.allowed))])


class HTTPPayloadTooLarge(HTTPError):
    """413 Content Too Large (RFC 9110 §15.5.14)."""

    status = 413


class HTTPUnsupportedMediaType(HTTPError):
    """415 Unsupported Media Type."""

    status = 415


class HTTPInternalServerError(HTTPError):
    """500 Internal Server Error."""

    status = 500


class ClientDisconnected(Exception):
    """The client disconnected before the request body was complete.

    Raised by every read of ``req.stream`` (and by ``get_media()``) once the server has
    delivered ``http.disconnect`` in the middle of the body, so an app never mistakes a
    truncated upload for a complete one.

    Attributes:
        received: how many body bytes had arrived before the disconnect.
        expected: the declared Content-Length, or None for a chunked body.
    """

    def __init__(self, received: int, expected: int | None) -> None:
        self.received = received
        self.expected = expected
        of = f" of {expected}" if expected is not None else ""
        super().__init__(f"client disconnected after {received}{of} request body bytes")


class OperationNotAllowed(ValueError):
    """An API was used in a way it does not allow, such as reading a closed stream."""


class ResponseAborted(Exception):
    """Raised out of the ASGI callable so that the server aborts a response already started.

    Per the ASGI spec the server must terminate the connection when the app raises, which is the
    only way to tell a client that a started body is incomplete (a clean ``more_body=False``
    would make a truncated body look complete). The original exception is logged by the app.
    """
