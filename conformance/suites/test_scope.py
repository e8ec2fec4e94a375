"""The HTTP connection scope: every field as the app saw it, against what the client sent.

ASGI HTTP spec 2.5 (asgiref ``specs/www.rst``, "HTTP Connection Scope", "Request - receive
event", "Disconnect - receive event"), the ASGI core spec (``specs/asgi.rst``: the ``asgi``
key, extensions) and lifespan 2.0 ("Lifespan State").

The scope is recorded by a raw ASGI endpoint (:mod:`conformance.contract.scope`), never through
the framework, with the exact Python type of every value
(:class:`~conformance.contract.scope.Typed`): a server that gives a ``str`` port fails here even
though a framework would quietly turn it into an ``int``. The client speaks the variant's
protocol; HTTP/1.1 requests are written by hand, so the header bytes the server parsed are
exactly the case's. Over HTTP/2 a request without a body ends its stream with an empty DATA
frame (as httpx does), except in ``scope/empty-body``, which ends it on the HEADERS frame (as
browsers do) to judge exactly that.

What the spec leaves open is never judged: optional keys may be absent (``raw_path``,
``root_path``, ``scheme`` on cleartext, ``client``, ``server``, ``state``, ``extensions``,
``asgi.spec_version``), ``client`` and ``server`` may be lists or tuples, the order of
*different* header names is free (only the order of each name's values counts), a request body
may come in any number of messages (empty ones too), and HTTP/2 cookies may come joined or
apart. Each docstring names the break of :mod:`conformance.broken.scope` that fails the case.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from conformance.cases import Grade, case
from conformance.client import TIMEOUT, H2Session, Observer, RawHTTP1, new_token
from conformance.contract.scope import (
    AFTER_RESPONSE_WAIT,
    DECODED_PATH,
    DUMP,
    ENCODED_PATH,
    Dump,
    Received,
    Typed,
)
from servers import Capability, HTTPProtocol, RunningServer

from ._helpers import require_protocol

#: How soon ``receive()`` must return ``http.disconnect`` once the response is complete. Every
#: server answers within a millisecond on loopback; the bound leaves room for a loaded machine.
DISCONNECT_BOUND: Final = TIMEOUT / 10
#: The query string of the path cases: percent-encoded bytes, ``+``, a key without a value.
QUERY: Final = "q=%20&r=%2F&s=a+b&t=%E2%82%AC&flag&e="
#: A method that is a valid token but no registered method (RFC 9110 §9.1, §16.1).
EXTENSION_METHOD: Final = "X-CUSTOM"
#: The HTTP/1.1 header fields of ``scope/headers``, as sent: names in several cases, a name
#: repeated (also between others), an empty value, whitespace inside a value.
HEADER_LINES: Final = (
    (b"X-Dup", b"1"),
    (b"x-other", b"a"),
    (b"X-DUP", b"2"),
    (b"Cookie", b"a=1"),
    (b"x-dup", b"3"),
    (b"x-empty", b""),
    (b"x-spaces", b"a  b\tc"),
)
#: What each sent field's value is, by lowercased name, in order.
HEADER_VALUES: Final = {
    b"x-dup": [b"1", b"2", b"3"],
    b"x-other": [b"a"],
    b"cookie": [b"a=1"],
    b"x-empty": [b""],
    b"x-spaces": [b"a  b\tc"],
}
#: The HTTP/2 header fields of ``scope/headers`` (lowercase, as HTTP/2 requires).
H2_HEADER_LINES: Final = tuple((name.lower(), value) for name, value in HEADER_LINES)
#: Field lines with optional whitespace (OWS) around their values, and the values.
OWS_LINES: Final = (
    (b"x-ows-trailing", b"v  ", b"v"),
    (b"x-ows-tab", b"v\t", b"v"),
    (b"x-ows-both", b"\t w  x \t ", b"w  x"),
)

_VERSION = re.compile(r"\d+\.\d+")


# -- one request to the dump endpoint -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """A request as the case sends it.

    Attributes:
        method: the method token.
        target: the request target (path and query, percent-encoded as sent).
        headers: header fields after ``host`` (HTTP/1.1: bytes as written; HTTP/2: the
            names must be lowercase).
        body: the body, sent with its Content-Length; None: no body, no Content-Length.
        version: the HTTP-version of an HTTP/1.1 request line.
    """

    method: str = "GET"
    target: str = DUMP
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes | None = None
    version: str = "HTTP/1.1"

    def encode(self, authority: str) -> bytes:
        """The HTTP/1.1 (or 1.0) request, byte for byte."""
        lines = [
            f"{self.method} {self.target} {self.version}".encode(),
            b"Host: " + authority.encode(),
        ]
        lines += [name + b": " + value for name, value in self.headers]
        if self.body is not None:
            lines.append(b"Content-Length: %d" % len(self.body))
        return b"\r\n".join(lines) + b"\r\n\r\n" + (self.body or b"")


@dataclass(frozen=True, slots=True)
class Answer:
    """The response to a :class:`Request`: status, body, and the wire transcript."""

    status: int
    body: bytes
    transcript: str

    def dump(self) -> Dump:
        """The scope the endpoint recorded.

        Raises:
            AssertionError: the response is not the endpoint's (a 404: the path did not route).
        """
        assert self.status == 200, (
            f"the dump endpoint did not answer: {self.status} {self.body[:200]!r}\n"
            f"{self.transcript}"
        )
        return Dump.from_json(json.loads(self.body))


async def _ask(
    server: RunningServer,
    request: Request,
    *,
    token: str | None = None,
    end_on_headers: bool = False,
) -> Answer:
    """Send ``request`` in the variant's protocol (with ``x-probe-token`` if ``token``).

    Over HTTP/2 a request without a body ends its stream with an empty DATA frame (as httpx
    does), unless ``end_on_headers``: then on its HEADERS frame (as browsers do).
    """
    if token is not None:
        request = Request(
            request.method,
            request.target,
            (*request.headers, (b"x-probe-token", token.encode())),
            request.body,
            request.version,
        )
    what = f"{request.method} {request.target}"
    if server.spec.protocol is HTTPProtocol.HTTP1:
        async with RawHTTP1(server) as connection:
            await connection.send(request.encode(server.authority))
            try:
                response = await connection.response()
            except (TimeoutError, ConnectionError) as error:
                raise AssertionError(
                    f"no complete response to {what}: {error}\n{connection.transcript.render()}"
                ) from error
            return Answer(response.status, response.body, connection.transcript.render())
    async with H2Session(server, validate_headers=False) as session:
        stream_id = await _h2_request(session, request, end_on_headers=end_on_headers)
        try:
            await session.until_ended(stream_id)
        except TimeoutError as error:
            raise AssertionError(
                f"no complete response to {what} within {TIMEOUT} s\n{session.result.describe()}"
            ) from error
        except ConnectionError as error:
            raise AssertionError(
                f"no complete response to {what}: {error}\n{session.result.describe()}"
            ) from error
        stream = session.streams[stream_id]
        return Answer(stream.status, stream.data, session.result.describe())


async def _h2_request(session: H2Session, request: Request, *, end_on_headers: bool) -> int:
    headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in request.headers]
    if request.body is not None:
        headers.append(("content-length", str(len(request.body))))
    if end_on_headers and request.body is None:
        return await session.request(request.method, request.target, headers)
    stream_id = await session.request(
        request.method, request.target, headers, end_stream=False, flush=False
    )
    await session.send_data(stream_id, request.body or b"", end_stream=True)
    return stream_id


async def _dump(server: RunningServer, request: Request = Request()) -> Dump:
    return (await _ask(server, request)).dump()


def _field(dump: Dump, key: str) -> Typed:
    value = dump.get(key)
    assert value is not None, f"the scope has no {key!r} key; its keys: {dump.keys()}"
    return value


def _is_str(value: Typed | None) -> bool:
    return value is not None and value.type == "str"


def _h2(server: RunningServer) -> bool:
    return server.spec.protocol is not HTTPProtocol.HTTP1


# -- type, asgi, http_version, method, scheme ---------------------------------------------------


@case(
    "scope/type-and-asgi",
    grade=Grade.REQUIRED,
    clause='ASGI HTTP 2.5, HTTP Connection Scope: type (Unicode string) "http"; asgi["version"] '
    '(Unicode string) the ASGI version; asgi["spec_version"] (Unicode string), optional',
)
async def test_the_scope_names_its_type_and_asgi_versions(server: RunningServer) -> None:
    """``type`` is the str ``"http"``; ``asgi`` a dict with str versions.

    Server behaviour judged: ``scope["type"]`` is exactly ``"http"``; ``scope["asgi"]["version"]``
    is a str version of ASGI 3 (the server calls a single-callable ASGI 3 app);
    ``scope["asgi"]["spec_version"]``, if present, is a str version of the HTTP spec
    (``"2.0"``, ``"2.1"``...). Break: ``asgi-versions-as-floats`` (``3.0`` and ``2.3`` as floats).
    """
    dump = await _dump(server)
    kind = _field(dump, "type")
    assert (kind.type, kind.value) == ("str", "http"), f"scope['type'] is {kind}"
    asgi = _field(dump, "asgi")
    assert asgi.mapping, f"scope['asgi'] is {asgi}, not a dict"
    version = asgi.get("version")
    assert _is_str(version), f"scope['asgi']['version'] is {version}, not a str"
    assert version is not None
    assert _VERSION.fullmatch(version.value), (
        f"scope['asgi']['version'] is {version}, not a version string"
    )
    assert version.value.split(".")[0] == "3", (
        f"scope['asgi']['version'] is {version}, but the server called an ASGI 3 app"
    )
    spec = asgi.get("spec_version")
    if spec is not None:
        assert _is_str(spec), f"scope['asgi']['spec_version'] is {spec}, not a str"
        assert _VERSION.fullmatch(spec.value), (
            f"scope['asgi']['spec_version'] is {spec}, not a version like '2.3'"
        )
        assert spec.value.split(".")[0] == "2", (
            f"scope['asgi']['spec_version'] is {spec}: the HTTP spec versions are 2.x"
        )


@case(
    "scope/http-version",
    grade=Grade.REQUIRED,
    clause='ASGI HTTP 2.5, HTTP Connection Scope: http_version (Unicode string) one of "1.0", '
    '"1.1" or "2"',
)
async def test_http_version_names_the_protocol_spoken(server: RunningServer) -> None:
    """``http_version`` is ``"1.1"`` over HTTP/1.1 and ``"2"`` over HTTP/2, as a str.

    Server behaviour judged: the version string of the protocol the client spoke. Break:
    ``http-version-as-protocol-name`` (``"HTTP/1.1"``, ``"HTTP/2.0"``).
    """
    expected = "2" if _h2(server) else "1.1"
    version = _field(await _dump(server), "http_version")
    assert (version.type, version.value) == ("str", expected), (
        f"over {server.spec.protocol} scope['http_version'] is {version}, not str {expected!r}"
    )


@case(
    "scope/http-version-1-0",
    grade=Grade.REQUIRED,
    clause='ASGI HTTP 2.5, HTTP Connection Scope: http_version (Unicode string) one of "1.0", '
    '"1.1" or "2"',
)
async def test_an_http_1_0_request_has_http_version_1_0(server: RunningServer) -> None:
    """An ``HTTP/1.0`` request line gives ``http_version`` ``"1.0"``.

    Server behaviour judged: the version of an HTTP/1.0 request (RFC 9112 §2.3), which servers
    still get from old clients and health checkers, is spelled as the spec lists it: granian
    gives ``"1"``. Break: ``http-version-as-protocol-name``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    version = _field(await _dump(server, Request(version="HTTP/1.0")), "http_version")
    assert (version.type, version.value) == ("str", "1.0"), (
        f"an HTTP/1.0 request gave scope['http_version'] {version}, not str '1.0'"
    )


@case(
    "scope/method",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, HTTP Connection Scope: method (Unicode string) the HTTP method name, "
    "uppercased",
)
async def test_the_method_is_the_one_sent(server: RunningServer) -> None:
    """``method`` is the request's method as a str: GET, POST, and PURGE and M-SEARCH.

    Server behaviour judged: the method token reaches the app unchanged, the common ones and
    two widely used ones outside RFC 9110 (PURGE of HTTP caches, M-SEARCH of SSDP). Break:
    ``method-lowercased``.
    """
    for method, body in (("GET", None), ("POST", b"x"), ("PURGE", None), ("M-SEARCH", None)):
        answer = await _ask(server, Request(method=method, body=body))
        seen = _field(answer.dump(), "method")
        assert (seen.type, seen.value) == ("str", method), (
            f"a {method} request gave scope['method'] {seen}"
        )


@case(
    "scope/extension-method",
    grade=Grade.RECOMMENDED,
    clause="RFC 9110 §9.1: method = token; an origin server that receives a method that is "
    "unrecognized or not implemented SHOULD respond with 501: the app is the origin server",
)
async def test_an_extension_method_reaches_the_app(server: RunningServer) -> None:
    """A method that is a valid token but no registered one reaches the app.

    RFC 9110 §9.1 makes any token a method and §16.1 lets new ones be defined; whether to serve
    it (or answer 501) is the origin server's decision, which under ASGI is the app's. Server
    behaviour judged: ``X-CUSTOM`` is handed to the app, not refused by the server's parser
    (uvicorn with httptools answers 400: llhttp knows a fixed list of methods). Break:
    ``unknown-method-refused``.
    """
    answer = await _ask(server, Request(method=EXTENSION_METHOD))
    assert answer.status == 200, (
        f"the server answered a {EXTENSION_METHOD} request {answer.status} without calling the "
        f"app\n{answer.transcript}"
    )
    seen = _field(answer.dump(), "method")
    assert (seen.type, seen.value) == ("str", EXTENSION_METHOD), f"scope['method'] is {seen}"


@case(
    "scope/scheme",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, HTTP Connection Scope: scheme (Unicode string) URL scheme portion "
    '(likely "http" or "https"); optional (but must not be empty), default "http"',
)
async def test_the_scheme_says_whether_tls_was_used(server: RunningServer) -> None:
    """``scheme`` is ``"https"`` on a TLS connection, ``"http"`` (or absent) on cleartext.

    Server behaviour judged: the scheme the client used; its absence means ``"http"``, so on
    TLS it must be present. Break: ``scheme-always-http`` (on a TLS variant).
    """
    value = (await _dump(server)).get("scheme")
    expected = "https" if server.spec.tls else "http"
    if value is None:
        assert expected == "http", "a request over TLS has no scope['scheme'] (so 'http')"
        return
    assert (value.type, value.value) == ("str", expected), (
        f"a request over {'TLS' if server.spec.tls else 'cleartext TCP'} gave scope['scheme'] "
        f"{value}, not str {expected!r}"
    )


# -- path, raw_path, query_string, root_path ----------------------------------------------------


async def _encoded(server: RunningServer) -> Dump:
    """The dump of a request for :data:`ENCODED_PATH` with :data:`QUERY`."""
    answer = await _ask(server, Request(target=f"{ENCODED_PATH}?{QUERY}"))
    assert answer.status == 200, (
        f"the request for {ENCODED_PATH!r} did not reach the endpoint at its decoded path "
        f"{DECODED_PATH!r} (answered {answer.status}): the server did not decode the path\n"
        f"{answer.transcript}"
    )
    return answer.dump()


@case(
    "scope/path-decoded",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, HTTP Connection Scope: path (Unicode string) HTTP request target "
    "excluding any query string, with percent-encoded sequences and UTF-8 byte sequences "
    "decoded into characters",
)
async def test_the_path_is_percent_and_utf8_decoded(server: RunningServer) -> None:
    """``path`` is the target's path, percent-decoded and UTF-8-decoded, without the query.

    The target ``/raw/scope/enc/a%20b+c/%E2%82%AC/x%2Fy`` must give ``/raw/scope/enc/a b+c/€/x/y``:
    ``%20`` a space, ``+`` itself (a literal in a path), the euro sign from its UTF-8 bytes,
    ``%2F`` a ``/``. Break: ``path-not-decoded``.
    """
    path = _field(await _encoded(server), "path")
    assert (path.type, path.value) == ("str", DECODED_PATH), (
        f"scope['path'] is {path}, not str {DECODED_PATH!r}"
    )


@case(
    "scope/raw-path",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, HTTP Connection Scope: raw_path (byte string) the original HTTP path "
    "component, excluding any query string, unmodified from the bytes that were received; "
    "optional, default None",
)
async def test_raw_path_keeps_the_bytes_received(server: RunningServer) -> None:
    """``raw_path``, if given, is the path's bytes as sent: ``%2F`` and ``%20`` kept.

    Server behaviour judged: nothing decoded, no query string; the key may be absent or None
    (a server unable to provide it). Break: ``raw-path-decoded``.
    """
    raw = (await _encoded(server)).get("raw_path")
    if raw is None or raw.type == "NoneType":
        return
    expected = ENCODED_PATH.encode()
    assert (raw.type, raw.value) == ("bytes", expected), (
        f"scope['raw_path'] is {raw}, not bytes {expected!r}"
    )


@case(
    "scope/query-string",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, HTTP Connection Scope: query_string (byte string) URL portion after "
    "the ?, percent-encoded",
)
async def test_the_query_string_is_the_raw_bytes(server: RunningServer) -> None:
    """``query_string`` is the bytes after ``?``, still percent-encoded; ``b""`` with none.

    ``q=%20&r=%2F&s=a+b&t=%E2%82%AC&flag&e=`` must arrive byte for byte: no decoding of
    ``%xx`` or ``+``, no dropped empty parameters. Break: ``query-string-decoded``.
    """
    query = _field(await _encoded(server), "query_string")
    assert (query.type, query.value) == ("bytes", QUERY.encode()), (
        f"scope['query_string'] is {query}, not bytes {QUERY.encode()!r}"
    )
    none = _field(await _dump(server), "query_string")
    assert (none.type, none.value) == ("bytes", b""), (
        f"a target without '?' gave scope['query_string'] {none}, not b''"
    )


@case(
    "scope/root-path",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, HTTP Connection Scope: root_path (Unicode string) the root path this "
    'application is mounted at; optional, default ""',
)
async def test_the_root_path_is_empty_when_none_was_configured(server: RunningServer) -> None:
    """``root_path`` is ``""`` (or absent): the harness mounts the app at the root.

    Break: ``root-path-none`` (None, where a str is due).
    """
    root = (await _dump(server)).get("root_path")
    if root is None:
        return
    assert (root.type, root.value) == ("str", ""), f"scope['root_path'] is {root}, not str ''"


# -- headers ------------------------------------------------------------------------------------


def _header_pairs(dump: Dump) -> list[tuple[Typed, Typed]]:
    """The scope's header fields as ``(name, value)`` pairs, each checked to be a pair."""
    headers = _field(dump, "headers")
    items = headers.items()
    assert items or headers.type in ("list", "tuple"), f"scope['headers'] is {headers}"
    pairs = []
    for item in items:
        fields = item.items()
        assert len(fields) == 2, f"a header field is {item}, not a [name, value] pair"
        pairs.append((fields[0], fields[1]))
    return pairs


def _by_name(pairs: Iterable[tuple[Typed, Typed]]) -> dict[bytes, list[bytes]]:
    """Each name's values, in order; names lowercased (the check of case is separate)."""
    values: dict[bytes, list[bytes]] = {}
    for name, value in pairs:
        assert (name.type, value.type) == ("bytes", "bytes"), (
            f"header field ({name}, {value}): names and values must be bytes"
        )
        values.setdefault(name.value.lower(), []).append(value.value)
    return values


@case(
    "scope/headers",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, HTTP Connection Scope: headers, [name, value] pairs of byte strings; "
    "order of header values must be preserved; duplicates are possible and must be preserved",
)
async def test_header_values_arrive_as_bytes_in_order_with_duplicates(
    server: RunningServer,
) -> None:
    """Every field sent reaches the app as ``(bytes, bytes)``, each name's values in order.

    ``x-dup`` three times (another field between), an empty value, whitespace inside a value
    (kept). The order of *different* names is free (spec: "order of header names is not
    important"); the case of names is judged by ``scope/header-names-lowercased``, whitespace
    around values by ``scope/header-value-ows-trimmed``. Break: ``duplicate-headers-merged``
    (joined with commas).
    """
    lines = H2_HEADER_LINES if _h2(server) else HEADER_LINES
    values = _by_name(_header_pairs(await _dump(server, Request(headers=lines))))
    for name, expected in HEADER_VALUES.items():
        assert values.get(name) == expected, (
            f"header {name.decode()!r}: the app got {values.get(name)}, the client sent "
            f"{expected} (in this order)"
        )
    assert len(values.get(b"host", [])) == 1, f"the host field: {values.get(b'host')}"


@case(
    "scope/header-value-ows-trimmed",
    grade=Grade.RECOMMENDED,
    clause="RFC 9112 §5.1: OWS before the first or after the last non-whitespace octet of the "
    "field line value is excluded by parsers when extracting the field line value",
)
async def test_whitespace_around_a_header_value_is_not_part_of_it(server: RunningServer) -> None:
    """Spaces and tabs around an HTTP/1.1 field value do not reach the app.

    ``field-line = field-name ":" OWS field-value OWS`` (RFC 9112 §5): the value the app gets
    (ASGI: "the header value") has neither leading nor trailing SP or HTAB; whitespace inside
    it stays. uvicorn with httptools keeps the trailing whitespace (llhttp reports the value
    with it, by design). Break: ``header-values-padded``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    lines = tuple((name, sent) for name, sent, _ in OWS_LINES)
    values = _by_name(_header_pairs(await _dump(server, Request(headers=lines))))
    for name, sent, expected in OWS_LINES:
        assert values.get(name) == [expected], (
            f"header {name.decode()!r} sent as {sent!r}: the app got {values.get(name)}, not "
            f"{[expected]} (the value without the whitespace around it)"
        )


@case(
    "scope/header-names-lowercased",
    grade=Grade.INFORMATIONAL,
    clause="ASGI HTTP 2.5, HTTP Connection Scope: header names should be lowercased, but it is "
    "not required; servers should preserve header case on a best-effort basis",
)
async def test_header_names_are_lowercased(server: RunningServer) -> None:
    """Whether header names reach the app lowercased (``X-DUP`` as ``x-dup``).

    The spec asks both for lowercase names and for the case sent "on a best-effort basis", so
    either is recorded, neither required. Every server lowercases. Break:
    ``header-names-title-cased``.
    """
    require_protocol(server, HTTPProtocol.HTTP1)
    names = [
        name.value for name, _ in _header_pairs(await _dump(server, Request(headers=HEADER_LINES)))
    ]
    upper = [name for name in names if name != name.lower()]
    assert not upper, f"header names not lowercased: {upper}"


@case(
    "scope/authority-as-host-h2",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, HTTP Connection Scope: pseudo headers must be removed; if :authority "
    "is present its value must be added to the start of the iterable with host as the header "
    "name",
    requires=[Capability.HTTP2],
)
async def test_h2_authority_becomes_the_first_host_field(server: RunningServer) -> None:
    """Over HTTP/2, ``:authority`` is the first header, named ``host``; no pseudo-headers.

    The request has no ``host`` field of its own, so the app can only learn the authority from
    the server. Break: ``host-missing-h2`` (no ``host``, as uvicorn's experimental HTTP/2 was
    seen to do).
    """
    pairs = _header_pairs(await _dump(server, Request(headers=((b"x-after", b"1"),))))
    names = [name.value for name, _ in pairs]
    pseudo = [name for name in names if isinstance(name, bytes) and name.startswith(b":")]
    assert not pseudo, f"pseudo-headers reached the app: {pseudo}"
    hosts = [value.value for name, value in pairs if name.value == b"host"]
    assert hosts == [server.authority.encode()], (
        f"the host fields are {hosts}, not the :authority {server.authority!r}; headers: {names}"
    )
    assert names[0] == b"host", f"host is not the first header: {names}"


@case(
    "scope/cookies-h2",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, HTTP: in HTTP/2 Cookie headers may appear repeatedly, or be "
    'concatenated using the two-octet delimiter "; " (RFC 9113 §8.2.3)',
    requires=[Capability.HTTP2],
)
async def test_h2_split_cookie_fields_arrive_apart_or_joined_with_semicolons(
    server: RunningServer,
) -> None:
    """Two ``cookie`` fields over HTTP/2 reach the app as two, or as one joined by ``"; "``.

    RFC 9113 §8.2.3 lets a client split the cookie into fields (for compression); the spec
    lets the server pass them on either way, never joined otherwise (a comma is no cookie
    separator). Break: ``cookies-joined-with-comma``.
    """
    sent = ((b"cookie", b"a=1"), (b"x-between", b"1"), (b"cookie", b"b=2"))
    cookies = _by_name(_header_pairs(await _dump(server, Request(headers=sent)))).get(b"cookie")
    assert cookies in ([b"a=1", b"b=2"], [b"a=1; b=2"]), (
        f"the cookie fields a=1 and b=2 reached the app as {cookies}"
    )


# -- client, server ---------------------------------------------------------------------------


def _address(dump: Dump, key: str, *, port_may_be_none: bool) -> tuple[str, Any] | None:
    """The ``(host, port)`` of ``client`` or ``server``, each part's type checked."""
    value = dump.get(key)
    if value is None or value.type == "NoneType":
        return None
    parts = value.items()
    assert value.type in ("list", "tuple"), f"scope[{key!r}] is {value}, not a list or tuple"
    assert len(parts) == 2, f"scope[{key!r}] is {value}, not a [host, port] pair"
    host, port = parts
    assert host.type == "str", f"scope[{key!r}] is {value}: the host must be a str"
    allowed = ("int", "NoneType") if port_may_be_none else ("int",)
    assert port.type in allowed, f"scope[{key!r}] is {value}: the port must be an int"
    return host.value, port.value


@case(
    "scope/client-and-server",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, HTTP Connection Scope: client, a two-item iterable [host, port] with "
    "the remote port as an integer; server, [host, port] with the integer listening port",
)
async def test_client_and_server_are_a_str_host_and_an_int_port(server: RunningServer) -> None:
    """``client`` and ``server`` are ``[str host, int port]`` (a list or a tuple), or absent.

    The server's is the address the harness connected to; the client's is loopback with a
    port. granian gives both ports as ``str``. Break: ``ports-as-str`` (as granian).
    """
    dump = await _dump(server)
    client = _address(dump, "client", port_may_be_none=False)
    if client is not None:
        assert client[0] == server.host, f"scope['client'] host is {client[0]!r}"
        assert 0 < client[1] < 65536, f"scope['client'] port is {client[1]}"
    listening = _address(dump, "server", port_may_be_none=True)
    if listening is not None:
        assert listening == (server.host, server.port), (
            f"scope['server'] is {listening}, the server listens on {server.authority}"
        )


# -- state, extensions --------------------------------------------------------------------------


@case(
    "scope/state-shallow-copy",
    grade=Grade.REQUIRED,
    clause="ASGI lifespan 2.0, Lifespan State: the server will ensure that a shallow copy of "
    "the namespace is passed into each subsequent request/response call",
    requires=[Capability.LIFESPAN_STATE],
)
async def test_each_request_gets_a_shallow_copy_of_the_lifespan_state(
    server: RunningServer,
) -> None:
    """``state`` is a dict copied shallowly per request: own keys stay, shared objects shared.

    Seen raw (no framework between): the first request finds what the lifespan startup stored
    (``startup``, and the list ``shared``), then adds a top-level key and appends to the list;
    the second request must not see the key (its own copy) and must see the list grown (the
    same list object in every copy). Break: ``state-shared-dict`` (one dict for all requests).
    """
    key = f"leak-{new_token()}"
    first = await _dump(server, Request(target=f"{DUMP}?leak={key}"))
    second = await _dump(server)
    for dump in (first, second):
        state = _field(dump, "state")
        assert (state.type, state.mapping) == ("dict", True), (
            f"scope['state'] is {state}, not a dict"
        )
        startup = state.get("startup")
        assert startup is not None, (
            f"scope['state'] lacks what the lifespan startup stored: {state}"
        )
        assert startup.value == "lifespan", f"scope['state'] has startup {startup}"
    state = _field(second, "state")
    assert state.get(key) is None, (
        f"a key the previous request added to its scope['state'] is in this request's: the "
        f"state dict is shared, not copied ({state})"
    )
    shared = state.get("shared")
    assert shared is not None, f"scope['state'] lost the list stored at startup: {state}"
    assert key in shared.plain(), (
        f"the list stored at startup did not keep the previous request's append ({shared}): "
        f"the state was copied deeply, or made afresh"
    )


@case(
    "scope/extensions",
    grade=Grade.REQUIRED,
    clause='ASGI core, Extensions: an "extensions" entry in the scope, itself a dict; each '
    "supported extension an entry under its (Unicode string) name whose value is a dict",
)
async def test_extensions_is_a_dict_of_dicts(server: RunningServer) -> None:
    """``extensions``, if present, maps str names to dicts.

    An app tests for an extension with ``name in scope["extensions"]`` and reads its options
    from the dict. Break: ``extension-flags-as-true`` (``True`` instead of ``{}``).
    """
    extensions = (await _dump(server)).get("extensions")
    if extensions is None or extensions.type == "NoneType":
        return
    assert extensions.mapping, f"scope['extensions'] is {extensions}, not a dict"
    for name, value in extensions.pairs():
        assert name.type == "str", f"an extension's name is {name}, not a str"
        assert value.mapping, f"extension {name.value!r} is {value}, not a dict"


# -- the request messages and the disconnect after the response ---------------------------------


async def _after_response(observer: Observer, token: str) -> dict[str, Any]:
    """The endpoint's ``after-response`` event (it waits up to its own bound for a message)."""
    snapshot = await observer.wait(token, "after-response", timeout=AFTER_RESPONSE_WAIT + TIMEOUT)
    return next(e for e in snapshot["events"] if e["event"] == "after-response")


def _check_body(messages: tuple[Received, ...], expected: bytes) -> None:
    """The messages are ``http.request`` with bytes bodies that add up to ``expected``, and
    exactly the last has ``more_body`` False."""
    shown = ", ".join(str(m) for m in messages)
    for message in messages:
        assert message.type == "http.request", f"the body messages: {shown}"
        assert message.body is None or message.body.type == "bytes", f"a body is not bytes: {shown}"
        assert message.more_body is None or message.more_body.type == "bool", (
            f"more_body is not a bool: {shown}"
        )
    assert b"".join(m.body_bytes for m in messages) == expected, (
        f"the body messages add up to other bytes than the {len(expected)} sent: {shown}"
    )
    ends = [index for index, m in enumerate(messages) if not m.more]
    assert ends == [len(messages) - 1], (
        f"the body must end with exactly one more_body=False, as its last message: {shown}"
    )


async def _body_case(server: RunningServer, request: Request, expected: bytes) -> None:
    token = new_token()
    async with Observer(server) as observer:
        dump = (await _ask(server, request, token=token, end_on_headers=True)).dump()
        _check_body(dump.messages, expected)
        after = (await _after_response(observer, token))["message"]
    if after is not None:
        assert after["type"] != "http.request", (
            f"after the body ended with more_body=False, receive() returned another "
            f"http.request: {Received.from_json(after)}"
        )


@case(
    "scope/empty-body",
    grade=Grade.REQUIRED,
    clause='ASGI HTTP 2.5, Request: body (byte string) optional, default b""; more_body (bool) '
    "optional, default False: False means the request is complete",
)
async def test_a_request_without_a_body_is_one_empty_complete_body(server: RunningServer) -> None:
    """A GET without a body: empty ``http.request`` messages, the last with ``more_body`` False.

    Servers may send more than one message (empty ones with ``more_body`` True first), but
    every body is bytes and empty, ``more_body`` a bool, exactly the last one False, and no
    ``http.request`` follows it. Over HTTP/2 the HEADERS frame ends the stream (no DATA frame
    at all), as a browser's GET does: uvicorn's experimental HTTP/2 (zttp) never delivers an
    ``http.request`` for such a request, so an app that reads the body waits forever. Breaks:
    ``extra-request-after-final``, ``body-as-bytearray``.
    """
    await _body_case(server, Request(), b"")


@case(
    "scope/content-length-body",
    grade=Grade.REQUIRED,
    clause='ASGI HTTP 2.5, Request: "If more_body is True, the consuming application should wait '
    'until it gets a chunk with this set to False"; RFC 9112 §6.3 (Content-Length)',
)
async def test_a_content_length_body_ends_with_one_final_message(server: RunningServer) -> None:
    """A 10-byte body with Content-Length: its bytes, then exactly one ``more_body=False``.

    The messages add up to the ten bytes; the last, and only the last, has ``more_body``
    False; no ``http.request`` comes after it. Breaks: ``extra-request-after-final``,
    ``body-as-bytearray``.
    """
    await _body_case(server, Request(method="POST", body=b"0123456789"), b"0123456789")


@case(
    "scope/disconnect-after-response",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, Disconnect - receive event: sent to the application if receive is "
    "called after a response has been sent or after the HTTP connection has been closed",
)
async def test_receive_after_the_response_returns_http_disconnect(server: RunningServer) -> None:
    """Once the response is complete, ``receive()`` returns ``http.disconnect`` at once.

    The client keeps its (keep-alive, or HTTP/2) connection open meanwhile, so only the end
    of the response can trigger it. The app measures how long ``receive()`` took; the bound is
    :data:`DISCONNECT_BOUND`. Break: ``no-disconnect-after-response`` (``receive()`` waits for
    the connection to close).
    """
    token = new_token()
    async with Observer(server) as observer:
        if _h2(server):
            async with H2Session(server) as session:
                request = Request(headers=((b"x-probe-token", token.encode()),))
                stream_id = await _h2_request(session, request, end_on_headers=False)
                await session.until_ended(stream_id)
                arrived = await observer.happened(token, "after-response", timeout=TIMEOUT)
        else:
            async with RawHTTP1(server) as connection:
                request = Request(headers=((b"x-probe-token", token.encode()),))
                await connection.send(request.encode(server.authority))
                await connection.response()
                arrived = await observer.happened(token, "after-response", timeout=TIMEOUT)
        assert arrived, (
            f"receive() after the complete response did not return within {TIMEOUT} s while the "
            f"connection stayed open"
        )
        event = await _after_response(observer, token)
    message = event["message"]
    assert message is not None, (
        f"receive() after the complete response returned nothing within {AFTER_RESPONSE_WAIT} s"
    )
    assert message["type"] == "http.disconnect", (
        f"receive() after the complete response returned {message}, not http.disconnect"
    )
    assert event["waited"] <= DISCONNECT_BOUND, (
        f"receive() after the complete response took {event['waited'] * 1000:.0f} ms "
        f"(bound {DISCONNECT_BOUND * 1000:.0f} ms)"
    )
