"""ASGI extensions: each one a server lists works, and a server honours only what it lists.

ASGI core spec (asgi.rst), "Extensions": a server that supports an extension places an entry
under its name in ``scope["extensions"]``; ASGI ``extensions.rst`` ("HTTP Trailers", "Early
Hints", "Path Send", "Zero Copy Send", "Debug"), ``specs/tls.rst`` (the ``tls`` extension) and
ASGI HTTP 2.5 ("Response Start": ``trailers``; "Disconnected Client": spec version 2.4).

A case about one extension requires the variant's capability for it (not applicable without),
and first reads what the server lists in a request's scope
(:func:`conformance.capabilities.observe`): a server whose variant declares the extension but
that does not list it fails, so that a release dropping an extension is a change, not a case
turned "not applicable". A release that starts listing one fails
``extensions/advertised-as-declared`` until its variant declares it. Every exchange is raw
(``RawHTTP1`` or ``H2Session``), so that what a server sends past a clean end, or instead of
one, is seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import h11
import pytest

from conformance.capabilities import EXTENSIONS, Advertised, CapabilityCheck, TLSField, observe
from conformance.cases import Grade, case
from conformance.client import (
    TIMEOUT,
    H2Session,
    Observer,
    RawHTTP1,
    connect,
    error_name,
    new_token,
    request_bytes,
)
from conformance.contract import pattern
from conformance.contract.extensions import (
    DIGEST,
    FILE_SIZE,
    HINT_LINKS,
    HINTED_BODY,
    TRAILED_BODY,
    zerocopy_expected,
)
from conformance.judge import not_applicable
from servers import Capability, HTTPProtocol, RunningServer

TRAILERS: Final = EXTENSIONS[Capability.TRAILERS]
EARLY_HINT: Final = EXTENSIONS[Capability.EARLY_HINTS]
PATHSEND: Final = EXTENSIONS[Capability.PATHSEND]
ZEROCOPYSEND: Final = EXTENSIONS[Capability.ZEROCOPYSEND]
TLS: Final = EXTENSIONS[Capability.TLS_SCOPE]
DEBUG: Final = "http.response.debug"
#: The request header that asks for trailers (RFC 9110 §10.1.4), and over HTTP/1.1 the
#: connection option a sender of TE must add.
TE_TRAILERS: Final = ("te", "trailers")
TE_OPTION: Final = ("connection", "te")
#: The TLS extension's entries: Python types allowed for each (tls.rst, "TLS Connection Scope").
TLS_TYPES: Final = {
    "server_cert": ("str", "NoneType"),
    "client_cert_chain": ("list", "tuple"),
    "client_cert_name": ("str", "NoneType"),
    "client_cert_error": ("str", "NoneType"),
    "tls_version": ("int", "NoneType"),
    "cipher_suite": ("int", "NoneType"),
}
#: The entries tls.rst calls mandatory.
TLS_MANDATORY: Final = ("server_cert", "tls_version", "cipher_suite")
#: TLS protocol versions as the TLS specifications number them (tls.rst: ``tls_version``).
TLS_VERSIONS: Final = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


@dataclass(slots=True)
class Exchange:
    """One raw request and what came back, whatever the protocol.

    Attributes:
        status: the final response's status (0 if none came).
        headers: its header fields, names lowercased.
        body: the body bytes received.
        trailers: the trailer section's fields (names lowercased).
        informational: ``(status, fields)`` of each informational (1xx) response, in order.
        ended: the response ended cleanly (HTTP/1.1: framing complete; HTTP/2: END_STREAM).
        problem: why it did not end cleanly (a close mid-response, a reset, no end in time).
        transcript: the wire transcript, for failure messages.
    """

    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    trailers: list[tuple[str, str]] = field(default_factory=list)
    informational: list[tuple[int, list[tuple[str, str]]]] = field(default_factory=list)
    ended: bool = False
    problem: str | None = None
    transcript: str = ""

    def header(self, name: str) -> list[str]:
        """The values of response header ``name``."""
        return [value for key, value in self.headers if key == name]

    def trailer(self, name: str) -> list[str]:
        """The values of trailer field ``name``."""
        return [value for key, value in self.trailers if key == name]

    def outcome(self) -> str:
        """How the response ended, for messages."""
        how = "ended cleanly" if self.ended else f"did not end cleanly ({self.problem})"
        return f"status {self.status}, {len(self.body)} body bytes, {how}"


def _text(pairs: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in pairs]


async def exchange(server: RunningServer, path: str, token: str, *, te: bool = False) -> Exchange:
    """GET ``path`` over a raw connection in the variant's protocol, with ``x-probe-token``.

    With ``te``, the request asks for trailers (``TE: trailers``). Never raises for what the
    server does: a close, a reset or no end within :data:`TIMEOUT` is :attr:`Exchange.problem`.
    """
    headers = [("x-probe-token", token)]
    if server.spec.protocol is HTTPProtocol.HTTP1:
        if te:
            headers += [TE_TRAILERS, TE_OPTION]
        return await _exchange_http1(server, path, headers)
    if te:
        headers.append(TE_TRAILERS)
    return await _exchange_h2(server, path, headers)


async def _exchange_http1(
    server: RunningServer, path: str, headers: list[tuple[str, str]]
) -> Exchange:
    result = Exchange()
    async with RawHTTP1(server) as connection:
        await connection.send(request_bytes("GET", path, server.authority, headers))
        try:
            head = await connection.response_head(TIMEOUT)
            result.status, result.headers = head.status, _text(head.headers)
            result.informational = [
                (status, _text(fields))
                for status, fields in zip(
                    head.informational, head.informational_headers, strict=True
                )
            ]
            body = bytearray()
            while (chunk := await connection.body(TIMEOUT)) is not None:
                body += chunk
                result.body = bytes(body)
            result.body = bytes(body)
            result.trailers = _text(connection.trailers)
            result.ended = True
        except TimeoutError:
            result.problem = f"no end within {TIMEOUT} s, the connection still open"
        except (ConnectionError, h11.RemoteProtocolError) as error:
            result.problem = f"the server closed the connection mid-response: {error}"
        result.transcript = connection.transcript.render()
    return result


async def _exchange_h2(
    server: RunningServer, path: str, headers: list[tuple[str, str]]
) -> Exchange:
    result = Exchange()
    async with H2Session(server) as session:
        stream_id = await session.request("GET", path, headers)
        try:
            await session.until_ended(stream_id, timeout=TIMEOUT)
        except TimeoutError:
            result.problem = f"no end of the stream within {TIMEOUT} s"
        except ConnectionError as error:
            result.problem = str(error)
        stream = session.streams[stream_id]
        if stream.reset is not None:
            result.problem = f"the server reset the stream ({error_name(stream.reset)})"
        result.ended = stream.ended and stream.reset is None
        result.status = stream.status
        result.headers = [(n, v) for n, v in stream.headers if not n.startswith(":")]
        result.body = stream.data
        result.trailers = [(n.lower(), v) for n, v in stream.trailers]
        result.informational = [
            (status, [(n, v) for n, v in fields if not n.startswith(":")])
            for status, fields in zip(
                stream.informational, stream.informational_headers, strict=True
            )
        ]
        result.transcript = session.result.describe()
    return result


async def _listing(server: RunningServer, capability: Capability) -> Advertised:
    """What the server advertises, which must list the extension the variant declares."""
    advertised = await observe(server, record=True)
    name = EXTENSIONS[capability]
    assert advertised.lists(name), (
        f"{server.spec.name} declares {capability}, but its server does not list {name} "
        f"(it lists {list(advertised.extensions)})"
    )
    return advertised


async def _outcomes(observer: Observer, token: str, what: str) -> list[dict[str, Any]]:
    """The app's ``accepted``/``refused`` events about ``what``."""
    events = (await observer.snapshot(token))["events"]
    return [e for e in events if e["event"] in ("accepted", "refused") and e.get("what") == what]


def _refusals(outcomes: list[dict[str, Any]]) -> list[str]:
    return [str(e.get("error")) for e in outcomes if e["event"] == "refused"]


# -- the listing --------------------------------------------------------------------------------


@case(
    "extensions/advertised-as-declared",
    grade=Grade.INFORMATIONAL,
    clause="ASGI core, Extensions: if the server supports an extension, it should place an "
    "entry into the extensions dictionary under the extension's name",
)
async def test_the_server_lists_the_extensions_its_variant_declares(
    server: RunningServer,
) -> None:
    """A server lists in ``scope["extensions"]`` exactly the extensions its variant declares.

    Server behaviour judged: the extensions a server advertises in an HTTP request's scope
    (push, trailers, early hints, pathsend, zerocopysend, tls) are the ones the variant
    declares as capabilities, and it lists no other ``http.`` extension (names under
    ``websocket.`` belong to the WebSocket scope, and a server's own names outside ``http.``
    are its freedom: both are left out). A server release that
    starts or stops listing one fails here, so that the change is seen as a change and not
    only as cases turning "not applicable". Breaks: ``tls-on-cleartext`` (lists ``tls``),
    ``debug-listed`` (lists ``http.response.debug``).
    """
    advertised = await observe(server, record=True)
    declared = frozenset(c for c in server.spec.capabilities if c in EXTENSIONS)
    found = CapabilityCheck(server.spec.name, declared, advertised)
    assert found.matches, (
        f"{server.spec.name} advertises {list(advertised.extensions)}: "
        + "; ".join(found.differences())
    )


@case(
    "extensions/debug-not-listed",
    grade=Grade.RECOMMENDED,
    clause="ASGI extensions, Debug: this extension is not meant to be used in production, "
    "only for testing purposes, and ASGI servers should not implement it",
)
async def test_the_debug_extension_is_not_listed(server: RunningServer) -> None:
    """ASGI extensions "Debug": a server does not list ``http.response.debug``.

    Server behaviour judged: the debug extension (an app sends its debug information to a test
    client) is for test harnesses; a server that lists it invites apps to send their internals
    to clients. Break: ``debug-listed``.
    """
    advertised = await observe(server, record=True)
    assert not advertised.lists(DEBUG), (
        f"{server.spec.name} lists {DEBUG} in an HTTP scope: {list(advertised.extensions)}"
    )


# -- trailers ------------------------------------------------------------------------------------


@case(
    "extensions/trailers-sent",
    grade=Grade.REQUIRED,
    clause="ASGI HTTP 2.5, Response Start: if trailers is True, the server must wait until it "
    "receives a http.response.trailers message; ASGI extensions, HTTP Trailers: the server "
    "sends the trailing headers when the client has sent TE: trailers",
    requires=[Capability.TRAILERS],
)
async def test_a_listing_server_sends_the_trailers_a_client_asks_for(
    server: RunningServer,
) -> None:
    """ASGI extensions "HTTP Trailers": with ``TE: trailers``, the app's trailers arrive.

    Server behaviour judged: a server that lists ``http.response.trailers`` sends the app's
    ``http.response.trailers`` fields after the whole body (HTTP/1.1: in the chunked body's
    trailer section; HTTP/2: a HEADERS frame ending the stream), when the request asked for
    them. Break: ``trailers-ignored`` (lists the extension, ends the response at the last
    body and drops the trailers message).
    """
    await _listing(server, Capability.TRAILERS)
    token = new_token()
    async with Observer(server) as observer:
        result = await exchange(server, "/raw/extensions/trailers", token, te=True)
        outcomes = await _outcomes(observer, token, "trailers")
    assert not _refusals(outcomes), (
        f"the server lists {TRAILERS} but send() refused the app's trailers message: "
        f"{_refusals(outcomes)}"
    )
    _whole(result, b"".join(TRAILED_BODY))
    name, value = (part.decode() for part in DIGEST)
    assert result.trailer(name) == [value], (
        f"with TE: trailers, the response carried trailer fields {result.trailers}, not "
        f"{name}: {value}\n{result.transcript}"
    )


@case(
    "extensions/trailers-need-te",
    grade=Grade.REQUIRED,
    clause="ASGI extensions, HTTP Trailers: the ASGI server will only send the trailing "
    "headers in case the client has sent the TE: trailers header in the request",
    requires=[Capability.TRAILERS],
)
async def test_a_listing_server_sends_no_trailers_to_a_client_that_did_not_ask(
    server: RunningServer,
) -> None:
    """ASGI extensions "HTTP Trailers": without ``TE: trailers``, no trailer field is sent.

    Server behaviour judged: a server that lists ``http.response.trailers`` takes the app's
    trailers message (the app cannot know what the client asked for) and still ends the
    response whole, without a trailer section, when the request did not say ``TE:
    trailers``. Break: ``trailers-without-te`` (sends them regardless).
    """
    await _listing(server, Capability.TRAILERS)
    token = new_token()
    async with Observer(server) as observer:
        result = await exchange(server, "/raw/extensions/trailers", token)
        outcomes = await _outcomes(observer, token, "trailers")
    assert not _refusals(outcomes), (
        f"the server lists {TRAILERS} but send() refused the app's trailers message: "
        f"{_refusals(outcomes)}"
    )
    _whole(result, b"".join(TRAILED_BODY))
    assert not result.trailers, (
        f"trailer fields sent to a client that did not send TE: trailers: {result.trailers}"
        f"\n{result.transcript}"
    )


@case(
    "extensions/trailers-unlisted-response-ends",
    grade=Grade.RECOMMENDED,
    clause="ASGI HTTP 2.5, Response Start: if trailers is True, the server must wait until it "
    "receives a http.response.trailers message; Response Body: the response is then "
    "complete. RFC 9112 §7.1: a chunked body ends with the last chunk",
)
async def test_an_app_that_sets_trailers_unlisted_still_gets_a_whole_response(
    server: RunningServer,
) -> None:
    """A server that does not list trailers still ends a ``trailers: True`` response whole.

    The ``trailers`` key of ``http.response.start`` is core ASGI HTTP: with it the server must
    wait for ``http.response.trailers``, a message only the extension defines. An app that
    sets it without checking the listing misuses the extension (apps should check), so a
    server may refuse the trailers message (Error Handling: it should raise on an invalid
    event); but the app has sent its whole body, and nothing in the specs lets the server
    leave that response without its end. Two legal answers: ignore the flag (end the
    response at ``more_body=False``), or wait and end it at the trailers message, dropping
    the fields. Recommended, not required: the app broke the extension's contract first.

    Server behaviour judged: the client gets the app's whole body and a clean end
    (HTTP/1.1: the terminating chunk; HTTP/2: END_STREAM), never a body cut short by a
    close. hypercorn (HTTP/1.1) fails it: it waits for the trailers, refuses the message and
    closes the connection without the last chunk
    (docs/server-behaviour.md#hypercorn-h11-unlisted-trailers-truncate). Break:
    ``unlisted-trailers-truncate`` (imitates it).
    """
    advertised = await observe(server, record=True)
    if advertised.lists(TRAILERS):
        not_applicable(f"{server.spec.name} lists {TRAILERS}")
    token = new_token()
    async with Observer(server) as observer:
        result = await exchange(server, "/raw/extensions/trailers", token, te=True)
        outcomes = await _outcomes(observer, token, "trailers")
    refused = _refusals(outcomes)
    told = f"refused: {', '.join(refused)}" if refused else "accepted"
    assert result.ended, (
        f"an app set trailers=True on a server that does not list {TRAILERS}, sent its whole "
        f"body, then the trailers message ({told}); the response {result.outcome()}"
        f"\n{result.transcript}"
    )
    _whole(result, b"".join(TRAILED_BODY))


def _whole(result: Exchange, body: bytes) -> None:
    """The response is a 200 carrying exactly ``body``, ended cleanly."""
    assert result.ended, f"the response {result.outcome()}\n{result.transcript}"
    assert result.status == 200, f"the response {result.outcome()}\n{result.transcript}"
    if result.body != body:
        first = next(
            (i for i, (a, b) in enumerate(zip(result.body, body, strict=False)) if a != b),
            min(len(result.body), len(body)),
        )
        raise AssertionError(
            f"the body is {len(result.body)} bytes, the app's {len(body)}; they differ from "
            f"byte {first} on: {result.body[first : first + 40]!r}\n{result.transcript}"
        )


# -- early hints --------------------------------------------------------------------------------

_EARLY_HINT_ORDER: Final = (
    "ASGI extensions, Early Hints, as clarified by asgiref PR #579 "
    "(https://github.com/django/asgiref/pull/579): http.response.early_hint messages are sent "
    "before the http.response.start message"
)


@case(
    "extensions/early-hint-accepted",
    grade=Grade.REQUIRED,
    clause=_EARLY_HINT_ORDER + "; RFC 9110 §15.2: a 1xx response precedes the final response",
    requires=[Capability.EARLY_HINTS],
)
async def test_a_listing_server_accepts_an_early_hint_before_the_start(
    server: RunningServer,
) -> None:
    """ASGI extensions "Early Hints": a hint before the start is accepted, the response whole.

    The extension's text said a hint is sent *after* ``http.response.start``; asgiref PR #579
    corrected it to *before* (a 103 precedes the final response on the wire), as hypercorn
    had implemented it. Server behaviour judged: a server that lists
    ``http.response.early_hint`` accepts the hint (``send()`` returns), then serves the final
    response whole; a 103 it sends precedes the final response and carries exactly the app's
    links. Break: ``early-hint-refused`` (lists the extension, raises on a hint before the
    start, as a server following the old wording would).
    """
    await _listing(server, Capability.EARLY_HINTS)
    token = new_token()
    async with Observer(server) as observer:
        result = await exchange(server, "/raw/extensions/early-hint", token)
        outcomes = await _outcomes(observer, token, "early hint")
    assert outcomes, "the app recorded no outcome of its early hint"
    assert not _refusals(outcomes), (
        f"the server lists {EARLY_HINT} but send() refused a hint sent before the start: "
        f"{_refusals(outcomes)}"
    )
    _whole(result, HINTED_BODY)
    for status, fields in result.informational:
        if status == 103:
            links = [value for name, value in fields if name == "link"]
            assert links == [link.decode() for link in HINT_LINKS], (
                f"the 103 carries links {links}, the app hinted {list(HINT_LINKS)}"
            )


@case(
    "extensions/early-hint-103",
    grade=Grade.RECOMMENDED,
    clause="ASGI extensions, Early Hints: the ASGI server should then attempt to send an "
    "informational response to the client with the provided links as Link headers",
    requires=[Capability.EARLY_HINTS],
)
async def test_a_listing_server_sends_a_103_with_the_apps_links(server: RunningServer) -> None:
    """ASGI extensions "Early Hints": the hint reaches the client as a 103 with its links.

    Server behaviour judged: a server that lists ``http.response.early_hint`` turns a hint
    into a ``103 Early Hints`` response carrying each link as a ``Link`` field, before the
    final response. A server may ignore a hint (the extension names HTTP/1.1 with security
    concerns), hence recommended. Break: ``early-hint-dropped`` (lists the extension, drops
    the hints).
    """
    await _listing(server, Capability.EARLY_HINTS)
    result = await exchange(server, "/raw/extensions/early-hint", new_token())
    hints = [fields for status, fields in result.informational if status == 103]
    assert hints, (
        f"no 103 response came before the final one (informational responses: "
        f"{[s for s, _ in result.informational]}); the response {result.outcome()}"
        f"\n{result.transcript}"
    )
    links = [value for fields in hints for name, value in fields if name == "link"]
    assert links == [link.decode() for link in HINT_LINKS], (
        f"the 103 responses carry links {links}, the app hinted {list(HINT_LINKS)}"
    )


# -- pathsend and zerocopysend ------------------------------------------------------------------


@case(
    "extensions/pathsend-file",
    grade=Grade.REQUIRED,
    clause="ASGI extensions, Path Send: except for the characteristics of path-send, it "
    "should behave the same as ordinary http.response.body",
    requires=[Capability.PATHSEND],
)
async def test_a_listing_server_sends_the_file_a_path_names(server: RunningServer) -> None:
    """ASGI extensions "Path Send": the file's bytes arrive exactly, and the response ends.

    Server behaviour judged: a server that lists ``http.response.pathsend`` sends the whole
    file the message names (256 KiB + 7 bytes of a known pattern) as the response body, under
    the app's Content-Length, and ends the response. Break: ``pathsend-short`` (lists the
    extension and sends the file without its last kilobyte).
    """
    await _listing(server, Capability.PATHSEND)
    token = new_token()
    async with Observer(server) as observer:
        result = await exchange(server, "/raw/extensions/pathsend", token)
        outcomes = await _outcomes(observer, token, "pathsend")
    assert not _refusals(outcomes), (
        f"the server lists {PATHSEND} but send() refused it: {_refusals(outcomes)}"
    )
    _whole(result, pattern(FILE_SIZE))


@case(
    "extensions/zerocopysend-file",
    grade=Grade.REQUIRED,
    clause="ASGI extensions, Zero Copy Send: offset, count and the file's position say what "
    "is sent; it can be mixed with http.response.body and should behave the same",
    requires=[Capability.ZEROCOPYSEND],
)
async def test_a_listing_server_sends_the_file_parts_zerocopysend_names(
    server: RunningServer,
) -> None:
    """ASGI extensions "Zero Copy Send": each send's part of the file, between the bodies.

    The app sends a body, then ``http.response.zerocopysend`` with ``offset`` and ``count``,
    then another from the file's current position (no offset, no count: to its end), then a
    last body. Server behaviour judged: a server that lists ``http.response.zerocopysend``
    sends exactly those parts in that order. No built-in server lists it, so no variant runs
    it; it fails under ``conformance.broken.extensions:zerocopysend_offset_ignored`` (reads
    from the file's position instead of the offset) on a command-given server that declares
    the capability (tests/conformance/test_extension_breaks.py).
    """
    await _listing(server, Capability.ZEROCOPYSEND)
    token = new_token()
    async with Observer(server) as observer:
        result = await exchange(server, "/raw/extensions/zerocopysend", token)
        refused = _refusals(await _outcomes(observer, token, "zerocopysend offset+count"))
        refused += _refusals(await _outcomes(observer, token, "zerocopysend from the position"))
    assert not refused, f"the server lists {ZEROCOPYSEND} but send() refused it: {refused}"
    _whole(result, zerocopy_expected())


# -- tls -----------------------------------------------------------------------------------------


@case(
    "extensions/tls-only-over-tls",
    grade=Grade.REQUIRED,
    clause="ASGI TLS extension: this extension must only be used for TLS connections. For "
    "non-TLS connections, the ASGI server is forbidden from providing this extension",
)
async def test_a_cleartext_connection_has_no_tls_extension(server: RunningServer) -> None:
    """ASGI TLS extension "When to use this extension": never on a cleartext connection.

    Server behaviour judged: on a connection without TLS the scope does not list ``tls``
    (an app reads its presence as "this connection is encrypted"). Judged on cleartext
    variants. Break: ``tls-on-cleartext``.
    """
    if server.spec.tls:
        not_applicable(f"{server.spec.name} speaks TLS")
    advertised = await observe(server, record=True)
    assert not advertised.lists(TLS), (
        f"a cleartext {server.spec.protocol} connection's scope lists the tls extension: "
        f"{[(f.name, f.value) for f in advertised.tls or ()]}"
    )


@case(
    "extensions/tls-fields",
    grade=Grade.REQUIRED,
    clause="ASGI TLS extension, TLS Connection Scope: server_cert (str or None), tls_version "
    "and cipher_suite (int or None) are mandatory; client_cert_chain an iterable of str",
    requires=[Capability.TLS_SCOPE],
)
async def test_the_tls_extension_describes_the_connection(server: RunningServer) -> None:
    """ASGI TLS extension "TLS Connection Scope": each entry has its type and the truth.

    Server behaviour judged: a TLS server that lists ``tls`` gives the mandatory entries with
    their types, and values that describe the connection: ``server_cert`` is the PEM of the
    certificate the server presented, ``tls_version`` and ``cipher_suite`` the numbers of
    what was negotiated (0x0304 for TLS 1.3; 0x1301 for TLS_AES_128_GCM_SHA256), and, the
    client having sent no certificate, ``client_cert_chain`` is empty and ``client_cert_name``
    and ``client_cert_error`` are None. No built-in server lists ``tls``, so no variant runs
    it; it fails under ``conformance.broken.extensions:tls_malformed`` (the version and
    cipher suite as names, as text) on a command-given TLS server that declares the
    capability (tests/conformance/test_extension_breaks.py).
    """
    if not server.spec.tls:
        not_applicable(f"{server.spec.name} speaks no TLS")
    advertised = await _listing(server, Capability.TLS_SCOPE)
    fields = {f.name: f for f in advertised.tls or ()}
    wrong = [
        f"{name} is a {fields[name].type}, not {' or '.join(types)}"
        for name, types in TLS_TYPES.items()
        if name in fields and fields[name].type not in types
    ]
    wrong += [f"{name} is missing" for name in TLS_MANDATORY if name not in fields]
    assert not wrong, f"the tls extension is malformed: {'; '.join(wrong)}"
    version, cipher = await _negotiated(server)
    _tls_values(server, fields, version, cipher)


async def _negotiated(server: RunningServer) -> tuple[int | None, int | None]:
    """The TLS version and cipher suite number a client of this harness negotiates."""
    _, writer = await connect(server, alpn="http/1.1")
    try:
        sslobj = writer.get_extra_info("ssl_object")
        assert isinstance(sslobj, ssl.SSLObject)
        name, _, _ = sslobj.cipher() or ("", "", 0)
        version = TLS_VERSIONS.get(sslobj.version() or "")
        context = server.client_ssl_context()
        ids = {c["name"]: int(c["id"]) & 0xFFFF for c in context.get_ciphers()}
        return version, ids.get(name)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), TIMEOUT)


def _tls_values(
    server: RunningServer, fields: dict[str, TLSField], version: int | None, cipher: int | None
) -> None:
    wrong: list[str] = []
    cert = fields["server_cert"].value
    if cert is not None and server.certificates is not None:
        presented = Path(server.certificates.certfile).read_text()
        leaf = presented.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----"
        try:
            same = ssl.PEM_cert_to_DER_cert(str(cert)) == ssl.PEM_cert_to_DER_cert(leaf)
        except ValueError:
            same = False
        if not same:
            wrong.append(f"server_cert is not the certificate presented: {str(cert)[:60]!r}")
    for name, truth in (("tls_version", version), ("cipher_suite", cipher)):
        value = fields[name].value
        if value is not None and truth is not None and value != truth:
            wrong.append(f"{name} is {value:#06x}, the connection negotiated {truth:#06x}")
    if "client_cert_chain" in fields and fields["client_cert_chain"].value:
        wrong.append(f"client_cert_chain is {fields['client_cert_chain'].value!r} without one")
    for name in ("client_cert_name", "client_cert_error"):
        if name in fields and fields[name].value is not None:
            wrong.append(f"{name} is {fields[name].value!r} without a client certificate")
    assert not wrong, f"the tls extension does not describe the connection: {'; '.join(wrong)}"


# -- spec_version --------------------------------------------------------------------------------


@case(
    "extensions/spec-2-4-send-raises",
    grade=Grade.RECOMMENDED,
    clause="ASGI HTTP 2.4+, Disconnected Client: if send() is called on a closed connection "
    "the server should raise a server-specific subclass of OSError (introduced in 2.4)",
)
async def test_a_server_claiming_spec_2_4_raises_oserror_from_a_send_mid_stream(
    server: RunningServer, request: pytest.FixtureRequest
) -> None:
    """ASGI HTTP 2.4: a server that advertises 2.4 or later keeps its promise mid-stream.

    ``scope["asgi"]["spec_version"]`` says which version of the HTTP spec the server
    implements; 2.4 made ``send()`` on a closed connection raise an ``OSError`` subclass.
    Server behaviour judged: where the server advertises 2.4 or later, a streaming app whose
    client leaves mid-body, once it has ``http.disconnect``, gets an ``OSError`` subclass from
    its next ``send()`` (judged by ``isinstance`` in the app's process). A server that
    advertises an older version (every built-in server advertises 2.3 or less, or nothing)
    makes no such promise, and passes: the version it advertises is recorded as the user
    property ``spec_version``. The lifecycle family judges the same promise for a response
    not yet started (``lifecycle/send-after-disconnect-raises``). Break: ``spec-2-4-claimed``
    (advertises 2.4, raises nothing).
    """
    advertised = await observe(server, record=True)
    request.node.user_properties.append(("spec_version", advertised.spec_version))
    if not advertised.spec_at_least(2, 4):
        return  # no promise to keep: send() may return quietly before spec 2.4
    token = new_token()
    path = "/raw/extensions/stream-until-gone"
    async with Observer(server) as observer:
        await _leave_mid_stream(server, path, token, observer)
        await observer.wait(token, "disconnected")
        await observer.wait(token, "late-send-over")
        outcomes = await _outcomes(observer, token, "body after the disconnect")
    assert outcomes, "the app's send() after the disconnect neither returned nor raised"
    outcome = outcomes[0]
    assert outcome["event"] == "refused", (
        f"the server advertises spec_version {advertised.spec_version} but send() after the "
        "client left mid-stream returned normally: no OSError raised"
    )
    assert outcome.get("oserror"), (
        f"the server advertises spec_version {advertised.spec_version} but send() after the "
        f"client left mid-stream raised {outcome.get('error')}, not an OSError subclass"
    )


async def _leave_mid_stream(
    server: RunningServer, path: str, token: str, observer: Observer
) -> None:
    """Start the stream, read its first chunk, and close the connection."""
    headers = [("x-probe-token", token)]
    if server.spec.protocol is HTTPProtocol.HTTP1:
        async with RawHTTP1(server) as connection:
            await connection.send(request_bytes("GET", path, server.authority, headers))
            await connection.response_head(TIMEOUT)
            await observer.wait(token, "streaming")
        return
    async with H2Session(server) as session:
        stream_id = await session.request("GET", path, headers)
        await session.read(stream_id)
        await observer.wait(token, "streaming")
