"""What a server does when the app misbehaves: raises, returns early, or lies about its length.

Framework endpoints are added by :func:`register`; raw ASGI endpoints (what a framework would
never send) are in :data:`RAW`, served by :class:`conformance.contract.raw.RawRoutes` under
``/raw/errors/...``.
"""

from __future__ import annotations

from reference_app import App
from reference_app.types import ASGIApp

__all__ = ["RAW", "register"]

#: Raw ASGI endpoints of this family, by exact path (``/raw/errors/...``).
RAW: dict[str, ASGIApp] = {}


def register(app: App) -> None:
    """Add this family's framework endpoints to ``app`` (none yet)."""
