"""Server-sent events: one event of a ``text/event-stream`` response body.

The wire format is the WHATWG HTML Living Standard, "Server-sent events", §9.2.5 "Parsing an event
stream" (the ABNF) and §9.2.6 "Interpreting an event stream" (what a client does with each line):
https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream

`SSEvent` mirrors Falcon's ``falcon.asgi.SSEvent`` but is correct where Falcon is not:

* A line of the stream ends at CRLF, LF *or* CR (§9.2.5). Multi-line ``data``, ``text`` or
  serialised JSON therefore becomes one ``data:`` line per line, and a multi-line ``comment`` one
  ``:`` line per line, so a payload can neither end the event early nor inject fields or events.
  Falcon writes the payload verbatim after a single ``data:``.
* ``event`` and ``id`` are single-line by nature, so CR or LF in them is refused (``ValueError``),
  as is NUL in ``id``, which the client would ignore ("If the field value does not contain U+0000
  NULL, then set the last event ID buffer", §9.2.6).
* ``data`` must be valid UTF-8 (the stream is always UTF-8, §9.2.5), checked at construction, not
  when the event is already half-way to the client.
* The id field is ``id=``, the name the spec uses; Falcon's ``event_id=`` is accepted as an alias.

An event is immutable, and its bytes are built once, so one event can be broadcast to many streams
cheaply.
"""

from __future__ import annotations

import json as _json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, TypeAlias

__all__ = ["PING", "Dumps", "SSEvent"]

#: A comment-only event: clients ignore it, but it keeps proxies from closing an idle stream (§9.2.7
#: "Authoring notes"). `SSEvent()` serialises to exactly this.
PING: Final[bytes] = b": ping\n\n"

#: The three line terminators of the format: ``end-of-line = ( cr lf / cr / lf )`` (§9.2.5).
_LINE_BREAK: Final = re.compile(rb"\r\n|\r|\n")

#: What ``serialize()`` may be given to turn ``json`` into text.
Dumps: TypeAlias = Callable[[object], str | bytes]


class _Unset:
    """Type of the default of ``json``, since ``json=None`` is the JSON value ``null``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Final = _Unset()


def _default_dumps(obj: object) -> str:
    """Serialise ``obj`` as Falcon's default JSON handler does, but refuse NaN and infinities.

    ``ensure_ascii=False`` (as in Falcon) keeps non-ASCII text compact: the stream is UTF-8 anyway.
    ``allow_nan=False`` because ``NaN`` is not JSON, and a browser's ``JSON.parse`` rejects it.
    """
    return _json.dumps(obj, ensure_ascii=False, allow_nan=False)


def _field(prefix: bytes, value: bytes) -> bytes:
    """Return ``value`` as field lines ``prefix + line + LF``, one per line of ``value``.

    ``value`` is split at CRLF, CR and LF, exactly where a client ends a line (§9.2.5), so a client
    that joins the ``data`` lines with LF (§9.2.6) gets ``value`` back with its breaks made LF.
    """
    lines = _LINE_BREAK.split(value) if b"\r" in value else value.split(b"\n")
    return prefix + (b"\n" + prefix).join(lines) + b"\n"


def _type_error(name: str, expected: str, value: object) -> TypeError:
    return TypeError(f"SSEvent {name} must be {expected}, not {type(value).__name__}")


def _encode(name: str, value: object) -> bytes:
    """Return ``value`` (which must be a ``str``) encoded as UTF-8."""
    if not isinstance(value, str):
        raise _type_error(name, "a str", value)
    try:
        return value.encode()
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"SSEvent {name} cannot be encoded as UTF-8 ({exc.reason} at index {exc.start})"
        ) from exc


def _check_utf8(name: str, value: bytes) -> None:
    try:
        value.decode()
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"SSEvent {name} must be valid UTF-8, the encoding of every event stream "
            f"({exc.reason} at byte {exc.start})"
        ) from exc


def _single_line(name: str, value: object) -> bytes:
    """Return the UTF-8 of ``value``, a field that the format cannot spread over several lines."""
    encoded = _encode(name, value)
    if b"\r" in encoded or b"\n" in encoded:
        raise ValueError(
            f"SSEvent {name} must not contain CR or LF, which would end the field early: {value!r}"
        )
    return encoded


def _head(comment: str | None, event: str | None, id: str | None, retry: int | None) -> bytes:
    """Return the field lines that come before the data, in the order comment, event, id, retry."""
    head: list[bytes] = []
    if comment is not None:
        head.append(_field(b": ", _encode("comment", comment)))
    if event is not None:
        head.append(b"event: " + _single_line("event", event) + b"\n")
    if id is not None:
        encoded_id = _single_line("id", id)
        if b"\0" in encoded_id:
            raise ValueError(f"SSEvent id must not contain NUL, clients ignore such an id: {id!r}")
        head.append(b"id: " + encoded_id + b"\n")
    if retry is not None:
        if not isinstance(retry, int) or isinstance(retry, bool):
            raise _type_error("retry", "an int", retry)
        if retry < 0:
            raise ValueError(f"SSEvent retry must be a non-negative number of ms, not {retry}")
        head.append(b"retry: %d\n" % retry)
    return b"".join(head)


class SSEvent:
    """One server-sent event, serialised on the wire by `serialize`.

    Every argument is optional. The fields are written in the order comment, event, id, retry,
    data, each as ``name: value`` (always with the space, so a value that itself starts with a
    space survives the one space the client strips), and the event ends with a blank line.

    Note:
        A client only dispatches an event that has data (§9.2.6 "dispatch the event": "If the data
        buffer is an empty string, ... return"). Without ``data``/``text``/``json`` an event still
        sets the last event ID (``id``) or the reconnection time (``retry``), but the page sees no
        event. ``text=""`` or ``data=b""`` do make an event, with empty data. An event with no field
        at all is a keep-alive and serialises to `PING`.

    Only ``data`` and ``text`` may be passed by position. In Falcon the third positional argument
    is ``json``, and code that passes ``None`` there to reach ``event`` would mean JSON ``null``
    here; keyword-only arguments turn that silent difference into a ``TypeError``.

    Args:
        data: The payload as UTF-8 bytes.
        text: The payload as text.
        json: The payload as an object to serialise as JSON. ``json=None`` sends ``data: null``:
            unlike Falcon, where it means "no payload", so that a producer whose value happens to
            be ``None`` does not send an event the client silently drops.
        event: The event type (``event:`` field); clients default it to ``"message"``.
        id: The last event ID (``id:`` field), which the client echoes in ``Last-Event-ID`` when it
            reconnects. ``id=""`` resets it.
        retry: The reconnection time in milliseconds (``retry:`` field).
        comment: A comment (``:`` lines), ignored by clients.
        event_id: Falcon's name for ``id``.

    Raises:
        TypeError: If an argument has the wrong type, if more than one of ``data``, ``text`` and
            ``json`` is given, or if both ``id`` and ``event_id`` are.
        ValueError: If ``data`` is not valid UTF-8, if a text field cannot be encoded as UTF-8
            (a lone surrogate), if ``event`` or ``id`` contains CR or LF, if ``id`` contains NUL
            or if ``retry`` is negative.
    """

    __slots__ = (
        "_comment",
        "_data",
        "_event",
        "_head",
        "_id",
        "_json",
        "_json_cache",
        "_retry",
        "_text",
        "_wire",
    )

    _comment: str | None
    _data: bytes | None
    _event: str | None
    _head: bytes
    _id: str | None
    _json: object
    _json_cache: tuple[Dumps, bytes] | None
    _retry: int | None
    _text: str | None
    _wire: bytes | None

    def __init__(
        self,
        data: bytes | None = None,
        text: str | None = None,
        *,
        json: object = _UNSET,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comment: str | None = None,
        event_id: str | None = None,
    ) -> None:
        if event_id is not None:
            if id is not None:
                raise TypeError("SSEvent takes id or its alias event_id, not both")
            id = event_id
        given = (data is not None) + (text is not None) + (json is not _UNSET)
        if given > 1:
            raise TypeError("SSEvent takes at most one payload: data, text or json")

        head_bytes = _head(comment, event, id, retry)

        wire: bytes | None
        if data is not None:
            if not isinstance(data, bytes):
                raise _type_error("data", "bytes", data)
            _check_utf8("data", data)
            wire = head_bytes + _field(b"data: ", data) + b"\n"
        elif text is not None:
            wire = head_bytes + _field(b"data: ", _encode("text", text)) + b"\n"
        elif json is not _UNSET:
            wire = None  # serialised by `serialize`, with the app's JSON serialiser
        elif head_bytes:
            wire = head_bytes + b"\n"
        else:
            wire = PING

        init = object.__setattr__
        init(self, "_data", data)
        init(self, "_text", text)
        init(self, "_json", json)
        init(self, "_event", event)
        init(self, "_id", id)
        init(self, "_retry", retry)
        init(self, "_comment", comment)
        init(self, "_head", head_bytes)
        init(self, "_wire", wire)
        init(self, "_json_cache", None)

    if not TYPE_CHECKING:  # pragma: no branch
        # Hidden from type checkers, which would otherwise accept any attribute assignment.

        def __setattr__(self, name: str, value: object) -> None:
            raise AttributeError(f"SSEvent is immutable, cannot set {name!r}")

        def __delattr__(self, name: str) -> None:
            raise AttributeError(f"SSEvent is immutable, cannot delete {name!r}")

    def serialize(self, dumps: Dumps | None = None) -> bytes:
        """Return the event as it goes on the wire, ending with its blank line.

        Args:
            dumps: The app's JSON serialiser, used only for a ``json`` payload. It may return
                ``str`` or UTF-8 ``bytes`` (as orjson does). Default: ``json.dumps`` with
                ``ensure_ascii=False`` (as Falcon's default JSON handler) and ``allow_nan=False``.
                A pretty-printing serialiser is fine: each line becomes its own ``data:`` line,
                and the client rejoins them with LF.

        Returns:
            The UTF-8 bytes of the event. They are computed once (for ``json``, once per
            serialiser, compared with ``==``), so serialising a broadcast event again is free.

        Raises:
            TypeError: If ``dumps`` returns neither ``str`` nor ``bytes``; whatever ``dumps`` raises
                for an object it cannot serialise (``json.dumps`` raises ``TypeError``).
            ValueError: If the serialised JSON is not valid UTF-8 or contains a lone surrogate, or
                (default serialiser) for NaN or an infinity.
        """
        wire = self._wire
        if wire is not None:
            return wire
        if dumps is None:
            dumps = _default_dumps
        cache = self._json_cache
        if cache is not None and cache[0] == dumps:
            return cache[1]
        out = dumps(self._json)
        if isinstance(out, str):
            payload = _encode("json (serialised)", out)
        elif isinstance(out, bytes):
            _check_utf8("json (serialised)", out)
            payload = out
        else:
            raise TypeError(f"SSEvent dumps must return str or bytes, not {type(out).__name__}")
        wire = self._head + _field(b"data: ", payload) + b"\n"
        object.__setattr__(self, "_json_cache", (dumps, wire))
        return wire

    @property
    def data(self) -> bytes | None:
        """The ``data`` payload, or ``None``."""
        return self._data

    @property
    def text(self) -> str | None:
        """The ``text`` payload, or ``None``."""
        return self._text

    @property
    def json(self) -> object:
        """The ``json`` payload, or ``None`` when there is none (see `has_json`)."""
        return None if self._json is _UNSET else self._json

    @property
    def has_json(self) -> bool:
        """Whether a ``json`` payload was given (which may be ``None``, sent as ``null``)."""
        return self._json is not _UNSET

    @property
    def event(self) -> str | None:
        """The event type, or ``None`` (clients then use ``"message"``)."""
        return self._event

    @property
    def id(self) -> str | None:
        """The event ID, or ``None``."""
        return self._id

    @property
    def event_id(self) -> str | None:
        """Falcon's name for `id`."""
        return self._id

    @property
    def retry(self) -> int | None:
        """The reconnection time in milliseconds, or ``None``."""
        return self._retry

    @property
    def comment(self) -> str | None:
        """The comment, or ``None``."""
        return self._comment

    def __repr__(self) -> str:
        fields = {
            "data": self._data,
            "text": self._text,
            "event": self._event,
            "id": self._id,
            "retry": self._retry,
            "comment": self._comment,
        }
        shown = [f"{name}={value!r}" for name, value in fields.items() if value is not None]
        if self._json is not _UNSET:
            shown.insert(0, f"json={self._json!r}")
        return f"SSEvent({', '.join(shown)})"
