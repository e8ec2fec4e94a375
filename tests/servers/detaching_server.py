"""A server whose worker detaches: it leaves the launcher's process group and session.

Usage: ``python detaching_server.py PIDFILE HOST PORT APP`` (APP is ignored). The first process
starts a worker in a session of its own (``setsid``), writes the worker's pid to PIDFILE, and
waits; the worker answers every GET with 200. Stopping the first process's group does not
reach the worker: a daemonizing server's shape, which the harness must still clean up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def main() -> None:
    """Start the detached worker, record its pid, wait to be stopped."""
    pidfile, host, port = sys.argv[1], sys.argv[2], sys.argv[3]
    stubborn = Path(__file__).with_name("stubborn_server.py")
    worker = subprocess.Popen(
        [sys.executable, str(stubborn), host, port, "-"], start_new_session=True
    )
    Path(pidfile).write_text(str(worker.pid))
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    os._exit(0)  # leave the worker behind, as a daemon's launcher does


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main()
