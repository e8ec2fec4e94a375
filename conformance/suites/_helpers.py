"""Small helpers shared by the suites."""

from __future__ import annotations

import pytest

from servers import HTTPProtocol, RunningServer

from ..plugin import NOT_APPLICABLE

__all__ = ["require_protocol"]


def require_protocol(server: RunningServer, protocol: HTTPProtocol) -> None:
    """Mark the case not applicable unless the variant speaks ``protocol``."""
    if server.spec.protocol is not protocol:
        pytest.skip(
            f"{NOT_APPLICABLE} {server.spec.name} speaks {server.spec.protocol}, not {protocol}"
        )
