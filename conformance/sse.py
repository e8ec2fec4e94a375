"""A WHATWG-grade ``text/event-stream`` parser: the oracle the SSE suites judge servers with.

It follows the WHATWG HTML Living Standard, "Server-sent events", step by step:
https://html.spec.whatwg.org/multipage/server-sent-events.html

* §9.2.5 "Parsing an event stream": the stream is decoded with UTF-8 decode (invalid bytes become
  U+FFFD, one leading BOM is stripped), and a line ends at CRLF, at LF, or at a CR not followed by
  LF.
* §9.2.6 "Interpreting an event stream": a blank line dispatches the event, a line starting with a
  colon is a comment, the field name is what comes before the first colon and one leading space of
  the value is dropped, a line without a colon is a field with an empty value. ``data`` appends the
  value and LF to the data buffer, ``event`` sets the event type buffer, ``id`` sets the last event
  ID buffer unless the value contains NUL, ``retry`` sets the reconnection time if the value is
  ASCII digits only, and any other field is ignored. At dispatch the last event ID string takes
  the buffer's value; an empty data buffer dispatches nothing; otherwise one trailing LF is removed
  and the event type defaults to ``message``. At the end of the stream, an incomplete event is
  discarded.

The parser is incremental, and chunk boundaries never matter: a CRLF, a UTF-8 sequence or the BOM
may be split across `EventStreamParser.feed` calls. An event is dispatched as soon as its blank
line is complete, even if the blank line ends with a CR whose LF has not arrived yet, as a browser
does.

Common client libraries are not fit to be the oracle. httpx-sse 0.4.3, for one, dispatches blocks
that have no data, accepts ``retry: -5``, ``retry:  5`` and ``retry: 1_000`` (it calls ``int()``),
keeps the BOM, decodes with the response's charset instead of UTF-8, and holds back a chunk's final
CR until more bytes arrive, delaying an event whose blank line ends with CR.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Final

__all__ = ["Event", "EventStreamParser", "parse"]

#: ``end-of-line = ( cr lf / cr / lf )`` (§9.2.5). The alternatives are tried in order, so a CRLF
#: inside one chunk is one line end.
_LINE_END: Final = re.compile(r"\r\n|\r|\n")

#: Digits converted by one ``int()`` call, below CPython's limit on decimal conversion (4300 by
#: default), so a ``retry`` value of any length is read as the spec asks instead of raising.
_DIGITS_PER_INT: Final = 4000


@dataclass(frozen=True, slots=True)
class Event:
    """One dispatched event, as the ``MessageEvent`` a browser would fire (§9.2.6).

    Attributes:
        data: The data buffer, the ``data`` values joined with LF.
        type: The event type: the last ``event`` field of the block, or ``"message"`` when the block
            had none or an empty one.
        last_event_id: The last event ID string at dispatch (the event's ``lastEventId``). It
            persists across events until an ``id`` field changes it.
        id: The value of the last valid ``id`` field of this event's own block, or ``None`` if the
            block set none. Unlike ``last_event_id``, this tells an inherited ID from a fresh one.
        retry: The reconnection time in milliseconds, as last set by a valid ``retry`` field
            anywhere earlier in the stream, or ``None`` if none has been.
    """

    data: str
    type: str = "message"
    last_event_id: str = ""
    id: str | None = None
    retry: int | None = None


def _decimal(digits: str) -> int:
    """Return the value of the ASCII digits ``digits`` in base ten, whatever their number."""
    value = 0
    for start in range(0, len(digits), _DIGITS_PER_INT):
        part = digits[start : start + _DIGITS_PER_INT]
        value = value * 10 ** len(part) + int(part)
    return value


class EventStreamParser:
    """An incremental event-stream parser: bytes in, dispatched events out.

    Feed it the response body in chunks of any size, then call `close` at the end of the body.
    After `close` the parser can take a new stream, like an ``EventSource`` that reconnects: the
    last event ID and the reconnection time carry over, everything else starts afresh.

    Attributes:
        comments: The text of every comment line seen so far, in order, after the colon and with
            one leading space removed (as for a field value), so ``: ping`` is recorded as
            ``"ping"``. Keep-alives are comments. Clients ignore them; the suites count them.
    """

    __slots__ = (
        "_block_id",
        "_data",
        "_decoder",
        "_fields_in_block",
        "_id_buffer",
        "_last_event_id",
        "_line",
        "_retry",
        "_skip_lf",
        "_start",
        "_type",
        "comments",
    )

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._start = True  # no character decoded yet: a BOM would be stripped
        self._skip_lf = False  # the last line ended at a CR: an LF right after it is its end too
        self._line: list[str] = []  # the start of a line whose end has not arrived
        self._data: list[str] = []  # the data buffer, one item per ``data`` field
        self._type = ""  # the event type buffer
        self._id_buffer = ""  # the last event ID buffer
        self._block_id: str | None = None  # the id set by the current block, if any
        self._fields_in_block = False  # a field line was read since the last blank line
        self._last_event_id = ""  # the last event ID string
        self._retry: int | None = None  # the reconnection time
        self.comments: list[str] = []

    @property
    def last_event_id(self) -> str:
        """The last event ID string: what a client would send as ``Last-Event-ID`` on reconnection.

        It is set when a block ends (with or without data), so an ``id`` field in an incomplete
        block does not count.
        """
        return self._last_event_id

    @property
    def retry(self) -> int | None:
        """The reconnection time (ms) as last set by a valid ``retry`` field, or ``None``.

        Unlike the last event ID, it takes effect as soon as the field's line is complete.
        """
        return self._retry

    @property
    def pending(self) -> bool:
        """Whether an event has started but not ended: `close` now would discard something.

        True when part of a line (or of a UTF-8 sequence) is buffered, or when a field line has
        been read since the last blank line. Comment lines alone do not count: they dispatch
        nothing either way.
        """
        return bool(self._line or self._fields_in_block or self._decoder.getstate()[0])

    def feed(self, chunk: bytes) -> list[Event]:
        """Parse the next bytes of the stream.

        Args:
            chunk: Any number of bytes, split anywhere.

        Returns:
            The events whose blank line completed in this chunk, in order.
        """
        text = self._decoder.decode(chunk)
        if not text:
            return []
        if self._start:
            # UTF-8 decode "strips one leading UTF-8 Byte Order Mark" (§9.2.5; Encoding, §4.2).
            self._start = False
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf:
            self._skip_lf = False
            if text[:1] == "\n":
                text = text[1:]

        events: list[Event] = []
        line = self._line
        pos = 0
        for match in _LINE_END.finditer(text):
            end = match.start()
            if line:
                line.append(text[pos:end])
                self._process_line("".join(line), events)
                line.clear()
            else:
                self._process_line(text[pos:end], events)
            pos = match.end()
        if pos < len(text):
            line.append(text[pos:])
        elif text[-1:] == "\r":
            # The line has ended, but if the next chunk starts with LF, that LF belongs to this CR.
            self._skip_lf = True
        return events

    def close(self) -> list[Event]:
        """End the stream, discarding an incomplete event as the spec requires.

        "Once the end of the file is reached, any pending data must be discarded" (§9.2.6); see
        `pending` to find out whether there was any. The parser is then ready for a new stream.

        Returns:
            Always an empty list: every complete event has already been returned by `feed`. It is
            a list so that a caller can write ``events += parser.close()``.
        """
        self._decoder.reset()
        self._start = True
        self._skip_lf = False
        self._line.clear()
        self._data.clear()
        self._type = ""
        self._id_buffer = self._last_event_id
        self._block_id = None
        self._fields_in_block = False
        return []

    def _process_line(self, line: str, events: list[Event]) -> None:
        """Interpret one complete line (§9.2.6), appending to ``events`` if it dispatches one."""
        if not line:
            self._dispatch(events)
            return
        colon = line.find(":")
        if colon < 0:
            name, value = line, ""
        else:
            name, value = line[:colon], line[colon + 1 :]
            if value[:1] == " ":
                value = value[1:]
            if not name:
                self.comments.append(value)
                return
        self._fields_in_block = True
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id":
            if "\0" not in value:
                self._id_buffer = value
                self._block_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            # isdigit() is False for "", so an empty value is ignored like any non-number.
            self._retry = _decimal(value)

    def _dispatch(self, events: list[Event]) -> None:
        """Dispatch the event (§9.2.6), when a blank line ends the block."""
        self._last_event_id = self._id_buffer
        block_id, self._block_id = self._block_id, None
        self._fields_in_block = False
        if self._data:
            events.append(
                Event(
                    data="\n".join(self._data),
                    type=self._type or "message",
                    last_event_id=self._last_event_id,
                    id=block_id,
                    retry=self._retry,
                )
            )
            self._data.clear()
        self._type = ""


def parse(data: bytes) -> list[Event]:
    """Parse a whole event stream.

    Args:
        data: The complete response body.

    Returns:
        The events it dispatches; an incomplete last event is discarded.
    """
    parser = EventStreamParser()
    return parser.feed(data) + parser.close()
