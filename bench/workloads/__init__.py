"""Benchmark workloads: one package per workload, one small script per implementation.

Every package here whose ``__init__`` defines ``WORKLOAD`` is picked up by the runner.
Implementation scripts run in a separate process (a peer's own virtualenv for peers), read
their configuration from ``argv[1]`` (JSON) and print one ``BENCH_RESULT {json}`` line.
They may import only :mod:`bench.workloads.common` from the harness (standard library only).
"""
