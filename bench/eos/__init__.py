"""Exactly-once against at-least-once on Kafka (issue 13): throughput of the stateless and the
windowed pipeline at 100 ms and 1 s commit intervals, and end-to-end latency under
exactly-once at a fixed offered load, with the drivers of ``bench.run``.

    python -m bench.eos              # rewrites its section of docs/benchmarks.md
    python -m bench.eos --quick      # small sizes, one repetition, no docs

(``make bench-eos``.) The crash-safety evidence is elsewhere: docs/reliability.md.
"""
