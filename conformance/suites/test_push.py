"""HTTP/2 server push: PUSH_PROMISE frames, the pushed responses, and where no push may happen.

ASGI extensions.rst, "HTTP/2 Server Push" (``http.response.push``): the server should send a
push promise and serve the promised request through a new instance of the application, as if
the client had made it, with the triggering request's ``:authority``. RFC 9113 §8.4 (server
push), §8.3.1 (request pseudo-header fields) and §6.5.2 (``SETTINGS_ENABLE_PUSH``).
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import urlencode

from conformance.cases import Grade, case
from conformance.client import H2Client, H2Result
from reference_app.response import PUSH_COPIED_HEADERS
from servers import Capability, RunningServer

#: What the page pushes: a plain path, and one with a query string that must be kept.
PUSHED: Final = ("/pushed/a", "/pushed/b?x=1")
#: Request headers the client sends: two the app copies into promises by default
#: (:data:`PUSH_COPIED_HEADERS`) and one it must not copy.
COPIED: Final = (("user-agent", "asgi-conformance-push/1"), ("accept-language", "fr-CH"))
NOT_COPIED: Final = ("x-not-copied", "secret")
#: The header the page asks for on every push.
ASKED: Final = ("x-push", "yes")
#: The pseudo-header fields of a request (RFC 9113 §8.3.1).
PSEUDO: Final = frozenset({":method", ":path", ":scheme", ":authority"})

assert all(name in PUSH_COPIED_HEADERS for name, _ in COPIED)
assert NOT_COPIED[0] not in PUSH_COPIED_HEADERS


def _page(paths: tuple[str, ...] = PUSHED) -> str:
    return "/push/page?" + urlencode([("path", path) for path in paths])


async def _push_page(server: RunningServer, *, enable_push: bool = True) -> H2Result:
    """GET the pushing page over raw HTTP/2, with the copied and uncopied headers."""
    return await H2Client(server, enable_push=enable_push).get(_page(), [*COPIED, NOT_COPIED])


def _json(result: H2Result, stream_id: int) -> Any:
    stream = result.streams[stream_id]
    assert stream.ended, f"stream {stream_id} did not end (reset: {stream.reset})"
    assert stream.status == 200, f"stream {stream_id} answered {stream.status}: {stream.data!r}"
    try:
        return json.loads(stream.data)
    except ValueError:
        raise AssertionError(f"stream {stream_id} is not whole JSON: {stream.data!r}") from None


def _promises(result: H2Result) -> dict[str, tuple[int, int, dict[str, list[str]]]]:
    """The promises by ``:path``: ``(parent, promised, {name: [values]})``."""
    promises: dict[str, tuple[int, int, dict[str, list[str]]]] = {}
    for parent, promised, headers in result.pushes:
        fields: dict[str, list[str]] = {}
        for name, value in headers:
            fields.setdefault(name, []).append(value)
        path = fields.get(":path", ["?"])[0]
        assert path not in promises, f"{path} was promised twice"
        promises[path] = (parent, promised, fields)
    assert sorted(promises) == sorted(PUSHED), (
        f"the client saw PUSH_PROMISE frames for {sorted(promises)}, the app pushed "
        f"{list(PUSHED)} (a query string must be kept in :path)"
    )
    return promises


@case(
    "push/promise-request",
    grade=Grade.REQUIRED,
    clause="ASGI extensions, HTTP/2 Server Push: a push promise with the original :authority; "
    "RFC 9113 §8.4.1",
    requires=[Capability.PUSH],
)
async def test_push_promises_carry_the_request_the_app_pushed(server: RunningServer) -> None:
    """ASGI extensions "HTTP/2 Server Push": each push becomes a PUSH_PROMISE for its request.

    The promised request is ``GET`` the pushed path (its query string kept), with the
    triggering request's ``:authority``, the connection's ``:scheme``, the headers the app
    asked for and the request headers it copies by default; a request header outside that
    set is not promised.

    Server behaviour judged: ``http.response.push`` becomes a PUSH_PROMISE carrying exactly
    the request the app described. Fails under a break that drops push messages (a server
    advertising the extension without sending promises) or mangles their path.
    Breaks: ``push-dropped``.
    """
    result = await _push_page(server)
    page = _json(result, 1)
    assert page == {"pushed": [True] * len(PUSHED)}, f"the page's pushes: {page}"
    promises = _promises(result)
    promised_ids = [promised for _, promised, _ in promises.values()]
    assert len(set(promised_ids)) == len(PUSHED), f"promised stream ids: {promised_ids}"
    assert all(i % 2 == 0 and i > 0 for i in promised_ids), (
        f"promised stream ids must be even (server-initiated, RFC 9113 §5.1.1): {promised_ids}"
    )
    for path, (parent, _, fields) in promises.items():
        assert parent == 1, f"{path} was promised on stream {parent}, not the request's 1"
        expected = {
            ":method": ["GET"],
            ":path": [path],
            ":scheme": [server.spec.scheme],
            ":authority": [server.authority],
        }
        pseudo = {name: values for name, values in fields.items() if name in PSEUDO}
        assert pseudo == expected, f"the promise of {path} has pseudo-headers {pseudo}"
        for name, value in (ASKED, *COPIED):
            assert fields.get(name) == [value], (
                f"the promise of {path} has {name}: {fields.get(name)}, expected {value!r}"
            )
        assert NOT_COPIED[0] not in fields, (
            f"the promise of {path} carries {NOT_COPIED[0]}, which the app does not copy"
        )


@case(
    "push/pushed-responses",
    grade=Grade.REQUIRED,
    clause="ASGI extensions, HTTP/2 Server Push: the server treats the push as if the client "
    "had made the request, in a new instance of the application",
    requires=[Capability.PUSH],
)
async def test_each_promised_request_is_served_by_the_app_as_a_get(
    server: RunningServer,
) -> None:
    """ASGI extensions "HTTP/2 Server Push": the promised request reaches the app as a GET.

    Each promised stream carries a whole 200 response from the app's ``/pushed/{name}``,
    which echoes the request it received: ``GET`` over HTTP/2, the path and query string
    split as for any request, ``host`` from the ``:authority``, and the promised headers.

    Server behaviour judged: the server serves each promised request through the app, as a
    request of its own. Fails under a break that promises but never serves the pushed
    request (the promised stream never ends with the app's response).
    Breaks: ``push-dropped``, ``push-path-unsplit``.
    """
    result = await _push_page(server)
    assert _json(result, 1) == {"pushed": [True] * len(PUSHED)}
    for path, (_, promised, _) in _promises(result).items():
        echo = _json(result, promised)
        target, _, query = path.partition("?")
        seen = {k: echo[k] for k in ("method", "path", "query", "http_version", "scheme")}
        assert seen == {
            "method": "GET",
            "path": target,
            "query": query,
            "http_version": "2",
            "scheme": server.spec.scheme,
        }, f"the app got the push of {path} as {seen}"
        headers: dict[str, list[str]] = {}
        for name, value in echo["headers"]:
            headers.setdefault(name, []).append(value)
        assert headers.get("host") == [server.authority], (
            f"the pushed request's host is {headers.get('host')}, not the :authority"
        )
        for name, value in (ASKED, *COPIED):
            assert headers.get(name) == [value], (
                f"the pushed request for {path} has {name}: {headers.get(name)}"
            )


@case(
    "push/promised-headers-are-request-headers",
    grade=Grade.REQUIRED,
    clause="ASGI extensions, HTTP/2 Server Push: headers are the pushed request's; "
    "RFC 9113 §8.4: a complete set of request header fields",
    requires=[Capability.PUSH],
)
async def test_the_promised_request_has_only_the_headers_the_app_gave(
    server: RunningServer,
) -> None:
    """RFC 9113 §8.4: the promised header fields form the request the app described.

    The ``http.response.push`` message lists the pushed request's headers. The server adds
    the pseudo-headers and nothing else: response fields of its own (``server``, ``date``)
    in a request make the client's cache match a request that was never made, and the app
    serving the push sees them as request headers.

    Server behaviour judged: the promised header block is the app's, untouched. hypercorn
    fails it (it appends its own ``date`` and ``server`` response headers), as does any break
    that adds fields to the push message's headers.
    Breaks: ``push-response-headers``, ``push-dropped``
    (docs/server-behaviour.md#hypercorn-push-promise-response-headers).
    """
    result = await _push_page(server)
    allowed = PSEUDO | {ASKED[0]} | {name for name, _ in COPIED}
    for path, (_, promised, fields) in _promises(result).items():
        extra = sorted(set(fields) - allowed)
        assert not extra, (
            f"the PUSH_PROMISE for {path} carries header fields the app did not ask for: "
            f"{', '.join(extra)}"
        )
        echo = _json(result, promised)
        names = sorted({name for name, _ in echo["headers"]} - allowed - {"host"})
        assert not names, f"the pushed request for {path} reached the app with {names}"


@case(
    "push/refused-by-client",
    grade=Grade.REQUIRED,
    clause="RFC 9113 §6.5.2: a server MUST NOT send PUSH_PROMISE when SETTINGS_ENABLE_PUSH is 0",
    requires=[Capability.PUSH],
)
async def test_a_client_that_disables_push_gets_no_promise_and_a_whole_response(
    server: RunningServer,
) -> None:
    """RFC 9113 §6.5.2: a client with SETTINGS_ENABLE_PUSH = 0 gets no PUSH_PROMISE.

    Server behaviour judged: a server that offers ``http.response.push`` honours the client's
    setting. The app pushes (the extension is advertised; the app cannot know the client's
    setting); the server must drop the pushes and deliver the page itself intact. Only a
    variant that can push is judged: elsewhere no push is ever attempted, and the case would
    pass whatever the server did. Fails under a break that sends the promises regardless of
    the client's SETTINGS (a server ignoring ENABLE_PUSH=0).
    Break: ``push-despite-disabled``.
    """
    result = await _push_page(server, enable_push=False)
    assert not result.pushes, (
        f"PUSH_PROMISE sent to a client with ENABLE_PUSH=0: {[p[2] for p in result.pushes]}"
    )
    assert set(result.streams) == {1}, f"streams other than the request's: {sorted(result.streams)}"
    page = _json(result, 1)
    pushed = page.get("pushed")
    assert isinstance(pushed, list), f"the page is not whole: {page}"
    assert len(pushed) == len(PUSHED), f"the page's pushes: {page}"
