"""The load generators (``wrk`` for HTTP/1.1, ``h2load`` for HTTP/2, ``curl`` for bulk bodies):
finding them, running them bounded in time, and parsing what they print.

A missing tool is not an error: the measurement that needs it is skipped with a printed note
(``apt-get install wrk nghttp2-client curl`` on Debian).
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "CurlTransfer",
    "LoadResult",
    "ToolMissing",
    "curl_transfer",
    "find",
    "parse_h2load",
    "parse_h2load_log",
    "parse_wrk",
    "run_h2load",
    "run_wrk",
]

#: The Debian package of each tool.
PACKAGES: Final = {"wrk": "wrk", "h2load": "nghttp2-client", "curl": "curl"}


class ToolMissing(RuntimeError):
    """A load generator is not installed."""


def find(tool: str) -> str:
    """The path of ``tool``.

    Raises:
        ToolMissing: it is not on PATH (the message says which package has it).
    """
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(
            f"{tool} is not installed (Debian package {PACKAGES.get(tool, tool)}): skipped"
        )
    return path


@dataclass(frozen=True, slots=True)
class LoadResult:
    """One load run: throughput, latency percentiles (ms) and what went wrong."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def clean(self) -> bool:
        """No socket error, no non-2xx answer, and at least one request done."""
        return self.errors == 0 and self.requests > 0


_UNITS: Final = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> LoadResult:
    """Parse ``wrk --latency`` output.

    Raises:
        ValueError: the output lacks the summary lines.
    """
    done = re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s|m)", output)
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if not (done and rps and p50 and p99):
        raise ValueError(f"unexpected wrk output:\n{output}")
    errors = 0
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket:
        errors += sum(int(n) for n in socket.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx[1])
    return LoadResult(
        requests=int(done[1]),
        seconds=_ms(done[2] + done[3]) / 1000,
        rps=float(rps[1]),
        p50_ms=_ms(p50[1]),
        p99_ms=_ms(p99[1]),
        errors=errors,
    )


def parse_h2load(output: str, latencies_us: list[float], in_flight: int = 0) -> LoadResult:
    """Parse h2load's summary, with the per-request latencies of its ``--log-file``.

    With ``-D`` h2load stops every client at the deadline and counts the streams then in flight
    as failed or errored: up to ``in_flight`` (connections x streams) of those are not errors.
    A non-2xx answer always is.

    Raises:
        ValueError: the output lacks the summary lines, or no request succeeded.
    """
    finished = re.search(r"finished in ([0-9.]+)(us|ms|s|m), ([0-9.]+) req/s", output)
    counts = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
        r"(\d+) errored, (\d+) timeout",
        output,
    )
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", output)
    if not (finished and counts and codes) or not latencies_us:
        raise ValueError(f"unexpected h2load output:\n{output}")
    ordered = sorted(latencies_us)
    cut = int(counts[5])  # "failed" includes the errored and the timed out
    errors = max(0, cut - in_flight) + int(codes[2]) + int(codes[3]) + int(codes[4])
    return LoadResult(
        requests=int(counts[4]),
        seconds=_ms(finished[1] + finished[2]) / 1000,
        rps=float(finished[3]),
        p50_ms=statistics.median(ordered) / 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000,
        errors=errors,
    )


def parse_h2load_log(text: str) -> list[float]:
    """The latencies (µs) of the successful (2xx) requests in an h2load ``--log-file``."""
    latencies = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[1].startswith("2"):
            latencies.append(float(fields[2]))
    return latencies


def run_wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    threads: int = 1,
    script: Path | None = None,
) -> LoadResult:
    """Run wrk against ``url`` for ``seconds`` (whole, at least 1: wrk takes no fraction),
    bounded: killed after twice that plus 30 s."""
    seconds = max(1, round(seconds))
    argv = [find("wrk"), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    done = subprocess.run(
        [*argv, url], capture_output=True, text=True, timeout=2 * seconds + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


def run_h2load(
    url: str,
    *,
    connections: int,
    streams: int,
    seconds: float,
    log_file: Path,
    data: Path | None = None,
    headers: tuple[str, ...] = (),
) -> LoadResult:
    """Run h2load (h2c, prior knowledge) against ``url`` for ``seconds``, bounded in time."""
    argv = [
        find("h2load"),
        f"-c{connections}",
        f"-m{streams}",
        f"-D{seconds:g}",
        "-t1",
        f"--log-file={log_file}",
    ]
    if data is not None:
        argv += ["-d", str(data)]
    for header in headers:
        argv += ["-H", header]
    done = subprocess.run(
        [*argv, url], capture_output=True, text=True, timeout=2 * seconds + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"h2load failed ({done.returncode}): {done.stderr or done.stdout}")
    latencies = parse_h2load_log(log_file.read_text())
    return parse_h2load(done.stdout, latencies, in_flight=connections * streams)


@dataclass(frozen=True, slots=True)
class CurlTransfer:
    """One curl transfer: status, bytes each way, seconds, and the response body if kept."""

    status: int
    downloaded: int
    uploaded: int
    seconds: float
    body: bytes


def curl_transfer(
    url: str,
    *,
    http2: bool,
    upload: Path | None = None,
    timeout: float = 300.0,
    keep_body: bool = False,
) -> CurlTransfer:
    """Download ``url`` (body discarded unless ``keep_body``), or POST ``upload`` to it."""
    marker = "\n@@bench@@"
    argv = [find("curl"), "--silent", "--show-error", "--max-time", f"{timeout:g}"]
    argv += ["--http2-prior-knowledge"] if http2 else ["--http1.1"]
    if upload is not None:
        # No "Expect: 100-continue": servers differ in how soon they answer it.
        argv += ["-X", "POST", "-T", str(upload), "-H", "Expect:"]
        argv += ["-H", "content-type: application/octet-stream"]
    argv += ["-o", "-" if keep_body else "/dev/null"]
    argv += ["-w", marker + "%{http_code} %{size_download} %{size_upload} %{time_total}"]
    done = subprocess.run([*argv, url], capture_output=True, timeout=timeout + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"curl failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    body, _, tail = done.stdout.rpartition(marker.encode())
    code, down, up, total = tail.decode().split()
    return CurlTransfer(int(code), int(down), int(up), float(total), body)
