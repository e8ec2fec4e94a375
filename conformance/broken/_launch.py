"""Start one entry of the catalogue as a server: ``python -m conformance.broken._launch``.

Usage (the command of a ``--server`` template; see :mod:`conformance.broken._runner`)::

    python -m conformance.broken._launch clean VARIANT --host H --port P --app APP
    python -m conformance.broken._launch break NAME   --host H --port P --app APP
    python -m conformance.broken._launch legal NAME   --host H --port P --app APP
    python -m conformance.broken._launch legal NAME+NAME... ...     (a stack)

(``--certfile`` and ``--keyfile`` too for TLS variants.) ``VARIANT`` is a built-in variant or
a :class:`~conformance.broken.Configured` one; a break or legal variation names its own.

The runner gives the *resolved* form instead (:func:`resolved_args`), which needs no look-up
in the catalogue and so starts faster::

    python -m conformance.broken._launch --variant BUILT-IN [--server-option=ARG]...
        [--wrap APP] [--proxy PROXY] [--stack APP,APP...] --host H --port P --app APP

* An ASGI entry (and ``clean``) *becomes* the real server: this process execs its command
  line with the entry's app wrapping ``APP`` (``clean``: ``APP`` alone), so signals, exit
  code and process group are the server's own.
* A wire entry starts the real server on another loopback port, as a child in the same
  process group, and runs the proxy on ``P`` in front of it. On SIGINT or SIGTERM it passes
  the signal on to the server (the harness signals the main process only), stops accepting,
  keeps relaying open connections until the server has exited, and exits with the server's
  exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from servers import ServerSpec, get
from servers.process import free_port
from servers.spec import LaunchContext

from . import Proxy, catalogue, configured_variants, legal_variations, wire
from .apps import INNER_APP, STACK

#: The app of a stack of legal variations.
STACKED = "conformance.broken.apps:stacked"

__all__ = ["Entry", "main", "resolve_entry", "resolve_variant", "resolved_args"]


def resolve_variant(name: str) -> tuple[ServerSpec, tuple[str, ...]]:
    """The built-in variant under ``name`` and the server options it adds (configured ones).

    Raises:
        servers.UnknownServerError: neither built-in nor configured.
    """
    for configured in configured_variants():
        if configured.name == name:
            return get(configured.base), configured.options
    return get(name), ()


@dataclass(frozen=True, slots=True)
class Entry:
    """What to start: a variant, and the app or proxy that breaks (or varies) it.

    Attributes:
        variant: the variant underneath.
        app: the app to run instead of the one asked for (which it wraps), or None.
        proxy: the proxy to put in front, or None.
        stack: for a stack of legal variations, their apps (the server's ``app`` is then
            :data:`conformance.broken.apps.stacked`).
    """

    variant: str
    app: str | None
    proxy: str | None
    stack: tuple[str, ...] = ()


def resolve_entry(kind: str, name: str) -> Entry:
    """The entry ``name`` of ``kind`` (``clean``, ``break`` or ``legal``).

    A ``legal`` name may be several joined with ``+``: a stack of ASGI variations on one
    variant (see :func:`conformance.broken.apps.stacked`).

    Raises:
        KeyError: no such break or legal variation.
        ValueError: a stack of variations that cannot be stacked.
    """
    if kind == "clean":
        return Entry(name, None, None)
    if kind == "break":
        entry = {b.name: b for b in catalogue()}[name]
        return Entry(entry.variant, entry.app, entry.proxy)
    known = {v.name: v for v in legal_variations()}
    members = [known[part] for part in name.split("+")]
    if len(members) == 1:
        return Entry(members[0].variant, members[0].app, members[0].proxy)
    apps = tuple(m.app for m in members if m.app is not None)
    if len(apps) < len(members) or len({m.variant for m in members}) > 1:
        raise ValueError(f"{name}: only ASGI variations of one variant stack")
    return Entry(members[0].variant, STACKED, None, apps)


def _import(target: str) -> Proxy:
    module, _, attribute = target.partition(":")
    proxy: Proxy = getattr(__import__(module, fromlist=[attribute]), attribute)
    return proxy


def _argv(spec: ServerSpec, options: tuple[str, ...], context: LaunchContext) -> list[str]:
    argv = spec.build_argv(context)
    if options:
        if argv[-1] != context.app:
            raise SystemExit(f"{spec.name}: cannot add options, the app is not the last argument")
        argv = [*argv[:-1], *options, argv[-1]]
    return argv


async def _front(argv: list[str], proxy: Proxy, host: str, port: int, inner: int) -> int:
    """Run the server as a child and the proxy in front of it; return the server's exit code."""
    child = await asyncio.create_subprocess_exec(*argv)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()

    def forward(signum: int) -> None:
        # The harness signals this process, the group's leader, alone: pass it on.
        stopping.set()
        if child.returncode is None:
            child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, forward, signum)
    listener = await wire.serve(proxy, host, port, (host, inner))
    print(f"[broken] proxy on {host}:{port} in front of {host}:{inner}", file=sys.stderr)
    exited = asyncio.create_task(child.wait())
    stop = asyncio.create_task(stopping.wait())
    await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
    listener.close()
    code = await exited
    stop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await stop
    return code if code >= 0 else 128 - code


def main(args: Sequence[str] | None = None) -> int:
    """Start the entry; return an exit code (only a wire entry returns at all)."""
    parser = argparse.ArgumentParser(prog="python -m conformance.broken._launch")
    parser.add_argument("entry", nargs="*", metavar="KIND NAME", help="clean|break|legal NAME")
    parser.add_argument("--variant", help="the built-in variant (resolved form)")
    parser.add_argument("--server-option", action="append", default=[], metavar="ARG")
    parser.add_argument("--wrap", help="the app to run instead, wrapping --app")
    parser.add_argument("--proxy", help="the proxy to put in front")
    parser.add_argument("--stack", default="", help="the apps apps:stacked stacks (commas)")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    options = parser.parse_args(args)
    if options.entry:
        kind, name = options.entry
        entry = resolve_entry(kind, name)
        spec, extra = resolve_variant(entry.variant)
    elif options.variant:
        stack = tuple(filter(None, options.stack.split(",")))
        entry = Entry(options.variant, options.wrap, options.proxy, stack)
        spec, extra = get(options.variant), tuple(options.server_option)
    else:
        parser.error("give KIND NAME, or --variant")
    app = entry.app or options.app
    inner = options.port
    if entry.proxy is not None:
        if spec.tls:
            raise SystemExit(f"{spec.name}: a wire entry needs a cleartext variant")
        inner = free_port()
    context = LaunchContext(
        options.host, inner, app, certfile=options.certfile, keyfile=options.keyfile
    )
    argv = _argv(spec, extra, context)
    if entry.proxy is None:
        sys.stdout.flush()
        env = {**os.environ, INNER_APP: options.app}
        if entry.stack:
            env[STACK] = ",".join(entry.stack)
        os.execve(argv[0], argv, env)
    return asyncio.run(_front(argv, _import(entry.proxy), options.host, options.port, inner))


def resolved_args(entry: Entry) -> list[str]:
    """The resolved form of ``entry``'s launcher arguments (no catalogue lookup at launch)."""
    spec, extra = resolve_variant(entry.variant)
    words = ["--variant", spec.name, *(f"--server-option={option}" for option in extra)]
    if entry.app is not None:
        words += ["--wrap", entry.app]
    if entry.proxy is not None:
        words += ["--proxy", entry.proxy]
    if entry.stack:
        words += ["--stack", ",".join(entry.stack)]
    return words


if __name__ == "__main__":
    sys.exit(main())
