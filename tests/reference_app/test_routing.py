"""reference_app.routing: the template grammar, the converters, precedence and ambiguity.

``TestBareASGIFlaws`` pins each routing flaw verified in bareASGI 4.4.1
as fixed here. The property tests at the end check the converters against independent oracles.
"""

from __future__ import annotations

import math
import os
import pathlib
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from reference_app.routing import (
    BUILTIN_CONVERTERS,
    CompiledTemplate,
    Converter,
    DateTimeConverter,
    FieldSegment,
    IntConverter,
    LiteralSegment,
    PathConverter,
    Router,
    RouteTemplateError,
    StrConverter,
    compile_template,
)

UUID_TEXT = "12345678-9abc-def0-1234-56789abcdef0"
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S"


def router_of(*templates: str) -> Router[str]:
    """A router whose target for each template is the template itself."""
    router: Router[str] = Router()
    for template in templates:
        router.add(template, template)
    return router


def typed(params: Mapping[str, object]) -> dict[str, tuple[type, object]]:
    """Params with their types, so that ``1 == 1.0 == True`` cannot hide a wrong converter."""
    return {name: (type(value), value) for name, value in params.items()}


def assert_found(
    found: tuple[str, dict[str, object]] | None, template: str, params: Mapping[str, object]
) -> None:
    assert found is not None
    assert found[0] == template
    assert typed(found[1]) == typed(params)
    assert list(found[1]) == list(params)  # template order


# --- matching -----------------------------------------------------------------------------------

MATCH_CASES = [
    pytest.param(["/"], "/", "/", {}, id="root"),
    pytest.param(["/users"], "/users", "/users", {}, id="literal"),
    pytest.param(["/users/"], "/users/", "/users/", {}, id="literal-trailing-slash"),
    pytest.param(["/{name}"], "/bob", "/{name}", {"name": "bob"}, id="str"),
    pytest.param(["/{name:str}"], "/a b%", "/{name:str}", {"name": "a b%"}, id="explicit-str"),
    pytest.param(["/n/{n:int}"], "/n/-7", "/n/{n:int}", {"n": -7}, id="int"),
    pytest.param(["/f/{x:float}"], "/f/1.5e-3", "/f/{x:float}", {"x": 0.0015}, id="float"),
    pytest.param(
        ["/u/{u:uuid}"], f"/u/{UUID_TEXT}", "/u/{u:uuid}", {"u": uuid.UUID(UUID_TEXT)}, id="uuid"
    ),
    pytest.param(
        ["/d/{d:datetime}"],
        "/d/2024-01-02T03:04:05Z",
        "/d/{d:datetime}",
        {"d": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)},
        id="datetime-iso",
    ),
    pytest.param(
        ["/d/{d:datetime:%Y%m%d}"],
        "/d/20240102",
        "/d/{d:datetime:%Y%m%d}",
        {"d": datetime(2024, 1, 2)},
        id="datetime-format",
    ),
    pytest.param(
        ["/o/{org:int}/e/{ev:uuid}/at/{ts:datetime}"],
        f"/o/42/e/{UUID_TEXT}/at/2024-05-06",
        "/o/{org:int}/e/{ev:uuid}/at/{ts:datetime}",
        {"org": 42, "ev": uuid.UUID(UUID_TEXT), "ts": datetime(2024, 5, 6)},
        id="three-typed-fields-in-order",
    ),
    pytest.param(
        ["/ui/{rest:path}"], "/ui/", "/ui/{rest:path}", {"rest": ""}, id="catch-all-empty"
    ),
    pytest.param(
        ["/ui/{rest:path}"], "/ui/a/b", "/ui/{rest:path}", {"rest": "a/b"}, id="catch-all-nested"
    ),
    pytest.param(
        ["/ui/{rest:path}"], "/ui/a/b/", "/ui/{rest:path}", {"rest": "a/b/"}, id="catch-all-slash"
    ),
    pytest.param(
        ["/ui/{rest:path}"], "/ui//a", "/ui/{rest:path}", {"rest": "/a"}, id="catch-all-empty-seg"
    ),
    pytest.param(["/{path}"], "/", "/{path}", {"path": ""}, id="root-catch-all-empty"),
    pytest.param(["/{path}"], "/a/b", "/{path}", {"path": "a/b"}, id="root-catch-all"),
    pytest.param(["/{path:str}"], "/a", "/{path:str}", {"path": "a"}, id="path-named-str-field"),
    pytest.param(
        ["/users/{id:int}", "/users/{id:int}/posts"],
        "/users/3/posts",
        "/users/{id:int}/posts",
        {"id": 3},
        id="shared-field",
    ),
    pytest.param(
        ["/a/b/x", "/a/{v}/c"], "/a/b/c", "/a/{v}/c", {"v": "b"}, id="backtrack-to-variable"
    ),
    pytest.param(
        ["/r/lit/{y}/end", "/r/{x}/{z}/other"],
        "/r/lit/v/other",
        "/r/{x}/{z}/other",
        {"x": "lit", "z": "v"},
        id="backtrack-drops-fields-of-failed-branch",
    ),
    pytest.param(
        ["/a/b/{n:int}", "/a/{rest:path}"],
        "/a/b/c",
        "/a/{rest:path}",
        {"rest": "b/c"},
        id="backtrack-on-conversion-failure",
    ),
    pytest.param(
        ["/a/b/{n:int}", "/a/{rest:path}"], "/a/b/1", "/a/b/{n:int}", {"n": 1}, id="literal-first"
    ),
    pytest.param(["/files/{rest:path}", "/files/x"], "/files/x", "/files/x", {}, id="static-wins"),
]


@pytest.mark.parametrize(("templates", "path", "template", "params"), MATCH_CASES)
def test_find_matches(
    templates: list[str], path: str, template: str, params: dict[str, object]
) -> None:
    assert_found(router_of(*templates).find(path), template, params)


NO_MATCH_CASES = [
    pytest.param(["/"], "", id="empty-path"),
    pytest.param(["/a/{x}"], "a/b", id="relative-path"),
    pytest.param(["/foo"], "/foo/", id="trailing-slash-is-significant"),
    pytest.param(["/foo/"], "/foo", id="missing-trailing-slash"),
    pytest.param(["/a/{x}"], "/a", id="too-short"),
    pytest.param(["/a/{x}"], "/a/b/c", id="too-long"),
    pytest.param(["/a/{x}"], "/b/c", id="other-literal"),
    pytest.param(["/{x}/b"], "//b", id="empty-segment-for-str"),
    pytest.param(["/{x:int}"], "/", id="empty-segment-for-int"),
    pytest.param(["/ui/{rest:path}"], "/ui", id="catch-all-needs-the-slash"),
    pytest.param(["/USERS"], "/users", id="case-sensitive"),
    pytest.param(["/a/b/x", "/a/{v}/c"], "/a/b/d", id="both-branches-fail"),
]


@pytest.mark.parametrize(("templates", "path"), NO_MATCH_CASES)
def test_find_does_not_match(templates: list[str], path: str) -> None:
    assert router_of(*templates).find(path) is None


# --- converters ---------------------------------------------------------------------------------

ACCEPT_CASES = [
    pytest.param("int", "0", 0, id="int-zero"),
    pytest.param("int", "-0", 0, id="int-minus-zero"),
    pytest.param("int", "007", 7, id="int-leading-zeros"),
    pytest.param("int", "123456789012345678901234567890", 123456789012345678901234567890, id="big"),
    pytest.param("float", "1", 1.0, id="float-integral"),
    pytest.param("float", "-2.5", -2.5, id="float-negative"),
    pytest.param("float", "1e3", 1000.0, id="float-exponent"),
    pytest.param("float", "1E+3", 1000.0, id="float-exponent-upper-plus"),
    pytest.param("float", "1e-400", 0.0, id="float-underflow-is-finite"),
    pytest.param("uuid", UUID_TEXT.upper(), uuid.UUID(UUID_TEXT), id="uuid-upper"),
    pytest.param("uuid", "12345678-9ABC-def0-1234-56789abcdef0", uuid.UUID(UUID_TEXT), id="mixed"),
    pytest.param("datetime", "2024-01-02", datetime(2024, 1, 2), id="iso-date"),
    pytest.param("datetime", "20240102", datetime(2024, 1, 2), id="iso-basic-date"),
    pytest.param("datetime", "2024-01-02 03:04", datetime(2024, 1, 2, 3, 4), id="iso-space"),
    pytest.param(
        "datetime",
        "2024-01-02T03:04:05.5+01:30",
        datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=timezone(timedelta(hours=1, minutes=30))),
        id="iso-fraction-offset",
    ),
    pytest.param(
        f"datetime:{ISO_FORMAT}",
        "2024-01-02T03:04:05",
        datetime(2024, 1, 2, 3, 4, 5),
        id="strptime-with-colons",
    ),
    pytest.param("datetime:%d.%m.%Y", "02.01.2024", datetime(2024, 1, 2), id="strptime-dots"),
]


@pytest.mark.parametrize(("converter", "segment", "value"), ACCEPT_CASES)
def test_converter_accepts(converter: str, segment: str, value: object) -> None:
    template = f"/x/{{v:{converter}}}"
    assert_found(router_of(template).find(f"/x/{segment}"), template, {"v": value})


REJECT_CASES = [
    pytest.param("int", " 7", id="int-leading-space"),
    pytest.param("int", "7 ", id="int-trailing-space"),
    pytest.param("int", "7\n", id="int-trailing-newline"),
    pytest.param("int", "+7", id="int-plus"),
    pytest.param("int", "1_000", id="int-underscore"),
    pytest.param("int", "\u0667", id="int-arabic-indic-digit"),
    pytest.param("int", "\uff17", id="int-fullwidth-digit"),
    pytest.param("int", "-", id="int-lone-minus"),
    pytest.param("int", "--1", id="int-double-minus"),
    pytest.param("int", "1.0", id="int-decimal"),
    pytest.param("int", "0x10", id="int-hex"),
    pytest.param("int", "1" * 5000, id="int-beyond-int-max-str-digits"),
    pytest.param("float", "nan", id="float-nan"),
    pytest.param("float", "NaN", id="float-NaN"),
    pytest.param("float", "inf", id="float-inf"),
    pytest.param("float", "-Infinity", id="float-minus-infinity"),
    pytest.param("float", "1e999", id="float-overflow"),
    pytest.param("float", " 1.5", id="float-space"),
    pytest.param("float", "1_0.5", id="float-underscore"),
    pytest.param("float", "+1.5", id="float-plus"),
    pytest.param("float", ".5", id="float-no-integer-part"),
    pytest.param("float", "5.", id="float-no-fraction-digits"),
    pytest.param("float", "1e", id="float-empty-exponent"),
    pytest.param("float", "0x1p3", id="float-hex"),
    pytest.param("float", "\u0661.5", id="float-non-ascii-digit"),
    pytest.param("uuid", UUID_TEXT.replace("-", ""), id="uuid-32-hex"),
    pytest.param("uuid", f"{{{UUID_TEXT}}}", id="uuid-braces"),
    pytest.param("uuid", f"urn:uuid:{UUID_TEXT}", id="uuid-urn"),
    pytest.param("uuid", UUID_TEXT[:-1] + "g", id="uuid-non-hex"),
    pytest.param("uuid", UUID_TEXT[:-1], id="uuid-short"),
    pytest.param("uuid", UUID_TEXT + "\n", id="uuid-trailing-newline"),
    pytest.param("uuid", "1234567-89abc-def0-1234-56789abcdef0", id="uuid-misplaced-hyphen"),
    pytest.param("datetime", "garbage", id="iso-garbage"),
    pytest.param("datetime", " 2024-01-02", id="iso-space"),
    pytest.param("datetime", "2024-13-01", id="iso-month-13"),
    pytest.param("datetime", "2024-02-30", id="iso-february-30"),
    pytest.param(f"datetime:{ISO_FORMAT}", "2024-01-02", id="strptime-date-only"),
    pytest.param(f"datetime:{ISO_FORMAT}", "2024-01-02T03:04", id="strptime-no-seconds"),
    pytest.param(f"datetime:{ISO_FORMAT}", "2024-01-02T03:04:05Z", id="strptime-extra"),
    pytest.param("datetime:%G-%V-%u", "9999-53-7", id="strptime-year-out-of-range"),
]


@pytest.mark.parametrize(("converter", "segment"), REJECT_CASES)
def test_converter_rejects(converter: str, segment: str) -> None:
    router = router_of(f"/x/{{v:{converter}}}")
    assert router.find(f"/x/{segment}") is None


def test_custom_converter_with_argument() -> None:
    class OneOf:
        def __init__(self, argument: str | None) -> None:
            if not argument:
                raise ValueError("one_of needs a comma-separated list")
            self.choices = frozenset(argument.split(","))

        def convert(self, value: str) -> object:
            if value not in self.choices:
                raise ValueError(value)
            return value

    router: Router[str] = Router({"one_of": OneOf})
    router.add("/colour/{c:one_of:red,green}", "colour")
    assert router.find("/colour/red") == ("colour", {"c": "red"})
    assert router.find("/colour/blue") is None
    with pytest.raises(RouteTemplateError, match="one_of needs a comma-separated list"):
        router.add("/shade/{c:one_of}", "shade")


def test_overriding_builtin_converters_changes_default_fields() -> None:
    class Upper:
        def convert(self, value: str) -> object:
            return value.upper()

    class NoDotDot:
        def convert(self, value: str) -> object:
            if ".." in value.split("/"):
                raise ValueError(value)
            return value

    def upper(argument: str | None) -> Converter:
        return Upper()

    def no_dot_dot(argument: str | None) -> Converter:
        return NoDotDot()

    router: Router[str] = Router({"str": upper, "path": no_dot_dot})
    router.add("/u/{name}", "user")
    router.add("/static/{path}", "static")
    assert router.find("/u/bob") == ("user", {"name": "BOB"})
    assert router.find("/static/css/a.css") == ("static", {"path": "css/a.css"})
    assert router.find("/static/../secret") is None
    assert router_of("/u/{name}").find("/u/bob") == ("/u/{name}", {"name": "bob"})  # unaffected


def test_builtin_converters_are_read_only() -> None:
    assert set(BUILTIN_CONVERTERS) == {"str", "int", "float", "uuid", "datetime", "path"}
    with pytest.raises(TypeError):
        BUILTIN_CONVERTERS["x"] = StrConverter  # type: ignore[index]


def test_builtin_converters_can_be_used_directly() -> None:
    assert DateTimeConverter().format is None
    assert DateTimeConverter(ISO_FORMAT).format == ISO_FORMAT
    assert StrConverter().convert("a") == "a"
    assert PathConverter().convert("a/b") == "a/b"
    assert IntConverter().convert("-12") == -12


# --- template errors ----------------------------------------------------------------------------

INVALID_TEMPLATE_CASES = [
    pytest.param("", "must start with '/'", id="empty"),
    pytest.param("users", "must start with '/'", id="relative"),
    pytest.param("//a", "segment 1 '' is empty", id="leading-empty-segment"),
    pytest.param("/a//b", "segment 2 '' is empty", id="inner-empty-segment"),
    pytest.param("/a{x}", "neither a literal nor a field", id="mixed-prefix"),
    pytest.param("/{x}.{y}", "neither a literal nor a field", id="two-fields-one-segment"),
    pytest.param("/{x}b", "neither a literal nor a field", id="mixed-suffix"),
    pytest.param("/a}", "neither a literal nor a field", id="stray-close-brace"),
    pytest.param("/{x", "neither a literal nor a field", id="unclosed-brace"),
    pytest.param("/{{x}}", "neither a literal nor a field", id="nested-braces"),
    pytest.param("/{}", "not a Python identifier", id="empty-field"),
    pytest.param("/{:int}", "not a Python identifier", id="empty-name"),
    pytest.param("/{1x}", "not a Python identifier", id="name-starts-with-digit"),
    pytest.param("/{a-b}", "not a Python identifier", id="name-with-hyphen"),
    pytest.param("/{ x }", "not a Python identifier", id="name-with-spaces"),
    pytest.param("/{class}", "is a Python keyword", id="keyword-name"),
    pytest.param("/{x}/{x:int}", "segment 2 '{x:int}': the field name is used twice", id="dup"),
    pytest.param("/{x:nope}", "unknown converter 'nope' (known: datetime, float", id="unknown"),
    pytest.param("/{x:}", "unknown converter ''", id="empty-converter"),
    pytest.param("/{x: int}", "unknown converter ' int'", id="converter-with-space"),
    pytest.param("/{x:int:10}", "the int converter takes no argument, got '10'", id="int-arg"),
    pytest.param("/{x:int:}", "the int converter takes no argument, got ''", id="int-empty-arg"),
    pytest.param("/{x:str:a}", "the str converter takes no argument", id="str-arg"),
    pytest.param("/{x:float:a}", "the float converter takes no argument", id="float-arg"),
    pytest.param("/{x:uuid:4}", "the uuid converter takes no argument", id="uuid-arg"),
    pytest.param("/{x:path:a}", "the path converter takes no argument", id="path-arg"),
    pytest.param("/{x:datetime:}", "the datetime format is empty", id="datetime-empty-format"),
    pytest.param("/{x:datetime:%Q}", "bad datetime format '%Q'", id="datetime-bad-directive"),
    pytest.param("/{x:datetime:%Y%}", "bad datetime format '%Y%'", id="datetime-stray-percent"),
    pytest.param("/{x:datetime:%G}", "bad datetime format '%G'", id="datetime-iso-year-alone"),
    pytest.param("/{x:datetime:%m/%d}", "segment 1 '{x:datetime:%m'", id="datetime-slash"),
    pytest.param("/{x:datetime:%D}", "produces '/'", id="datetime-format-makes-slash"),
    pytest.param("/{rest:path}/a", "a catch-all must be the last segment", id="catch-all-inner"),
    pytest.param("/{rest:path}/", "a catch-all must be the last segment", id="catch-all-slash"),
    pytest.param("/{path}/{x}", "a catch-all must be the last segment", id="path-field-inner"),
]


@pytest.mark.parametrize(("template", "problem"), INVALID_TEMPLATE_CASES)
def test_invalid_template_is_rejected(template: str, problem: str) -> None:
    router: Router[str] = Router()
    with pytest.raises(RouteTemplateError) as info:
        router.add(template, "target")
    assert problem in str(info.value)
    assert str(info.value).startswith(f"route template {template!r}: ")
    assert info.value.template == template
    assert problem in info.value.problem
    assert isinstance(info.value, ValueError)
    assert router.templates() == []


AMBIGUOUS_CASES = [
    pytest.param("/items/{id:int}", "/items/{slug}", id="converter-differs"),
    pytest.param("/a/{x}", "/a/{y}", id="name-differs"),
    pytest.param("/a/{x}/b", "/a/{y}/c", id="name-differs-before-literals"),
    pytest.param("/d/{t:datetime:%Y}", "/d/{t:datetime:%d}", id="argument-differs"),
    pytest.param("/d/{t:datetime}", "/d/{t:datetime:%Y}", id="argument-added"),
    pytest.param("/f/{x}", "/f/{rest:path}", id="catch-all-vs-field"),
    pytest.param("/f/{path}", "/f/{path:str}", id="catch-all-vs-str-named-path"),
    pytest.param("/{x:int}/a", "/{x:float}/b", id="root-position"),
]


@pytest.mark.parametrize(("first", "second"), AMBIGUOUS_CASES)
def test_ambiguous_templates_are_rejected_naming_both(first: str, second: str) -> None:
    router = router_of(first)
    with pytest.raises(RouteTemplateError, match="ambiguous") as info:
        router.add(second, second)
    assert repr(first) in str(info.value)
    assert repr(second) in str(info.value)
    assert router.templates() == [first]


def test_ambiguity_message_names_the_fields() -> None:
    router = router_of("/d/{t:datetime:%Y}")
    with pytest.raises(RouteTemplateError) as info:
        router.add("/d/{t}", "x")
    assert info.value.problem == (
        "ambiguous with '/d/{t:datetime:%Y}': segment 2 is {t:str} here and {t:datetime:%Y}"
        " there, and only one field may follow a prefix"
    )


DUPLICATE_CASES = [
    pytest.param("/a/b", "/a/b", id="static"),
    pytest.param("/", "/", id="root"),
    pytest.param("/a/{x:int}", "/a/{x:int}", id="same-field"),
    pytest.param("/a/{x}", "/a/{x:str}", id="implicit-and-explicit-str"),
    pytest.param("/f/{path}", "/f/{path:path}", id="path-and-explicit-catch-all"),
]


@pytest.mark.parametrize(("first", "second"), DUPLICATE_CASES)
def test_duplicate_template_is_rejected(first: str, second: str) -> None:
    router = router_of(first)
    with pytest.raises(RouteTemplateError, match="duplicates"):
        router.add(second, "again")
    assert router.templates() == [first]


def test_failed_add_leaves_the_router_unchanged() -> None:
    router = router_of("/a/{x}/b")
    with pytest.raises(RouteTemplateError):
        router.add("/a/{y:int}/c", "bad")
    assert router.find("/a/1/c") is None
    router.add("/a/{x}/c", "/a/{x}/c")  # no stale node from the failed add is in the way
    assert router.find("/a/1/c") == ("/a/{x}/c", {"x": "1"})
    assert router.templates() == ["/a/{x}/b", "/a/{x}/c"]


# --- API details --------------------------------------------------------------------------------


def test_templates_lists_insertion_order_as_a_copy() -> None:
    router = router_of("/b", "/a/{x}", "/c")
    listed = router.templates()
    listed.clear()
    assert router.templates() == ["/b", "/a/{x}", "/c"]


@pytest.mark.parametrize("path", ["/static", "/items/7"])
def test_find_returns_a_fresh_params_dict(path: str) -> None:
    router = router_of("/static", "/items/{id:int}")
    first = router.find(path)
    assert first is not None
    first[1]["injected"] = True
    assert router.find(path) == (first[0], {"id": 7} if "items" in path else {})


def test_falsy_targets_are_found() -> None:
    router: Router[int | None] = Router()
    router.add("/none", None)
    router.add("/zero/{n:int}", 0)
    assert router.find("/none") == (None, {})
    assert router.find("/zero/5") == (0, {"n": 5})


def test_compile_template_describes_the_segments() -> None:
    compiled = compile_template("/a/{b:int}/{c:datetime:%H:%M}/")
    assert isinstance(compiled, CompiledTemplate)
    assert compiled.template == "/a/{b:int}/{c:datetime:%H:%M}/"
    assert compiled.field_names == ("b", "c")
    assert not compiled.is_static
    literal, b, c, trailing = compiled.segments
    assert literal == LiteralSegment("a")
    assert trailing == LiteralSegment("")
    assert isinstance(b, FieldSegment)
    assert (b.name, b.converter_name, b.argument, b.catch_all) == ("b", "int", None, False)
    assert isinstance(b.converter, IntConverter)
    assert isinstance(c, FieldSegment)
    assert (c.converter_name, c.argument, str(c)) == ("datetime", "%H:%M", "{c:datetime:%H:%M}")
    assert compile_template("/a/b").is_static


@pytest.mark.parametrize(
    ("template", "converter", "rendered", "catch_all"),
    [
        pytest.param("/{name}", "str", "{name:str}", False, id="field-is-str"),
        pytest.param("/{path}", "path", "{path:path}", True, id="path-field-is-catch-all"),
        pytest.param("/{path:str}", "str", "{path:str}", False, id="path-field-as-str"),
        pytest.param("/{rest:path}", "path", "{rest:path}", True, id="explicit-catch-all"),
    ],
)
def test_compile_template_fills_in_default_converters(
    template: str, converter: str, rendered: str, catch_all: bool
) -> None:
    (segment,) = compile_template(template).segments
    assert isinstance(segment, FieldSegment)
    assert (segment.converter_name, str(segment), segment.catch_all) == (
        converter,
        rendered,
        catch_all,
    )


def test_compile_template_uses_the_given_converters() -> None:
    with pytest.raises(RouteTemplateError, match=r"unknown converter 'int' \(known: str\)"):
        compile_template("/{n:int}", {"str": StrConverter})


# --- bareASGI's verified routing flaws, fixed ---------------------------------------------------


class TestBareASGIFlaws:
    """Each routing flaw verified in bareASGI 4.4.1, and the fix here."""

    def test_first_match_linear_scan(self) -> None:
        """bareASGI scans in insertion order: ``/foo/{x}`` added first shadows ``/foo/bar``."""
        router = router_of("/foo/{x}", "/foo/bar", "/foo/{x}/baz", "/foo/bar/{y}")
        assert router.find("/foo/bar") == ("/foo/bar", {})
        assert router.find("/foo/qux") == ("/foo/{x}", {"x": "qux"})
        assert router.find("/foo/bar/baz") == ("/foo/bar/{y}", {"y": "baz"})

    def test_path_field_is_not_a_catch_all(self) -> None:
        """bareASGI documents ``{path}`` as a catch-all; its code makes it one ``str`` segment."""
        router = router_of("/foo/{path}")
        assert router.find("/foo/a/b") == ("/foo/{path}", {"path": "a/b"})
        assert router.find("/foo/a") == ("/foo/{path}", {"path": "a"})

    def test_datetime_without_format_matches_anything_as_none(self) -> None:
        """bareASGI's ``{ts:datetime}`` matches ``/foo/garbage`` with ``ts=None``."""
        router = router_of("/foo/{ts:datetime}", "/foo/{ts:datetime}/x")
        assert router.find("/foo/garbage") is None
        assert router.find("/foo/garbage/x") is None
        assert_found(
            router.find("/foo/2024-01-02"), "/foo/{ts:datetime}", {"ts": datetime(2024, 1, 2)}
        )

    def test_datetime_format_containing_colons_is_ignored(self) -> None:
        """bareASGI silently makes ``{ts:datetime:%Y-%m-%dT%H:%M:%S}`` a ``str`` field."""
        template = "/foo/{ts:datetime:%Y-%m-%dT%H:%M:%S}"
        router = router_of(template)
        expected = {"ts": datetime(2024, 1, 2, 3, 4, 5)}
        assert_found(router.find("/foo/2024-01-02T03:04:05"), template, expected)
        assert router.find("/foo/not-a-time") is None
        segment = compile_template(template).segments[1]
        assert isinstance(segment, FieldSegment)
        assert (segment.converter_name, segment.argument) == ("datetime", "%Y-%m-%dT%H:%M:%S")

    @pytest.mark.parametrize("segment", [" 7", "7 ", "1_000", "+7"])
    def test_int_accepts_spaces_and_underscores(self, segment: str) -> None:
        """bareASGI's ``int`` is plain ``int()``: ``' 7'`` and ``'1_000'`` match."""
        assert router_of("/n/{n:int}").find(f"/n/{segment}") is None

    @pytest.mark.parametrize("segment", ["nan", "inf", "-inf", "Infinity", "NaN"])
    def test_float_accepts_nan_and_inf(self, segment: str) -> None:
        """bareASGI's ``float`` is plain ``float()``: ``nan`` and ``inf`` match."""
        assert router_of("/f/{x:float}").find(f"/f/{segment}") is None

    def test_str_field_matches_empty_segment(self) -> None:
        """bareASGI's ``/{x}`` matches ``/`` with ``x=''``."""
        router = router_of("/{x}", "/a/{y}/b")
        assert router.find("/") is None
        assert router.find("/a//b") is None

    @pytest.mark.parametrize("template", ["/a/{rest:path}/b", "/ui/{rest:path}/"])
    def test_path_converter_not_last_never_catches_all(self, template: str) -> None:
        """bareASGI accepts a ``path`` field that is not last: inner it matches one segment, and
        before a trailing slash it never matches. Here both are template errors."""
        with pytest.raises(RouteTemplateError, match="a catch-all must be the last segment"):
            router_of(template)

    def test_unknown_converter_raises_type_error(self) -> None:
        """bareASGI raises a bare ``TypeError('Unknown type')``; here the message says which."""
        with pytest.raises(RouteTemplateError, match="unknown converter 'date'"):
            router_of("/{d:date}")


# --- properties ---------------------------------------------------------------------------------

ORACLE_ROUTER = router_of(
    "/i/{v:int}",
    "/f/{v:float}",
    "/u/{v:uuid}",
    "/d/{v:datetime}",
    f"/t/{{v:datetime:{ISO_FORMAT}}}",
)


def oracle(prefix: str, segment: str) -> object | None:
    """What the converter behind ``prefix`` must make of ``segment``, restated from the spec."""
    if not segment or "/" in segment:
        return None
    if prefix == "i":
        digits = segment.removeprefix("-")
        ok = digits != "" and all(c in "0123456789" for c in digits)
        return int(segment) if ok else None
    if prefix == "f":
        shape = r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?"
        ok = re.fullmatch(shape, segment) is not None and math.isfinite(float(segment))
        return float(segment) if ok else None
    if prefix == "u":
        groups = segment.split("-")
        ok = [len(g) for g in groups] == [8, 4, 4, 4, 12] and all(
            c in "0123456789abcdefABCDEF" for c in "".join(groups)
        )
        return uuid.UUID(segment) if ok else None
    if not segment.isascii():
        return None
    try:
        if prefix == "d":
            return datetime.fromisoformat(segment)
        parsed = datetime.strptime(segment, ISO_FORMAT)
    except ValueError:
        return None
    return parsed if parsed.strftime(ISO_FORMAT) == segment else None


NEAR_MISSES = st.sampled_from(
    [
        *[" 7", "7 ", "+7", "1_000", "\u0667", "nan", "inf", "-inf", "1e999", ".5", "5.", "1e"],
        *[UUID_TEXT.upper(), UUID_TEXT.replace("-", ""), f"{{{UUID_TEXT}}}", UUID_TEXT + "\n"],
        *["2024-01-02", "2024-01-02T03:04:05", "2024-01-02T03:04:05Z", "2024-02-30", "Z", "--1"],
        *["2024-1-2T3:4:5", "\uff12024-01-02T03:04:05", "2024-01-02\u00e903:04:05", "0999-01-02"],
    ]
)
SEGMENTS = st.one_of(
    st.text(max_size=40),
    NEAR_MISSES,
    st.from_regex(r"-?[0-9_ +]{1,6}(\.[0-9]{0,3})?([eE][+-]?[0-9]{0,3})?", fullmatch=True),
    st.uuids().map(str),
    st.datetimes().map(datetime.isoformat),
)


@given(prefix=st.sampled_from(["i", "f", "u", "d", "t"]), segment=SEGMENTS)
def test_typed_fields_match_exactly_what_the_spec_allows(prefix: str, segment: str) -> None:
    expected = oracle(prefix, segment)
    found = ORACLE_ROUTER.find(f"/{prefix}/{segment}")
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert typed(found[1]) == typed({"v": expected})


@given(path=st.text(max_size=60))
def test_find_never_raises(path: str) -> None:
    ORACLE_ROUTER.find(path)
    ORACLE_ROUTER.find("/" + path)


@given(st.integers())
def test_int_round_trips(value: int) -> None:
    assert_found(ORACLE_ROUTER.find(f"/i/{value}"), "/i/{v:int}", {"v": value})


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_round_trips(value: float) -> None:
    found = ORACLE_ROUTER.find(f"/f/{value}")
    assert found is not None
    assert repr(found[1]["v"]) == repr(value)  # keeps -0.0 apart from 0.0


@given(st.uuids(), st.booleans())
def test_uuid_round_trips(value: uuid.UUID, upper: bool) -> None:
    text = str(value).upper() if upper else str(value)
    assert_found(ORACLE_ROUTER.find(f"/u/{text}"), "/u/{v:uuid}", {"v": value})


# ISO 8601 UTC offsets are whole minutes (±hh:mm); Python 3.11's fromisoformat also drops a
# sub-second offset ('+00:00:00.000001' parses as +00:00), which is no ISO 8601 anyway.
OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timedelta(minutes=minutes)
)


@given(st.datetimes(timezones=st.none() | st.builds(timezone, OFFSETS)))
def test_datetime_round_trips_isoformat(value: datetime) -> None:
    found = ORACLE_ROUTER.find(f"/d/{value.isoformat()}")
    assert found is not None
    parsed = found[1]["v"]
    assert isinstance(parsed, datetime)
    assert (parsed, parsed.utcoffset()) == (value, value.utcoffset())


@given(st.datetimes(min_value=datetime(1000, 1, 1)).map(lambda d: d.replace(microsecond=0)))
def test_datetime_round_trips_strptime_format(value: datetime) -> None:
    template = f"/t/{{v:datetime:{ISO_FORMAT}}}"
    assert_found(ORACLE_ROUTER.find(f"/t/{value.strftime(ISO_FORMAT)}"), template, {"v": value})


LITERAL_SEGMENT = st.text(st.characters(exclude_characters="/{}"), min_size=1, max_size=6)
LITERAL_TEMPLATE = st.builds(
    lambda segments, slash: "/" + "/".join(segments) + ("/" if slash and segments else ""),
    st.lists(LITERAL_SEGMENT, max_size=4),
    st.booleans(),
)


@given(st.sets(LITERAL_TEMPLATE, max_size=12), st.lists(st.text(max_size=12), max_size=5))
def test_literal_routes_are_found_exactly(templates: set[str], probes: list[str]) -> None:
    router: Router[str] = Router()
    for template in templates:
        router.add(template, template)
    router.add("/{v:int}", "int")  # a variable route alongside must not change anything
    for template in templates:
        assert router.find(template) == (template, {})
    for probe in probes:
        for path in (probe, "/" + probe):
            found = router.find(path)
            if path in templates:
                assert found == (path, {})
            elif found is not None:
                assert found[0] == "int"
                assert oracle("i", path[1:]) == found[1]["v"]


PRECEDENCE_ROUTES = [
    "/a/b/x",
    "/a/{v}/c",
    "/a/b",
    "/a/{v}",
    "/a/b/{n:int}/d",
    "/{first}/{rest:path}",
]
PRECEDENCE_EXPECTATIONS: list[tuple[str, str, dict[str, object]]] = [
    ("/a/b/x", "/a/b/x", {}),
    ("/a/b/c", "/a/{v}/c", {"v": "b"}),
    ("/a/b", "/a/b", {}),
    ("/a/z", "/a/{v}", {"v": "z"}),
    ("/a/b/3/d", "/a/b/{n:int}/d", {"n": 3}),
    ("/a/b/q/d", "/{first}/{rest:path}", {"first": "a", "rest": "b/q/d"}),
    ("/a/z/z", "/{first}/{rest:path}", {"first": "a", "rest": "z/z"}),
    ("/q/", "/{first}/{rest:path}", {"first": "q", "rest": ""}),
]


@given(st.permutations(PRECEDENCE_ROUTES))
def test_literal_over_variable_precedence_ignores_insertion_order(order: list[str]) -> None:
    router = router_of(*order)
    for path, template, params in PRECEDENCE_EXPECTATIONS:
        assert_found(router.find(path), template, params)
    assert router.find("/a") is None


# --- hostile segments: exactly the ASCII forms, and a catch-all that stays below its directory ----


@pytest.mark.parametrize(
    ("template", "segment"),
    [
        pytest.param("/d/{v:datetime:%Y-%m-%d}", "\uff12024-01-01", id="format-full-width-digit"),
        pytest.param("/d/{v:datetime:%Y-%m-%d}", "2024-1-1", id="format-one-digit-month"),
        pytest.param("/d/{v:datetime:%Y-%m-%d}", "\u0662\u0660\u0662\u0664-01-01", id="arabic"),
        pytest.param("/d/{v:datetime:%b %Y}", "JAN 2024", id="format-month-name-case"),
        pytest.param("/d/{v:datetime}", "2024-01-02\u00e903:04", id="iso-non-ascii-separator"),
        pytest.param("/d/{v:int}", "\uff14\uff12", id="int-full-width"),
        pytest.param("/d/{v:float}", "\uff11.5", id="float-full-width"),
    ],
)
def test_converters_refuse_what_is_not_their_ascii_form(template: str, segment: str) -> None:
    assert router_of(template).find(f"/d/{segment}") is None


def test_a_canonical_datetime_still_matches_its_format() -> None:
    router = router_of("/d/{v:datetime:%Y-%m-%d}", "/m/{v:datetime:%b %Y}")
    assert_found(
        router.find("/d/2024-01-01"), "/d/{v:datetime:%Y-%m-%d}", {"v": datetime(2024, 1, 1)}
    )
    assert_found(router.find("/m/Jan 2024"), "/m/{v:datetime:%b %Y}", {"v": datetime(2024, 1, 1)})


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        pytest.param("/{x:datetime:%Z}", "does not read back what it writes", id="tz-name"),
        pytest.param("/{x:datetime:%Y %U}", "does not read back what it writes", id="week"),
    ],
)
def test_a_format_that_does_not_read_back_is_an_error(template: str, problem: str) -> None:
    with pytest.raises(RouteTemplateError, match=problem):
        router_of(template)


SAFE = "/files/{rest:path:safe}"


@pytest.mark.parametrize(
    "rest",
    [
        pytest.param("../../etc/passwd", id="dot-dot"),
        pytest.param("a/../../b", id="dot-dot-inside"),
        pytest.param("..", id="only-dot-dot"),
        pytest.param("a/..", id="dot-dot-last"),
        pytest.param("./a", id="dot"),
        pytest.param("/etc/passwd", id="absolute"),
        pytest.param("a//b", id="empty-segment"),
        pytest.param("..\\..\\windows", id="backslash"),
        pytest.param("a\0b", id="nul"),
    ],
)
def test_a_safe_catch_all_refuses_paths_that_leave_the_directory(rest: str) -> None:
    # The server decodes %2e%2e and ..%2f before routing: the router sees these forms.
    assert router_of(SAFE).find(f"/files/{rest}") is None
    assert router_of("/files/{rest:path}").find(f"/files/{rest}") is not None  # the risk


@pytest.mark.parametrize(
    "rest", ["", "a", "a/b.txt", "a/b/", "..a/b..", "%2e%2e", "...", ".hidden/x"]
)
def test_a_safe_catch_all_keeps_relative_paths(rest: str) -> None:
    assert_found(router_of(SAFE).find(f"/files/{rest}"), SAFE, {"rest": rest})


@given(st.lists(st.text(st.characters(exclude_characters="/"), max_size=4), max_size=5))
def test_a_safe_catch_all_never_yields_a_path_outside_its_root(segments: list[str]) -> None:
    found = router_of(SAFE).find("/files/" + "/".join(segments))
    if found is not None:
        rest = found[1]["rest"]
        assert isinstance(rest, str)
        root = pathlib.PurePosixPath("/srv/root")
        joined = os.path.normpath(root / rest)
        assert joined == str(root) or joined.startswith(f"{root}/")
        assert "\0" not in rest
        assert "\\" not in rest
