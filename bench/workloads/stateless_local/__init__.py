"""The stateless pipeline on the embedded log (``local://`` in a temporary directory).

Reported apart from Kafka: it skips the network. The reference is a hand-written loop over
strom's own log API, the best a user can write by hand against the embedded log.
"""

from __future__ import annotations

from bench.data import login_count
from bench.spec import Impl, Workload

PKG = "bench.workloads.stateless"

WORKLOAD = Workload(
    name="stateless-local",
    title="Stateless pipeline on the embedded log (local://)",
    kind="pipeline",
    backend="local",
    order=20,
    references=("raw",),
    expected_outputs=login_count,
    description=(
        "the same work as on Kafka, input and output on one embedded log in a temporary "
        "directory (default durability policy)."
    ),
    impls=(
        Impl("raw", "hand-written loop over strom.log (local)", f"{PKG}.raw_log", "raw"),
        Impl("strom", "strom", f"{PKG}.strom_app", "strom"),
    ),
)
