"""Hostile requests over real sockets to the reference framework under real servers.

For each server variant (uvicorn with h11 and with httptools, hypercorn; daphne and granian too
where installed), one server runs ``tests.hostile.app:app`` and hypothesis sends it generated
hostile requests (:func:`tests.hostile.requests.requests`), one connection each. Each one must
end within a bound with no 5xx response, the server log must gain no traceback, and the server
must then still answer a clean request. Two 5xx are the server's own correct refusals, never the
app's, and are counted apart: 501 for a transfer coding the server does not implement (RFC 9112
§6.1: hypercorn answers ``chunked, gzip`` so) and 505 for an HTTP version it does not support
(RFC 9110 §15.6.6). Derandomized under CI (``tests/conftest.py``), where
the number of examples keeps the whole module within a minute; exploring locally.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from servers import RunningServer, get, launch
from tests.conftest import TIMEOUT_FACTOR

from .app import HEALTH
from .requests import HostileRequest, requests
from .wire import exchange

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The variants the suite always runs on, and those it adds where they are installed.
VARIANTS = ("uvicorn-h11", "uvicorn-httptools", "hypercorn")
EXTRA_VARIANTS = ("daphne", "granian")
#: Hypothesis examples per variant: a fixed budget under CI, more when exploring.
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "100" if os.environ.get("CI") else "300"))
#: No exchange may take longer (the client half-closes after an idle quarter second).
BOUND = 5.0 * TIMEOUT_FACTOR
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
#: Server errors that are a server's correct refusal of the request (see the module docstring).
SERVER_REFUSALS = frozenset({501, 505})


@dataclass(slots=True)
class Tally:
    """What one variant's server was sent and answered."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    no_response: int = 0
    server_errors: int = 0
    refusals: int = 0
    hangs: int = 0

    def line(self, variant: str) -> str:
        codes = ", ".join(f"{code}: {count}" for code, count in sorted(self.statuses.items()))
        return (
            f"hostile {variant}: {self.requests} requests, {self.server_errors} 5xx, "
            f"{self.hangs} hangs, {self.refusals} refused by the server with 501/505, "
            f"{self.no_response} closed without a response; {codes}"
        )


TALLIES: dict[str, Tally] = {}


def _variants() -> list[str]:
    extra = [name for name in EXTRA_VARIANTS if get(name).available()]
    return [*VARIANTS, *extra]


@pytest.fixture(scope="module", params=_variants())
def hostile_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    variant: str = request.param
    spec = get(variant)
    if not spec.available():
        pytest.skip(f"{spec.server} is not installed")
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    }
    with launch(
        spec, "tests.hostile.app:app", cwd=str(REPO_ROOT), env=env, ready_path=HEALTH
    ) as running:
        TALLIES[variant] = Tally()
        yield running
        print(f"\n{TALLIES[variant].line(variant)}")


def _health(server: RunningServer) -> int:
    request = f"GET {HEALTH} HTTP/1.1\r\nhost: {server.authority}\r\nconnection: close\r\n\r\n"
    outcome = exchange(server.host, server.port, (request.encode(),), "GET", BOUND)
    return outcome.statuses[0] if outcome.statuses else 0


@settings(
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(hostile=requests())
def test_no_hostile_request_reaches_a_5xx_or_hangs(
    hostile_server: RunningServer, hostile: HostileRequest
) -> None:
    tally = TALLIES[hostile_server.spec.name]
    offset = hostile_server.log_offset()
    outcome = exchange(
        hostile_server.host, hostile_server.port, hostile.pieces, hostile.method, BOUND
    )
    tally.requests += 1
    tally.statuses.update(outcome.statuses)
    tally.no_response += not outcome.statuses
    errors = [code for code in outcome.statuses if code >= 500 and code not in SERVER_REFUSALS]
    tally.server_errors += bool(errors)
    tally.refusals += any(code in SERVER_REFUSALS for code in outcome.statuses)
    tally.hangs += outcome.hung
    context = f"request {hostile.data[:600]!r}\nresponse {outcome.received[:600]!r}"
    assert not outcome.hung, f"no end within {BOUND} s\n{context}"
    assert not errors, f"a 5xx answer\n{context}\nlog:\n{hostile_server.read_log(offset)[-3000:]}"
    log = hostile_server.read_log(offset)
    assert not _TRACEBACK.search(log), f"a traceback in the server log\n{context}\n{log[-3000:]}"
    assert _health(hostile_server) == 200, f"the server stopped answering\n{context}"
