"""The in-process workloads: the request each sends, and what a correct answer is.

(a) ``GET /plaintext``; (b) ``POST /echo`` with a 1 KiB JSON body; (c) a route with three typed
parameters among 50 routes; (d) a 64 KiB response streamed in 4 KiB chunks; (e) one SSE event;
and the routes people write: (f) the seed's ``ChunkyBacon.on_get`` (a query parameter, a header,
text), (g) a route reading a cookie, (h) a route reading three query parameters.
See :mod:`bench.apps` for the apps. :meth:`Workload.check` raises :class:`WrongAnswer` for an
answer that is not what the workload asks for; a framework is never timed on a workload it
answers wrongly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from .apps import (
    PLAINTEXT,
    POWERED_BY,
    SSE_DATA,
    STREAM_CHUNK,
    STREAM_CHUNKS,
    bacon_text,
)
from .driver import Message, Result

__all__ = ["JSON_PAYLOAD", "JSON_PAYLOAD_BYTES", "WORKLOADS", "Workload", "WrongAnswer", "by_key"]


class WrongAnswer(AssertionError):
    """An app's answer to a workload is not the right one."""


def _payload() -> dict[str, Any]:
    """A 1 KiB JSON object (exactly 1024 bytes, compact), of the usual API shape."""
    payload: dict[str, Any] = {
        "id": 12345,
        "name": "benchmark order",
        "active": True,
        "ratio": 0.75,
        "tags": ["alpha", "beta", "gamma", "delta"],
        "customer": {"id": 42, "email": "someone@example.com", "country": "NL"},
        "items": [
            {"sku": f"SKU-{i:04d}", "qty": i + 1, "price": 9.99 + i, "gift": i % 2 == 0}
            for i in range(8)
        ],
        "note": "",
    }
    size = len(json.dumps(payload, separators=(",", ":")).encode())
    payload["note"] = "n" * (1024 - size)
    return payload


#: The body of workload (b), as an object and as sent.
JSON_PAYLOAD: Final = _payload()
JSON_PAYLOAD_BYTES: Final = json.dumps(JSON_PAYLOAD, separators=(",", ":")).encode()
assert len(JSON_PAYLOAD_BYTES) == 1024

_BASE_HEADERS: Final = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"bench/1"),
    (b"accept", b"*/*"),
]


def _check_rendered(result: Result, content_type: bytes, body: Callable[[bytes], bool]) -> None:
    _check_head(result, content_type)
    length = result.header(b"content-length")
    if length is None or int(length) != len(result.body):
        raise WrongAnswer(f"content-length {length!r} for a body of {len(result.body)} bytes")
    if not body(result.body):
        raise WrongAnswer(f"wrong body {result.body[:200]!r}")


def _check_head(result: Result, content_type: bytes) -> None:
    if not result.complete:
        raise WrongAnswer("the response never completed (no final http.response.body)")
    if result.status != 200:
        raise WrongAnswer(f"status {result.status}, body {result.body[:200]!r}")
    got = result.header(b"content-type") or b""
    if not got.startswith(content_type):
        raise WrongAnswer(f"content-type {got!r}, expected {content_type!r}")


def _check_plaintext(result: Result) -> None:
    _check_rendered(result, b"text/plain", lambda body: body == PLAINTEXT)


def _check_echo(result: Result) -> None:
    _check_rendered(result, b"application/json", lambda body: json.loads(body) == JSON_PAYLOAD)


TYPED_PATH: Final = "/api/users/42/posts/hello-world/rev/1.5"
TYPED_BODY: Final = b"42|hello-world|1.5"


def _check_typed(result: Result) -> None:
    _check_rendered(result, b"text/plain", lambda body: body == TYPED_BODY)


def _check_stream(result: Result) -> None:
    _check_head(result, b"application/octet-stream")
    if result.body != STREAM_CHUNK * STREAM_CHUNKS:
        raise WrongAnswer(f"wrong body: {len(result.body)} bytes")
    chunks = [chunk for chunk in result.chunks if chunk]
    if len(chunks) != STREAM_CHUNKS:
        raise WrongAnswer(f"{len(chunks)} non-empty body messages, expected {STREAM_CHUNKS}")


def _check_sse(result: Result) -> None:
    _check_head(result, b"text/event-stream")
    if result.body != b"data: " + SSE_DATA + b"\n\n":
        raise WrongAnswer(f"wrong event stream {result.body!r}")


#: Workload (f): the seed's route, its query and its answer.
BACON_PATH: Final = "/bacon/crispy"
BACON_QUERY: Final = b"as=text"
BACON_BODY: Final = bacon_text("crispy", "text").encode()


def _check_bacon(result: Result) -> None:
    _check_rendered(result, b"text/plain", lambda body: body == BACON_BODY)
    name, value = (part.lower().encode() for part in POWERED_BY)
    if (result.header(name) or b"").lower() != value:
        raise WrongAnswer(f"{POWERED_BY[0]}: {result.header(name)!r}")


#: Workload (g): three cookies, one of them read.
COOKIES: Final = b"theme=dark; session=c0ffee42; lang=en-GB"
SESSION_BODY: Final = b"session c0ffee42"
#: Workload (h): three query parameters, read as they come.
SEARCH_QUERY: Final = b"q=crispy+bacon&page=2&limit=10"
SEARCH_BODY: Final = b"crispy bacon|2|10"


@dataclass(frozen=True, slots=True)
class Workload:
    """One in-process workload."""

    key: str
    title: str
    method: str
    path: str
    body: bytes
    check: Callable[[Result], None]
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    query: bytes = b""

    def scope(self) -> dict[str, Any]:
        """The HTTP scope of the request, shaped like uvicorn's."""
        headers = list(_BASE_HEADERS) + self.headers
        if self.body:
            headers.append((b"content-length", str(len(self.body)).encode()))
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 54321),
            "scheme": "http",
            "method": self.method,
            "root_path": "",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": self.query,
            "headers": headers,
            "state": {},
        }

    def request(self) -> Message:
        """The one ``http.request`` message carrying the whole body."""
        return {"type": "http.request", "body": self.body, "more_body": False}


#: The workloads, in table order.
WORKLOADS: Final = (
    Workload("a", "GET plain text", "GET", "/plaintext", b"", _check_plaintext),
    Workload(
        "b",
        "POST 1 KiB JSON echo",
        "POST",
        "/echo",
        JSON_PAYLOAD_BYTES,
        _check_echo,
        [(b"content-type", b"application/json")],
    ),
    Workload("c", "3 typed params, 50 routes", "GET", TYPED_PATH, b"", _check_typed),
    Workload("d", "64 KiB streamed, 4 KiB chunks", "GET", "/stream", b"", _check_stream),
    Workload("e", "one SSE event", "GET", "/sse", b"", _check_sse),
    Workload(
        "f",
        "the seed's route: a query parameter, a header, text",
        "GET",
        BACON_PATH,
        b"",
        _check_bacon,
        query=BACON_QUERY,
    ),
    Workload(
        "g",
        "a route reading a cookie",
        "GET",
        "/session",
        b"",
        lambda result: _check_rendered(result, b"text/plain", lambda b: b == SESSION_BODY),
        [(b"cookie", COOKIES)],
    ),
    Workload(
        "h",
        "a route reading three query parameters",
        "GET",
        "/search",
        b"",
        lambda result: _check_rendered(result, b"text/plain", lambda b: b == SEARCH_BODY),
        query=SEARCH_QUERY,
    ),
)


def by_key(key: str) -> Workload:
    """The workload called ``key`` (``a`` to ``h``)."""
    for workload in WORKLOADS:
        if workload.key == key:
            return workload
    raise KeyError(key)
