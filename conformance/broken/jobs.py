"""Breaks of the jobs family: what a server does wrong to work after the response.

Each is a server that breaks one promise about an app that runs on once its response is
complete: a response finished only when the call returns, a call cancelled as soon as its
response is done, one call at a time, a lifespan shutdown answered before the app's hook ran,
calls not waited for at a graceful stop. :data:`BREAKS` says which cases catch each.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from . import Break
from .apps import around, inner_app, is_final_body

__all__ = [
    "BREAKS",
    "calls_not_waited_for",
    "cancel_after_response",
    "held_completion",
    "one_call_at_a_time",
    "shutdown_complete_early",
]


async def _held_completion(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    final: list[Message] = []

    async def holding_send(message: Message) -> None:
        if is_final_body(message):
            final.append(message)  # acknowledged now, sent when the call returns
            return
        await send(message)

    try:
        await app(scope, receive, holding_send)
    finally:
        for message in final:
            await send(message)


#: Finishes a response (its final body message) only when the app's call returns, like a
#: server that writes the terminating chunk or END_STREAM in its call-done callback.
held_completion = around(_held_completion)


async def _cancel_after(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    task = asyncio.current_task()
    assert task is not None
    cancelled = False

    async def cancelling_send(message: Message) -> None:
        nonlocal cancelled
        await send(message)
        if is_final_body(message) and not cancelled:
            cancelled = True
            asyncio.get_running_loop().call_soon(task.cancel)

    try:
        await app(scope, receive, cancelling_send)
    except asyncio.CancelledError:
        if not cancelled:
            raise
        task.uncancel()


#: Cancels the app's call as soon as its response is complete (daphne does, 10 s later).
cancel_after_response = around(_cancel_after)

_one_at_a_time: list[asyncio.Lock] = []


async def _serialized(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    if not _one_at_a_time:
        _one_at_a_time.append(asyncio.Lock())
    async with _one_at_a_time[0]:
        await app(scope, receive, send)


#: Runs one HTTP call at a time: a request waits until every earlier call has returned, like
#: a server that serves a connection's (or all) requests strictly one after another.
one_call_at_a_time = around(_serialized)

_detached: set[asyncio.Task[None]] = set()


async def _not_waited_for(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    complete = asyncio.Event()

    async def watching_send(message: Message) -> None:
        await send(message)
        if is_final_body(message):
            complete.set()

    call = asyncio.ensure_future(app(scope, receive, watching_send))
    _detached.add(call)
    call.add_done_callback(_detached.discard)
    finished = asyncio.ensure_future(complete.wait())
    await asyncio.wait({call, finished}, return_when=asyncio.FIRST_COMPLETED)
    finished.cancel()
    if call.done():
        call.result()


#: Reports the app's call over once its response is complete, while the call runs on: the
#: server then stops (lifespan shutdown, exit) without waiting for it, as granian does.
calls_not_waited_for = around(_not_waited_for)


async def shutdown_complete_early(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers ``lifespan.shutdown`` at once, before the app's shutdown hook has run.

    The app still gets ``lifespan.shutdown``, in a task the server does not wait for: the
    server exits while the app drains its work.
    """
    app = inner_app()
    if scope["type"] != "lifespan":
        await app(scope, receive, send)
        return
    shutdown = asyncio.Event()
    pending: list[asyncio.Task[Any]] = []

    async def early_receive() -> Message:
        message = await receive()
        if message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            shutdown.set()
        return message

    async def quiet_send(message: Message) -> None:
        if shutdown.is_set() and message["type"].startswith("lifespan.shutdown"):
            return  # already answered
        await send(message)

    pending.append(asyncio.ensure_future(app(scope, early_receive, quiet_send)))
    await asyncio.wait(pending)


_AFTER = (
    "ASGI HTTP 2.5, Response Body: more_body=False completes the response; ASGI core: a call "
    "lasts the connection plus a little longer for cleanup"
)

BREAKS: Final = (
    Break(
        name="held-completion",
        promise="ASGI HTTP 2.5, Response Body: more_body=False completes the response. "
        "Finishes the response only when the app's call returns, like a server that writes "
        "the end of the response in its call-done callback.",
        catches=frozenset(
            {
                "jobs/after-complete-response",
                "jobs/call-runs-on-after-response",
                "jobs/call-runs-on-after-close",
                "jobs/served-while-calls-run",
                "jobs/call-drained-at-shutdown",
            }
        ),
        says=r"did not reach the client|no whole response|only once the call had finished",
        app="conformance.broken.jobs:held_completion",
    ),
    Break(
        name="cancel-after-response",
        promise=f"{_AFTER}. Cancels the app's call as soon as its response is complete "
        "(daphne does it 10 s after the response: --application-close-timeout).",
        catches=frozenset(
            {
                "jobs/after-complete-response",
                "jobs/call-runs-on-after-response",
                "jobs/call-runs-on-after-close",
                "jobs/served-while-calls-run",
                "jobs/call-drained-at-shutdown",
            }
        ),
        says=r"cancel|did not record 'work-end'",
        app="conformance.broken.jobs:cancel_after_response",
    ),
    Break(
        name="one-call-at-a-time",
        promise="ASGI HTTP 2.5, HTTP Connection Scope: a call lasts until the end of its "
        "request, while the socket serves others. Runs one call at a time, so a call that "
        "runs on after its response holds every later request.",
        catches=frozenset({"jobs/served-while-calls-run"}),
        says=r"no whole response|not answered",
        app="conformance.broken.jobs:one_call_at_a_time",
    ),
    Break(
        name="shutdown-complete-early",
        promise="ASGI lifespan 2.0, Shutdown: the server must wait for "
        "lifespan.shutdown.complete before terminating. Exits before the app's shutdown hook "
        "has run (the hook's answer is made up for it).",
        catches=frozenset({"jobs/drained-at-shutdown"}),
        says=r"the lifespan shutdown did not run|never finished",
        app="conformance.broken.jobs:shutdown_complete_early",
    ),
    Break(
        name="calls-not-waited-for",
        promise="ASGI core: a call lasts the connection plus a little longer for cleanup; "
        "ASGI lifespan 2.0: shutdown comes once the connections are closed. Stops without "
        "waiting for calls that run on after their responses, as granian does.",
        catches=frozenset({"jobs/call-drained-at-shutdown"}),
        says=r"the call never finished|cancelled the call at the stop"
        r"|lifespan shutdown completed before the call finished",
        app="conformance.broken.jobs:calls_not_waited_for",
    ),
)
