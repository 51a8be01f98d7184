"""Stateful benchmarks on Kafka (issue 11): a tumbling-window count+sum per key in strom
(RocksDB and memory stores), in Quix Streams and in a hand-written confluent-kafka loop with a
dict, side by side in one run; strom's stateless pipeline on the same input ("state cost");
restore of the changelogs into a fresh process; memory per key.

    python -m bench.stateful              # rewrites its section of docs/benchmarks.md
    python -m bench.stateful --quick      # small sizes, one repetition, no docs

The implementation scripts are imported by the Quix venv's interpreter too: modules of this
package other than ``__main__``, ``driver`` and ``report`` use the standard library and
orjson only.
"""
