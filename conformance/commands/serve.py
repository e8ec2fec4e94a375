"""``asgi-conformance serve``: the contract app under one variant, until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from . import CommandError

__all__ = ["serve"]


def serve(args: argparse.Namespace) -> int:
    from servers import HarnessError, available, launch, resolve

    from ..plugin import DEFAULT_APP

    try:
        family = [s for s in available().values() if s.server == args.server]
        spec = family[0] if family else resolve(args.server)
    except HarnessError as error:
        raise CommandError(str(error)) from None
    app = args.app or DEFAULT_APP
    try:
        server = launch(spec, app, startup_timeout=args.startup_timeout)
    except HarnessError as error:
        print(f"asgi-conformance: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        version = spec.version()
        print(
            f"{spec.name} ({spec.server or 'command'} {version or ''}".rstrip()
            + f") serving {app} at {server.base_url}",
            flush=True,
        )
        print(f"  the client speaks {spec.protocol}{hint(spec.protocol, server)}", flush=True)
        print(f"  log: {server.log_path}", flush=True)
        print("  Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            if not server.running:
                print(f"{spec.name} exited on its own:\n{server.log_tail()}", file=sys.stderr)
                return 1
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        server.stop()
    print(
        f"{spec.name} stopped {'gracefully' if server.stopped_gracefully else 'by force'} "
        f"(exit code {server.exit_code})",
        flush=True,
    )
    return 0 if server.stopped_gracefully else 1


def hint(protocol: Any, server: Any) -> str:
    url = server.base_url
    ca = f" --cacert {server.ca_path}" if getattr(server, "ca_path", None) else ""
    if str(protocol) == "h2c":
        return f" (e.g. curl --http2-prior-knowledge {url}/)"
    if str(protocol) == "h2":
        return f" (e.g. curl --http2{ca} {url}/)"
    return f" (e.g. curl{ca} {url}/)"
