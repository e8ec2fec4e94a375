"""The clients the cases speak with, over real sockets, in the variant's protocol.

* :func:`http_client`: an ``httpx.AsyncClient`` speaking HTTP/1.1, HTTP/2 with prior knowledge
  (h2c) or HTTP/2 over TLS with ALPN, as the variant requires.
* :class:`RawHTTP1`: a raw HTTP/1.1 connection for what a polite client never sends (a body
  longer or shorter than its Content-Length, pipelined requests, ``Expect: 100-continue``
  without the body); responses are parsed with h11, and every byte in and out is kept in a
  timestamped :class:`Transcript`.
* :class:`H2Session`: the raw HTTP/2 connection (the ``h2`` library), driven frame by frame:
  any header block, DATA and RST_STREAM as the case says; informational responses, trailers,
  PUSH_PROMISE (``SETTINGS_ENABLE_PUSH`` on or off), RST_STREAM and GOAWAY seen with their
  codes; incremental, timestamped reads with flow control driven by what the case reads; a
  frame transcript (:meth:`H2Result.describe`). :class:`H2Client` is its one-GET shorthand.
* :func:`connect`: the raw connection both raw clients open (TLS with ALPN on TLS variants;
  optionally a small ``SO_RCVBUF``, for a client that reads slowly).
* :class:`Observer`: the observation channel of the contract app (:mod:`conformance.observe`).

Every wait has a deadline; nothing here sleeps to let time pass.

Inside a case run by the plugin, every client also reports what it sends and receives to the
case's evidence sink (:mod:`conformance.evidence`), so the report can show the wire transcript
and the app's observations of each case; outside a case this does nothing.
"""

from __future__ import annotations

from ._common import TIMEOUT as TIMEOUT, connect as connect, new_token as new_token
from .http1 import (
    RawHTTP1 as RawHTTP1,
    RawResponse as RawResponse,
    Transcript as Transcript,
    request_bytes as request_bytes,
)
from .http2 import (
    H2Client as H2Client,
    H2Result as H2Result,
    H2Session as H2Session,
    H2Stream as H2Stream,
    error_name as error_name,
)
from .httpx_client import http_client as http_client
from .observer import Observer as Observer

__all__ = [
    "TIMEOUT",
    "H2Client",
    "H2Result",
    "H2Session",
    "H2Stream",
    "Observer",
    "RawHTTP1",
    "RawResponse",
    "Transcript",
    "connect",
    "error_name",
    "http_client",
    "new_token",
    "request_bytes",
]
