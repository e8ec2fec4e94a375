"""What the contract's endpoint modules share: parameters, the body pattern, the observations."""

from __future__ import annotations

import logging
from typing import Final
from urllib.parse import parse_qs

from reference_app import HTTPBadRequest, Request
from reference_app.types import Scope

from ..observe import Observations

__all__ = [
    "CHUNK",
    "PATTERN",
    "float_param",
    "int_param",
    "logger",
    "observations",
    "pattern",
    "query",
    "token_of",
]

logger = logging.getLogger("asgi_conformance.contract")

#: The observations of this process (one per server process).
observations = Observations()

#: The default streamed chunk size.
CHUNK: Final = 64 * 1024
#: One chunk of the deterministic body pattern (a repeating 0..255).
PATTERN: Final = bytes(range(256)) * (CHUNK // 256)


def pattern(size: int) -> bytes:
    """The first ``size`` bytes of the deterministic body pattern."""
    repeats, rest = divmod(size, len(PATTERN))
    return PATTERN * repeats + PATTERN[:rest]


def int_param(req: Request, name: str, default: int) -> int:
    """A non-negative integer query parameter (400 if it is not one)."""
    value = req.get_param(name)
    if value is None:
        return default
    if not value.isdigit():
        raise HTTPBadRequest(description=f"query parameter {name} must be a non-negative integer")
    return int(value)


def float_param(req: Request, name: str, default: float) -> float:
    """A number query parameter (400 if it is not one)."""
    value = req.get_param(name)
    try:
        return default if value is None else float(value)
    except ValueError:
        raise HTTPBadRequest(description=f"query parameter {name} must be a number") from None


def token_of(scope: Scope) -> str:
    """The ``x-probe-token`` header of a raw endpoint's request ("" if none)."""
    for name, value in scope["headers"]:
        if name == b"x-probe-token":
            return bytes(value).decode("latin-1")
    return ""


def query(scope: Scope, name: str, default: float) -> float:
    """A number from a raw endpoint's query string, or ``default``."""
    values = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1")).get(name)
    try:
        return float(values[0]) if values else default
    except ValueError:
        return default
