"""Any other server, given as a command template with declared capabilities.

From Python::

    ServerSpec.from_command(
        "mycorn",
        "{python} -m mycorn --bind {host}:{port} {app}",
        protocol="h2c",
        capabilities={"lifespan"},
    )

From a command line (e.g. a ``--server`` option), one string::

    NAME=COMMAND[;OPTION]...

    mycorn={python} -m mycorn --bind {host}:{port} {app};caps=lifespan,websocket;protocol=h2c

``NAME``
    The variant id: a lowercase letter, then lowercase letters, digits, ``.``, ``_`` or ``-``.
``COMMAND``
    The argv, split like a POSIX shell would (:func:`shlex.split`) but never run by a shell.
``OPTION``
    ``caps=CAP[,CAP...]`` (values of :class:`~servers.spec.Capability`, may be empty),
    ``protocol=http/1.1|h2c|h2`` (default ``http/1.1``) or ``tls=yes|no`` (default: yes for
    ``h2``, else no). Each option at most once.

Options are separated by ``;`` outside quotes; a ``;`` inside quotes belongs to the command.

Fields, replaced in every argv item at launch: ``{python}`` (this interpreter), ``{host}``,
``{port}``, ``{app}``, ``{certfile}`` and ``{keyfile}``; ``{{`` and ``}}`` are literal braces.
``{host}``, ``{port}`` and ``{app}`` are required; ``{certfile}`` and ``{keyfile}`` are required
with TLS and refused without it. The ``http2`` capability follows from the protocol.

Everything is checked when the spec is made, and every mistake is a
:class:`~servers.errors.CommandTemplateError` that says what is wrong.
"""

from __future__ import annotations

import re
import shlex
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from servers.errors import CommandTemplateError
from servers.spec import Capability, HTTPProtocol, LaunchContext, ServerSpec

__all__ = ["FIELDS", "command_spec", "parse_server_option"]

#: The fields a template may use.
FIELDS = frozenset({"python", "host", "port", "app", "certfile", "keyfile"})
_REQUIRED = frozenset({"host", "port", "app"})
_TLS_FIELDS = frozenset({"certfile", "keyfile"})
_NAME = re.compile(r"[a-z][a-z0-9._-]*")
_OPTIONS = ("caps", "protocol", "tls")
_BOOLEANS = {"yes": True, "no": False}


@dataclass(frozen=True, slots=True)
class CommandArgv:
    """The argv builder of a command-template server: formats each template item."""

    template: tuple[str, ...]

    def __call__(self, context: LaunchContext) -> list[str]:
        """Return the template with its fields replaced."""
        values = {
            "python": context.python,
            "host": context.host,
            "port": str(context.port),
            "app": context.app,
        }
        if any(_TLS_FIELDS & _fields(item) for item in self.template):
            values["certfile"], values["keyfile"] = context.tls_files()
        return [item.format_map(values) for item in self.template]


def command_spec(
    name: str,
    template: str | Sequence[str],
    *,
    protocol: HTTPProtocol | str = HTTPProtocol.HTTP1,
    capabilities: Iterable[Capability | str] = (),
    tls: bool | None = None,
) -> ServerSpec:
    """Return the variant that runs ``template``.

    Args:
        name: The variant id.
        template: The command, as one string (split with :func:`shlex.split`) or as argv items.
        protocol: What the client speaks: ``"http/1.1"``, ``"h2c"`` or ``"h2"``.
        capabilities: What the server supports; ``http2`` is added for ``h2c`` and ``h2``.
        tls: Whether it listens with TLS; None means "only for ``h2``".

    Raises:
        CommandTemplateError: Anything is malformed; the message says what.
    """
    if not _NAME.fullmatch(name):
        raise CommandTemplateError(
            f"bad server name {name!r}: use a lowercase letter, then letters, digits, '.', '_', '-'"
        )
    items = _split_command(template)
    http = _protocol(protocol)
    use_tls = http is HTTPProtocol.H2 if tls is None else tls
    if http is HTTPProtocol.H2 and not use_tls:
        raise CommandTemplateError("protocol h2 is HTTP/2 over TLS; it cannot have tls off")
    if http is HTTPProtocol.H2C and use_tls:
        raise CommandTemplateError("protocol h2c is cleartext HTTP/2; it cannot have tls on")
    caps = _capabilities(capabilities, http)
    _check_fields(items, use_tls)
    module = items[2] if items[:2] == ("{python}", "-m") and len(items) > 2 else None
    if module is not None and _fields(module):
        module = None
    return ServerSpec(
        name=name,
        server=None if module is None else module.partition(".")[0],
        module=module,
        protocol=http,
        argv=CommandArgv(items),
        tls=use_tls,
        capabilities=caps,
    )


def parse_server_option(text: str) -> ServerSpec:
    """Parse ``NAME=COMMAND[;OPTION]...`` (see the module docstring) into a variant.

    Raises:
        CommandTemplateError: The string is malformed; the message says what.
    """
    name, equals, rest = text.partition("=")
    if not equals:
        raise CommandTemplateError(f"expected NAME=COMMAND[;OPTION]..., got {text!r}")
    command, *options = _split_unquoted(rest, ";")
    declared: dict[str, str] = {}
    for option in options:
        key, equals, value = option.strip().partition("=")
        if not equals or key not in _OPTIONS:
            raise CommandTemplateError(
                f"bad option {option.strip()!r} in {text!r}: expected one of "
                + ", ".join(f"{known}=..." for known in _OPTIONS)
            )
        if key in declared:
            raise CommandTemplateError(f"option {key!r} given twice in {text!r}")
        declared[key] = value.strip()
    tls = None
    if "tls" in declared:
        if declared["tls"] not in _BOOLEANS:
            raise CommandTemplateError(f"tls must be 'yes' or 'no', not {declared['tls']!r}")
        tls = _BOOLEANS[declared["tls"]]
    caps = [cap.strip() for cap in declared.get("caps", "").split(",") if cap.strip()]
    return command_spec(
        name.strip(),
        command,
        protocol=declared.get("protocol", HTTPProtocol.HTTP1),
        capabilities=caps,
        tls=tls,
    )


def _split_command(template: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(template, str):
        try:
            items = tuple(shlex.split(template))
        except ValueError as error:  # "No closing quotation", "No escaped character"
            raise CommandTemplateError(f"cannot split {template!r}: {error}") from error
    else:
        items = tuple(template)
    if not items:
        raise CommandTemplateError("the command is empty")
    return items


def _split_unquoted(text: str, separator: str) -> list[str]:
    """Split ``text`` at each ``separator`` that is outside quotes (POSIX shell quoting)."""
    parts, start, quote, escaped = [], 0, "", False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == separator:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _protocol(value: HTTPProtocol | str) -> HTTPProtocol:
    try:
        return HTTPProtocol(value)
    except ValueError:
        known = ", ".join(protocol.value for protocol in HTTPProtocol)
        raise CommandTemplateError(f"unknown protocol {value!r}; expected one of {known}") from None


def _capabilities(
    values: Iterable[Capability | str], protocol: HTTPProtocol
) -> frozenset[Capability]:
    caps = set()
    for value in values:
        try:
            caps.add(Capability(value))
        except ValueError:
            known = ", ".join(cap.value for cap in Capability)
            raise CommandTemplateError(
                f"unknown capability {value!r}; expected some of {known}"
            ) from None
    if Capability.HTTP2 in caps and protocol is HTTPProtocol.HTTP1:
        raise CommandTemplateError("capability http2 needs protocol h2c or h2")
    if protocol is not HTTPProtocol.HTTP1:
        caps.add(Capability.HTTP2)
    return frozenset(caps)


def _fields(item: str) -> set[str]:
    """Return the field names in one argv item, refusing anything but plain ``{name}``."""
    try:
        parsed = list(string.Formatter().parse(item))
    except ValueError as error:  # "Single '}' encountered in format string"
        raise CommandTemplateError(f"bad braces in {item!r}: {error}") from error
    names = set()
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in FIELDS:
            known = " ".join(f"{{{name}}}" for name in sorted(FIELDS))
            raise CommandTemplateError(
                f"unknown field {{{field}}} in {item!r}; known fields: {known}"
            )
        if spec or conversion:
            raise CommandTemplateError(f"{item!r}: fields take no format spec or conversion")
        names.add(field)
    return names


def _check_fields(items: Sequence[str], tls: bool) -> None:
    used = set().union(*(_fields(item) for item in items))
    if missing := sorted(_REQUIRED - used):
        raise CommandTemplateError(
            "the command must use " + " ".join(f"{{{name}}}" for name in missing)
        )
    if tls and (missing := sorted(_TLS_FIELDS - used)):
        raise CommandTemplateError(
            "a TLS server's command must use " + " ".join(f"{{{name}}}" for name in missing)
        )
    if not tls and (extra := sorted(_TLS_FIELDS & used)):
        raise CommandTemplateError(
            " ".join(f"{{{name}}}" for name in extra) + " given, but the server is not TLS"
        )
