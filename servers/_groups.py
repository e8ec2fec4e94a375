"""Process groups: start a server in a group of its own, watch the group, make sure it dies.

Every server runs in a new session, so its process group holds the server and every process it
forks (granian's worker, hypercorn's worker and resource tracker). Signals go to the group.

No server outlives the harness, in five layers:

1. :meth:`RunningServer.stop` signals the group and waits until no live member is left.
2. An ``atexit`` hook SIGKILLs every group still registered when the interpreter exits
   (pytest interrupted with Ctrl-C unwinds to here).
3. On Linux the child sets ``PR_SET_PDEATHSIG`` to SIGKILL before exec, so the server's first
   process dies with the harness even if the harness is SIGKILLed. The death signal fires when
   the *thread* that forked the child exits, so every server is forked by one long-lived
   spawner thread, never by a caller's (maybe short-lived) thread.
4. The death signal is not inherited by the server's own children, so the guardian
   (:mod:`servers._guardian`, a separate process) SIGKILLs the whole group once the harness is
   gone, however it went. It learns that from end of file on a pipe, so a process forked from
   the harness (``os.fork``, multiprocessing's "fork") delays it until that process exits too.
5. A server that *detaches* (a daemon that forks, calls ``setsid`` and lets its first process
   exit) leaves every group the harness knows. On Linux the harness is a child subreaper
   (``PR_SET_CHILD_SUBREAPER``): such orphans become its children instead of init's, and
   :func:`sweep` SIGKILLs every process the harness inherited so (a child in a session of its
   own that the harness never spawned) whenever a server is reaped, and at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

__all__ = [
    "forget",
    "inherited",
    "live_members",
    "signal_group",
    "spawn",
    "sweep",
    "wait_until_gone",
]

_log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_POLL_INTERVAL = 0.02

# The registry belongs to this process; a forked copy of it must not kill our servers.
_owner = os.getpid()
_lock = threading.Lock()
_live: dict[int, subprocess.Popen[bytes]] = {}
_guardian: subprocess.Popen[bytes] | None = None
# One thread forks every server (layer 3 above). It lives until interpreter shutdown joins it,
# just before the atexit hook runs; its exit then SIGKILLs the servers' first processes.
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="servers-spawner")


def spawn(
    argv: Sequence[str], *, log_fd: int, env: Mapping[str, str], cwd: str | None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session, stdout and stderr to ``log_fd``, and register its group.

    The group id is the returned process's pid.

    Raises:
        OSError: The program could not be executed.
    """
    _become_subreaper()
    return _spawner.submit(_spawn, list(argv), log_fd, dict(env), cwd).result()


_subreaper = False


def _become_subreaper() -> None:
    """Adopt the orphans of what we start (layer 5); once, on Linux."""
    global _subreaper
    if _subreaper or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        _log.warning("cannot become a child subreaper: detached servers may outlive the harness")
    _subreaper = True


def inherited() -> list[int]:
    """The processes this one adopted: its children in a session of their own, never spawned.

    A process the harness spawned is registered (or is the guardian); a child started by other
    code without a new session shares the harness's session. What is left was orphaned below
    a server and reparented here (see layer 5).
    """
    if not sys.platform.startswith("linux"):
        return []
    me, session = os.getpid(), os.getsid(0)
    with _lock:
        known = set(_live)
        if _guardian is not None:
            known.add(_guardian.pid)
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in known:
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        state, ppid, _pgrp, sid = stat[stat.rindex(")") + 2 :].split()[:4]
        if int(ppid) == me and int(sid) != session and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def sweep() -> list[int]:
    """SIGKILL every adopted process and its group, and reap it; the pids killed."""
    killed = inherited()
    for pid in killed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in killed:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    if killed:
        _log.warning("killed %d detached server process(es): %s", len(killed), killed)
    return killed


def _spawn(
    argv: list[str], log_fd: int, env: dict[str, str], cwd: str | None
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log_fd,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_prepare_child(),
    )
    with _lock:
        _live[process.pid] = process
        _tell_guardian(f"+{process.pid}")
    return process


def forget(pgid: int) -> None:
    """Unregister a group whose members are all gone."""
    with _lock:
        _live.pop(pgid, None)
        _tell_guardian(f"-{pgid}")


def signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to every process of the group; return False if the group is gone."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def live_members(pgid: int) -> list[int]:
    """Return the pids of the group's processes that are alive (not zombies).

    Zombies are left out: an orphaned zombie waits for init to reap it, can hold no port and
    cannot be killed (hypercorn's resource tracker lingered so for ~1.5 s here).
    """
    if not sys.platform.startswith("linux"):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # it exited while we looked
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def wait_until_gone(pgid: int, timeout: float) -> bool:
    """Poll until the group has no live member; return False if ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while live_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL)
    return True


def _prepare_child() -> Callable[[], None]:
    """Return the ``preexec_fn`` that runs in the child between fork and exec.

    It gives the server default signal handling whatever the harness inherited, and on Linux
    sets PR_SET_PDEATHSIG to SIGKILL. A shell runs background jobs with SIGINT ignored, and an
    ignored signal stays ignored across exec: daphne (Twisted) then never installs its SIGINT
    handler and ignores the graceful stop. The other servers install theirs regardless.
    """
    # Resolved in the parent: the child between fork and exec should do as little as possible.
    prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
    parent = os.getpid()

    def preexec() -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        if prctl is None:
            return
        if prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _tell_guardian(line: str) -> None:
    """Send one registry line to the guardian, starting it for a ``+`` line. Hold ``_lock``."""
    global _guardian
    if _guardian is None or _guardian.poll() is not None:
        if line.startswith("-"):
            return
        _guardian = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).with_name("_guardian.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    stdin: IO[bytes] | None = _guardian.stdin
    assert stdin is not None
    try:
        stdin.write(f"{line}\n".encode())
        stdin.flush()
    except BrokenPipeError:
        _log.warning("the server guardian is gone; %r not passed on", line)


@atexit.register
def _kill_all() -> None:
    """SIGKILL every group still registered, then let the guardian go."""
    if os.getpid() != _owner:
        return
    with _lock:
        for pgid, process in list(_live.items()):
            _log.warning("killing server process group %d at exit", pgid)
            signal_group(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=2)
            if wait_until_gone(pgid, 2):  # else the guardian tries again once we are gone
                del _live[pgid]
                _tell_guardian(f"-{pgid}")
    sweep()
    with _lock:
        if _guardian is not None and _guardian.stdin is not None:
            _guardian.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                _guardian.wait(timeout=2)
