"""The HTTP connection scope, recorded raw: every field, with the Python type the app saw.

A framework normalises what it reads (the reference framework turns a ``str`` port into an
``int``), so the scope is recorded by raw ASGI endpoints, served by
:class:`conformance.contract.raw.RawRoutes`::

    ANY /raw/scope/dump                      reads the body (every message recorded), answers
                                             200 with the scope and the messages as typed JSON
    ANY /raw/scope/enc/a b+c/€/x/y           the same, under the decoded form of
                                             :data:`ENCODED_PATH`: the request for the encoded
                                             target reaches it only if the server decoded
                                             ``path`` as ASGI says

Query parameters of both: ``leak=KEY`` sets ``scope["state"][KEY]`` (a top-level key, which
must not reach the next request) and appends ``KEY`` to the list the contract's lifespan
startup stored as ``state["shared"]`` (one object in every shallow copy), *after* the scope was
recorded. With an ``x-probe-token`` header, the endpoint calls ``receive()`` once more after its
response is complete and records what it got under the token as event ``after-response``
(``message``: the typed message, or None if nothing came within :data:`AFTER_RESPONSE_WAIT`;
``waited``: seconds).

The typed JSON (:func:`typed`) keeps every value's exact type: ``{"type": "int", "value":
1234}``, ``{"type": "bytes", "value": "<latin-1>"}``, ``{"type": "tuple", "items": [...]}``,
``{"type": "dict", "pairs": [[key, value], ...]}``. :class:`Typed` and :class:`Dump` read it
back on the test's side.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs

from reference_app import App
from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from ._common import observations, token_of

__all__ = [
    "AFTER_RESPONSE_WAIT",
    "DECODED_PATH",
    "DUMP",
    "ENCODED_PATH",
    "RAW",
    "Dump",
    "Received",
    "Typed",
    "register",
    "typed",
]

#: The endpoint that records the scope.
DUMP: Final = "/raw/scope/dump"
#: A request target path with percent-encoded bytes: a space, ``+`` (a literal in a path),
#: the UTF-8 bytes of a euro sign and an encoded ``/``.
ENCODED_PATH: Final = "/raw/scope/enc/a%20b+c/%E2%82%AC/x%2Fy"
#: :data:`ENCODED_PATH` as ASGI's ``path``: percent-decoded, then UTF-8-decoded.
DECODED_PATH: Final = "/raw/scope/enc/a b+c/€/x/y"
#: How long the endpoint waits for the message after its response (seconds).
AFTER_RESPONSE_WAIT: Final = 10.0 * float(os.environ.get("ASGI_CONFORMANCE_TIMEOUT_FACTOR", "1"))
#: How deep :func:`typed` follows containers before it records a ``repr`` instead.
MAX_DEPTH: Final = 8


# -- the typed form --------------------------------------------------------------------------


def typed(value: object, depth: int = 0) -> dict[str, Any]:
    """``value`` as JSON that keeps its exact type (the class name), recursively."""
    kind = type(value).__name__
    if value is None or isinstance(value, bool | int | float | str):
        return {"type": kind, "value": value}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"type": kind, "value": bytes(value).decode("latin-1")}
    if depth >= MAX_DEPTH:
        return {"type": kind, "repr": repr(value)[:200]}
    if isinstance(value, Mapping):
        pairs = [[typed(k, depth + 1), typed(v, depth + 1)] for k, v in value.items()]
        return {"type": kind, "pairs": pairs}
    if isinstance(value, Iterable):
        return {"type": kind, "items": [typed(item, depth + 1) for item in value]}
    return {"type": kind, "repr": repr(value)[:200]}


@dataclass(frozen=True, slots=True)
class Typed:
    """A value as the app saw it: its exact type name and the value rebuilt.

    Attributes:
        type: the class name (``"int"``, ``"str"``, ``"bytes"``, ``"tuple"``...).
        value: the value: bytes for byte strings, a tuple of :class:`Typed` for sequences
            and other iterables, a tuple of ``(Typed, Typed)`` pairs for mappings, the
            ``repr`` for anything else.
        mapping: whether the value was a mapping.
    """

    type: str
    value: Any
    mapping: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Typed:
        """Read what :func:`typed` wrote."""
        kind = str(data["type"])
        if "repr" in data:
            return cls(kind, str(data["repr"]))
        if "pairs" in data:
            pairs = tuple((cls.from_json(k), cls.from_json(v)) for k, v in data["pairs"])
            return cls(kind, pairs, mapping=True)
        if "items" in data:
            return cls(kind, tuple(cls.from_json(item) for item in data["items"]))
        value = data["value"]
        if kind in ("bytes", "bytearray", "memoryview"):
            return cls(kind, str(value).encode("latin-1"))
        return cls(kind, value)

    def items(self) -> tuple[Typed, ...]:
        """The items of a sequence (empty for anything else)."""
        if self.mapping or not isinstance(self.value, tuple):
            return ()
        return self.value

    def pairs(self) -> tuple[tuple[Typed, Typed], ...]:
        """The ``(key, value)`` pairs of a mapping (empty for anything else)."""
        return self.value if self.mapping else ()

    def get(self, key: str) -> Typed | None:
        """The value under the str key ``key`` of a mapping, or None."""
        for name, value in self.pairs():
            if name.type == "str" and name.value == key:
                return value
        return None

    def plain(self) -> Any:
        """The value as plain Python (sequences as lists or tuples, mappings as dicts)."""
        if self.mapping:
            return {k.plain(): v.plain() for k, v in self.pairs()}
        if isinstance(self.value, tuple):
            items = [item.plain() for item in self.items()]
            return tuple(items) if self.type == "tuple" else items
        return self.value

    def __str__(self) -> str:
        return f"{self.type} {self.plain()!r}"


@dataclass(frozen=True, slots=True)
class Received:
    """One message the endpoint's ``receive()`` returned.

    Attributes:
        type: its ``type``.
        keys: every key it had.
        body: ``body`` as typed, or None if absent.
        more_body: ``more_body`` as typed, or None if absent.
    """

    type: str
    keys: tuple[str, ...]
    body: Typed | None
    more_body: Typed | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Received:
        """Read what :func:`_received` wrote."""
        body, more = data.get("body"), data.get("more_body")
        return cls(
            str(data["type"]),
            tuple(data["keys"]),
            None if body is None else Typed.from_json(body),
            None if more is None else Typed.from_json(more),
        )

    @property
    def body_bytes(self) -> bytes:
        """The body (``b""`` if absent, as the spec's default; the raw value if not bytes)."""
        if self.body is None:
            return b""
        return self.body.value if isinstance(self.body.value, bytes) else b""

    @property
    def more(self) -> bool:
        """``more_body`` with the spec's default (False), truthiness as an app would read it."""
        return bool(self.more_body.value) if self.more_body is not None else False

    def __str__(self) -> str:
        parts = [self.type]
        if self.body is not None:
            parts.append(f"body={self.body}")
        if self.more_body is not None:
            parts.append(f"more_body={self.more_body}")
        return "{" + ", ".join(parts) + "}"


@dataclass(frozen=True, slots=True)
class Dump:
    """What ``/raw/scope/dump`` answered: the scope and the request's messages, typed.

    Attributes:
        scope: the scope (a mapping).
        messages: every message ``receive()`` returned until the body ended (or not
            ``http.request``), in order.
    """

    scope: Typed
    messages: tuple[Received, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Dump:
        """Read the endpoint's JSON answer."""
        return cls(
            Typed.from_json(data["scope"]),
            tuple(Received.from_json(m) for m in data["messages"]),
        )

    def get(self, key: str) -> Typed | None:
        """The scope's value under ``key``, or None if it has no such key."""
        return self.scope.get(key)

    def keys(self) -> list[str]:
        """The scope's keys."""
        return [str(key.value) for key, _ in self.scope.pairs()]


# -- the endpoint ------------------------------------------------------------------------------


def _received(message: Message) -> dict[str, Any]:
    return {
        "type": str(message.get("type")),
        "keys": sorted(str(key) for key in message),
        "body": typed(message["body"]) if "body" in message else None,
        "more_body": typed(message["more_body"]) if "more_body" in message else None,
    }


def _leak(scope: Scope) -> str | None:
    values = parse_qs(bytes(scope.get("query_string") or b"").decode("latin-1")).get("leak")
    return values[0] if values else None


async def dump(scope: Scope, receive: Receive, send: Send) -> None:
    """Record the scope, read the body, answer with both; then one more ``receive()``."""
    recorded = typed(scope)
    token = token_of(scope)
    key = _leak(scope)
    state = scope.get("state")
    if key is not None and isinstance(state, dict):
        state[key] = True
        shared = state.get("shared")
        if isinstance(shared, list):
            shared.append(key)
    messages: list[dict[str, Any]] = []
    while True:
        message = await receive()
        messages.append(_received(message))
        if message.get("type") != "http.request" or not message.get("more_body", False):
            break
    body = json.dumps({"scope": recorded, "messages": messages}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
    if token:
        await _after_response(token, receive)


async def _after_response(token: str, receive: Receive) -> None:
    """Record what ``receive()`` gives once the response is complete."""
    start = time.monotonic()
    try:
        message: Message | None = await asyncio.wait_for(receive(), AFTER_RESPONSE_WAIT)
    except TimeoutError:
        message = None
    observations.record(
        token,
        "after-response",
        message=None if message is None else _received(message),
        waited=time.monotonic() - start,
    )


#: Raw ASGI endpoints of this family, by exact path (``/raw/scope/...``).
RAW: dict[str, ASGIApp] = {DUMP: dump, DECODED_PATH: dump}


def register(app: App) -> None:
    """Add this family's framework endpoints to ``app`` (none: every endpoint is raw)."""
