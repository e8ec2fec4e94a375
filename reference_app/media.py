"""Media handlers: how request bodies are parsed and ``resp.media`` is serialized.

A handler turns bytes into an object and back for one media type. The async methods are what the
framework calls; the defaults delegate to the sync ones, so a simple handler only writes
``serialize``/``deserialize``, and a handler that wants to stream (or parse off the event loop)
overrides ``serialize_async``/``deserialize_async``.

Errors are precise: an empty body is :class:`~reference_app.errors.MediaNotFoundError` (400), a
body the handler cannot parse is :class:`~reference_app.errors.MediaMalformedError` (400) with the
parser's exception chained, and a content type no handler claims is
:class:`~reference_app.errors.HTTPUnsupportedMediaType` (415).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, Final
from urllib.parse import parse_qsl

from .errors import HTTPUnsupportedMediaType

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MEDIA_TYPE",
    "BaseHandler",
    "Handlers",
    "JSONHandler",
    "URLEncodedFormHandler",
    "check_depth",
]

DEFAULT_MEDIA_TYPE = "application/json"

#: The deepest nesting of arrays and objects a JSON request body may have by default (the
#: recursion limit of serde_json, Rust's JSON parser); deeper bodies are a 400.
DEFAULT_MAX_DEPTH: Final = 128


class BaseHandler:
    """The media handler interface. Subclass it and override what you need.

    ``deserialize`` may raise any ``ValueError`` (including ``UnicodeDecodeError``) for a body it
    cannot parse; the framework reports it as a 400 with the cause chained.
    """

    def serialize(self, media: object, content_type: str) -> bytes:
        """Serialize ``media`` to bytes for a response of ``content_type``."""
        raise NotImplementedError(f"{type(self).__name__} cannot serialize")

    def deserialize(self, data: bytes, content_type: str) -> object:
        """Parse a complete, non-empty request body of ``content_type``."""
        raise NotImplementedError(f"{type(self).__name__} cannot deserialize")

    async def serialize_async(self, media: object, content_type: str) -> bytes:
        """Async form of :meth:`serialize`; the framework calls this one."""
        return self.serialize(media, content_type)

    async def deserialize_async(self, data: bytes, content_type: str) -> object:
        """Async form of :meth:`deserialize`; the framework calls this one."""
        return self.deserialize(data, content_type)


class JSONHandler(BaseHandler):
    """``application/json``, with pluggable ``dumps``/``loads`` (e.g. orjson's).

    The defaults are strict, so that no body a client sends can make the app fail or answer
    something that is not JSON (RFC 8259):

    * a body nested deeper than ``max_depth`` arrays and objects is refused (a 400), before any
      parser sees it, whichever ``loads`` is used (the stdlib parser recurses once per level and
      fails with ``RecursionError`` near a thousand);
    * the default ``loads`` takes UTF-8 only (RFC 8259 §8.1; a BOM is skipped), refuses a string
      with a lone surrogate (``"\\ud800"``: no UTF-8 can carry it back out), and, unless
      ``allow_nan``, ``NaN``, ``Infinity``, ``-Infinity`` and numbers too large for a float
      (``1e99999``), none of which is JSON;
    * the default ``dumps`` refuses to emit ``NaN`` and the infinities (``ValueError``) unless
      ``allow_nan``; a lone surrogate in ``resp.media`` goes out as a ``\\udXXX`` escape (as
      ECMAScript's ``JSON.stringify`` does) instead of failing the response.

    Args:
        dumps: returns ``str`` or ``bytes``; defaults to compact, non-ASCII-escaping JSON.
        loads: parses ``bytes``; defaults to the strict parser described above.
        max_depth: the deepest nesting of arrays and objects a request body may have
            (:data:`DEFAULT_MAX_DEPTH`); None: no limit but the parser's own.
        allow_nan: accept and emit ``NaN``/``Infinity`` as Python's ``json`` module does.
    """

    def __init__(
        self,
        dumps: Callable[[Any], str | bytes] | None = None,
        loads: Callable[[bytes], Any] | None = None,
        *,
        max_depth: int | None = DEFAULT_MAX_DEPTH,
        allow_nan: bool = False,
    ) -> None:
        if max_depth is not None and max_depth < 1:
            raise ValueError(f"max_depth must be at least 1, got {max_depth}")
        self.max_depth = max_depth
        self.allow_nan = allow_nan
        self.dumps: Callable[[Any], str | bytes] = dumps or (
            _COMPACT_ENCODER_NAN.encode if allow_nan else _compact_dumps
        )
        self.loads: Callable[[bytes], Any] = loads or (
            _lenient_loads if allow_nan else _strict_loads
        )

    def serialize(self, media: object, content_type: str) -> bytes:
        """Serialize ``media`` as JSON."""
        out = self.dumps(media)
        if isinstance(out, str):
            try:
                return out.encode()
            except UnicodeEncodeError:
                # A lone surrogate: escaped, the text is JSON again.
                return _escape_surrogates(out)
        return out

    def deserialize(self, data: bytes, content_type: str) -> object:
        """Parse a JSON body.

        Raises:
            ValueError: the body is not JSON the handler accepts (see the class docstring).
        """
        limit = self.max_depth
        if limit is not None and len(data) > limit:
            check_depth(data, limit)
        try:
            return self.loads(data)
        except RecursionError:
            raise ValueError("the JSON body is nested too deeply to parse") from None

    def dumps_text(self, media: object) -> str:
        """Serialize ``media`` to a JSON string (SSE events use this)."""
        out = self.dumps(media)
        return out.decode() if isinstance(out, bytes) else out


#: ``json.dumps(media, ensure_ascii=False, separators=(",", ":"))`` builds this encoder on every
#: call; one is enough (its ``encode`` keeps no state between calls).
_COMPACT_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_COMPACT_ENCODER_NAN = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _compact_dumps(media: Any) -> str:
    return _COMPACT_ENCODER.encode(media)


def _escape_surrogates(text: str) -> bytes:
    """UTF-8 of JSON text whose lone surrogates (only in strings) become ``\\udXXX`` escapes."""
    return text.encode("utf-8", "backslashreplace")


# -- the strict parser ---------------------------------------------------------------------------

_OPEN_CLOSE: Final = bytes.maketrans(b"[{]}", b"(())")
_NOT_STRUCTURE: Final = bytes(range(256)).translate(None, b'[]{}"')


def check_depth(data: bytes, limit: int) -> None:
    """Raise ``ValueError`` if the arrays and objects of JSON ``data`` nest deeper than ``limit``.

    Brackets inside strings do not count. Runs at C speed: a body with no more than ``limit``
    opening brackets needs no more than two counts; otherwise the strings are cut out and the
    innermost ``()`` pairs of what is left are removed, one level per pass.
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return
    if b"\\" in data:  # drop escaped backslashes, then escaped quotes: every quote left is real
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Only brackets (as "(" and ")") and quotes; "" pairs never change what is inside a string.
    shape = data.translate(_OPEN_CLOSE, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in shape:  # strings with brackets in them (rare): keep what is outside the strings
        shape = b"".join(shape.split(b'"')[::2])
    for depth in range(limit + 1):
        if not shape:
            return
        inner = shape.replace(b"()", b"")
        if len(inner) == len(shape):  # unbalanced: what is left opens without closing
            if depth + inner.count(b"(") <= limit:
                return  # shallow enough: the parser reports the real problem
            break
        shape = inner
    raise ValueError(f"the JSON body is nested deeper than {limit} levels")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if number - number != 0.0:  # inf - inf is nan (never a nan here: the literal is a number)
        raise ValueError(f"{text[:40]} is too large for a number")
    return number


_STRICT_DECODER: Final = json.JSONDecoder(
    parse_constant=_refuse_constant, parse_float=_finite_float
)
#: A string escape that may be half of a surrogate pair (``\\ud800``-``\\udfff``).
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")


def _strict_loads(data: bytes) -> Any:
    """Parse UTF-8 JSON; refuse NaN, the infinities, overflowing numbers and lone surrogates."""
    text = (data[3:] if data[:3] == codecs.BOM_UTF8 else data).decode()
    result = _STRICT_DECODER.decode(text)
    if _SURROGATE_ESCAPE.search(text) is not None and _has_lone_surrogate(result):
        raise ValueError("a JSON string holds a lone surrogate (\\ud800-\\udfff unpaired)")
    return result


def _lenient_loads(data: bytes) -> Any:
    """Python's ``json.loads``: NaN, Infinity and lone surrogates are accepted."""
    return json.loads(data)


def _has_lone_surrogate(value: object) -> bool:
    """Whether a parsed JSON value has a string (key or value) with a lone surrogate."""
    if isinstance(value, str):
        return not value.isascii() and _unencodable(value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False


def _unencodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


class URLEncodedFormHandler(BaseHandler):
    """``application/x-www-form-urlencoded``: a dict of str to str, or to a list for repeats.

    Args:
        keep_blank: keep fields with empty values (``a=``) as ``""``.
    """

    def __init__(self, keep_blank: bool = True) -> None:
        self.keep_blank = keep_blank

    def serialize(self, media: object, content_type: str) -> bytes:
        """Encode a mapping (values may be lists) as a form body."""
        from urllib.parse import urlencode

        if not isinstance(media, Mapping):
            raise TypeError("form media must be a mapping")
        return urlencode(media, doseq=True).encode("ascii")

    def deserialize(self, data: bytes, content_type: str) -> object:
        """Parse a form body; non-ASCII bytes are a ValueError (forms are percent-encoded)."""
        text = data.decode("ascii")
        form: dict[str, str | list[str]] = {}
        for name, value in parse_qsl(
            text, keep_blank_values=self.keep_blank, strict_parsing=False, errors="strict"
        ):
            if name in form:
                previous = form[name]
                if isinstance(previous, list):
                    previous.append(value)
                else:
                    form[name] = [previous, value]
            else:
                form[name] = value
        return form


class Handlers(MutableMapping[str, BaseHandler]):
    """Media handlers by media type, looked up without parameters (``; charset=...``).

    A missing content type or ``*/*`` resolves to ``default_media_type``.
    """

    def __init__(
        self,
        handlers: Mapping[str, BaseHandler] | None = None,
        default_media_type: str = DEFAULT_MEDIA_TYPE,
    ) -> None:
        self._handlers: dict[str, BaseHandler] = {}
        self.default_media_type = default_media_type
        if handlers is None:
            handlers = {
                "application/json": JSONHandler(),
                "application/x-www-form-urlencoded": URLEncodedFormHandler(),
            }
        self.update(handlers)

    def __getitem__(self, media_type: str) -> BaseHandler:
        return self._handlers[_essence(media_type)]

    def __setitem__(self, media_type: str, handler: BaseHandler) -> None:
        if not isinstance(handler, BaseHandler):
            raise TypeError(f"a media handler must subclass BaseHandler, got {handler!r}")
        self._handlers[_essence(media_type)] = handler

    def __delitem__(self, media_type: str) -> None:
        del self._handlers[_essence(media_type)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)

    def resolve(self, content_type: str | None) -> tuple[str, BaseHandler]:
        """Return ``(media_type, handler)`` for a Content-Type header value.

        Raises:
            HTTPUnsupportedMediaType: no handler claims that media type.
        """
        media_type = _essence(content_type) if content_type else ""
        if not media_type or media_type == "*/*":
            media_type = self.default_media_type
        try:
            return media_type, self._handlers[media_type]
        except KeyError:
            raise HTTPUnsupportedMediaType(
                description=f"{media_type!r} is not a supported media type; supported: "
                + ", ".join(sorted(self._handlers))
            ) from None

    def json_dumps(self) -> Callable[[object], str]:
        """The JSON serializer to use for SSE ``json=`` events."""
        handler = self._handlers.get("application/json")
        if isinstance(handler, JSONHandler):
            return handler.dumps_text
        return _compact_dumps


def _essence(content_type: str) -> str:
    """The media type without parameters, lowercased (``Text/HTML; charset=x`` -> ``text/html``)."""
    return content_type.partition(";")[0].strip().lower()
