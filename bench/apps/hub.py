"""The SSE fan-out hub shared by the raw and reference apps: one publisher, many subscribers.

Each subscriber owns a bounded queue. ``publish`` puts every event into every queue in turn, so a
slow subscriber slows the publisher (backpressure) instead of growing memory, and ends each stream
with :data:`END`. The hub is app code: the raw and reference apps use the same one, so what the
fan-out benchmark compares is only how each app turns queue items into ASGI messages.
"""

from __future__ import annotations

import asyncio
from typing import Final, Generic, TypeVar

__all__ = ["END", "QUEUE_DEPTH", "Hub"]

T = TypeVar("T")

#: Put into every queue after the last event: the subscriber's stream ends.
END: Final = None
#: How many events a subscriber may lag behind the publisher.
QUEUE_DEPTH: Final = 16


class Hub(Generic[T]):
    """Subscribers and the publisher of one app."""

    def __init__(self, depth: int = QUEUE_DEPTH) -> None:
        self.depth = depth
        self.subscribers: set[asyncio.Queue[T | None]] = set()

    def subscribe(self) -> asyncio.Queue[T | None]:
        """Register a new subscriber and return its queue."""
        queue: asyncio.Queue[T | None] = asyncio.Queue(self.depth)
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[T | None]) -> None:
        """Forget a subscriber (idempotent)."""
        self.subscribers.discard(queue)

    async def publish(self, events: list[T]) -> int:
        """Send ``events`` to every current subscriber, then end their streams.

        Returns:
            How many subscribers there were.
        """
        queues = list(self.subscribers)
        for event in events:
            for queue in queues:
                await queue.put(event)
        for queue in queues:
            await queue.put(END)
            self.subscribers.discard(queue)
        return len(queues)
