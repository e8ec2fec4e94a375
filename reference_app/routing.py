"""URI-template routing: templates are compiled once at ``add()``, paths matched by a segment trie.

Grammar
=======

A template is matched one ``/``-separated segment at a time::

    template  = "/" segment *( "/" segment )
    segment   = literal / field / ""      ; "" only as the last segment, i.e. a trailing slash
    literal   = 1*( any character but "/", "{" and "}" )
    field     = "{" name [ ":" converter [ ":" argument ] ] "}"
    name      = a Python identifier that is not a keyword, unique within the template
    converter = the name of a registered converter
    argument  = any characters but "/", "{" and "}"; it may contain ":"

A field is split on at most its first two colons, so in ``{ts:datetime:%Y-%m-%dT%H:%M:%S}`` the
argument is ``%Y-%m-%dT%H:%M:%S``. A field is always a whole segment: ``a{x}``, ``{x}.{y}`` and any
other stray brace are errors. Every error raises :class:`RouteTemplateError` from ``add()``.

Built-in converters (a value that does not convert means "this route does not match"). Every
converter but ``str`` and ``path`` accepts exactly the ASCII spelling below: ``int()``,
``float()``, ``strptime`` and ``fromisoformat`` alone would also take full-width or Arabic-Indic
digits, spaces, underscores, single-digit months and any separator character.

=======================  ========================================================================
``{x}``, ``{x:str}``     any non-empty segment, unchanged
``{x:int}``              ``-?[0-9]+`` → ``int``
``{x:float}``            ``-?[0-9]+(.[0-9]+)?([eE][+-]?[0-9]+)?`` whose value is finite → ``float``
``{x:uuid}``             the canonical 8-4-4-4-12 hex form, either case → ``uuid.UUID``
``{x:datetime}``         ASCII that :meth:`datetime.datetime.fromisoformat` accepts (on Python
                         3.11: ``2024-01-02``, ``20240102``, ``2024-W01-2``, a time after an ASCII
                         separator, fractions, ``Z`` or ``±HH:MM[:SS[.ffffff]]``)
``{x:datetime:FMT}``     exactly what :meth:`datetime.datetime.strftime` writes with ``FMT``: ASCII
                         that :meth:`~datetime.datetime.strptime` reads and that formats back to
                         the same text, so ``%m`` takes ``01`` but not ``1``, and ``%Y`` takes
                         the years 1000-9999; a format that strptime rejects, that does not read
                         back what it writes (``%Z``, ``%U``), or whose output contains ``/``, is
                         an error at ``add()``
``{x:path}``             the catch-all: the rest of the path, may be empty (see below)
``{x:path:safe}``        the catch-all, refused if it could leave a directory (see below)
``{path}``               the same as ``{path:path}``; write ``{path:str}`` for one segment
=======================  ========================================================================

The catch-all must be the last segment. It captures everything after the ``/`` that precedes it,
so ``/ui/{rest:path}`` matches ``/ui/`` (rest ``''``) and ``/ui/a/b`` (rest ``'a/b'``), but not
``/ui``. ``{path}`` is a catch-all as bareASGI's documentation promises (its code makes it a plain
``str`` field). ``Router(converters=...)`` adds converters or replaces built-in ones; a replaced
``str`` or ``path`` converter then serves ``{x}`` or ``{path}``.

The risk of ``{x:path}``: the server has already percent-decoded the path, so ``/files/%2e%2e/x``
and ``/files/..%2fetc`` arrive as ``/files/../x`` and ``/files/../etc``, and an app that joins
the value to a directory (``root / rest``) serves whatever the process can read. ``{x:path:safe}``
matches only a relative path that stays below where it is joined: no ``.`` or ``..`` segment, no
empty segment (so no leading ``/``, which would make it absolute), no backslash and no NUL; one
trailing ``/`` is allowed. Symbolic links are not followed: a link below the directory can still
lead out of it. Never percent-decode the value again (``%252e`` arrives as the text ``%2e``).

Matching
========

:meth:`Router.find` takes the already percent-decoded path. The trailing slash is significant:
``/foo`` and ``/foo/`` are different paths. An empty segment (``/a//b``) is matched only by a
trailing-slash literal or a catch-all, never handed to a single-segment converter.

Precedence and ambiguity
========================

1. A template with no field is found by one dict lookup on the whole path, so it wins over every
   template with fields.
2. The others live in a segment trie, searched depth first: at each position the literal child is
   tried first, then the one variable child (converting the segment), backtracking when a branch
   fails. Given ``/a/b/x`` and ``/a/{v}/c``, the path ``/a/b/c`` matches the second. The order in
   which templates were added never matters.
3. After the same prefix there may be only one variable segment. Two templates that put different
   fields there (another name, converter or argument; a catch-all counts as a field) are
   ambiguous, and the second ``add()`` fails naming both. The same field may be shared:
   ``/users/{id:int}`` and ``/users/{id:int}/posts`` coexist.
4. A template with the same segments as an existing one is a duplicate and fails too.
5. A failed ``add()`` leaves the router unchanged.
"""

from __future__ import annotations

import keyword
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final, Generic, Protocol, TypeAlias, TypeVar

__all__ = [
    "BUILTIN_CONVERTERS",
    "CompiledTemplate",
    "Converter",
    "ConverterFactory",
    "DateTimeConverter",
    "FieldSegment",
    "FloatConverter",
    "IntConverter",
    "LiteralSegment",
    "PathConverter",
    "RouteTemplateError",
    "Router",
    "Segment",
    "StrConverter",
    "UUIDConverter",
    "compile_template",
]

T = TypeVar("T")


class RouteTemplateError(ValueError):
    """A template is malformed, or clashes with a template already added.

    Attributes:
        template: The offending template.
        problem: What is wrong with it.
    """

    def __init__(self, template: str, problem: str) -> None:
        super().__init__(f"route template {template!r}: {problem}")
        self.template = template
        self.problem = problem


class Converter(Protocol):
    """Turns one captured path segment (or a catch-all's remainder) into a value."""

    def convert(self, value: str) -> object:
        """Convert ``value``.

        Args:
            value: The segment text, never empty except for a catch-all.

        Returns:
            The value passed to the handler.

        Raises:
            ValueError: ``value`` is not acceptable: the route does not match.
        """
        ...


#: Builds a converter from the field's argument (``None`` when the field has none). Raise
#: ValueError to reject the argument; ``add()`` turns it into a RouteTemplateError.
ConverterFactory: TypeAlias = Callable[[str | None], Converter]


def _takes_no_argument(converter: str, argument: str | None) -> None:
    if argument is not None:
        raise ValueError(f"the {converter} converter takes no argument, got {argument!r}")


class StrConverter:
    """Any non-empty segment, unchanged. The converter of ``{x}``."""

    def __init__(self, argument: str | None = None) -> None:
        _takes_no_argument("str", argument)

    def convert(self, value: str) -> str:
        """Return ``value`` unchanged."""
        return value


class PathConverter:
    """The catch-all's remainder. The converter of ``{x:path}``, ``{path}`` and ``{x:path:safe}``.

    Attributes:
        safe: Whether values that could leave a directory are refused (the ``safe`` argument).
    """

    def __init__(self, argument: str | None = None) -> None:
        if argument not in (None, "safe"):
            raise ValueError(f"the path converter takes no argument but 'safe', got {argument!r}")
        self.safe = argument == "safe"

    def convert(self, value: str) -> str:
        """Return ``value`` unchanged; when ``safe``, refuse ``..`` and the like (module docs)."""
        if self.safe and value:
            if "\\" in value or "\0" in value:
                raise ValueError(f"not a safe relative path: {value!r}")
            parts = value.split("/")
            if not parts[-1]:
                parts.pop()  # one trailing slash
            for part in parts:
                if part in _UNSAFE_SEGMENTS:
                    raise ValueError(f"not a safe relative path: {value!r}")
        return value


#: Segments a safe path never has: an empty one (a leading slash makes it absolute), "." and "..".
_UNSAFE_SEGMENTS: Final = frozenset({"", ".", ".."})


class IntConverter:
    """An optional ``-`` then ASCII digits, to ``int``."""

    def __init__(self, argument: str | None = None) -> None:
        _takes_no_argument("int", argument)

    def convert(self, value: str) -> int:
        """Parse ``value``; plain ``int()`` also takes spaces, ``+``, ``_`` and non-ASCII digits."""
        # For an ASCII string, isdigit() is true only for 0-9 (and false for "").
        if value.isascii() and (value.isdigit() or (value[:1] == "-" and value[1:].isdigit())):
            return int(value)
        raise ValueError(f"not an integer: {value!r}")


_FLOAT: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


class FloatConverter:
    """A finite decimal number, to ``float``; no ``nan``, ``inf``, spaces or underscores."""

    def __init__(self, argument: str | None = None) -> None:
        _takes_no_argument("float", argument)

    def convert(self, value: str) -> float:
        """Parse ``value``; an overflow such as ``1e999`` is rejected, not turned into ``inf``."""
        whole, dot, fraction = value.partition(".")
        digits = whole[1:] if whole[:1] == "-" else whole
        # The common forms (-)digits(.digits) without the regular expression, then the others.
        if (
            value.isascii() and digits.isdigit() and (not dot or fraction.isdigit())
        ) or _FLOAT.fullmatch(value) is not None:
            number = float(value)
            if math.isfinite(number):  # (400 digits are too many for a float, too)
                return number
        raise ValueError(f"not a finite decimal number: {value!r}")


class UUIDConverter:
    """The canonical ``8-4-4-4-12`` hex form, either case, to ``uuid.UUID``."""

    def __init__(self, argument: str | None = None) -> None:
        _takes_no_argument("uuid", argument)

    def convert(self, value: str) -> uuid.UUID:
        """Parse ``value``; braces, ``urn:uuid:`` and the 32-digit form are rejected."""
        if _UUID.fullmatch(value) is None:
            raise ValueError(f"not a canonical UUID: {value!r}")
        return uuid.UUID(value)


# A sample formatted with a template's strptime format, to validate the format at add() time.
_SAMPLE_DATETIME: Final = datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=UTC)


class DateTimeConverter:
    """An ISO 8601 datetime, or one in a strptime format, to ``datetime.datetime``.

    Attributes:
        format: The strptime format, or ``None`` for ``datetime.fromisoformat``.
    """

    def __init__(self, argument: str | None = None) -> None:
        if argument is not None:
            if not argument:
                raise ValueError("the datetime format is empty")
            sample = _SAMPLE_DATETIME.strftime(argument)
            if "/" in sample:
                raise ValueError(
                    f"the datetime format {argument!r} produces '/' ({sample!r}),"
                    " which a path segment never contains"
                )
            try:
                back = datetime.strptime(sample, argument).strftime(argument)
            except ValueError as exc:
                raise ValueError(f"bad datetime format {argument!r}: {exc}") from None
            if back != sample:
                raise ValueError(
                    f"the datetime format {argument!r} does not read back what it writes"
                    f" ({sample!r} becomes {back!r})"
                )
        self.format = argument

    def convert(self, value: str) -> datetime:
        """Parse ``value`` with ``fromisoformat``, or ``strptime`` and check it is canonical."""
        if not value.isascii():
            raise ValueError(f"not an ASCII datetime: {value!r}")
        if self.format is None:
            return datetime.fromisoformat(value)
        parsed = datetime.strptime(value, self.format)
        if parsed.strftime(self.format) != value:
            raise ValueError(f"not exactly in the format {self.format!r}: {value!r}")
        return parsed


#: The converters every router knows, by name.
BUILTIN_CONVERTERS: Final[Mapping[str, ConverterFactory]] = MappingProxyType(
    {
        "str": StrConverter,
        "int": IntConverter,
        "float": FloatConverter,
        "uuid": UUIDConverter,
        "datetime": DateTimeConverter,
        "path": PathConverter,
    }
)

_CATCH_ALL: Final = "path"


@dataclass(frozen=True, slots=True)
class LiteralSegment:
    """A segment matched by equality; ``""`` is the trailing slash.

    Attributes:
        text: The segment text.
    """

    text: str


@dataclass(frozen=True, slots=True)
class FieldSegment:
    """A segment captured into a named field.

    Two fields are equal when their name, converter name and argument are.

    Attributes:
        name: The field name.
        converter_name: ``str``, ``int``... (filled in for ``{x}`` and ``{path}``).
        argument: The converter argument, or ``None``.
        converter: The converter built from ``argument``.
    """

    name: str
    converter_name: str
    argument: str | None
    converter: Converter = field(compare=False, repr=False)

    @property
    def catch_all(self) -> bool:
        """Whether this field captures the rest of the path."""
        return self.converter_name == _CATCH_ALL

    def __str__(self) -> str:
        argument = "" if self.argument is None else f":{self.argument}"
        return f"{{{self.name}:{self.converter_name}{argument}}}"


Segment: TypeAlias = LiteralSegment | FieldSegment


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """A validated template.

    Attributes:
        template: The template text.
        segments: One entry per ``/``-separated segment.
    """

    template: str
    segments: tuple[Segment, ...]

    @property
    def field_names(self) -> tuple[str, ...]:
        """The field names, in template order."""
        return tuple(s.name for s in self.segments if isinstance(s, FieldSegment))

    @property
    def is_static(self) -> bool:
        """Whether the template has no field."""
        return not self.field_names


def compile_template(
    template: str, converters: Mapping[str, ConverterFactory] = BUILTIN_CONVERTERS
) -> CompiledTemplate:
    """Validate ``template`` and build its converters; the grammar is in the module docstring.

    Args:
        template: The template, starting with ``/``.
        converters: The converter factories by name.

    Returns:
        The compiled template.

    Raises:
        RouteTemplateError: The template does not follow the grammar.
    """
    if not template.startswith("/"):
        raise RouteTemplateError(template, "must start with '/'")
    parts = template[1:].split("/")
    last = len(parts) - 1
    segments: list[Segment] = []
    names: set[str] = set()
    for index, part in enumerate(parts):
        where = f"segment {index + 1} {part!r}"
        if not part and index != last:
            raise RouteTemplateError(template, f"{where} is empty; only a trailing slash may be")
        inner = part[1:-1]
        if part[:1] == "{" and part[-1:] == "}" and "{" not in inner and "}" not in inner:
            segment = _compile_field(template, where, inner, converters)
            if segment.name in names:
                raise RouteTemplateError(template, f"{where}: the field name is used twice")
            if segment.catch_all and index != last:
                raise RouteTemplateError(template, f"{where}: a catch-all must be the last segment")
            names.add(segment.name)
            segments.append(segment)
        elif "{" in part or "}" in part:
            raise RouteTemplateError(
                template,
                f"{where} is neither a literal nor a field: a field is a whole segment"
                " '{name}' or '{name:converter[:argument]}', and literals contain no braces",
            )
        else:
            segments.append(LiteralSegment(part))
    return CompiledTemplate(template, tuple(segments))


def _compile_field(
    template: str, where: str, inner: str, converters: Mapping[str, ConverterFactory]
) -> FieldSegment:
    name, has_converter, rest = inner.partition(":")
    converter_name, has_argument, argument = rest.partition(":")
    if not name.isidentifier():
        raise RouteTemplateError(template, f"{where}: the field name is not a Python identifier")
    if keyword.iskeyword(name):
        raise RouteTemplateError(template, f"{where}: the field name is a Python keyword")
    if not has_converter:
        converter_name = _CATCH_ALL if name == _CATCH_ALL else "str"
    factory = converters.get(converter_name)
    if factory is None:
        known = ", ".join(sorted(converters))
        raise RouteTemplateError(
            template, f"{where}: unknown converter {converter_name!r} (known: {known})"
        )
    field_argument = argument if has_argument else None
    try:
        converter = factory(field_argument)
    except ValueError as exc:
        raise RouteTemplateError(template, f"{where}: {exc}") from exc
    return FieldSegment(name, converter_name, field_argument, converter)


@dataclass(frozen=True, slots=True)
class _Route(Generic[T]):
    target: T
    template: str


class _Variable(Generic[T]):
    """A node's variable child: the field, the template that created it and the node below."""

    __slots__ = ("catch_all", "convert", "field", "name", "node", "template")

    def __init__(self, field: FieldSegment, template: str) -> None:
        self.field = field
        self.name = field.name
        self.template = template
        self.catch_all = field.catch_all
        converter = field.converter
        identity = type(converter) is StrConverter or (
            type(converter) is PathConverter and not converter.safe
        )
        self.convert: Callable[[str], object] | None = None if identity else converter.convert
        self.node: _Node[T] = _Node()


class _Node(Generic[T]):
    __slots__ = ("literals", "route", "variable")

    def __init__(self) -> None:
        self.literals: dict[str, _Node[T]] = {}
        self.variable: _Variable[T] | None = None
        self.route: _Route[T] | None = None


class Router(Generic[T]):
    """Maps URI templates to targets and finds the target for a path.

    The rules are in the module docstring.

    Args:
        converters: Converter factories by name, added to (or replacing) the built-in ones.
    """

    __slots__ = ("_converters", "_root", "_static", "_templates")

    def __init__(self, converters: Mapping[str, ConverterFactory] | None = None) -> None:
        self._converters: Mapping[str, ConverterFactory] = MappingProxyType(
            {**BUILTIN_CONVERTERS, **(converters or {})}
        )
        self._root: _Node[T] = _Node()
        self._static: dict[str, _Route[T]] = {}
        self._templates: list[str] = []

    def add(self, template: str, target: T) -> None:
        """Route ``template`` to ``target``.

        Args:
            template: The URI template.
            target: What :meth:`find` returns for a matching path.

        Raises:
            RouteTemplateError: The template is invalid, ambiguous with one already added, or a
                duplicate. The router is then unchanged.
        """
        compiled = compile_template(template, self._converters)
        route = _Route(target, template)
        if compiled.is_static:
            existing = self._static.get(template)
            if existing is not None:
                raise RouteTemplateError(template, "duplicates a template already added")
            self._static[template] = route
        else:
            self._insert(compiled, route)
        self._templates.append(template)

    def _insert(self, compiled: CompiledTemplate, route: _Route[T]) -> None:
        # One pass is atomic: a conflict can only be met on nodes that already exist, and
        # once the walk leaves them every node is new, so nothing is created before a raise.
        node = self._root
        for position, segment in enumerate(compiled.segments, 1):
            if isinstance(segment, LiteralSegment):
                child = node.literals.get(segment.text)
                if child is None:
                    child = node.literals[segment.text] = _Node()
                node = child
                continue
            variable = node.variable
            if variable is None:
                variable = node.variable = _Variable(segment, route.template)
            elif variable.field != segment:
                raise RouteTemplateError(
                    route.template,
                    f"ambiguous with {variable.template!r}: segment {position} is {segment}"
                    f" here and {variable.field} there, and only one field may follow a prefix",
                )
            node = variable.node
        if node.route is not None:
            raise RouteTemplateError(route.template, f"duplicates {node.route.template!r}")
        node.route = route

    def find(self, path: str) -> tuple[T, dict[str, object]] | None:
        """Find the target for ``path``.

        Args:
            path: The percent-decoded request path, starting with ``/``.

        Returns:
            The target and a new dict of converted field values in template order, or ``None``
            when no template matches (never an exception for an unconvertible value).
        """
        static = self._static.get(path)
        if static is not None:
            return static.target, {}
        if path[:1] != "/":
            return None
        return _search(self._root, path[1:].split("/"))

    def templates(self) -> list[str]:
        """Return the templates added, in the order they were added."""
        return list(self._templates)


def _search(root: _Node[T], parts: list[str]) -> tuple[T, dict[str, object]] | None:
    """Match ``parts`` below ``root``: depth first, literal child before variable child.

    Iterative rather than recursive, for speed: ``pending`` holds the nodes whose variable child
    is still to be tried if the literal branch taken there fails (made only when one is).
    """
    count = len(parts)
    params: dict[str, object] = {}
    pending: list[tuple[_Node[T], int, int]] | None = None
    node, index, literal_first = root, 0, True
    while True:
        if index == count:
            route = node.route
            if route is not None:
                return route.target, params
            variable = None
        else:
            variable = node.variable
            if literal_first:
                child = node.literals.get(parts[index])
                if child is not None:
                    if variable is not None:
                        if pending is None:
                            pending = []
                        pending.append((node, index, len(params)))
                    node, index = child, index + 1
                    continue
        if variable is not None:
            if variable.catch_all:
                part, after = "/".join(parts[index:]), count
            else:
                part, after = parts[index], index + 1
            if part or variable.catch_all:
                convert = variable.convert
                try:
                    params[variable.name] = part if convert is None else convert(part)
                except ValueError:
                    pass
                else:
                    node, index, literal_first = variable.node, after, True
                    continue
        if not pending:
            return None
        node, index, size = pending.pop()
        while len(params) > size:
            params.popitem()  # the fields captured after that node: dicts pop LIFO
        literal_first = False
