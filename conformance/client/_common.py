"""What every client shares: the default deadline and probe tokens."""

from __future__ import annotations

import os
import uuid
from typing import Final

from .. import evidence

__all__ = ["TIMEOUT", "new_token"]

#: The default deadline of one wait, scaled by ``ASGI_CONFORMANCE_TIMEOUT_FACTOR``.
TIMEOUT: Final = 5.0 * float(os.environ.get("ASGI_CONFORMANCE_TIMEOUT_FACTOR", "1"))


def new_token() -> str:
    """A fresh token naming one probe in the observation channel."""
    token = uuid.uuid4().hex[:16]
    evidence.token_made(token)
    return token
