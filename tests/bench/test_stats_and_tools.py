"""The side-by-side statistics, and the parsers of the load tools' output."""

from __future__ import annotations

import pytest

from bench.stats import Samples, quartiles, ratio_samples, summarize
from bench.tools import parse_h2load, parse_h2load_log, parse_wrk


def test_quartiles_of_an_odd_and_a_single_sample() -> None:
    assert quartiles([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 3.0, 4.0)
    assert quartiles([7.0]) == (7.0, 7.0, 7.0)
    with pytest.raises(ValueError, match="no values"):
        quartiles([])


def test_ratios_are_taken_within_each_round() -> None:
    samples = Samples()
    # The machine is twice as slow in round 2; the ratio does not move.
    samples.add_round({"raw": 1.0, "ref": 2.0})
    samples.add_round({"raw": 2.0, "ref": 4.0})
    samples.add_round({"raw": 1.5, "ref": 3.0})
    assert samples.ratio("ref", "raw").median == 2.0
    assert samples.summary("raw").median == 1.5
    assert ratio_samples(samples.rounds, "ref", "missing") == []


def test_a_summary_formats_median_and_range() -> None:
    assert summarize([1.0, 2.0, 3.0]).format(1, "x") == "2.0x (1.5-2.5)"


WRK = """Running 2s test @ http://127.0.0.1:8000/plaintext
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.61ms  512.00us  10.10ms   90.00%
    Req/Sec    12.30k   400.00    13.00k    70.00%
  Latency Distribution
     50%    2.50ms
     75%    2.80ms
     90%    3.10ms
     99%  850.00us
  24512 requests in 2.00s, 3.50MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  12254.10
Transfer/sec:      1.75MB
"""


def test_wrk_output_is_parsed_with_its_errors() -> None:
    result = parse_wrk(WRK)
    assert result.requests == 24512
    assert result.seconds == 2.0
    assert result.rps == 12254.10
    assert result.p50_ms == 2.5
    assert result.p99_ms == 0.85
    assert result.errors == 7
    assert not result.clean


def test_unexpected_wrk_output_is_an_error() -> None:
    with pytest.raises(ValueError, match="unexpected wrk output"):
        parse_wrk("wrk: connection refused")


H2LOAD = """finished in 2.00s, 2740.50 req/s, 250.00KB/s
requests: 5481 total, 5513 started, 5481 done, 5480 succeeded, 1 failed, 1 errored, 0 timeout
status codes: 5480 2xx, 0 3xx, 0 4xx, 0 5xx
"""


def test_h2load_output_and_log_are_parsed() -> None:
    log = "1700000000000000\t200\t1000\n1700000000000100\t200\t3000\n1700000000000200\t-1\t5\n"
    latencies = parse_h2load_log(log)
    assert latencies == [1000.0, 3000.0]
    result = parse_h2load(H2LOAD, latencies)
    assert result.requests == 5480
    assert result.rps == 2740.50
    assert result.p50_ms == 2.0
    assert result.p99_ms == 3.0
    assert result.errors == 1
    # Streams cut at the -D deadline are not errors, up to what can be in flight.
    assert parse_h2load(H2LOAD, latencies, in_flight=32).errors == 0
    assert parse_h2load(H2LOAD.replace("0 4xx", "2 4xx"), latencies, in_flight=32).errors == 2


def test_h2load_output_without_successes_is_an_error() -> None:
    with pytest.raises(ValueError, match="unexpected h2load output"):
        parse_h2load(H2LOAD, [])
