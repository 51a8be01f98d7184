"""How the runner drives each kind of workload (see :data:`bench.spec.Kind`)."""

from __future__ import annotations

from collections.abc import Callable

from bench.context import Context
from bench.drivers import latency, log, pipeline
from bench.spec import Kind, Workload

DRIVERS: dict[Kind, Callable[[Context, Workload], None]] = {
    "pipeline": pipeline.run,
    "latency": latency.run,
    "log": log.run,
}
