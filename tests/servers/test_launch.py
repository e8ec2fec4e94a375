"""The launcher's behaviour around one server: failures, port retry, logs, stop paths, API."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from servers import (
    HarnessError,
    RunningServer,
    ServerSpec,
    ServerStartError,
    get,
    launch,
    process,
)
from tests.servers.support import APP, HERE, TIMEOUT, live_members_from_ps, wait_for_log

# The fastest server to start; any HTTP/1.1 variant would do.
FAST = get("uvicorn-h11")

# One variant per server: a bad import string must fail fast on each.
ONE_PER_SERVER = [
    pytest.param(get(name), id=name) for name in ("hypercorn", "uvicorn-h11", "daphne", "granian")
]


@pytest.mark.parametrize("spec", ONE_PER_SERVER)
def test_bad_app_import_fails_fast_with_the_log_tail(spec: ServerSpec, tmp_path: Path) -> None:
    began = time.monotonic()
    with pytest.raises(ServerStartError) as caught:
        launch(spec, "no_such_module:app", cwd=str(HERE), log_dir=tmp_path, startup_timeout=30)
    # The process exit is noticed at once, long before the 30 s deadline.
    assert time.monotonic() - began < 5
    assert "before answering" in caught.value.reason
    assert "no_such_module" in caught.value.log_tail
    assert "no_such_module" in str(caught.value)
    assert caught.value.exit_code is not None


@pytest.mark.parametrize("spec", [p for p in ONE_PER_SERVER if p.id != "daphne"])
def test_failed_lifespan_startup_is_a_start_error(spec: ServerSpec, tmp_path: Path) -> None:
    # Hypercorn exits with status 0 here (docs/server-behaviour.md#hypercorn-startup-failed-exit-0):
    # the exit itself is what counts.
    with pytest.raises(ServerStartError, match="before answering") as caught:
        launch(spec, "asgi_apps:failing_startup", cwd=str(HERE), log_dir=tmp_path)
    assert "startup refused by the test app" in caught.value.log_tail


def test_a_taken_port_is_retried_on_a_new_one(
    serve: Callable[..., RunningServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy, process.free_port()])
        monkeypatch.setattr(process, "free_port", lambda: next(ports))
        server = serve(FAST)
    assert server.attempts == 2
    assert server.port != busy
    assert httpx.get(server.base_url, timeout=TIMEOUT).status_code == 200
    log = server.read_log()
    assert f"attempt 1: $ {sys.executable}" in log
    assert "address already in use" in log.lower()


def test_a_port_taken_every_time_gives_up_after_three_attempts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setattr(process, "free_port", lambda: taken.getsockname()[1])
        with pytest.raises(ServerStartError, match="taken 3 times"):
            launch(FAST, APP, cwd=str(HERE), log_dir=tmp_path)


def test_a_server_that_never_answers_is_killed_at_the_deadline(tmp_path: Path) -> None:
    # Listens but never accepts: the probe connects (backlog) and never gets an answer.
    mute = ServerSpec.from_command(
        "mute",
        "{python} -c 'import socket,sys,time; s=socket.socket(); "
        "s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(); time.sleep(60)' {host} {port} {app}",
    )
    server = RunningServer(mute, APP, cwd=str(HERE), log_dir=tmp_path, startup_timeout=1.0)
    began = time.monotonic()
    with pytest.raises(ServerStartError, match=r"no HTTP answer on 127\.0\.0\.1:\d+ within 1\.0 s"):
        server.start()
    assert 1.0 <= time.monotonic() - began < 1.0 + TIMEOUT
    assert live_members_from_ps(server.pid) == []


def test_a_missing_executable_is_a_start_error(tmp_path: Path) -> None:
    missing = ServerSpec.from_command("missing", "no-such-server-binary {host} {port} {app}")
    with pytest.raises(ServerStartError, match="cannot run 'no-such-server-binary'"):
        launch(missing, APP, log_dir=tmp_path)


def test_log_windows_cut_one_request_each(serve: Callable[..., RunningServer]) -> None:
    server = serve(FAST)
    windows = []
    for path in ("/first-window", "/second-window"):
        start = server.log_offset()
        assert httpx.get(server.base_url + path, timeout=TIMEOUT).status_code == 200
        wait_for_log(server, path, start)
        windows.append(server.read_log(start, server.log_offset()))
    assert "/first-window" in windows[0]
    assert "/second-window" not in windows[0]
    assert "/second-window" in windows[1]
    assert "/first-window" not in windows[1]


def test_env_and_cwd_reach_the_server(serve: Callable[..., RunningServer]) -> None:
    server = serve(FAST, env={"SERVERS_TEST_MARK": "from-the-harness"})
    assert httpx.get(server.base_url, timeout=TIMEOUT).json()["mark"] == "from-the-harness"


def test_stop_escalates_to_sigkill_when_sigint_is_ignored(tmp_path: Path) -> None:
    stubborn = ServerSpec.from_command(
        "stubborn", f"{{python}} {HERE / 'stubborn_server.py'} {{host}} {{port}} {{app}}"
    )
    server = launch(stubborn, APP, log_dir=tmp_path)
    began = time.monotonic()
    server.stop(grace=0.5)
    assert 0.5 <= time.monotonic() - began < TIMEOUT
    assert not server.stopped_gracefully
    assert server.exit_code == -9
    assert live_members_from_ps(server.pid) == []
    assert "stopped (SIGKILL after 0.5 s): exit code -9" in server.log_tail()


def test_daphne_stops_gracefully_even_if_the_harness_ignores_sigint(
    serve: Callable[..., RunningServer],
) -> None:
    # A shell starts background jobs with SIGINT ignored, and exec keeps it ignored: Twisted
    # then installs no SIGINT handler. The launcher restores the default in the child.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        server = serve(get("daphne"))
    finally:
        signal.signal(signal.SIGINT, previous)
    server.stop(grace=TIMEOUT)
    assert server.stopped_gracefully
    assert server.exit_code == 0


def test_a_server_that_died_is_not_a_graceful_stop(serve: Callable[..., RunningServer]) -> None:
    server = serve(FAST)
    os.killpg(server.pid, signal.SIGKILL)
    deadline = time.monotonic() + TIMEOUT
    while server.running:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    server.stop()
    assert not server.stopped_gracefully
    assert server.exit_code == -9
    assert "(it had exited before stop())" in server.log_tail()


def test_start_and_stop_as_plain_calls(tmp_path: Path) -> None:
    server = RunningServer(FAST, APP, cwd=str(HERE), log_dir=tmp_path)
    with pytest.raises(HarnessError, match="has not been started"):
        _ = server.pid
    server.stop()  # stopping a server that never started does nothing
    assert server.start() is server
    assert server.running
    assert server.base_url == f"http://127.0.0.1:{server.port}"
    assert server.authority == f"127.0.0.1:{server.port}"
    with pytest.raises(HarnessError, match="already started"):
        server.start()
    server.stop()
    server.stop()  # idempotent
    assert not server.running
    assert server.exit_code == 0
    assert server.read_log().count("stopped (gracefully)") == 1


def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    with RunningServer(FAST, APP, cwd=str(HERE), log_dir=tmp_path) as server:
        assert server.running
    assert not server.running
    assert server.stopped_gracefully


def test_tls_accessors_refuse_a_cleartext_server(serve: Callable[..., RunningServer]) -> None:
    server = serve(FAST)
    assert server.ca_path is None
    with pytest.raises(HarnessError, match="does not use TLS"):
        server.client_ssl_context()


def test_tls_server_certificates_live_until_stop(serve: Callable[..., RunningServer]) -> None:
    tls_server = serve(get("hypercorn-h2"))
    ca_path = tls_server.ca_path
    assert ca_path is not None
    assert ca_path.is_file()
    assert tls_server.base_url.startswith("https://127.0.0.1:")
    tls_server.stop()
    assert not ca_path.exists()
