"""Response header fidelity (repeats, obs-text, bodiless statuses) and request header refusal.

Framework endpoints are added by :func:`register`; raw ASGI endpoints (what a framework would
never send) are in :data:`RAW`, served by :class:`conformance.contract.raw.RawRoutes` under
``/raw/headers/...``.
"""

from __future__ import annotations

from reference_app import App
from reference_app.types import ASGIApp

__all__ = ["RAW", "register"]

#: Raw ASGI endpoints of this family, by exact path (``/raw/headers/...``).
RAW: dict[str, ASGIApp] = {}


def register(app: App) -> None:
    """Add this family's framework endpoints to ``app`` (none yet)."""
