"""The contract app's observation channel, seen from the test (see :mod:`conformance.observe`)."""

from __future__ import annotations

from typing import Any

from servers import HTTPProtocol, RunningServer

from .. import evidence
from ._common import TIMEOUT
from .httpx_client import http_client

__all__ = ["Observer"]


class Observer:
    """The contract app's observation channel, on a connection of its own.

    Use it as ``async with Observer(server) as observer``. The channel is harness, not subject:
    it never shares a connection with the exchange under test (on HTTP/2 an unread stream
    would starve it of flow-control window), and it speaks HTTP/1.1, which every built-in
    variant's port also accepts, so it cannot trip over a bug of the protocol under test
    (hypercorn's HTTP/2 drops the whole connection when a request's last DATA frame arrives
    after the response, pgjones/hypercorn#329).
    """

    def __init__(self, server: RunningServer) -> None:
        # Its traffic is harness, not evidence: what it reads is kept as observations instead.
        self.client = http_client(server, protocol=HTTPProtocol.HTTP1, record=False)

    async def __aenter__(self) -> Observer:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.__aexit__()

    async def snapshot(self, token: str) -> dict[str, Any]:
        """Every event and counter of ``token``."""
        response = await self.client.get(f"/observe/{token}")
        response.raise_for_status()
        snapshot: dict[str, Any] = response.json()
        evidence.observed(token, snapshot)
        return snapshot

    async def events(self, token: str, name: str | None = None) -> list[dict[str, Any]]:
        """The events of ``token`` (only those called ``name`` if given)."""
        events: list[dict[str, Any]] = (await self.snapshot(token))["events"]
        return [e for e in events if name is None or e["event"] == name]

    async def wait(
        self, token: str, event: str, count: int = 1, timeout: float = TIMEOUT
    ) -> dict[str, Any]:
        """Wait until the app recorded ``event`` ``count`` times; return the snapshot.

        Raises:
            AssertionError: it did not happen within ``timeout`` (the events seen are listed).
        """
        response = await self.client.get(
            f"/observe/{token}/wait",
            params={"event": event, "count": count, "timeout": timeout},
            timeout=timeout + TIMEOUT,
        )
        response.raise_for_status()
        snapshot: dict[str, Any] = response.json()
        evidence.observed(token, snapshot)
        if not snapshot["ok"]:
            seen = [e["event"] for e in snapshot["events"]]
            raise AssertionError(
                f"the app did not record {event!r} x{count} within {timeout} s; "
                f"events: {seen}, counters: {snapshot['counters']}"
            )
        return snapshot

    async def happened(self, token: str, event: str, *, count: int = 1, timeout: float) -> bool:
        """Whether ``event`` reaches ``count`` within ``timeout`` (when its absence passes)."""
        response = await self.client.get(
            f"/observe/{token}/wait",
            params={"event": event, "count": count, "timeout": timeout},
            timeout=timeout + TIMEOUT,
        )
        response.raise_for_status()
        snapshot = response.json()
        evidence.observed(token, snapshot)
        return bool(snapshot["ok"])

    async def release(self, token: str, gate: str = "next", steps: int = 1) -> None:
        """Open gate ``gate`` of ``token`` for ``steps`` steps."""
        response = await self.client.post(f"/gate/{token}/{gate}", params={"n": steps})
        response.raise_for_status()
