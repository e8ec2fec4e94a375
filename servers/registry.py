"""The built-in variants, by name.

Variants keep a fixed order (server by server, HTTP/1.1 first), which is the column order of
the reports.
"""

from __future__ import annotations

from servers import daphne, granian, hypercorn, uvicorn
from servers.command import parse_server_option
from servers.errors import CommandTemplateError, UnknownServerError
from servers.spec import ServerSpec

__all__ = ["SERVERS", "available", "get", "resolve"]

#: Every built-in variant, by name, installed or not.
SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (*hypercorn.VARIANTS, *uvicorn.VARIANTS, *daphne.VARIANTS, *granian.VARIANTS)
}


def available() -> dict[str, ServerSpec]:
    """Return the built-in variants whose server is installed, in :data:`SERVERS` order."""
    return {name: spec for name, spec in SERVERS.items() if spec.available()}


def get(name: str) -> ServerSpec:
    """Return the built-in variant called ``name``.

    Raises:
        UnknownServerError: No built-in variant has that name; the message lists them.
    """
    try:
        return SERVERS[name]
    except KeyError:
        raise UnknownServerError(
            f"unknown server {name!r}; built-in variants: {', '.join(SERVERS)}"
        ) from None


def resolve(text: str) -> ServerSpec:
    """Return a built-in variant by name, or parse ``NAME=COMMAND[;OPTION]...``.

    This is what a ``--server`` option accepts; see :mod:`servers.command` for the syntax.

    Raises:
        UnknownServerError: ``text`` is neither a built-in name nor a command.
        CommandTemplateError: The command is malformed, or its name is a built-in one.
    """
    if "=" not in text:
        return get(text.strip())
    spec = parse_server_option(text)
    if spec.name in SERVERS:
        raise CommandTemplateError(f"{spec.name!r} is a built-in variant; name yours differently")
    return spec
