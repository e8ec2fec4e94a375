"""Benchmarks, side by side: the reference framework against raw ASGI, Falcon, Starlette and
bareASGI, in process and under every server.

``python -m bench`` runs everything and writes ``BENCHMARKS.md`` (see :mod:`bench.__main__`).
Every figure is a ratio measured side by side in one run (interleaved rounds, median and
interquartile range), so that it holds on a noisy shared machine.

One module per measurement:

- :mod:`bench.inprocess`: (1) framework overhead in process, eight workloads, five apps;
- :mod:`bench.wire`: (2) requests per second and latency per server (``wrk``, ``h2load``);
- :mod:`bench.streaming`: (3) a 1 GiB body each way: throughput and the server's peak RSS;
- :mod:`bench.fanout`: (4) SSE fan-out to 1,000 clients: events per second, memory per client;
- :mod:`bench.suite`: (5) the conformance matrix's wall time, per server, against its floor.

The apps are in :mod:`bench.apps` (the same app written five ways); :mod:`bench.workloads` says
what each in-process workload must answer, :mod:`bench.driver` calls an app in process,
:mod:`bench.stats` computes the side-by-side figures, :mod:`bench.tools` drives the load tools,
:mod:`bench.serving` runs apps under the servers and watches their memory, :mod:`bench.ab`
compares a reference_app change against a git revision, and :mod:`bench.suite_timing` is the
pytest plugin that times the matrix. The benchmark code is tested for correctness (never for
speed) in ``tests/bench``.
"""
