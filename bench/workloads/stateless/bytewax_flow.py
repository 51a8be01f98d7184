"""The stateless workload in Bytewax (runs in the ``bytewax`` peer venv).

Bytewax's Kafka connectors: the source reads assigned partitions (no consumer group: Bytewax
keeps input offsets in its own recovery store) and the sink produces and flushes each batch.
At-least-once in Bytewax means recovery enabled: snapshots every epoch, so the epoch interval
is set to the shared commit interval and the recovery database lives in a temporary directory.
One worker, as every other implementation gets one process. In throughput mode the source
stops at the end of the partitions (``tail=False``); in latency mode it tails and the runner
stops it with SIGINT.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import orjson
from bytewax._bytewax import cli_main
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow
from bytewax.errors import BytewaxRuntimeError
from bytewax.recovery import RecoveryConfig, init_db_dir

from bench.workloads.common import (
    Meter,
    counting_enrich,
    counting_filter,
    emit,
    emit_ready,
    load_config,
    producer_config,
)


def build(config: dict[str, Any], meter: Meter) -> Dataflow:
    """The dataflow: decode -> filter -> map -> encode -> Kafka."""
    settings = config["settings"]
    bootstrap = config["bootstrap"]
    producer_extra = {k: v for k, v in producer_config(config).items() if k != "bootstrap.servers"}
    keep = counting_filter(meter)
    mapped = counting_enrich(meter)
    loads, dumps = orjson.loads, orjson.dumps

    flow = Dataflow("bench_stateless")
    source = kop.input(
        "in",
        flow,
        brokers=[bootstrap],
        topics=[config["input_topic"]],
        tail=bool(config.get("tail", False)),
        batch_size=int(settings["poll_batch"]),
    )
    op.inspect("errors", source.errs, _raise)
    decoded = op.map("decode", source.oks, lambda m: (m.key, loads(m.value)))
    kept = op.filter("filter", decoded, lambda kv: keep(kv[1]))
    encoded = op.map("encode", kept, lambda kv: KafkaSinkMessage(kv[0], dumps(mapped(kv[1]))))
    kop.output(
        "out", encoded, brokers=[bootstrap], topic=config["output_topic"], add_config=producer_extra
    )
    return flow


def _raise(_step: str, error: Any) -> None:
    raise RuntimeError(f"Kafka error in the input: {error.err}")


def main() -> None:
    config = load_config()
    meter = Meter(int(config["records"]))
    flow = build(config, meter)
    recovery = Path(config["state_dir"]) / "recovery"
    recovery.mkdir(parents=True, exist_ok=True)
    init_db_dir(recovery, 1)
    emit_ready()
    try:
        cli_main(
            flow,
            workers_per_process=1,
            epoch_interval=timedelta(seconds=float(config["settings"]["commit_interval_s"])),
            recovery_config=RecoveryConfig(str(recovery)),
        )
    except BytewaxRuntimeError as exc:
        # SIGINT is how a tailing dataflow is stopped (latency mode).
        # It surfaces as "signal received", or as the KeyboardInterrupt that a step got.
        if "signal received" not in str(exc) and not isinstance(exc.__cause__, KeyboardInterrupt):
            raise
    meter.stop()
    emit(meter.result(peer_version=_version()))


def _version() -> str:
    from importlib.metadata import version

    return version("bytewax")


if __name__ == "__main__":
    main()
