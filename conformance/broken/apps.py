"""Deliberately broken variants of the contract app: the suites must catch each of them.

Each is an ASGI middleware around :data:`conformance.contract.app` that breaks one promise a
server (or a framework) makes, the way real ones have broken it. Run a suite against one with
``--app conformance.broken:<name>``; ``tests/conformance/test_broken_variants.py`` checks which
cases catch which break, and that the same cases pass with the real app.

* :func:`buffering_app` holds back every body message until the final one, then sends them
  all: a server that does not flush before ``send()`` returns (ASGI HTTP 2.5, "Response Body").
* :func:`no_disconnect_app` never delivers ``http.disconnect``: a ``receive()`` that would
  return it blocks forever instead (ASGI HTTP 2.5, "Disconnect").
* :func:`early_jobs_app` acknowledges the final body ``send()`` at once but hands it to the
  server only :data:`EARLY_DELAY` seconds later, in a task it awaits before returning: the
  app's background jobs run before the response has ended.

The observation channel (``/observe/...`` and ``/gate/...``) is left intact: it is the
harness's instrument, not the behaviour under test.
"""

from __future__ import annotations

import asyncio
from typing import Final

from reference_app.types import Message, Receive, Scope, Send

from ..contract import app as contract_app

__all__ = ["EARLY_DELAY", "buffering_app", "early_jobs_app", "no_disconnect_app"]

#: How long :func:`early_jobs_app` withholds the final body message (seconds).
EARLY_DELAY: Final = 1.0

_INSTRUMENT: Final = ("/observe/", "/gate/")


def _under_test(scope: Scope) -> bool:
    """Whether a request is one the break applies to (HTTP, not the observation channel)."""
    return scope["type"] == "http" and not str(scope["path"]).startswith(_INSTRUMENT)


async def buffering_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Send no body message before the final one; then send every one of them at once."""
    if not _under_test(scope):
        await contract_app(scope, receive, send)
        return
    held: list[Message] = []

    async def buffering_send(message: Message) -> None:
        if message["type"] != "http.response.body":
            await send(message)
            return
        held.append(message)
        if not message.get("more_body", False):
            for body in held:
                await send(body)
            held.clear()

    await contract_app(scope, receive, buffering_send)


async def no_disconnect_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Deliver every message but ``http.disconnect``; where it would come, block forever."""
    if not _under_test(scope):
        await contract_app(scope, receive, send)
        return

    async def deaf_receive() -> Message:
        message = await receive()
        if message["type"] == "http.disconnect":
            await asyncio.Event().wait()  # never set: the app waits until it is cancelled
        return message

    await contract_app(scope, deaf_receive, send)


async def early_jobs_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Acknowledge the final body at once; hand it to the server :data:`EARLY_DELAY` s later."""
    if not _under_test(scope):
        await contract_app(scope, receive, send)
        return
    late: list[asyncio.Task[None]] = []

    async def deliver_later(message: Message) -> None:
        await asyncio.sleep(EARLY_DELAY)
        await send(message)

    async def early_send(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            late.append(asyncio.create_task(deliver_later(message)))
            return
        await send(message)

    try:
        await contract_app(scope, receive, early_send)
    finally:
        if late:
            await asyncio.gather(*late)
