"""strom's benchmark harness: strom against the raw client and the Python peers, in one run.

Run it with ``make bench`` (or ``python -m bench.run --help``). Workloads live in
``bench/workloads/<name>/``: the package's ``__init__`` declares a :class:`bench.spec.Workload`
and each implementation is one small script beside it. See ``docs/benchmarks.md``.
"""
