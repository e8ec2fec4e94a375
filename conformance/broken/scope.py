"""Breaks of the scope family: one field of the HTTP connection scope mangled at a time.

Each break is ASGI middleware between a real server and the contract app that changes what
the app is given the way a real server got it wrong: ports as ``str`` (granian), the HTTP
version misspelt (granian gives ``"1"`` for HTTP/1.0), ``host`` after the other fields over
HTTP/2 (uvicorn's experimental HTTP/2), header whitespace kept (uvicorn with httptools),
a decoded ``raw_path``, merged duplicate headers, one state dict shared by every request, a
request message after the final one, a ``bytearray`` for a body, ``receive()`` that does not
report the end of the response. :data:`LEGAL` lists what a correct server may do instead
(optional keys absent, fields grouped by name, lists for tuples, cookies apart over HTTP/2),
which no case may fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import unquote_plus

from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from ..cases import FAMILIES
from . import Break, Legal
from .apps import around, is_final_body

__all__ = [
    "BREAKS",
    "LEGAL",
    "asgi_versions_as_floats",
    "body_as_bytearray",
    "cookies_joined_with_comma",
    "cookies_split_h2",
    "duplicate_headers_merged",
    "extension_flags_as_true",
    "extra_request_after_final",
    "header_fields_grouped",
    "header_names_title_cased",
    "header_values_padded",
    "host_after_other_fields",
    "http_version_as_protocol_name",
    "method_lowercased",
    "no_disconnect_after_response",
    "path_not_decoded",
    "ports_as_str",
    "ports_in_lists",
    "query_string_decoded",
    "raw_path_decoded",
    "root_path_none",
    "scheme_always_http",
    "scope_optionals_absent",
    "state_shared_dict",
    "unknown_method_refused",
]

#: The header that carries the harness's probe token: instrument, not subject, never changed.
_TOKEN: Final = b"x-probe-token"


def _scope_change(change: Callable[[Scope], None]) -> ASGIApp:
    """A server whose scope differs by ``change`` (applied to a copy)."""

    async def layer(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        scope = dict(scope)
        change(scope)
        await app(scope, receive, send)

    return around(layer)


def _headers_change(
    change: Callable[[list[tuple[bytes, bytes]]], list[tuple[bytes, bytes]]],
) -> Callable[[Scope], None]:
    def apply(scope: Scope) -> None:
        scope["headers"] = change([(bytes(n), bytes(v)) for n, v in scope["headers"]])

    return apply


# -- type, versions, method, scheme ---------------------------------------------------------


def _floats(scope: Scope) -> None:
    scope["asgi"] = {"version": 3.0, "spec_version": 2.3}


#: ``asgi.version`` and ``asgi.spec_version`` as floats, as a server that read them from a
#: config number would.
asgi_versions_as_floats = _scope_change(_floats)

_PROTOCOL_NAMES: Final = {"1.0": "HTTP/1.0", "1.1": "HTTP/1.1", "2": "HTTP/2.0"}


def _protocol_name(scope: Scope) -> None:
    scope["http_version"] = _PROTOCOL_NAMES.get(scope["http_version"], scope["http_version"])


#: ``http_version`` spelt as the protocol's name (``"HTTP/1.1"``), as a server that passes
#: its HTTP library's version name through (granian passes ``"1"`` for HTTP/1.0).
http_version_as_protocol_name = _scope_change(_protocol_name)


def _lower_method(scope: Scope) -> None:
    scope["method"] = str(scope["method"]).lower()


#: ``method`` lowercased.
method_lowercased = _scope_change(_lower_method)

#: The methods a parser with a fixed method table knows (part of llhttp's).
_KNOWN_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
    | {"PURGE", "M-SEARCH", "QUERY"}
)


async def _refuse_unknown(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    if scope["method"] in _KNOWN_METHODS:
        await app(scope, receive, send)
        return
    body = b"Invalid HTTP request received."
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})


#: Answers 400 to a method outside a fixed table without calling the app, as uvicorn with
#: httptools does (llhttp knows a fixed list of methods).
unknown_method_refused = around(_refuse_unknown)


def _http_scheme(scope: Scope) -> None:
    scope["scheme"] = "http"


#: ``scheme`` is ``"http"`` even over TLS.
scheme_always_http = _scope_change(_http_scheme)


# -- path, raw_path, query_string, root_path --------------------------------------------------


def _undecoded_path(scope: Scope) -> None:
    raw = scope.get("raw_path")
    if raw:
        scope["path"] = bytes(raw).decode("latin-1")


#: ``path`` left percent-encoded (the raw path as text).
path_not_decoded = _scope_change(_undecoded_path)


def _decoded_raw_path(scope: Scope) -> None:
    scope["raw_path"] = str(scope["path"]).encode()


#: ``raw_path`` as the decoded ``path`` encoded again: ``%2F`` and ``%20`` lost.
raw_path_decoded = _scope_change(_decoded_raw_path)


def _decoded_query(scope: Scope) -> None:
    scope["query_string"] = unquote_plus(bytes(scope["query_string"]).decode("latin-1")).encode()


#: ``query_string`` percent-decoded (and ``+`` as a space).
query_string_decoded = _scope_change(_decoded_query)


def _none_root(scope: Scope) -> None:
    scope["root_path"] = None


#: ``root_path`` None instead of ``""``.
root_path_none = _scope_change(_none_root)


# -- headers ----------------------------------------------------------------------------------


def _merge(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    merged: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        merged.setdefault(name.lower(), []).append(value)
    return [(name, b", ".join(values)) for name, values in merged.items()]


#: Repeated header fields joined into one with commas (as a dict-based server would).
duplicate_headers_merged = _scope_change(_headers_change(_merge))


def _title(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(n if n == _TOKEN else n.title(), v) for n, v in headers]


#: Header names in Title-Case (``X-Dup``), as Twisted keeps them internally.
header_names_title_cased = _scope_change(_headers_change(_title))


def _pad(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(n, v if n == _TOKEN else v + b" \t") for n, v in headers]


#: Every header value with whitespace after it, as a parser that keeps the OWS after a value
#: (uvicorn with httptools keeps what the client sent there).
header_values_padded = _scope_change(_headers_change(_pad))


def _host_last(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    hosts = [(n, v) for n, v in headers if n.lower() == b"host"]
    return [(n, v) for n, v in headers if n.lower() != b"host"] + hosts


#: ``host`` (from ``:authority``) after the other fields, not first, as uvicorn's experimental
#: HTTP/2 (zttp) gives it.
host_after_other_fields = _scope_change(_headers_change(_host_last))


def _comma_cookies(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    cookies = [v for n, v in headers if n == b"cookie"]
    others = [(n, v) for n, v in headers if n != b"cookie"]
    parts = [part for value in cookies for part in value.split(b"; ")]
    return others + ([(b"cookie", b", ".join(parts))] if parts else [])


#: HTTP/2 cookie fields joined with ``", "`` (the list separator, which is no cookie one).
cookies_joined_with_comma = _scope_change(_headers_change(_comma_cookies))


# -- client, server, state, extensions ------------------------------------------------------


def _str_ports(scope: Scope) -> None:
    for key in ("client", "server"):
        address = scope.get(key)
        if address is not None:
            scope[key] = (address[0], str(address[1]))


#: Ports as ``str``, as granian gives them.
ports_as_str = _scope_change(_str_ports)


def _shared_state() -> ASGIApp:
    shared: list[dict[str, Any]] = []

    def change(scope: Scope) -> None:
        if isinstance(scope.get("state"), dict):
            if not shared:
                shared.append(scope["state"])
            scope["state"] = shared[0]

    return _scope_change(change)


#: Every request gets the first request's state dict itself, not a copy of the lifespan's.
state_shared_dict = _shared_state()


def _true_flags(scope: Scope) -> None:
    extensions = scope.get("extensions")
    if isinstance(extensions, dict):
        scope["extensions"] = dict.fromkeys(extensions, True)


#: Each extension's value ``True`` instead of a dict.
extension_flags_as_true = _scope_change(_true_flags)


# -- the request messages, the disconnect after the response ---------------------------------


async def _extra_request(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    state = {"ended": False, "extra": False}

    async def receive_more() -> Message:
        if state["ended"] and not state["extra"]:
            state["extra"] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            state["ended"] = True
        return message

    await app(scope, receive_more, send)


#: One more ``http.request`` (empty, ``more_body`` False) after the one that ended the body.
extra_request_after_final = around(_extra_request)


async def _bytearray_body(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    async def receive_buffer() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            message = {**message, "body": bytearray(message.get("body", b""))}
        return message

    await app(scope, receive_buffer, send)


#: Each body given as the server's ``bytearray`` buffer, not ``bytes``.
body_as_bytearray = around(_bytearray_body)


async def _no_disconnect(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    done = asyncio.Event()

    async def noting_send(message: Message) -> None:
        await send(message)
        if is_final_body(message):
            done.set()

    async def waiting_receive() -> Message:
        if done.is_set():
            await asyncio.Event().wait()  # only the connection's end would say; it stays open
        return await receive()

    await app(scope, waiting_receive, noting_send)


#: Once the response is complete, ``receive()`` waits (for the connection to close) instead of
#: returning ``http.disconnect``.
no_disconnect_after_response = around(_no_disconnect)


# -- legal variations -----------------------------------------------------------------------


def _optionals_absent(scope: Scope) -> None:
    for key in ("raw_path", "root_path", "client", "server", "extensions"):
        scope.pop(key, None)
    if scope.get("scheme") == "http":
        del scope["scheme"]
    scope["asgi"] = {"version": scope["asgi"]["version"]}


#: Every optional key absent (``state`` excepted: its absence says the server has no state).
scope_optionals_absent = _scope_change(_optionals_absent)


def _grouped(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    order: dict[bytes, list[tuple[bytes, bytes]]] = {}
    for name, value in reversed(headers):
        order.setdefault(name, []).insert(0, (name, value))
    return [field for fields in order.values() for field in fields]


#: Header fields grouped by name, last name first (each name's values in order), as a server
#: with a dict of lists gives them.
header_fields_grouped = _scope_change(_headers_change(_grouped))


def _lists(scope: Scope) -> None:
    for key in ("client", "server"):
        if scope.get(key) is not None:
            scope[key] = list(scope[key])


#: ``client`` and ``server`` as lists (as daphne gives them).
ports_in_lists = _scope_change(_lists)


def _split(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        parts = value.split(b"; ") if name == b"cookie" else [value]
        out += [(name, part) for part in parts]
    return out


#: HTTP/2 cookies as one field per cookie (hypercorn joins them with ``"; "``).
cookies_split_h2 = _scope_change(_headers_change(_split))

_SCOPE = "ASGI HTTP 2.5, HTTP Connection Scope"
_MODULE = "conformance.broken.scope"

BREAKS: Final = (
    Break(
        name="asgi-versions-as-floats",
        promise=f"{_SCOPE}: asgi['version'] and asgi['spec_version'] are Unicode strings. "
        "Gives them as floats.",
        catches=frozenset({"scope/type-and-asgi"}),
        says=r"not a str",
        app=f"{_MODULE}:asgi_versions_as_floats",
    ),
    Break(
        name="http-version-as-protocol-name",
        promise=f'{_SCOPE}: http_version is one of "1.0", "1.1" or "2". Gives the protocol\'s '
        'name ("HTTP/1.1"), as a server passing its HTTP library\'s name through (granian '
        'gives "1" for HTTP/1.0).',
        catches=frozenset({"scope/http-version", "scope/http-version-1-0"}),
        says=r"scope\['http_version'\] (is )?str 'HTTP/1\.[01]'",
        app=f"{_MODULE}:http_version_as_protocol_name",
    ),
    Break(
        name="http-version-as-protocol-name-h2",
        promise=f'{_SCOPE}: http_version is "2" over HTTP/2. Gives "HTTP/2.0".',
        catches=frozenset({"scope/http-version"}),
        says=r"scope\['http_version'\] is str 'HTTP/2\.0'",
        app=f"{_MODULE}:http_version_as_protocol_name",
        variant="hypercorn-h2c",
    ),
    Break(
        name="method-lowercased",
        promise=f"{_SCOPE}: method is the HTTP method name, uppercased. Lowercases it.",
        catches=frozenset({"scope/method", "scope/extension-method"}),
        says=r"scope\['method'\] is str '[a-z-]+'|gave scope\['method'\] str '[a-z-]+'",
        app=f"{_MODULE}:method_lowercased",
    ),
    Break(
        name="unknown-method-refused",
        promise="RFC 9110 §9.1: any token is a method, and serving it is the origin server's "
        "(the app's) decision. Answers 400 to methods outside a fixed table, as uvicorn with "
        "httptools does (https://github.com/Kludex/uvicorn/issues/1296).",
        catches=frozenset({"scope/extension-method"}),
        says=r"answered a X-CUSTOM request 400",
        app=f"{_MODULE}:unknown_method_refused",
    ),
    Break(
        name="scheme-always-http",
        promise=f'{_SCOPE}: scheme is the URL scheme ("https" over TLS). Says "http" over TLS.',
        catches=frozenset({"scope/scheme"}),
        says=r"over TLS gave scope\['scheme'\] str 'http'",
        app=f"{_MODULE}:scheme_always_http",
        variant="hypercorn-h2",
    ),
    Break(
        name="path-not-decoded",
        promise=f"{_SCOPE}: path has percent-encoded sequences and UTF-8 decoded. Leaves it "
        "encoded, so the request does not route to its decoded path.",
        catches=frozenset({"scope/path-decoded", "scope/raw-path", "scope/query-string"}),
        says=r"did not reach the endpoint at its decoded path",
        app=f"{_MODULE}:path_not_decoded",
    ),
    Break(
        name="raw-path-decoded",
        promise=f"{_SCOPE}: raw_path is unmodified from the bytes received. Gives the decoded "
        "path encoded again (%2F and %20 lost).",
        catches=frozenset({"scope/raw-path"}),
        says=r"scope\['raw_path'\] is bytes",
        app=f"{_MODULE}:raw_path_decoded",
    ),
    Break(
        name="query-string-decoded",
        promise=f"{_SCOPE}: query_string is percent-encoded. Decodes it.",
        catches=frozenset({"scope/query-string"}),
        says=r"scope\['query_string'\] is bytes",
        app=f"{_MODULE}:query_string_decoded",
    ),
    Break(
        name="root-path-none",
        promise=f'{_SCOPE}: root_path is a Unicode string, default "". Gives None.',
        catches=frozenset({"scope/root-path"}),
        says=r"scope\['root_path'\] is NoneType",
        app=f"{_MODULE}:root_path_none",
    ),
    Break(
        name="duplicate-headers-merged",
        promise=f"{_SCOPE}: duplicates must be preserved in the message as received. Joins "
        "repeated fields with commas.",
        catches=frozenset({"scope/headers"}),
        says=r"header 'x-dup': the app got \[b'1, 2, 3'\]",
        app=f"{_MODULE}:duplicate_headers_merged",
    ),
    Break(
        name="header-names-title-cased",
        promise=f"{_SCOPE}: header names should be lowercased. Title-cases them.",
        catches=frozenset({"scope/header-names-lowercased"}),
        says=r"header names not lowercased",
        app=f"{_MODULE}:header_names_title_cased",
    ),
    Break(
        name="header-values-padded",
        promise="RFC 9112 §5.1: OWS around a field value is not part of it. Keeps whitespace "
        "after each value, as uvicorn with httptools does.",
        catches=frozenset({"scope/headers", "scope/header-value-ows-trimmed"}),
        says=r"the app got \[b'[^']*(\\t| )'",
        app=f"{_MODULE}:header_values_padded",
    ),
    Break(
        name="host-after-other-fields",
        promise=f"{_SCOPE}: :authority must be added to the start of the headers as host. Puts "
        "host after the other fields, as uvicorn's experimental HTTP/2 (zttp) does.",
        catches=frozenset({"scope/authority-as-host-h2"}),
        says=r"host is not the first header",
        app=f"{_MODULE}:host_after_other_fields",
        variant="hypercorn-h2c",
    ),
    Break(
        name="cookies-joined-with-comma",
        promise='ASGI HTTP 2.5, HTTP: HTTP/2 cookies come apart or joined with "; ". Joins '
        'them with ", ".',
        catches=frozenset({"scope/cookies-h2"}),
        says=r"reached the app as \[b'a=1, b=2'\]",
        app=f"{_MODULE}:cookies_joined_with_comma",
        variant="hypercorn-h2c",
    ),
    Break(
        name="ports-as-str",
        promise=f"{_SCOPE}: client and server ports are integers. Gives them as str, as granian "
        "does.",
        catches=frozenset({"scope/client-and-server"}),
        says=r"the port must be an int",
        app=f"{_MODULE}:ports_as_str",
    ),
    Break(
        name="state-shared-dict",
        promise="ASGI lifespan 2.0, Lifespan State: each request gets a shallow copy of the "
        "namespace. Gives every request the same dict.",
        catches=frozenset({"scope/state-shallow-copy"}),
        says=r"the state dict is shared, not copied",
        app=f"{_MODULE}:state_shared_dict",
    ),
    Break(
        name="extension-flags-as-true",
        promise="ASGI core, Extensions: each extension's entry is a dict. Gives True.",
        catches=frozenset({"scope/extensions"}),
        says=r"is bool True, not a dict",
        app=f"{_MODULE}:extension_flags_as_true",
        variant="hypercorn-h2c",
    ),
    Break(
        name="extra-request-after-final",
        promise="ASGI HTTP 2.5, Request: more_body=False completes the request; Disconnect: "
        "receive() after the response gives http.disconnect. Gives one more http.request.",
        catches=frozenset(
            {"scope/empty-body", "scope/content-length-body", "scope/disconnect-after-response"}
        ),
        says=r"returned another http\.request|returned \{'type': 'http\.request'",
        app=f"{_MODULE}:extra_request_after_final",
    ),
    Break(
        name="body-as-bytearray",
        promise="ASGI HTTP 2.5, Request: body is a byte string (bytes). Gives the server's "
        "bytearray buffer.",
        catches=frozenset({"scope/empty-body", "scope/content-length-body"}),
        says=r"a body is not bytes",
        app=f"{_MODULE}:body_as_bytearray",
    ),
    Break(
        name="no-disconnect-after-response",
        promise="ASGI HTTP 2.5, Disconnect: receive() after the response has been sent gives "
        "http.disconnect. Waits for the connection to close instead.",
        catches=frozenset({"scope/disconnect-after-response"}),
        says=r"did not return within",
        app=f"{_MODULE}:no_disconnect_after_response",
    ),
)

_OPTIONAL = f"{_SCOPE}: optional keys"

LEGAL: Final = (
    Legal(
        name="scope-optionals-absent",
        freedom=f"{_OPTIONAL} (raw_path, root_path, scheme on cleartext, client, server, "
        "extensions, asgi.spec_version) may be absent",
        app=f"{_MODULE}:scope_optionals_absent",
    ),
    Legal(
        name="header-fields-grouped",
        freedom=f"{_SCOPE}: order of header values must be preserved; order of header names "
        "is not important",
        app=f"{_MODULE}:header_fields_grouped",
    ),
    Legal(
        name="ports-in-lists",
        freedom=f"{_SCOPE}: client and server are two-item iterables (a list as well as a tuple)",
        app=f"{_MODULE}:ports_in_lists",
    ),
    Legal(
        name="cookies-split-h2",
        freedom="ASGI HTTP 2.5, HTTP: in HTTP/2, Cookie headers may appear repeatedly, or be "
        'concatenated with "; "',
        app=f"{_MODULE}:cookies_split_h2",
        variant="hypercorn-h2c",
        # It rewrites only the cookie headers of a request: only the scope family's cookie
        # cases send any; for every other request it changes nothing, so running them under
        # it proves nothing (and doubles the proof's HTTP/2 runs).
        spares=frozenset(FAMILIES) - {"scope"},
    ),
)
