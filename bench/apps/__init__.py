"""The same app written five ways: raw ASGI (the floor), reference_app, Falcon, Starlette, bareASGI.

Every app answers the in-process workloads of :mod:`bench.workloads` identically (same status,
same body, same ``content-type``; ``content-length`` wherever the body is rendered):

=========================================================  =========================================
``GET /plaintext``                                         ``Hello, World!`` as ``text/plain``
``POST /echo``                                             the JSON body, parsed and serialized back
``GET /api/users/{user_id:int}/posts/{slug}/rev/{rev:float}``  ``user_id|slug|rev``, among 50 routes
``GET /stream``                                            64 KiB streamed in 4 KiB chunks
``GET /sse``                                               one event, ``data: hello``, then the end
``GET /bacon/{bacon_id}?as=text``                          the seed's ``ChunkyBacon.on_get``: a
                                                           query parameter, ``X-Powered-By: Bacon``,
                                                           the text ``bacon {bacon_id} as {as}``
``GET /session`` with three cookies                        ``session {session cookie}``
``GET /search?q=crispy+bacon&page=2&limit=10``             ``q|page|limit``, as query parameters
=========================================================  =========================================

The raw and reference apps also serve the over-the-wire endpoints (:mod:`bench.apps.raw`,
:mod:`bench.apps.reference`): ``GET /download?size=N``, ``POST /upload`` and the SSE fan-out
(``GET /fanout/subscribe``, ``POST /fanout/publish?n=K``), sharing :mod:`bench.apps.hub`.

Each module has a ``build_app()`` and a module-level ``app``, so a server can run
``bench.apps.raw:app`` (the servers must be started with the repository root as working
directory, as :mod:`bench.wire` does).
"""

from __future__ import annotations

import importlib.util
from typing import Final

__all__ = [
    "APPS",
    "BACON_TEMPLATE",
    "DECOY_ROUTES",
    "PLAINTEXT",
    "POWERED_BY",
    "REQUIRES",
    "ROUTE_COUNT",
    "SEARCH_PARAMS",
    "SESSION_COOKIE",
    "SSE_DATA",
    "STREAM_CHUNK",
    "STREAM_CHUNKS",
    "TYPED_TEMPLATE",
    "available",
    "bacon_text",
    "decoy_template",
]

#: The frameworks, in table order, by name: the import string of their app. ``raw`` is the floor.
APPS: Final = {
    "raw": "bench.apps.raw:app",
    "reference_app": "bench.apps.reference:app",
    "falcon": "bench.apps.falcon_asgi:app",
    "starlette": "bench.apps.starlette_app:app",
    "bareasgi": "bench.apps.bareasgi_app:app",
}

#: The package each app needs (the ``bench`` extra installs them).
REQUIRES: Final = {"falcon": "falcon", "starlette": "starlette", "bareasgi": "bareasgi"}


def available() -> list[str]:
    """The apps whose framework is installed, in :data:`APPS` order."""
    return [
        name
        for name in APPS
        if name not in REQUIRES or importlib.util.find_spec(REQUIRES[name]) is not None
    ]


#: The body of ``GET /plaintext``.
PLAINTEXT: Final = b"Hello, World!"

#: The routed template of workload (c), in each framework's syntax (all four agree on this one).
TYPED_TEMPLATE: Final = "/api/users/{user_id:int}/posts/{slug}/rev/{rev:float}"
#: How many routes the app has in all, for workload (c) (the typed route and the decoys).
ROUTE_COUNT: Final = 50
#: How many decoys are registered before the typed route (the rest come after it): the typed
#: route sits in the middle, the average case of the routers that scan in order.
DECOY_ROUTES: Final = 25


def decoy_template(index: int) -> str:
    """The template of decoy route ``index``: the same shape as the typed route, another prefix."""
    return f"/api/v{index}/{{thing_id:int}}/parts/{{part}}/rev/{{rev:float}}"


#: Workload (d): ``STREAM_CHUNKS`` chunks of ``STREAM_CHUNK`` bytes (64 KiB in 4 KiB chunks).
STREAM_CHUNK: Final = b"x" * 4096
STREAM_CHUNKS: Final = 16

#: Workload (e): the one event's data (``data: hello`` on the wire).
SSE_DATA: Final = b"hello"

#: Workload (f), the seed's route: its template and the header it sets.
BACON_TEMPLATE: Final = "/bacon/{bacon_id}"
POWERED_BY: Final = ("X-Powered-By", "Bacon")
#: Workload (g): the cookie the route reads, among the others the request carries.
SESSION_COOKIE: Final = "session"
#: Workload (h): the query parameters the route reads.
SEARCH_PARAMS: Final = ("q", "page", "limit")


def bacon_text(bacon_id: str, variant: str | None) -> str:
    """The body of workload (f)."""
    return f"bacon {bacon_id} as {variant}"
