"""Tests of `conformance.sse`, the event-stream parser, with the WHATWG spec's own examples.

WHATWG HTML §9.2.5 "Parsing an event stream" and §9.2.6 "Interpreting an event stream":
https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given, strategies as st

from conformance.sse import Event, EventStreamParser, parse


def feed_all(parser: EventStreamParser, chunks: list[bytes]) -> list[Event]:
    events: list[Event] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events


def byte_by_byte(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


class TestSpecExamples:
    """The examples of §9.2.6 "Interpreting an event stream"."""

    def test_stock_ticker_data_lines_are_joined_with_lf(self) -> None:
        stream = b"data: YHOO\ndata: +2\ndata: 10\n\n"
        assert parse(stream) == [Event(data="YHOO\n+2\n10")]

    def test_four_blocks_comment_id_and_id_reset(self) -> None:
        stream = (
            b": test stream\n"
            b"\n"
            b"data: first event\n"
            b"id: 1\n"
            b"\n"
            b"data:second event\n"
            b"id\n"
            b"\n"
            b"data:  third event\n"
            b"\n"
        )
        parser = EventStreamParser()
        assert parser.feed(stream) == [
            # The id is set in the same block, so the event already carries it.
            Event(data="first event", last_event_id="1", id="1"),
            # "id" without a value resets the last event ID to the empty string.
            Event(data="second event", last_event_id="", id=""),
            # Only one leading space is removed.
            Event(data=" third event", last_event_id="", id=None),
        ]
        assert parser.comments == ["test stream"]
        assert parser.last_event_id == ""

    def test_last_block_needs_its_blank_line_end_of_stream_is_not_enough(self) -> None:
        stream = b"data: first event\nid: 1\n\ndata:  third event\n"
        parser = EventStreamParser()
        assert parser.feed(stream) == [Event(data="first event", last_event_id="1", id="1")]
        assert parser.pending
        assert parser.close() == []
        assert not parser.pending

    def test_empty_data_dispatches_empty_and_newline_events(self) -> None:
        stream = b"data\n\ndata\ndata\n\ndata:"
        assert parse(stream) == [Event(data=""), Event(data="\n")]

    def test_space_after_colon_is_optional(self) -> None:
        events = parse(b"data:test\n\ndata: test\n\n")
        assert events == [Event(data="test"), Event(data="test")]


class TestDecoding:
    """§9.2.5: "Event streams are always decoded as UTF-8"; UTF-8 decode strips one BOM."""

    def test_leading_bom_is_stripped(self) -> None:
        assert parse(b"\xef\xbb\xbfdata: x\n\n") == [Event(data="x")]

    def test_only_one_bom_is_stripped(self) -> None:
        # The second BOM becomes part of the field name "\ufeffdata", an unknown field.
        assert parse(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n") == [Event(data="y")]

    def test_bom_split_over_three_feeds(self) -> None:
        parser = EventStreamParser()
        assert feed_all(parser, [b"\xef", b"\xbb", b"\xbfdata: x\n\n"]) == [Event(data="x")]

    def test_bom_after_the_start_is_not_stripped(self) -> None:
        assert parse(b"data: a\n\n\xef\xbb\xbfdata: b\n\n") == [Event(data="a")]

    def test_bom_in_a_value_is_kept(self) -> None:
        assert parse(b"data: \xef\xbb\xbfx\n\n") == [Event(data="\ufeffx")]

    def test_multibyte_characters_split_across_feeds(self) -> None:
        stream = "data: é€😀\n\n".encode()
        parser = EventStreamParser()
        assert feed_all(parser, byte_by_byte(stream)) == [Event(data="é€😀")]

    @pytest.mark.parametrize(
        ("raw", "data"),
        [
            (b"\xff", "\ufffd"),
            # A truncated sequence is one maximal subpart: one U+FFFD.
            (b"\xe2\x82", "\ufffd"),
            (b"\xe2\x82x", "\ufffdx"),
            # An encoded surrogate is three errors.
            (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),
            # An overlong encoding is two errors.
            (b"\xc0\xaf", "\ufffd\ufffd"),
        ],
    )
    def test_invalid_utf8_is_replaced(self, raw: bytes, data: str) -> None:
        stream = b"data: " + raw + b"\n\n"
        assert parse(stream) == [Event(data=data)]
        parser = EventStreamParser()
        assert feed_all(parser, byte_by_byte(stream)) == [Event(data=data)]

    def test_invalid_utf8_in_a_field_name_makes_an_unknown_field(self) -> None:
        assert parse(b"da\xfeta: x\n\ndata: y\n\n") == [Event(data="y")]

    def test_charset_of_the_response_is_irrelevant(self) -> None:
        # Latin-1 "é" is not UTF-8: it is replaced, never decoded as Latin-1.
        assert parse(b"data: caf\xe9\n\n") == [Event(data="caf\ufffd")]


class TestLineEnds:
    """§9.2.5: ``end-of-line = ( cr lf / cr / lf )``."""

    @pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
    def test_each_line_end(self, eol: bytes) -> None:
        stream = eol.join([b"event: e", b"data: a", b"data: b", b"", b"data: c", b"", b""])
        assert parse(stream) == [Event(data="a\nb", type="e"), Event(data="c")]

    def test_mixed_line_ends(self) -> None:
        stream = b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\rdata: e\n\n"
        assert parse(stream) == [Event(data="a\nb\nc"), Event(data="d"), Event(data="e")]

    def test_lf_cr_is_two_line_ends(self) -> None:
        assert parse(b"data: a\n\r") == [Event(data="a")]

    def test_cr_lf_split_across_feeds_is_one_line_end(self) -> None:
        parser = EventStreamParser()
        assert parser.feed(b"data: a\r") == []
        assert parser.feed(b"\n") == []  # the LF of CRLF, not a blank line
        assert parser.feed(b"\r") == [Event(data="a")]
        assert parser.feed(b"\n") == []  # again the LF of a CRLF
        assert parser.feed(b"data: b\n\n") == [Event(data="b")]

    def test_blank_line_ending_with_cr_dispatches_without_waiting(self) -> None:
        parser = EventStreamParser()
        assert parser.feed(b"data: a\r\r") == [Event(data="a")]

    def test_cr_after_a_pending_cr_is_a_blank_line(self) -> None:
        parser = EventStreamParser()
        assert parser.feed(b"data: a\r") == []
        assert parser.feed(b"\r") == [Event(data="a")]

    def test_pending_cr_survives_a_chunk_that_decodes_to_nothing(self) -> None:
        parser = EventStreamParser()
        assert feed_all(parser, [b"data: a\r", b"", b"\n", b"\n"]) == [Event(data="a")]

    def test_pending_cr_survives_a_partial_utf8_sequence(self) -> None:
        parser = EventStreamParser()
        # CR, then "é" split in two: the character after the CR is not LF.
        assert feed_all(parser, [b"data: a\r", b"\xc3", b"\xa9: x\n\n"]) == [Event(data="a")]
        assert parser.feed(b"data: b\n\n") == [Event(data="b")]

    def test_line_split_over_many_feeds(self) -> None:
        parser = EventStreamParser()
        assert feed_all(parser, [b"da", b"ta", b": hel", b"lo", b"\n", b"\n"]) == [
            Event(data="hello")
        ]


class TestFields:
    """§9.2.6: how each line is interpreted."""

    def test_field_without_colon_has_empty_value(self) -> None:
        assert parse(b"event\ndata\n\n") == [Event(data="")]

    def test_only_the_first_colon_splits(self) -> None:
        assert parse(b"data: a: b:c\n\n") == [Event(data="a: b:c")]

    def test_only_one_leading_space_is_removed(self) -> None:
        assert parse(b"data:  x \n\n") == [Event(data=" x ")]

    def test_tab_is_not_removed(self) -> None:
        assert parse(b"data:\tx\n\n") == [Event(data="\tx")]

    @pytest.mark.parametrize(
        "line",
        [b"Data: x", b"DATA: x", b"data : x", b" data: x", b"datum: x", b"foo"],
    )
    def test_unknown_fields_are_ignored(self, line: bytes) -> None:
        assert parse(line + b"\n\n") == []
        assert parse(line + b"\ndata: y\n\n") == [Event(data="y")]

    def test_nul_in_data_is_kept(self) -> None:
        assert parse(b"data: a\0b\n\n") == [Event(data="a\0b")]

    def test_event_sets_the_type(self) -> None:
        assert parse(b"event: add\ndata: x\n\n") == [Event(data="x", type="add")]

    def test_last_event_field_wins(self) -> None:
        assert parse(b"event: a\nevent: b\ndata: x\n\n") == [Event(data="x", type="b")]

    def test_empty_event_type_means_message(self) -> None:
        assert parse(b"event:\ndata: x\n\n") == [Event(data="x", type="message")]

    def test_event_type_is_reset_after_each_block(self) -> None:
        stream = b"event: a\ndata: x\n\ndata: y\n\nevent: b\n\ndata: z\n\n"
        assert parse(stream) == [Event(data="x", type="a"), Event(data="y"), Event(data="z")]

    def test_block_without_data_dispatches_nothing(self) -> None:
        assert parse(b"event: a\nid: 1\nretry: 10\n\n") == []


class TestId:
    """§9.2.6: the ``id`` field, the last event ID buffer and the last event ID string."""

    def test_last_event_id_persists_across_events(self) -> None:
        events = parse(b"id: 7\ndata: a\n\ndata: b\n\n")
        assert events == [
            Event(data="a", last_event_id="7", id="7"),
            Event(data="b", last_event_id="7", id=None),
        ]

    def test_id_with_nul_is_ignored(self) -> None:
        parser = EventStreamParser()
        events = parser.feed(b"id: 1\n\nid: 2\x003\ndata: x\n\n")
        assert events == [Event(data="x", last_event_id="1", id=None)]
        assert parser.last_event_id == "1"

    def test_id_in_a_block_without_data_is_still_recorded(self) -> None:
        parser = EventStreamParser()
        assert parser.feed(b"id: 42\n\n") == []
        assert parser.last_event_id == "42"
        assert parser.feed(b"data: x\n\n") == [Event(data="x", last_event_id="42")]

    def test_last_event_id_string_changes_only_at_a_blank_line(self) -> None:
        parser = EventStreamParser()
        parser.feed(b"id: 1\n\nid: 2\n")
        assert parser.last_event_id == "1"
        parser.close()
        assert parser.last_event_id == "1"

    def test_empty_id_resets(self) -> None:
        parser = EventStreamParser()
        assert parser.feed(b"id: 1\ndata: a\n\nid:\ndata: b\n\n") == [
            Event(data="a", last_event_id="1", id="1"),
            Event(data="b", last_event_id="", id=""),
        ]
        assert parser.last_event_id == ""

    def test_id_keeps_spaces_after_the_first(self) -> None:
        assert parse(b"id:  x \ndata\n\n") == [Event(data="", last_event_id=" x ", id=" x ")]


class TestRetry:
    """§9.2.6: "If the field value consists of only ASCII digits", else the field is ignored."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(b"0", 0), (b"5", 5), (b"0005", 5), (b"12345678901234567890", 12345678901234567890)],
    )
    def test_digits_set_the_reconnection_time(self, value: bytes, expected: int) -> None:
        parser = EventStreamParser()
        assert parser.feed(b"retry: " + value + b"\ndata: x\n\n") == [
            Event(data="x", retry=expected)
        ]
        assert parser.retry == expected

    @pytest.mark.parametrize(
        "value",
        [
            b"-5",
            b"+5",
            b" 5",  # after the one space the parser strips
            b"5 ",
            b"1_000",
            b"5.0",
            b"1e3",
            b"0x10",
            b"",
            "٣".encode(),  # ARABIC-INDIC DIGIT THREE: a digit, not an ASCII one
            "²".encode(),
            "\uff15".encode(),  # FULLWIDTH DIGIT FIVE
        ],
    )
    def test_anything_else_is_ignored(self, value: bytes) -> None:
        parser = EventStreamParser()
        events = parser.feed(b"retry: 100\n\nretry: " + value + b"\ndata: x\n\n")
        assert events == [Event(data="x", retry=100)]
        assert parser.retry == 100

    def test_retry_without_colon_is_ignored(self) -> None:
        parser = EventStreamParser()
        assert parser.feed(b"retry\ndata: x\n\n") == [Event(data="x")]
        assert parser.retry is None

    def test_retry_is_immediate_even_in_a_discarded_block(self) -> None:
        parser = EventStreamParser()
        parser.feed(b"retry: 300\ndata: never dispatched\n")
        parser.close()
        assert parser.retry == 300

    def test_retry_persists_across_events(self) -> None:
        events = parse(b"retry: 10\ndata: a\n\ndata: b\n\nretry: 20\ndata: c\n\n")
        assert [e.retry for e in events] == [10, 10, 20]

    def test_a_value_longer_than_the_int_conversion_limit(self) -> None:
        digits = "1" + "0" * 9999
        parser = EventStreamParser()
        parser.feed(f"retry: {digits}\n\n".encode())
        assert parser.retry == 10**9999


class TestComments:
    """§9.2.6: "If the line starts with a U+003A COLON character (:)": ignore the line."""

    def test_comments_are_recorded_in_order(self) -> None:
        parser = EventStreamParser()
        events = parser.feed(b": ping\n:ping\n:\n:  two\n: a: b\ndata: x\n\n: after\n\n")
        assert events == [Event(data="x")]
        assert parser.comments == ["ping", "ping", "", " two", "a: b", "after"]

    def test_comments_do_not_dispatch_or_end_a_block(self) -> None:
        assert parse(b"data: a\n: c\ndata: b\n\n") == [Event(data="a\nb")]

    def test_unterminated_comment_is_not_recorded(self) -> None:
        parser = EventStreamParser()
        parser.feed(b": partial")
        parser.close()
        assert parser.comments == []


class TestPendingAndClose:
    def test_nothing_pending_on_a_fresh_parser(self) -> None:
        assert not EventStreamParser().pending

    @pytest.mark.parametrize(
        "stream",
        [b"data: x\n", b"data: x", b"d", b"\xc3", b"id: 1\n", b"foo\n"],
        ids=["field", "partial-line", "one-char", "partial-utf8", "id-only", "unknown-field"],
    )
    def test_pending(self, stream: bytes) -> None:
        parser = EventStreamParser()
        parser.feed(stream)
        assert parser.pending
        assert parser.close() == []
        assert not parser.pending

    @pytest.mark.parametrize("stream", [b"", b"data: x\n\n", b": ping\n", b": ping\n\n"])
    def test_not_pending(self, stream: bytes) -> None:
        parser = EventStreamParser()
        parser.feed(stream)
        assert not parser.pending

    def test_close_discards_the_incomplete_event(self) -> None:
        parser = EventStreamParser()
        parser.feed(b"event: e\ndata: lost\n")
        parser.close()
        assert parser.feed(b"data: new\n\n") == [Event(data="new")]

    def test_close_then_a_new_stream_is_a_reconnection(self) -> None:
        parser = EventStreamParser()
        parser.feed(b"retry: 50\nid: 9\ndata: a\n\nid: 10\ndata: b\n")
        parser.close()
        # A new stream may start with a BOM again, and a CR at the end of the old one is gone.
        events = parser.feed(b"\xef\xbb\xbfdata: c\n\n")
        assert events == [Event(data="c", last_event_id="9", retry=50)]

    def test_close_forgets_a_pending_cr(self) -> None:
        parser = EventStreamParser()
        parser.feed(b"data: a\r")
        parser.close()
        assert parser.feed(b"\n\ndata: b\n\n") == [Event(data="b")]

    def test_parse_discards_the_incomplete_event(self) -> None:
        assert parse(b"data: a\n\ndata: b") == [Event(data="a")]


class TestEvent:
    def test_defaults(self) -> None:
        assert Event("x") == Event(data="x", type="message", last_event_id="", id=None, retry=None)

    def test_is_frozen(self) -> None:
        event = Event("x")
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.data = "y"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Property: chunking never matters.

#: Pieces of values: characters the parser must treat with care, and any others (no surrogates,
#: which UTF-8 cannot encode). A union of pieces, not of characters, which hypothesis would merge
#: into one uniform alphabet where the special ones are almost never drawn.
_VALUE_PIECES = st.sampled_from(["\ufeff", "é", "😀", ":", " ", "\0", "a"]) | st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), min_size=1, max_size=3
)
_EOL = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def _lines(draw: st.DrawFn) -> str:
    # Blank lines thrice as likely, so that many blocks end.
    kind = draw(
        st.sampled_from(["data", "event", "id", "retry", "comment", "bare", "other"] + [""] * 3)
    )
    value = "".join(draw(st.lists(_VALUE_PIECES, max_size=4)))
    if kind == "retry":
        value = draw(st.sampled_from([value, "0", "15", "007"]))
    if kind == "comment":
        line = ":" + value
    elif kind == "bare":
        line = value.replace(":", "")
    elif kind == "":
        line = ""
    else:
        line = kind + draw(st.sampled_from([":", ": "])) + value
    return line + draw(_EOL)


@st.composite
def _streams(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from(["", "\ufeff"])) + "".join(draw(st.lists(_lines(), max_size=12)))
    stream = text.encode()
    # Sprinkle a few invalid bytes anywhere.
    for byte in draw(st.lists(st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\xed"]))):
        at = draw(st.integers(0, len(stream)))
        stream = stream[:at] + byte + stream[at:]
    return stream


def _split(stream: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(c % (len(stream) + 1) for c in cuts), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


def _outcome(chunks: list[bytes]) -> tuple[list[Event], list[str], str, int | None, bool]:
    parser = EventStreamParser()
    events = feed_all(parser, chunks)
    return events, parser.comments, parser.last_event_id, parser.retry, parser.pending


@given(stream=_streams() | st.binary(max_size=64), cuts=st.lists(st.integers(0, 10_000)))
def test_any_chunking_gives_the_same_result(stream: bytes, cuts: list[int]) -> None:
    assert _outcome(_split(stream, cuts)) == _outcome([stream])


@given(stream=_streams())
def test_byte_by_byte_gives_the_same_result(stream: bytes) -> None:
    assert _outcome(byte_by_byte(stream)) == _outcome([stream])
