"""Broken servers for the lifecycle family: disconnects, sends after them, lifespan, stopping.

All are ASGI middleware on the default variant (uvicorn-h11), around the app the server was
asked to run (:func:`~conformance.broken.apps.inner_app`: the contract app, or the app a case
launched a server of its own with, e.g. ``conformance.contract.lifespan_apps:raising``). A
middleware sees the lifespan protocol and every call, but not the process, so the breaks of a
stop chain a handler onto the server's SIGINT handler (:class:`_OnSigint`; uvicorn installs its
handlers with :func:`signal.signal` before it calls the app, so the chained handler runs first,
then the server's), and ``stop-keeps-listening`` keeps a second descriptor of the server's
listening socket, as a supervisor process holding it would.
"""

from __future__ import annotations

import asyncio
import atexit
import copy
import os
import signal
import socket
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any, Final

from reference_app.types import ASGIApp, Message, Receive, Scope, Send

from ..client import TIMEOUT
from . import Break, Legal
from .apps import Layer, around, inner_app, is_final_body, under_test

__all__ = [
    "BREAKS",
    "LATE_BY",
    "LEGAL",
    "late_disconnect",
    "lifespan_error_fatal",
    "lifespan_shutdown_at_signal",
    "lifespan_shutdown_skipped",
    "send_after_disconnect_hangs",
    "send_after_disconnect_raises_oserror",
    "send_after_disconnect_raises_runtimeerror",
    "sigint_exit_1",
    "spec_2_4_quiet_send",
    "startup_complete_early",
    "startup_failure_exits_0",
    "startup_failure_ignored",
    "state_deep_copied",
    "state_not_copied",
    "stop_cancels_in_flight",
    "stop_ends_in_flight",
    "stop_keeps_listening",
]

#: How late :func:`late_disconnect` delivers ``http.disconnect``: four times the bound of
#: ``lifecycle/disconnect-delivered``.
LATE_BY: Final = TIMEOUT * 0.4


def _every_scope(layer: Layer) -> ASGIApp:
    """Like :func:`~conformance.broken.apps.around`, for lifespan scopes too.

    ``layer`` gets every call but the observation channel's, with the app the server was
    asked to run (looked up at the first call).
    """
    wrapped: list[ASGIApp] = []

    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        if not wrapped:
            wrapped.append(inner_app())
        if scope["type"] == "http" and not under_test(scope):
            await wrapped[0](scope, receive, send)
        else:
            await layer(scope, receive, send, wrapped[0])

    return broken


# -- disconnects and sends after them ----------------------------------------------------------


async def _late_disconnect(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    async def late_receive() -> Message:
        message = await receive()
        if message["type"] == "http.disconnect":
            await asyncio.sleep(LATE_BY)
        return message

    await app(scope, late_receive, send)


#: ``http.disconnect`` reaches the app :data:`LATE_BY` seconds after the server has it.
late_disconnect = around(_late_disconnect)


def _after_disconnect(misbehave: Callable[[], Awaitable[None]], spec_version: str | None) -> Layer:
    """A layer: once the app has received ``http.disconnect``, ``send()`` misbehaves.

    With ``spec_version`` the scope advertises that ASGI HTTP spec version.
    """

    async def layer(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        if spec_version is not None:
            scope = {**scope, "asgi": {**scope.get("asgi", {}), "spec_version": spec_version}}
        gone = False

        async def watching_receive() -> Message:
            nonlocal gone
            message = await receive()
            gone = gone or message["type"] == "http.disconnect"
            return message

        async def late_send(message: Message) -> None:
            if gone:
                await misbehave()
            await send(message)

        await app(scope, watching_receive, late_send)

    return layer


class ClientGone(ConnectionResetError):
    """What :data:`send_after_disconnect_raises_oserror` raises: a server-specific OSError."""


async def _quiet() -> None:
    return None


async def _raise_runtimeerror() -> None:
    raise RuntimeError("the response is closed")


async def _hang() -> None:
    await asyncio.Event().wait()  # never set


async def _raise_oserror() -> None:
    raise ClientGone("the client has gone")


#: ``send()`` after the disconnect raises ``RuntimeError``, no ``OSError`` (hypercorn's
#: ``UnexpectedMessageError``, uvicorn's ``RuntimeError`` for other misuse are such classes).
send_after_disconnect_raises_runtimeerror = around(_after_disconnect(_raise_runtimeerror, None))
#: ``send()`` after the disconnect never returns (hypercorn 0.18's HTTP/2 final body after a
#: TCP close).
send_after_disconnect_hangs = around(_after_disconnect(_hang, None))
#: The scope advertises ASGI HTTP spec 2.4, but ``send()`` after the disconnect stays a no-op.
spec_2_4_quiet_send = around(_after_disconnect(_quiet, "2.4"))
#: Legal: a spec 2.4 server, whose ``send()`` after the disconnect raises a server-specific
#: ``OSError`` subclass.
send_after_disconnect_raises_oserror = around(_after_disconnect(_raise_oserror, "2.4"))


# -- lifespan state ----------------------------------------------------------------------------


def _state_handover(handover: Callable[[dict[str, Any]], dict[str, Any]]) -> ASGIApp:
    """An app handing requests the lifespan state its own way, not as a shallow copy."""
    lifespan_state: list[dict[str, Any]] = []

    async def layer(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        if scope["type"] == "lifespan" and isinstance(scope.get("state"), dict):
            lifespan_state[:] = [scope["state"]]
        elif lifespan_state and "state" in scope:
            scope = {**scope, "state": handover(lifespan_state[0])}
        await app(scope, receive, send)

    return _every_scope(layer)


#: Every request gets the lifespan state itself: what one request adds, the next one sees.
state_not_copied = _state_handover(lambda state: state)
#: Every request gets a deep copy: the objects startup stored are not shared.
state_deep_copied = _state_handover(copy.deepcopy)


# -- lifespan startup --------------------------------------------------------------------------


async def _startup_complete_early(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    if scope["type"] != "lifespan":
        await app(scope, receive, send)
        return

    async def early_receive() -> Message:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        return message

    async def quiet_send(message: Message) -> None:
        if not message["type"].startswith("lifespan.startup."):
            await send(message)

    await app(scope, early_receive, quiet_send)


#: The server hears ``lifespan.startup.complete`` as soon as startup begins, and serves while
#: the app's startup runs on (the app's own answer is swallowed).
startup_complete_early = _every_scope(_startup_complete_early)


async def _startup_failure_exits_0(
    scope: Scope, receive: Receive, send: Send, app: ASGIApp
) -> None:
    if scope["type"] != "lifespan":
        await app(scope, receive, send)
        return

    async def exiting_send(message: Message) -> None:
        if message["type"] == "lifespan.startup.failed":
            os._exit(0)
        await send(message)

    await app(scope, receive, exiting_send)


#: On the app's ``lifespan.startup.failed`` the process ends with status 0 (hypercorn).
startup_failure_exits_0 = _every_scope(_startup_failure_exits_0)


async def _startup_failure_ignored(
    scope: Scope, receive: Receive, send: Send, app: ASGIApp
) -> None:
    if scope["type"] != "lifespan":
        await app(scope, receive, send)
        return

    async def hopeful_send(message: Message) -> None:
        if message["type"] == "lifespan.startup.failed":
            message = {"type": "lifespan.startup.complete"}
        await send(message)

    await app(scope, receive, hopeful_send)


#: The server hears ``lifespan.startup.complete`` where the app said it failed.
startup_failure_ignored = _every_scope(_startup_failure_ignored)


async def _lifespan_error_fatal(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    if scope["type"] != "lifespan":
        await app(scope, receive, send)
        return
    received: list[str] = []

    async def watching_receive() -> Message:
        message = await receive()
        received.append(message["type"])
        return message

    try:
        await app(scope, watching_receive, send)
    except Exception as error:
        if "lifespan.startup" not in received:
            await receive()
        await send({"type": "lifespan.startup.failed", "message": f"{error!r}"})


#: An app that raises on the lifespan scope makes the server exit, as if its startup had
#: failed (uvicorn's ``--lifespan on`` does the same), where the server must go on without
#: lifespan.
lifespan_error_fatal = _every_scope(_lifespan_error_fatal)


# -- stopping ----------------------------------------------------------------------------------


class _OnSigint:
    """Runs callbacks on the event loop when SIGINT arrives, then the server's own handler."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], None]] = []
        self._installed = False

    def install(self) -> None:
        """Chain onto the current SIGINT handler (once; main thread only)."""
        if self._installed or threading.current_thread() is not threading.main_thread():
            return
        self._installed = True
        loop = asyncio.get_running_loop()
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum: int, frame: FrameType | None) -> None:
            for callback in self.callbacks:
                loop.call_soon_threadsafe(callback)
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                raise KeyboardInterrupt

        signal.signal(signal.SIGINT, handler)


class _InFlightAtStop:
    """A layer: at SIGINT, cancel the app's HTTP calls in flight.

    With ``end_cleanly`` the response is then ended as if it were whole (a final empty body
    with ``more_body=False``); without, the call returns with the response unfinished and
    the server cuts it, as daphne does.
    """

    def __init__(self, *, end_cleanly: bool) -> None:
        self.end_cleanly = end_cleanly
        self.sigint = _OnSigint()
        self.sigint.callbacks.append(self._cancel_all)
        self.calls: set[asyncio.Task[None]] = set()
        self.stopping = False

    def _cancel_all(self) -> None:
        self.stopping = True
        for call in self.calls:
            call.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        self.sigint.install()
        if not under_test(scope):
            await app(scope, receive, send)
            return
        started = ended = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, ended
            started = started or message["type"] == "http.response.start"
            ended = ended or is_final_body(message)
            await send(message)

        call = asyncio.ensure_future(app(scope, receive, tracking_send))
        self.calls.add(call)
        try:
            await asyncio.wait({call})
        except asyncio.CancelledError:  # the server cancelled this call: pass it on
            call.cancel()
            raise
        finally:
            self.calls.discard(call)
        if not call.cancelled():
            call.result()
            return
        if not self.stopping:
            raise asyncio.CancelledError
        if self.end_cleanly and started and not ended:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


#: At SIGINT the app's calls in flight are cancelled and their responses cut (daphne).
stop_cancels_in_flight = _every_scope(_InFlightAtStop(end_cleanly=False))
#: At SIGINT the app's calls in flight are cancelled and their responses ended as if whole.
stop_ends_in_flight = _every_scope(_InFlightAtStop(end_cleanly=True))


class _LifespanShutdownAtSignal:
    """A layer: the app gets ``lifespan.shutdown`` at SIGINT, while calls are in flight.

    The app's answer is held until the server really sends ``lifespan.shutdown`` (after the
    calls in flight), so the server sees a normal lifespan.
    """

    def __init__(self) -> None:
        self.sigint = _OnSigint()
        self.sigint.callbacks.append(self._shutdown_now)
        self.inbox: asyncio.Queue[Message] | None = None
        self.early = False

    def _shutdown_now(self) -> None:
        if self.inbox is not None and not self.early:
            self.early = True
            self.inbox.put_nowait({"type": "lifespan.shutdown"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        self.sigint.install()
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.inbox = inbox
        server_shutdown = asyncio.Event()

        async def pump() -> None:
            while True:
                message = await receive()
                if message["type"] == "lifespan.shutdown":
                    server_shutdown.set()
                    if self.early:
                        return
                inbox.put_nowait(message)

        async def holding_send(message: Message) -> None:
            if message["type"].startswith("lifespan.shutdown."):
                await server_shutdown.wait()
            await send(message)

        pumping = asyncio.ensure_future(pump())
        try:
            await app(scope, inbox.get, holding_send)
        finally:
            pumping.cancel()


#: The app gets ``lifespan.shutdown`` at SIGINT, before the calls in flight end.
lifespan_shutdown_at_signal = _every_scope(_LifespanShutdownAtSignal())


async def _lifespan_shutdown_skipped(
    scope: Scope, receive: Receive, send: Send, app: ASGIApp
) -> None:
    if scope["type"] != "lifespan":
        await app(scope, receive, send)
        return

    async def receive_until_shutdown() -> Message:
        message = await receive()
        if message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            await asyncio.Event().wait()  # the app waits until the loop is torn down
        return message

    await app(scope, receive_until_shutdown, send)


#: The server's ``lifespan.shutdown`` is answered without the app.
lifespan_shutdown_skipped = _every_scope(_lifespan_shutdown_skipped)


class _FailAfterSigint:
    """A layer: once SIGINT came, the process ends with status 1 after a normal stop.

    The stop itself (in-flight calls, lifespan shutdown) is untouched; only the exit status
    says failure.
    """

    def __init__(self) -> None:
        self.sigint = _OnSigint()
        self.sigint.callbacks.append(self._fail_at_exit)

    @staticmethod
    def _fail_at_exit() -> None:
        atexit.register(os._exit, 1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        self.sigint.install()
        await app(scope, receive, send)


#: A graceful stop that ends with status 1.
sigint_exit_1 = _every_scope(_FailAfterSigint())


class _KeepListening:
    """A layer: a second descriptor of the server's listening socket, held until the end.

    When the server closes its listener to stop, the socket stays open through the copy: the
    kernel goes on completing connections into its backlog, and nobody accepts them, which is
    what a supervisor process holding the listening socket while its worker drains does
    (hypercorn's). The copy is made at the first request, found among this process's
    descriptors by the port the scope names.
    """

    def __init__(self) -> None:
        self.held: int | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        if self.held is None and scope["type"] == "http" and scope.get("server"):
            self.held = _dup_listener(int(scope["server"][1]))
        await app(scope, receive, send)


def _dup_listener(port: int) -> int | None:
    """A new descriptor of this process's socket listening on ``port``, or None."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            continue
        try:
            listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            address = sock.getsockname()
        except OSError:
            continue
        finally:
            sock.detach()  # the descriptor is the server's: never close it here
        if listening and isinstance(address, tuple) and address[1] == port:
            return os.dup(fd)
    return None


#: The listening socket outlives the server's stop: new connections hang unanswered.
stop_keeps_listening = _every_scope(_KeepListening())


# -- the catalogue -----------------------------------------------------------------------------

_MODULE: Final = __name__

BREAKS: Final = (
    Break(
        name="late-disconnect",
        promise="ASGI HTTP 2.5, Disconnect: a pending receive() returns http.disconnect when "
        "the client closes; here it comes seconds late",
        catches=frozenset({"lifecycle/disconnect-delivered"}),
        says=r"http\.disconnect reached the app [\d.]+ ms after the client closed",
        app=f"{_MODULE}:late_disconnect",
    ),
    Break(
        name="send-after-disconnect-raises-runtimeerror",
        promise="ASGI HTTP 2.4, Disconnected Client: send() after the disconnect may raise only "
        "an OSError subclass; here it raises RuntimeError",
        catches=frozenset({"lifecycle/send-after-disconnect-harmless"}),
        says=r"raised RuntimeError \(not an OSError\)",
        app=f"{_MODULE}:send_after_disconnect_raises_runtimeerror",
    ),
    Break(
        name="send-after-disconnect-hangs",
        promise="ASGI core, Error Handling: send() after the connection closed acts as a "
        "no-op; here it never returns (hypercorn 0.18 over HTTP/2 after a TCP close)",
        catches=frozenset({"lifecycle/send-after-disconnect-harmless"}),
        says=r"neither returned nor raised",
        app=f"{_MODULE}:send_after_disconnect_hangs",
    ),
    Break(
        name="spec-2-4-quiet-send",
        promise="ASGI HTTP 2.4, Disconnected Client: a server of spec version 2.4 raises an "
        "OSError subclass from send() on a closed connection; here it advertises 2.4 and "
        "returns quietly",
        catches=frozenset({"lifecycle/send-after-disconnect-raises"}),
        says=r"advertises ASGI HTTP spec_version 2\.4 but send\(\) after the client "
        r"disconnected returned normally",
        app=f"{_MODULE}:spec_2_4_quiet_send",
    ),
    Break(
        name="state-not-copied",
        promise="ASGI lifespan 2.0, Lifespan State: each request gets a shallow copy; here "
        "every request gets the state itself",
        catches=frozenset({"lifecycle/state-shallow-copy"}),
        says=r"leaked into the next",
        app=f"{_MODULE}:state_not_copied",
    ),
    Break(
        name="state-deep-copied",
        promise="ASGI lifespan 2.0, Lifespan State: a shallow copy shares the stored objects; "
        "here each request gets a deep copy",
        catches=frozenset({"lifecycle/state-shallow-copy"}),
        says=r"not shared by the copies",
        app=f"{_MODULE}:state_deep_copied",
    ),
    Break(
        name="startup-complete-early",
        promise="ASGI lifespan 2.0, Startup Complete: a server waits for it before processing "
        "connections; here it is reported as soon as startup begins",
        catches=frozenset(
            {
                "lifecycle/no-request-before-startup",
                "lifecycle/lifespan-state-shared",
                "lifecycle/startup-failed-never-serves",
                "lifecycle/startup-failed-exits-non-zero",
            }
        ),
        says=r"before lifespan\.startup\.complete|startup ran at None|answered a request "
        r"\(200\) although|still running [\d.]+ s after the app reported",
        app=f"{_MODULE}:startup_complete_early",
    ),
    Break(
        name="startup-failure-exits-0",
        promise="ASGI lifespan 2.0, Startup Failed: the server exits, and a failed start is no "
        "success; here it exits with status 0 (hypercorn)",
        catches=frozenset({"lifecycle/startup-failed-exits-non-zero"}),
        says=r"exited with status 0 after lifespan\.startup\.failed",
        app=f"{_MODULE}:startup_failure_exits_0",
    ),
    Break(
        name="startup-failure-ignored",
        promise="ASGI lifespan 2.0, Startup Failed: the server never serves and exits; here "
        "the failure is taken for success",
        catches=frozenset(
            {"lifecycle/startup-failed-never-serves", "lifecycle/startup-failed-exits-non-zero"}
        ),
        says=r"answered a request \(200\) although|still running .* after the app reported",
        app=f"{_MODULE}:startup_failure_ignored",
    ),
    Break(
        name="lifespan-error-fatal",
        promise="ASGI lifespan 2.0, Scope: the server must continue when the app raises on the "
        "lifespan scope; here it takes the raise for a failed startup and exits (as uvicorn's "
        "--lifespan on does)",
        catches=frozenset({"lifecycle/lifespan-raise-served"}),
        says=r"did not serve after the app raised on the lifespan scope",
        app=f"{_MODULE}:lifespan_error_fatal",
    ),
    Break(
        name="stop-cancels-in-flight",
        promise="a graceful stop lets responses in flight finish; here they are cancelled at "
        "SIGINT and cut (daphne)",
        catches=frozenset({"lifecycle/stop-in-flight-completed"}),
        says=r"the response in flight during the stop was aborted",
        app=f"{_MODULE}:stop_cancels_in_flight",
    ),
    Break(
        name="stop-ends-in-flight",
        promise="ASGI HTTP 2.5, Response Body: only more_body=False completes a response; here "
        "responses in flight are ended as if whole at SIGINT",
        catches=frozenset(
            {"lifecycle/stop-in-flight-not-truncated", "lifecycle/stop-in-flight-completed"}
        ),
        says=r"ended properly after \d+ of \d+ bytes|was complete after \d+ of",
        app=f"{_MODULE}:stop_ends_in_flight",
    ),
    Break(
        name="lifespan-shutdown-at-signal",
        promise="ASGI lifespan 2.0, Shutdown: sent once the connections are closed; here the "
        "app gets it at SIGINT, with a call in flight",
        catches=frozenset({"lifecycle/shutdown-after-in-flight"}),
        says=r"lifespan\.shutdown reached the app [\d.]+ ms before its call in flight had ended",
        app=f"{_MODULE}:lifespan_shutdown_at_signal",
    ),
    Break(
        name="lifespan-shutdown-skipped",
        promise="ASGI lifespan 2.0, Shutdown: the server sends lifespan.shutdown; here it is "
        "answered without the app",
        catches=frozenset({"lifecycle/lifespan-shutdown", "lifecycle/shutdown-after-in-flight"}),
        says=r"lifespan shutdown hook did not run|never got lifespan\.shutdown",
        app=f"{_MODULE}:lifespan_shutdown_skipped",
    ),
    Break(
        name="stop-keeps-listening",
        promise="ASGI lifespan 2.0, Shutdown: a stopping server has stopped accepting "
        "connections; here the listening socket stays open and new connections wait "
        "unanswered in its backlog (hypercorn's supervisor holds it so)",
        catches=frozenset({"lifecycle/stop-refuses-new-connections"}),
        says=r"once the server had begun to stop was hung",
        app=f"{_MODULE}:stop_keeps_listening",
    ),
    Break(
        name="sigint-exit-1",
        promise="a graceful stop ends with status 0; here it ends with 1",
        catches=frozenset({"lifecycle/graceful-stop"}),
        says=r"exited with code 1 after SIGINT",
        app=f"{_MODULE}:sigint_exit_1",
    ),
)

LEGAL: Final = (
    Legal(
        name="send-after-disconnect-raises-oserror",
        freedom="ASGI HTTP 2.4, Disconnected Client: a server of spec version 2.4 raises a "
        "server-specific OSError subclass from send() on a closed connection",
        app=f"{_MODULE}:send_after_disconnect_raises_oserror",
    ),
)
