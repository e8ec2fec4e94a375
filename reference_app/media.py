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

import json
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from .errors import HTTPUnsupportedMediaType

__all__ = [
    "DEFAULT_MEDIA_TYPE",
    "BaseHandler",
    "Handlers",
    "JSONHandler",
    "URLEncodedFormHandler",
]

DEFAULT_MEDIA_TYPE = "application/json"


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

    Args:
        dumps: returns ``str`` or ``bytes``; defaults to compact, non-ASCII-escaping ``json.dumps``.
        loads: parses ``bytes``; defaults to ``json.loads``.
    """

    def __init__(
        self,
        dumps: Callable[[Any], str | bytes] | None = None,
        loads: Callable[[bytes], Any] | None = None,
    ) -> None:
        self.dumps: Callable[[Any], str | bytes] = dumps or _compact_dumps
        self.loads: Callable[[bytes], Any] = loads or json.loads

    def serialize(self, media: object, content_type: str) -> bytes:
        """Serialize ``media`` as JSON."""
        out = self.dumps(media)
        return out.encode() if isinstance(out, str) else out

    def deserialize(self, data: bytes, content_type: str) -> object:
        """Parse a JSON body (UTF-8, as RFC 8259 §8.1 requires)."""
        return self.loads(data)

    def dumps_text(self, media: object) -> str:
        """Serialize ``media`` to a JSON string (SSE events use this)."""
        out = self.dumps(media)
        return out.decode() if isinstance(out, bytes) else out


#: ``json.dumps(media, ensure_ascii=False, separators=(",", ":"))`` builds this encoder on every
#: call; one is enough (its ``encode`` keeps no state between calls).
_COMPACT_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _compact_dumps(media: Any) -> str:
    return _COMPACT_ENCODER.encode(media)


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
