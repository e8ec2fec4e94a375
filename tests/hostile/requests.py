"""Hypothesis strategies for hostile requests: raw HTTP/1.1 bytes, and ASGI scopes with bodies.

The wire strategy builds a request line (method, target, version), a header block and a body
with its framing from pieces that have broken servers and frameworks before: percent-encoded dot
segments, invalid UTF-8, full-width digits, lying or duplicated lengths, malformed chunks,
duplicated Host headers, deep JSON, lone surrogates, NaN. Most requests stay close enough to
valid HTTP that a server hands them to the app; the rest probe the server's own parser.

The scope strategy is what a lenient server could hand the app for such a request: any method
token, any decoded path, any header bytes but CR/LF, and a body that may lie about its length,
end early or be cut by a disconnect.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote

from hypothesis import strategies as st

__all__ = [
    "HostileExchange",
    "HostileRequest",
    "exchanges",
    "requests",
]

# -- pieces --------------------------------------------------------------------------------------

METHODS: Final = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
ODD_METHODS: Final = ("FOO", "get", "G\x7fT", "GET GET", "M" * 300, "CONNECT", "TRACE")

#: Segments that have fooled path handling: dot segments in every encoding, NUL, invalid and
#: overlong UTF-8, full-width and Arabic-Indic digits, stray percent signs.
SEGMENTS: Final = (
    "..",
    ".",
    "%2e%2e",
    "%2E%2E",
    "..%2f",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc",
    "..%5c..%5cwindows",
    "%00",
    "a%00b",
    "%ff",
    "%c0%ae%c0%ae",
    "%ed%a0%80",
    "%ef%bc%92024-01-01",
    "\uff12024-01-01",
    "\u0662\u0660\u0662\u0664-01-01",
    "2024-1-1",
    "2024-01-01",
    "2024-01-02T03:04:05+01:00",
    "2024-01-02\u00e903:04",
    "42",
    "-0",
    "\uff14\uff12",
    "1e999",
    "NaN",
    "1.5",
    "12345678-1234-5678-1234-567812345678",
    "%",
    "%zz",
    "%25",
    "a;b=c",
    "\U0001f953",
    "x" * 3000,
    "",
)

QUERIES: Final = (
    "",
    "as=media",
    "as=text&as=media",
    "q=bacon&page=2&limit=10",
    "q=%ff%fe&page=%ef%bc%92&limit=-1",
    "page=99999999999999999999",
    "page=1e3&limit=0x10",
    "&&&==&=&a",
    "a=%zz&b=%&c=%2",
    "x=%ed%a0%80",
    "x=" + "y" * 5000,
    "&".join(f"k{i}=v" for i in range(400)),
    "a=1;b=2",
    "x=\U0001f953",
)

#: Header values that reach the app on a lenient server: non-ASCII bytes, NUL, very long.
ODD_VALUES: Final = (
    b"",
    b" ",
    b"\x00",
    b"\xff\xfe",
    "\u00e9".encode("latin-1"),
    "\U0001f953".encode(),
    b"a" * 8000,
    b"=;=;;",
    b'"quoted\\"',
)

COOKIES: Final = (
    b"session=abc",
    b"session=abc; session=def",
    b'session="a\\"b"; x="\\377"',
    b'session="unterminated',
    b";;;==;",
    b"=v; k=",
    b"session=" + b"z" * 6000,
    b"\xff=\xfe",
    b'a="\\',
)

CONTENT_TYPES: Final = (
    b"application/json",
    b"application/json; charset=utf-16",
    b"Application/JSON;;;",
    b"application/x-www-form-urlencoded",
    b"*/*",
    b"text/plain",
    b";",
    b"application/json\x00",
    b"multipart/form-data; boundary=x",
)

#: JSON and form bodies that have crashed parsers.
BODIES: Final = (
    b"",
    b"{}",
    b'{"a": [1, 2]}',
    b"[" * 973 + b"]" * 973,
    b'{"a":' * 50000,
    b"[" * 129 + b"]" * 129,
    b'"\\ud800"',
    b'{"\\udfff": 1}',
    b'"\xed\xa0\x80"',
    b"NaN",
    b"[Infinity, -Infinity]",
    b"1e99999",
    b"1" * 5000,
    b"\xef\xbb\xbf[1]",
    '"x"'.encode("utf-16"),
    b"\xff\xfe\xfd",
    b"a=1&b=%ff&c=%zz",
    b"k=\xc3\xbc",
    b"{" * 200000,
    json.dumps({"k": "\u00e9" * 100}).encode(),
)


@dataclass(frozen=True, slots=True)
class HostileRequest:
    """One request as bytes, in the pieces it is written in."""

    pieces: tuple[bytes, ...]
    method: str
    #: Whether the bytes frame a complete request (else the server waits for more, and the
    #: client half-closes).
    complete: bool

    @property
    def data(self) -> bytes:
        """The whole request."""
        return b"".join(self.pieces)


def _target(route: str, segments: list[str], query: str) -> str:
    parts = route.split("/")
    filled = [
        segments[i % len(segments)] if part.startswith("{") else part
        for i, part in enumerate(parts)
    ]
    path = "/".join(filled)
    return path + (f"?{query}" if query else "")


#: The routes of the hostile app as the generator fills them, with the method each answers
#: and the content type its body takes (None: it reads no body).
_ROUTES: Final = (
    ("/bacon/{x}", "GET", None),
    ("/echo", "POST", b"application/json"),
    ("/form", "POST", b"application/x-www-form-urlencoded"),
    ("/upload", "PUT", b"application/octet-stream"),
    ("/typed/{n}/{f}/{u}/{d}/{t}", "GET", None),
    ("/files/{rest}", "GET", None),
    ("/files/{a}/{b}/{c}", "GET", None),
    ("/cookies", "GET", None),
    ("/search", "GET", None),
    ("/stream", "GET", None),
    ("/sse", "GET", None),
    ("/url", "GET", None),
    ("/headers", "GET", None),
    ("/health", "GET", None),
    ("/nowhere/{x}", "GET", None),
)
_BODY_ROUTES: Final = tuple(route for route in _ROUTES if route[2] is not None)
_ODD_TARGETS: Final = (
    "*",
    "http://evil.example/bacon/1",
    "//bacon/1",
    "/%2fbacon",
    "bacon/1",
    "/echo#frag",
    "/bacon/1?",
    "/bacon/1??as=media",
    "/./bacon/1",
    "/bacon/1/../../health",
)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a request is about: its target, method, content type and body."""

    target: str
    method: str
    content_type: bytes | None
    body: bytes


@st.composite
def _plans(draw: st.DrawFn) -> _Plan:
    """A route with the method it answers (mostly) and a body of its kind (mostly), so that
    hostile bodies reach the code that parses them."""
    # The routes that parse a body come up as often as all the others together.
    routes = _BODY_ROUTES if draw(st.booleans()) else _ROUTES
    route, method, content_type = draw(st.sampled_from(routes))
    target = _target(
        route,
        draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=5)),
        draw(st.sampled_from(QUERIES)),
    )
    if draw(st.integers(0, 9)) == 0:
        target = draw(st.sampled_from(_ODD_TARGETS))
    if draw(st.integers(0, 4)) == 0:
        method = draw(st.sampled_from(METHODS) | st.sampled_from(ODD_METHODS))
    if content_type is None or draw(st.integers(0, 4)) == 0:
        content_type = draw(st.none() | st.sampled_from(CONTENT_TYPES))
    body = b""
    if method != "GET":  # one of the bodies known to hurt, three times in four
        hurtful = draw(st.integers(0, 3)) > 0
        body = draw(st.sampled_from(BODIES) if hurtful else st.binary(max_size=64))
    return _Plan(target, method, content_type, body)


header_lines = st.lists(
    st.one_of(
        st.tuples(st.sampled_from([b"cookie"]), st.sampled_from(COOKIES)),
        st.tuples(st.sampled_from([b"content-type"]), st.sampled_from(CONTENT_TYPES)),
        st.tuples(
            st.sampled_from([b"x-odd", b"accept", b"user-agent"]), st.sampled_from(ODD_VALUES)
        ),
        st.tuples(st.sampled_from([b"expect"]), st.sampled_from([b"100-continue", b"nothing"])),
        st.tuples(st.sampled_from([b"host"]), st.sampled_from([b"a", b"b:99", b"", b"a, b"])),
        st.tuples(
            st.sampled_from([b"X-Mixed-Case", b"x_underscore", b"x odd", b"\xffname"]),
            st.sampled_from([b"v"]),
        ),
    ),
    max_size=4,
)

Framing = tuple[list[bytes], bytes, bool]


def _chunked(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"


#: How the body is framed, by name: the framing header lines, the bytes after the header block,
#: and whether that makes a complete request.
FRAMINGS: Final[dict[str, Callable[[bytes], Framing]]] = {
    "none": lambda body: ([], b"", True),
    "length": lambda body: ([b"content-length: %d" % len(body)], body, True),
    "length-short": lambda body: ([b"content-length: %d" % (len(body) + 10)], body, False),
    "length-long": lambda body: ([b"content-length: %d" % max(0, len(body) - 1)], body, True),
    "length-twice": lambda body: ([b"content-length: %d" % len(body)] * 2, body, True),
    "length-conflicting": lambda body: (
        [b"content-length: %d" % len(body), b"content-length: 1%d" % len(body)],
        body,
        True,
    ),
    "length-junk": lambda body: ([b"content-length: +%d" % len(body)], body, True),
    "length-huge": lambda body: ([b"content-length: 1" + b"0" * 30], body, False),
    "chunked": lambda body: ([b"transfer-encoding: chunked"], _chunked(body), True),
    "chunked-bad-size": lambda body: (
        [b"transfer-encoding: chunked"],
        b"zz\r\n" + body + b"\r\n0\r\n\r\n",
        True,
    ),
    "chunked-overflow": lambda body: ([b"transfer-encoding: chunked"], b"f" * 40 + b"\r\n", False),
    "chunked-extension": lambda body: (
        [b"transfer-encoding: chunked"],
        b"%x;a=b\r\n%s\r\n0\r\n\r\n" % (len(body), body),
        True,
    ),
    "chunked-no-end": lambda body: ([b"transfer-encoding: chunked"], _chunked(body)[:-5], False),
    "chunked-trailers": lambda body: (
        [b"transfer-encoding: chunked"],
        _chunked(body)[:-2] + b"x-trailer: t\r\n\r\n",
        True,
    ),
    "chunked-and-length": lambda body: (
        [b"transfer-encoding: chunked", b"content-length: %d" % len(body)],
        _chunked(body),
        True,
    ),
    "chunked-not-last": lambda body: (
        [b"transfer-encoding: chunked, gzip"],
        _chunked(body),
        True,
    ),
}


#: The framings of a body that tell its truth.
_PROPER: Final = ("length", "chunked")


def _split(data: bytes, cuts: list[int]) -> tuple[bytes, ...]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return tuple(piece for piece in pieces if piece)


#: What a wire-level request may get wrong on purpose, beside its target, query and body (which
#: reach the app): each request gets one or two of these, the rest of it well formed, so that
#: most requests get through the server's parser and the app sees one hostile thing at a time.
ASPECTS: Final = (
    "method",
    "version",
    "line-endings",
    "host",
    "headers",
    "framing",
    "raw-target",
)


def _percent_encode_non_ascii(target: str) -> str:
    return "".join(c if c.isascii() else quote(c) for c in target)


@st.composite
def requests(draw: st.DrawFn) -> HostileRequest:
    """A hostile HTTP/1.1 request, as raw bytes."""
    plan = draw(_plans())
    focus = draw(st.sets(st.sampled_from(ASPECTS), max_size=2))
    method, body = plan.method, plan.body
    if "method" in focus:
        method = draw(st.sampled_from(ODD_METHODS))
    target = plan.target if "raw-target" in focus else _percent_encode_non_ascii(plan.target)
    version = "HTTP/1.1"
    if "version" in focus:
        version = draw(st.sampled_from(["HTTP/1.0", "HTTP/2.0", "HTTP/1.1 x", "http/1.1", ""]))
    eol = b"\n" if "line-endings" in focus else b"\r\n"
    hosts = [b"127.0.0.1"]
    if "host" in focus:
        hosts = draw(st.sampled_from([[], [b"a", b"b"], [b"a", b"a"], [b""], [b"a b"]]))
    lines = [b"host: " + host for host in hosts]
    if plan.content_type is not None:
        lines.append(b"content-type: " + plan.content_type)
    if draw(st.booleans()):
        lines.append(b"cookie: " + draw(st.sampled_from(COOKIES)))
    if "headers" in focus:
        lines += [name + b": " + value for name, value in draw(header_lines)]
        if draw(st.booleans()):  # obs-fold, which RFC 9112 §5.2 has servers refuse
            lines.insert(draw(st.integers(0, len(lines))), b" folded continuation")
    proper = _PROPER if body else ("none",)
    framing = draw(st.sampled_from(sorted(FRAMINGS) if "framing" in focus else proper))
    framing_lines, after, complete = FRAMINGS[framing](body)
    lines += framing_lines
    lines.append(b"connection: close")
    request_line = f"{method} {target} {version}".rstrip().encode("utf-8", "surrogateescape")
    head = request_line + eol + b"".join(line + eol for line in lines) + eol
    data = head + after
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=2))
    return HostileRequest(_split(data, cuts), method, complete)


# -- ASGI level ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostileExchange:
    """What a lenient server could hand the app: a scope's parts and the body messages."""

    method: str
    path: str
    query: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: tuple[bytes, ...]
    #: False: the last body message says ``more_body=True`` and the client then leaves.
    complete: bool


header_bytes = st.binary(max_size=40).filter(
    lambda value: b"\r" not in value and b"\n" not in value
)

asgi_headers = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from([b"content-length"]),
            st.sampled_from(
                [b"0", b"5", b"-1", b"1" * 25, b"00000000000000000000003", b" 3 ", b"3, 3", b"\xb2"]
            ),
        ),
        st.tuples(st.sampled_from([b"host"]), st.sampled_from([b"a", b"a:1", b"", b"\xff"])),
        st.tuples(st.sampled_from([b"cookie"]), st.sampled_from(COOKIES) | header_bytes),
        st.tuples(st.sampled_from([b"content-type"]), st.sampled_from(CONTENT_TYPES)),
        st.tuples(
            st.binary(min_size=1, max_size=12)
            .map(bytes.lower)
            .filter(lambda name: b"\r" not in name and b"\n" not in name),
            header_bytes,
        ),
    ),
    max_size=5,
)


@st.composite
def exchanges(draw: st.DrawFn) -> HostileExchange:
    """A hostile request at the ASGI level (the path decoded as servers decode it)."""
    plan = draw(_plans())
    path, _, query = plan.target.partition("?")
    if not path.startswith("/"):
        path = "/" + path
    body = plan.body
    cuts = draw(st.lists(st.integers(0, len(body)), max_size=3))
    headers = draw(asgi_headers)
    if plan.content_type is not None:
        headers.append((b"content-type", plan.content_type))
    if draw(st.booleans()):  # the true length, as most servers pass it
        headers.append((b"content-length", str(len(body)).encode()))
    return HostileExchange(
        method=plan.method,
        path=unquote(path),
        query=query.encode("utf-8", "surrogateescape"),
        headers=tuple(headers),
        body=_split(body, cuts) or (b"",),
        complete=draw(st.booleans() | st.just(True)),
    )
