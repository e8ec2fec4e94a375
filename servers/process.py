"""Run one server variant as a real process on loopback: start, readiness, logs, stop.

Theory of operation::

    start()   make certificates (TLS variants)
              pick a free port on 127.0.0.1 (bind to 0, read it, close)
              spawn the argv in a new process group; stdout and stderr -> the log file
              probe GET ready_path in the variant's protocol every 20 ms until any status
              comes back; the server exiting first is a ServerStartError at once, unless
              its log says "address already in use": then a new port, 3 attempts in all
              (with wait_ready=False: none of this, start() returns once spawned)
    ...       clients talk to base_url; log_offset() and read_log() cut per-case windows
    stop()    SIGINT to the server's main process (graceful on all four servers), wait up
              to the grace period for every member of its group to exit, SIGKILL whatever
              is left, and check that no live process of the group remains

Why the harness picks the port: a server given port 0 binds a free port itself, but the harness
would then have to learn which one, and not every server says. Granian (2.8) logs
``Listening at: http://127.0.0.1:0`` and its socket belongs to its worker process, so the real
port could only be read from the kernel's socket table. So the harness binds port 0 itself,
reads the port the kernel gave, closes the socket and passes that number on the command line.
Another process may take the port in between; the server then fails with "address already in
use" and the attempt is repeated on a new port (:data:`PORT_ATTEMPTS`).

Why the stop signal goes to the main process, not to the group: that is how process managers
stop a service (``docker stop``, Kubernetes, supervisord signal the main process) and what the
servers document; a server with workers stops them itself. A signal to the whole group (a
terminal's Ctrl-C) reaches the workers at the same time as the main process, and there granian
(2.x) races: its worker may exit before its main process has marked the stop, which then reports
an "unexpected exit" and exits with status 1, in some runs and not others. A judgement of how a
server stops must not depend on such a race. A server given as a command must therefore receive
the signal itself (``exec`` it from a shell wrapper); one that does not is SIGKILLed after the
grace period and reported as not stopped gracefully.

The log (:mod:`servers.logfile`) is kept after stop for the report; the harness adds
``[servers]`` lines to it (the command of each attempt, the outcome of the stop). See
:mod:`servers._groups` for how a server is guaranteed to die with the harness.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from servers import _groups
from servers.errors import HarnessError, ServerStartError, ServerStopError
from servers.logfile import LogFile
from servers.probe import ProbeError, probe
from servers.spec import HTTPProtocol, LaunchContext, ServerSpec
from servers.tls import Certificates, make_certificates

__all__ = ["LOOPBACK", "RunningServer", "free_port", "launch"]

_log = logging.getLogger(__name__)

#: The only address servers are bound to.
LOOPBACK = "127.0.0.1"
#: How many ports are tried when the server finds its port taken.
PORT_ATTEMPTS = 3
_PROBE_TIMEOUT = 0.5
_POLL_INTERVAL = 0.02
_KILL_TIMEOUT = 5.0
# Hypercorn and uvicorn say "[Errno 98] ... address already in use", daphne (Twisted) and
# granian (Rust) say "Address already in use".
_PORT_TAKEN = re.compile(r"address already in use", re.IGNORECASE)


def free_port() -> int:
    """Return a port that was free on :data:`LOOPBACK` a moment ago."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def launch(
    spec: ServerSpec,
    app: str,
    *,
    startup_timeout: float = 15.0,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    log_dir: Path | None = None,
    ready_path: str = "/",
    wait_ready: bool = True,
) -> RunningServer:
    """Start ``app`` under ``spec`` and return it once it answers; use it as a context manager.

    Example::

        with launch(SERVERS["uvicorn-h11"], "reference_app.asgi:app") as server:
            httpx.get(server.base_url)

    Args:
        spec: The variant to run.
        app: The app's import string; it must be importable from ``cwd``.
        startup_timeout: Seconds each attempt may take to answer its first request.
        env: Variables added to (or overriding) the harness's environment. The harness also
            sets ``PYTHONUNBUFFERED=1``, so that log lines land in the file as they happen.
        cwd: The server's working directory; the harness's if None.
        log_dir: Where the log file goes; a per-run temporary directory if None.
        ready_path: The path the readiness probe requests.
        wait_ready: If False, return as soon as the process is spawned, with no readiness
            probe (and so no retry on a taken port): for cases that must reach a server
            before it is ready, e.g. while the app's lifespan startup is still running.

    Raises:
        ServerStartError: The server exited, could not be run, or did not answer in time.
    """
    server = RunningServer(
        spec,
        app,
        startup_timeout=startup_timeout,
        env=env,
        cwd=cwd,
        log_dir=log_dir,
        ready_path=ready_path,
        wait_ready=wait_ready,
    )
    return server.start()


class RunningServer:
    """One server process group on loopback, from :meth:`start` to :meth:`stop`.

    Attributes:
        spec: The variant.
        app: The app's import string.
        host: Always :data:`LOOPBACK`.
        port: The port it listens on (0 before :meth:`start`).
        log: The server's stdout and stderr, plus ``[servers]`` lines.
        argv: The command line of the last attempt.
        attempts: How many ports :meth:`start` tried.
        startup_seconds: From spawn to the first answer, for the successful attempt.
        certificates: The PEM files of a TLS variant, else None.
        exit_code: The first process's exit code once stopped (negative: killed by a signal).
        stopped_gracefully: True if the whole group exited within the grace period after
            SIGINT. False if it had to be SIGKILLed, or had died before :meth:`stop`.
    """

    def __init__(
        self,
        spec: ServerSpec,
        app: str,
        *,
        startup_timeout: float = 15.0,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        log_dir: Path | None = None,
        ready_path: str = "/",
        wait_ready: bool = True,
    ) -> None:
        """Prepare a server without starting it; the arguments are those of :func:`launch`."""
        self.spec = spec
        self.app = app
        self.host = LOOPBACK
        self.port = 0
        self.argv: list[str] = []
        self.attempts = 0
        self.startup_seconds: float | None = None
        self.certificates: Certificates | None = None
        self.exit_code: int | None = None
        self.stopped_gracefully = False
        self._startup_timeout = startup_timeout
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self._cwd = cwd
        self._ready_path = ready_path
        self._wait_ready = wait_ready
        self.log = LogFile(spec.name, log_dir)
        self._tls_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stopped = False

    # -- the address -------------------------------------------------------------------

    @property
    def authority(self) -> str:
        """``"127.0.0.1:PORT"``, the Host header and HTTP/2 ``:authority``."""
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` or ``https://127.0.0.1:PORT``."""
        return f"{self.spec.scheme}://{self.authority}"

    @property
    def pid(self) -> int:
        """The server's first process, which is also its process group id."""
        if self._process is None:
            raise HarnessError(f"{self.spec.name} has not been started")
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the first process is alive and :meth:`stop` has not been called."""
        return self._process is not None and not self._stopped and self._process.poll() is None

    @property
    def ca_path(self) -> Path | None:
        """The CA certificate clients must trust, for TLS variants."""
        return None if self.certificates is None else self.certificates.ca_path

    def client_ssl_context(self) -> ssl.SSLContext:
        """Return a client context trusting this server's CA, offering ALPN h2 and http/1.1.

        Raises:
            HarnessError: The variant does not use TLS.
        """
        if self.certificates is None:
            raise HarnessError(f"{self.spec.name} does not use TLS")
        return self.certificates.client_ssl_context()

    # -- the log -----------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        """The log file; it stays after :meth:`stop`."""
        return self.log.path

    def log_offset(self) -> int:
        """Return the log's current size in bytes: the start of the next window."""
        return self.log.offset()

    def read_log(self, start: int = 0, end: int | None = None) -> str:
        """Return the log between byte offsets ``start`` and ``end`` (the end if None)."""
        return self.log.read(start, end)

    def log_tail(self, chars: int = 4000) -> str:
        """Return about the last ``chars`` characters of the log."""
        return self.log.tail(chars)

    # -- start -------------------------------------------------------------------------

    def start(self) -> RunningServer:
        """Start the server and return once it answers; a server starts only once.

        Raises:
            ServerStartError: The server exited, could not be run, or did not answer in time.
        """
        if self._process is not None or self._stopped:
            raise HarnessError(f"{self.spec.name} was already started")
        log_fd = self.log.open()
        try:
            if self.spec.tls:
                self._tls_dir = Path(tempfile.mkdtemp(prefix=f"{self.spec.name}-tls-"))
                self.certificates = make_certificates(self._tls_dir)
            while self.attempts < PORT_ATTEMPTS:
                self.attempts += 1
                if self._attempt(free_port(), log_fd):
                    return self
            raise self._start_error(f"its port was taken {PORT_ATTEMPTS} times in a row")
        except BaseException:
            self._stopped = True  # a failed start leaves nothing to stop
            self._release()
            raise

    def _attempt(self, port: int, log_fd: int) -> bool:
        """Run one attempt; True once ready, False if the port was taken."""
        self.port = port
        tls = self.certificates
        context = LaunchContext(
            self.host,
            port,
            self.app,
            certfile=None if tls is None else str(tls.certfile),
            keyfile=None if tls is None else str(tls.keyfile),
        )
        self.argv = self.spec.build_argv(context)
        offset = self.log.offset()
        self.log.note(f"attempt {self.attempts}: $ {shlex.join(self.argv)}")
        try:
            self._process = _groups.spawn(self.argv, log_fd=log_fd, env=self._env, cwd=self._cwd)
        except OSError as error:
            raise self._start_error(f"cannot run {self.argv[0]!r}: {error}") from error
        spawned = time.monotonic()
        if not self._wait_ready:
            _log.info("%s spawned at %s (not waiting for readiness)", self.spec.name, self.base_url)
            return True
        if self._probe_until_ready(spawned + self._startup_timeout):
            self.startup_seconds = time.monotonic() - spawned
            _log.info(
                "%s ready at %s in %.2f s", self.spec.name, self.base_url, self.startup_seconds
            )
            return True
        code = self._process.returncode
        self._reap()
        if _PORT_TAKEN.search(self.log.read(offset)):
            _log.info("%s: port %d was taken, trying another", self.spec.name, port)
            return False
        # Any exit before the first answer is a failure, whatever its code: hypercorn exits
        # with 0 when lifespan startup fails, and also when the app cannot be imported
        # (docs/server-behaviour.md#hypercorn-startup-failed-exit-0).
        raise self._start_error(f"exited with code {code} before answering", exit_code=code)

    def _probe_until_ready(self, deadline: float) -> bool:
        """Probe until an answer (True) or the process exits (False); raise at the deadline."""
        assert self._process is not None
        probe_context = self._probe_ssl_context()
        while self._process.poll() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._reap()
                raise self._start_error(
                    f"no HTTP answer on {self.authority} within {self._startup_timeout} s"
                )
            try:
                probe(
                    self.host,
                    self.port,
                    self.spec.protocol,
                    self._ready_path,
                    timeout=min(_PROBE_TIMEOUT, remaining),
                    ssl_context=probe_context,
                )
            except (OSError, ProbeError):
                time.sleep(_POLL_INTERVAL)
            else:
                return True
        return False

    def _probe_ssl_context(self) -> ssl.SSLContext | None:
        if self.certificates is None:
            return None
        alpn = ["h2"] if self.spec.protocol is HTTPProtocol.H2 else ["http/1.1"]
        return self.certificates.client_ssl_context(alpn)

    def _start_error(self, reason: str, *, exit_code: int | None = None) -> ServerStartError:
        return ServerStartError(
            self.spec.name,
            reason,
            log_path=self.log.path,
            log_tail=self.log.tail(),
            exit_code=exit_code,
        )

    # -- stop --------------------------------------------------------------------------

    def stop(self, grace: float = 10.0) -> None:
        """Stop the server: SIGINT to its main process, then SIGKILL to its group after
        ``grace`` seconds (see the module docstring for why not SIGINT to the group).

        Sets :attr:`exit_code` and :attr:`stopped_gracefully`. Calling it again, or on a
        server that never started, does nothing.

        Raises:
            ServerStopError: A process of the group was still alive after SIGKILL.
        """
        if self._stopped or self._process is None:
            return
        self._stopped = True
        process = self._process
        began = time.monotonic()
        try:
            how = "it had exited before stop()"
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # does nothing once it is reaped
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=grace)
                left = grace - (time.monotonic() - began)
                self.stopped_gracefully = process.poll() is not None and _groups.wait_until_gone(
                    process.pid, max(0.0, left)
                )
                how = "gracefully" if self.stopped_gracefully else f"SIGKILL after {grace} s"
            self._reap()
            elapsed = time.monotonic() - began
            self.log.note(f"stopped ({how}): exit code {self.exit_code} after {elapsed:.2f} s")
            _log.info("%s stopped (%s), exit code %s", self.spec.name, how, self.exit_code)
        finally:
            self._release()

    def _reap(self) -> None:
        """SIGKILL whatever is left of the group, collect the exit code, unregister it."""
        assert self._process is not None
        pgid = self._process.pid
        # Only signal a group that still has members: once all are gone and the first
        # process is reaped, its id may be handed to an unrelated process group.
        if _groups.live_members(pgid):
            _groups.signal_group(pgid, signal.SIGKILL)
        self.exit_code = self._process.wait()
        if not _groups.wait_until_gone(pgid, _KILL_TIMEOUT):
            raise ServerStopError(
                self.spec.name,
                f"processes {_groups.live_members(pgid)} of group {pgid} survived SIGKILL",
                log_path=self.log.path,
                log_tail=self.log.tail(),
            )
        _groups.forget(pgid)
        _groups.sweep()  # whatever the server detached from its group

    def _release(self) -> None:
        """Kill a half-started server, close the log, delete the certificates."""
        if self._process is not None and self._process.returncode is None:
            self._reap()
        self.log.close()
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
            self._tls_dir = None

    # -- context manager ---------------------------------------------------------------

    def __enter__(self) -> RunningServer:
        if self._process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RunningServer {self.spec.name} {self.base_url} attempts={self.attempts}>"
