"""The guardian: SIGKILLs the harness's server process groups once the harness is gone.

Run as ``python -I servers/_guardian.py`` (by path, stdlib only) in a session of its own, with a
pipe from the harness on stdin. Each line is ``+PGID`` (a server group started) or ``-PGID``
(it was stopped). End of file means every copy of the pipe's write end closed: the harness has
exited, however it exited, including SIGKILL. The guardian then SIGKILLs the groups still
registered and exits.

Why it exists: ``PR_SET_PDEATHSIG`` reaches only the server's first process. Granian's worker
and hypercorn's worker and resource tracker are its children; the kernel does not pass the
death signal on, and they were seen serving on as orphans. Killing the whole group reaches them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys


def main() -> None:
    """Track groups from stdin until end of file, then SIGKILL the remaining ones."""
    # In its own session no terminal signal reaches it; ignore stray ones anyway, because
    # dying early would defeat its purpose.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin.buffer:
        op, pgid = line[:1], int(line[1:])
        if op == b"+":
            groups.add(pgid)
        else:
            groups.discard(pgid)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


if __name__ == "__main__":
    main()
