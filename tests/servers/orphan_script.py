"""Launch a server, print its process group id, then hang or exit without stopping it.

Usage: ``python orphan_script.py VARIANT hang|exit`` with the repository on ``PYTHONPATH`` and
this directory as the working directory. The orphan tests SIGKILL it while it hangs, or let it
exit and read the line its last ``atexit`` handler prints: ``LEFT <pids>``, the members of the
group still alive once :mod:`servers`' own ``atexit`` hook has run. The check uses ``ps``,
not the harness, and runs before the guardian (which waits for this process to end) can act.
"""

from __future__ import annotations

import atexit
import subprocess
import sys
import time


def _live_members(pgid: int) -> list[int]:
    table = subprocess.run(
        ["ps", "-e", "-o", "pid=,pgid=,stat="], capture_output=True, text=True, check=True
    ).stdout
    rows = (line.split() for line in table.splitlines() if line.strip())
    return [
        int(pid) for pid, group, stat in rows if int(group) == pgid and not stat.startswith("Z")
    ]


def main() -> None:
    """Launch, report, then hang or exit as told."""
    variant, mode = sys.argv[1], sys.argv[2]
    pgid: list[int] = []
    # Registered before servers is imported, so it runs after servers' own atexit hook.
    atexit.register(lambda: print("LEFT", *_live_members(pgid[0]), flush=True))

    from servers import get, launch

    server = launch(get(variant), "asgi_apps:app")
    pgid.append(server.pid)
    print("PGID", server.pid, *_live_members(server.pid), flush=True)
    if mode == "hang":
        time.sleep(60)


if __name__ == "__main__":
    main()
