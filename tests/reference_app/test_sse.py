"""Tests of `reference_app.sse.SSEvent`: golden bytes, validation, and round trips through the
WHATWG parser of `conformance.sse` (HTML §9.2.5 "Parsing an event stream", §9.2.6 "Interpreting
an event stream").
"""

from __future__ import annotations

import inspect
import itertools
import json
import re
from typing import Any

import pytest
from hypothesis import given, strategies as st

from conformance.sse import Event, EventStreamParser, parse
from reference_app.sse import PING, Dumps, SSEvent

#: A line break as the event-stream parser sees one.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _normalise(text: str) -> str:
    return _LINE_BREAK.sub("\n", text)


def _roundtrip(event: SSEvent, dumps: Dumps | None = None) -> list[Event]:
    parser = EventStreamParser()
    events = parser.feed(event.serialize(dumps))
    assert not parser.pending, "an event must end with its blank line"
    return events


class TestGoldenBytes:
    def test_no_field_is_a_ping(self) -> None:
        assert SSEvent().serialize() is PING
        assert PING == b": ping\n\n"

    @pytest.mark.parametrize(
        ("event", "wire"),
        [
            (SSEvent(data=b"x"), b"data: x\n\n"),
            (SSEvent(text="x"), b"data: x\n\n"),
            (SSEvent(json={"a": 1}), b'data: {"a": 1}\n\n'),
            (SSEvent(event="update"), b"event: update\n\n"),
            (SSEvent(id="42"), b"id: 42\n\n"),
            (SSEvent(retry=100), b"retry: 100\n\n"),
            (SSEvent(comment="hello"), b": hello\n\n"),
            (SSEvent(data=b""), b"data: \n\n"),
            (SSEvent(text=""), b"data: \n\n"),
            (SSEvent(event=""), b"event: \n\n"),
            (SSEvent(id=""), b"id: \n\n"),
            (SSEvent(retry=0), b"retry: 0\n\n"),
            (SSEvent(comment=""), b": \n\n"),
            (SSEvent(json=None), b"data: null\n\n"),
            (SSEvent(json=""), b'data: ""\n\n'),
            (SSEvent(text=" x "), b"data:  x \n\n"),
            (SSEvent(text="a: b"), b"data: a: b\n\n"),
            (SSEvent(text="é😀"), "data: é😀\n\n".encode()),
            (SSEvent(json="é"), 'data: "é"\n\n'.encode()),
            (SSEvent(text="a\0b"), b"data: a\0b\n\n"),
            (SSEvent(retry=10**30), b"retry: 1000000000000000000000000000000\n\n"),
        ],
    )
    def test_single_field(self, event: SSEvent, wire: bytes) -> None:
        assert event.serialize() == wire

    def test_all_fields_in_spec_order(self) -> None:
        event = SSEvent(text="x", event="e", id="1", retry=5, comment="c")
        assert event.serialize() == b": c\nevent: e\nid: 1\nretry: 5\ndata: x\n\n"

    @pytest.mark.parametrize(
        "fields",
        [
            combo
            for size in range(1, 6)
            for combo in itertools.combinations(["comment", "event", "id", "retry", "text"], size)
        ],
        ids="+".join,
    )
    def test_every_combination_keeps_the_order(self, fields: tuple[str, ...]) -> None:
        values: dict[str, Any] = {"comment": "c", "event": "e", "id": "i", "retry": 7, "text": "t"}
        lines = {"comment": b": c\n", "event": b"event: e\n", "id": b"id: i\n"}
        lines |= {"retry": b"retry: 7\n", "text": b"data: t\n"}
        event = SSEvent(**{name: values[name] for name in fields})
        assert event.serialize() == b"".join(lines[name] for name in fields) + b"\n"

    def test_falcon_golden_stream(self) -> None:
        """Single-line events come out byte for byte as Falcon's ``test_multiple_events``."""
        events = [
            SSEvent(text="ketchup"),
            SSEvent(text="mustard", event="condiment"),
            SSEvent(text="mayo", event="condiment", event_id="1234"),
            SSEvent(text="onions", event="topping", event_id="5678", retry=100),
            SSEvent(text="guacamole", retry=100, comment="Serve with chips."),
            SSEvent(json={"condiment": "salsa"}, retry=100),
        ]
        assert b"".join(e.serialize() for e in events) == (
            b"data: ketchup\n\n"
            b"event: condiment\ndata: mustard\n\n"
            b"event: condiment\nid: 1234\ndata: mayo\n\n"
            b"event: topping\nid: 5678\nretry: 100\ndata: onions\n\n"
            b": Serve with chips.\nretry: 100\ndata: guacamole\n\n"
            b'retry: 100\ndata: {"condiment": "salsa"}\n\n'
        )

    def test_data_and_text_may_be_positional(self) -> None:
        assert SSEvent(b"d").serialize() == b"data: d\n\n"
        assert SSEvent(None, "t").serialize() == b"data: t\n\n"

    def test_falcon_positional_json_none_is_refused_not_sent_as_null(self) -> None:
        # Falcon's SSEvent(None, None, None, "e") is an event without data; here the third
        # positional would be json=None, JSON null, so it is refused instead.
        with pytest.raises(TypeError, match="positional"):
            SSEvent(None, None, None, "e")  # type: ignore[call-arg]


class TestMultiLine:
    """§9.2.5: a line ends at CRLF, LF or CR, so a payload line break needs a new ``data:`` line."""

    @pytest.mark.parametrize(
        ("text", "wire"),
        [
            ("a\nb", b"data: a\ndata: b\n\n"),
            ("a\rb", b"data: a\ndata: b\n\n"),
            ("a\r\nb", b"data: a\ndata: b\n\n"),
            ("a\n\rb", b"data: a\ndata: \ndata: b\n\n"),
            ("a\r\n\r\nb", b"data: a\ndata: \ndata: b\n\n"),
            ("a\n", b"data: a\ndata: \n\n"),
            ("\n", b"data: \ndata: \n\n"),
            ("\r", b"data: \ndata: \n\n"),
            ("\na", b"data: \ndata: a\n\n"),
        ],
    )
    def test_text_becomes_one_data_line_per_line(self, text: str, wire: bytes) -> None:
        event = SSEvent(text=text)
        assert event.serialize() == wire
        assert _roundtrip(event) == [Event(data=_normalise(text))]

    def test_data_bytes_are_split_too(self) -> None:
        event = SSEvent(data=b"a\r\nb\rc\nd")
        assert event.serialize() == b"data: a\ndata: b\ndata: c\ndata: d\n\n"
        assert _roundtrip(event) == [Event(data="a\nb\nc\nd")]

    def test_other_unicode_line_separators_are_not_line_breaks(self) -> None:
        # str.splitlines() would split at all of these; the event-stream format does not.
        text = "a\x0bb\x0cc\x1cd\x85e\u2028f\u2029g"
        assert SSEvent(text=text).serialize() == f"data: {text}\n\n".encode()

    def test_pretty_json_becomes_several_data_lines(self) -> None:
        value = {"a": [1, 2], "b": {"c": None}}
        event = SSEvent(json=value)
        wire = event.serialize(lambda obj: json.dumps(obj, indent=2))
        assert wire.startswith(b'data: {\ndata:   "a": [\ndata:     1,\n')
        assert wire.count(b"data: ") == len(json.dumps(value, indent=2).splitlines())
        [parsed] = _roundtrip(event, lambda obj: json.dumps(obj, indent=2))
        assert json.loads(parsed.data) == value

    def test_json_with_crlf_from_a_custom_serialiser(self) -> None:
        event = SSEvent(json=[1, 2])
        wire = event.serialize(lambda obj: json.dumps(obj, indent=1).replace("\n", "\r\n"))
        assert wire == b"data: [\ndata:  1,\ndata:  2\ndata: ]\n\n"

    def test_comment_becomes_one_comment_line_per_line(self) -> None:
        event = SSEvent(comment="a\nb\r\nc\rd")
        assert event.serialize() == b": a\n: b\n: c\n: d\n\n"
        parser = EventStreamParser()
        assert parser.feed(event.serialize()) == []
        assert parser.comments == ["a", "b", "c", "d"]


class TestFalconFlaws:
    """Each flaw of Falcon's ``SSEvent`` (Falcon 4.4), and ours getting it right."""

    def test_falcon_flaw_newlines_in_text_cannot_inject_an_event(self) -> None:
        # Falcon writes "data: hello\n\ndata: injected\n\n": two events.
        event = SSEvent(text="hello\n\ndata: injected", event="chat")
        assert _roundtrip(event) == [Event(data="hello\n\ndata: injected", type="chat")]

    def test_falcon_flaw_newlines_in_data_cannot_inject_fields(self) -> None:
        # Falcon writes "data: x\nid: evil\nevent: evil\n\n": the client takes the forged fields.
        event = SSEvent(data=b"x\nid: evil\nevent: evil")
        parser = EventStreamParser()
        assert parser.feed(event.serialize()) == [Event(data="x\nid: evil\nevent: evil")]
        assert parser.last_event_id == ""

    def test_falcon_flaw_lone_cr_in_text_cannot_inject_fields(self) -> None:
        # A CR alone ends a line too (§9.2.5), which is easy to forget when escaping only LF.
        event = SSEvent(text="x\rretry: 1\rid: evil", id="good")
        parser = EventStreamParser()
        assert parser.feed(event.serialize()) == [
            Event(data="x\nretry: 1\nid: evil", last_event_id="good", id="good")
        ]
        assert parser.retry is None

    def test_falcon_flaw_pretty_printed_json_stays_one_event(self) -> None:
        # Falcon with a dumps(indent=2) handler sends one data line, then lines the client
        # reads as unknown fields, so the event's data is just "{".
        value = {"key": "value", "list": [1]}
        [parsed] = _roundtrip(SSEvent(json=value), lambda o: json.dumps(o, indent=2))
        assert json.loads(parsed.data) == value

    def test_falcon_flaw_newlines_in_comment_cannot_inject_an_event(self) -> None:
        event = SSEvent(comment="note\n\ndata: injected\n")
        assert event.serialize() == b": note\n: \n: data: injected\n: \n\n"
        assert parse(event.serialize()) == []

    @pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\r\nb", "\n", "x\n\ndata: injected"])
    def test_falcon_flaw_line_breaks_in_event_are_refused(self, value: str) -> None:
        with pytest.raises(ValueError, match="SSEvent event must not contain CR or LF"):
            SSEvent(text="x", event=value)

    @pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\r\nb", "\r"])
    def test_falcon_flaw_line_breaks_in_id_are_refused(self, value: str) -> None:
        with pytest.raises(ValueError, match="SSEvent id must not contain CR or LF"):
            SSEvent(text="x", id=value)
        with pytest.raises(ValueError, match="SSEvent id must not contain CR or LF"):
            SSEvent(text="x", event_id=value)

    def test_falcon_flaw_nul_in_id_is_refused_since_clients_ignore_it(self) -> None:
        with pytest.raises(ValueError, match="SSEvent id must not contain NUL"):
            SSEvent(text="x", id="a\0b")

    def test_falcon_flaw_invalid_utf8_data_fails_at_construction_not_mid_stream(self) -> None:
        with pytest.raises(ValueError, match=r"SSEvent data must be valid UTF-8.*at byte 2"):
            SSEvent(data=b"ok\xff")

    def test_falcon_flaw_id_has_its_spec_name_and_event_id_is_an_alias(self) -> None:
        assert SSEvent(text="x", id="7").serialize() == SSEvent(text="x", event_id="7").serialize()
        assert SSEvent(event_id="7").id == "7"
        assert SSEvent(id="7").event_id == "7"

    def test_falcon_divergence_json_none_is_sent_as_null(self) -> None:
        # In Falcon, json=None means "no payload": the client never sees the event.
        assert _roundtrip(SSEvent(json=None, event="e")) == [Event(data="null", type="e")]

    def test_falcon_divergence_two_payloads_are_refused_not_ranked(self) -> None:
        # Falcon silently sends data over text over json.
        with pytest.raises(TypeError, match="at most one payload"):
            SSEvent(data=b"a", text="b")


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"data": "text"}, "SSEvent data must be bytes, not str"),
            ({"data": bytearray(b"x")}, "SSEvent data must be bytes, not bytearray"),
            ({"data": memoryview(b"x")}, "SSEvent data must be bytes, not memoryview"),
            ({"text": b"x"}, "SSEvent text must be a str, not bytes"),
            ({"text": 1}, "SSEvent text must be a str, not int"),
            ({"event": 1}, "SSEvent event must be a str, not int"),
            ({"event": b"e"}, "SSEvent event must be a str, not bytes"),
            ({"id": 1}, "SSEvent id must be a str, not int"),
            ({"event_id": 1}, "SSEvent id must be a str, not int"),
            ({"comment": 1}, "SSEvent comment must be a str, not int"),
            ({"retry": 1.5}, "SSEvent retry must be an int, not float"),
            ({"retry": "5"}, "SSEvent retry must be an int, not str"),
            ({"retry": True}, "SSEvent retry must be an int, not bool"),
            ({"data": b"a", "text": "b"}, "SSEvent takes at most one payload"),
            ({"data": b"a", "json": 1}, "SSEvent takes at most one payload"),
            ({"text": "a", "json": None}, "SSEvent takes at most one payload"),
            ({"data": b"", "text": "", "json": ""}, "SSEvent takes at most one payload"),
            ({"id": "1", "event_id": "1"}, "SSEvent takes id or its alias event_id, not both"),
        ],
    )
    def test_type_errors(self, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(TypeError, match=re.escape(message)):
            SSEvent(**kwargs)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"data": b"\xff"}, "SSEvent data must be valid UTF-8"),
            ({"data": b"\xed\xa0\x80"}, "SSEvent data must be valid UTF-8"),
            ({"text": "\ud800"}, "SSEvent text cannot be encoded as UTF-8 (surrogates not allowed"),
            ({"comment": "\udc80"}, "SSEvent comment cannot be encoded as UTF-8"),
            ({"event": "\ud800"}, "SSEvent event cannot be encoded as UTF-8"),
            ({"id": "\ud800"}, "SSEvent id cannot be encoded as UTF-8"),
            ({"event": "a\nb"}, "SSEvent event must not contain CR or LF"),
            ({"id": "a\rb"}, "SSEvent id must not contain CR or LF"),
            ({"id": "\0"}, "SSEvent id must not contain NUL"),
            ({"retry": -1}, "SSEvent retry must be a non-negative number of ms, not -1"),
        ],
    )
    def test_value_errors(self, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=re.escape(message)):
            SSEvent(**kwargs)

    def test_str_subclass_and_int_subclass_are_accepted(self) -> None:
        class Name(str):
            pass

        class Millis(int):
            pass

        event = SSEvent(text=Name("t"), event=Name("e"), retry=Millis(3))
        assert event.serialize() == b"event: e\nretry: 3\ndata: t\n\n"


class TestJsonSerialisation:
    def test_default_serialiser_keeps_non_ascii(self) -> None:
        assert SSEvent(json={"k": "é"}).serialize() == 'data: {"k": "é"}\n\n'.encode()

    def test_unserialisable_object_raises_at_serialize(self) -> None:
        event = SSEvent(json={1, 2})
        with pytest.raises(TypeError, match="not JSON serializable"):
            event.serialize()

    @pytest.mark.parametrize("value", [float("nan"), float("inf"), [float("-inf")]])
    def test_default_serialiser_refuses_nan_and_infinities(self, value: object) -> None:
        with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
            SSEvent(json=value).serialize()

    def test_lone_surrogate_in_json_text_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"SSEvent json \(serialised\) cannot be encoded"):
            SSEvent(json="\ud800").serialize()

    def test_serialiser_may_return_bytes(self) -> None:
        event = SSEvent(json={"a": 1}, event="e")
        assert event.serialize(lambda obj: b'{"a":1}') == b'event: e\ndata: {"a":1}\n\n'

    def test_serialiser_bytes_must_be_utf8(self) -> None:
        with pytest.raises(ValueError, match=r"SSEvent json \(serialised\) must be valid UTF-8"):
            SSEvent(json=1).serialize(lambda obj: b"\xff")

    def test_serialiser_must_return_str_or_bytes(self) -> None:
        def bad(obj: object) -> Any:
            return 1

        with pytest.raises(TypeError, match="SSEvent dumps must return str or bytes, not int"):
            SSEvent(json=1).serialize(bad)

    def test_serialiser_errors_propagate(self) -> None:
        def dumps(obj: object) -> str:
            raise OverflowError("too big")

        with pytest.raises(OverflowError, match="too big"):
            SSEvent(json=1).serialize(dumps)

    def test_serialiser_is_ignored_without_json(self) -> None:
        def dumps(obj: object) -> str:
            raise AssertionError("not called")

        assert SSEvent(text="t").serialize(dumps) == b"data: t\n\n"


class TestCaching:
    def test_bytes_are_built_once(self) -> None:
        event = SSEvent(text="x", event="e")
        assert event.serialize() is event.serialize()

    def test_default_json_is_serialised_once(self) -> None:
        event = SSEvent(json={"a": 1})
        assert event.serialize() is event.serialize()

    def test_custom_serialiser_is_called_once_per_serialiser(self) -> None:
        calls: list[str] = []

        def compact(obj: object) -> str:
            calls.append("compact")
            return json.dumps(obj, separators=(",", ":"))

        def pretty(obj: object) -> str:
            calls.append("pretty")
            return json.dumps(obj, indent=1)

        event = SSEvent(json=[1])
        assert event.serialize(compact) == b"data: [1]\n\n"
        assert event.serialize(compact) == b"data: [1]\n\n"
        assert event.serialize(pretty) == b"data: [\ndata:  1\ndata: ]\n\n"
        assert event.serialize(compact) == b"data: [1]\n\n"
        assert event.serialize() == b"data: [1]\n\n"
        assert calls == ["compact", "pretty", "compact"]

    def test_bound_methods_hit_the_cache(self) -> None:
        class App:
            calls = 0

            def dumps(self, obj: object) -> str:
                App.calls += 1
                return json.dumps(obj)

        app = App()
        event = SSEvent(json=1)
        event.serialize(app.dumps)
        event.serialize(app.dumps)  # a new bound-method object, equal to the first
        assert App.calls == 1


class TestImmutability:
    def test_fields_cannot_be_set(self) -> None:
        event = SSEvent(text="x")
        with pytest.raises(AttributeError, match="SSEvent is immutable, cannot set 'text'"):
            event.text = "y"  # type: ignore[misc]
        with pytest.raises(AttributeError, match="SSEvent is immutable, cannot set '_wire'"):
            event._wire = b"data: forged\n\n"
        with pytest.raises(AttributeError, match="SSEvent is immutable, cannot set 'other'"):
            event.other = 1  # type: ignore[attr-defined]
        assert event.serialize() == b"data: x\n\n"

    def test_fields_cannot_be_deleted(self) -> None:
        event = SSEvent(text="x")
        with pytest.raises(AttributeError, match="SSEvent is immutable, cannot delete '_wire'"):
            del event._wire

    def test_no_instance_dict(self) -> None:
        assert not hasattr(SSEvent(), "__dict__")


class TestAccessors:
    def test_fields_read_back(self) -> None:
        event = SSEvent(text="t", event="e", id="i", retry=3, comment="c")
        assert (event.data, event.text, event.json, event.has_json) == (None, "t", None, False)
        assert (event.event, event.id, event.event_id) == ("e", "i", "i")
        assert (event.retry, event.comment) == (3, "c")
        assert SSEvent(data=b"d").data == b"d"

    def test_json_default_shows_as_unset_in_the_signature(self) -> None:
        assert repr(inspect.signature(SSEvent).parameters["json"].default) == "<unset>"

    def test_json_accessors(self) -> None:
        assert (SSEvent(json=[1]).json, SSEvent(json=[1]).has_json) == ([1], True)
        assert (SSEvent(json=None).json, SSEvent(json=None).has_json) == (None, True)
        assert (SSEvent().json, SSEvent().has_json) == (None, False)

    @pytest.mark.parametrize(
        ("event", "text"),
        [
            (SSEvent(), "SSEvent()"),
            (SSEvent(text="t", event="e", id="i"), "SSEvent(text='t', event='e', id='i')"),
            (SSEvent(data=b"d", retry=1, comment="c"), "SSEvent(data=b'd', retry=1, comment='c')"),
            (SSEvent(json=None, event="e"), "SSEvent(json=None, event='e')"),
            (SSEvent(json={"a": 1}), "SSEvent(json={'a': 1})"),
        ],
    )
    def test_repr(self, event: SSEvent, text: str) -> None:
        assert repr(event) == text


# ---------------------------------------------------------------------------------------------
# Property: whatever the fields, a WHATWG client gets back exactly what was sent.

_CHARS = st.characters(exclude_categories=["Cs"])  # UTF-8 cannot encode lone surrogates
#: Text with line breaks of every kind: pieces of text, not a merged alphabet, so breaks are common.
_MULTILINE = st.lists(st.sampled_from(["\r", "\n", "\r\n"]) | st.text(_CHARS, max_size=4)).map(
    "".join
)
_SINGLE_LINE = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"))
_ID = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\0"))
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _MULTILINE,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_MULTILINE, inner, max_size=3),
    max_leaves=8,
)
_DUMPS: list[Dumps | None] = [
    None,
    lambda obj: json.dumps(obj, indent=2),
    lambda obj: json.dumps(obj, indent="\r\n").replace("\n", "\r"),
    lambda obj: json.dumps(obj).encode(),
]


@given(
    payload=st.one_of(
        st.none(),
        st.tuples(st.just("text"), _MULTILINE),
        st.tuples(st.just("data"), _MULTILINE.map(str.encode)),
        st.tuples(st.just("json"), _JSON),
    ),
    event=st.none() | _SINGLE_LINE,
    id_=st.none() | _ID,
    id_alias=st.booleans(),
    retry=st.none() | st.integers(min_value=0),
    comment=st.none() | _MULTILINE,
    dumps=st.sampled_from(_DUMPS),
)
def test_a_whatwg_client_gets_back_what_was_sent(
    payload: tuple[str, object] | None,
    event: str | None,
    id_: str | None,
    id_alias: bool,
    retry: int | None,
    comment: str | None,
    dumps: Dumps | None,
) -> None:
    kwargs: dict[str, Any] = {"event": event, "retry": retry, "comment": comment}
    kwargs["event_id" if id_alias else "id"] = id_
    if payload is not None:
        kwargs[payload[0]] = payload[1]
    sse = SSEvent(**kwargs)
    parser = EventStreamParser()
    events = parser.feed(sse.serialize(dumps))

    assert not parser.pending
    assert parser.last_event_id == (id_ or "")
    assert parser.retry == retry
    if comment is not None:
        assert parser.comments == _LINE_BREAK.split(comment)
    elif all(field is None for field in (payload, event, id_, retry)):
        assert parser.comments == ["ping"]
    else:
        assert parser.comments == []

    if payload is None:
        # §9.2.6: "If the data buffer is an empty string, ... return": nothing is dispatched.
        assert events == []
        return
    [received] = events
    assert received.type == (event or "message")
    assert (received.id, received.last_event_id, received.retry) == (id_, id_ or "", retry)
    kind, value = payload
    if kind == "json":
        assert json.loads(received.data) == value
    elif isinstance(value, bytes):
        assert received.data == _normalise(value.decode())
    else:
        assert received.data == _normalise(str(value))
