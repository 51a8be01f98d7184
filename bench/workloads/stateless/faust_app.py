"""The stateless workload in faust-streaming (runs in the ``faust`` peer venv).

An agent over the input topic with faust's ``json`` codec (orjson underneath, installed with
``faust-streaming[fast]``), ``uvloop``, ``broker_commit_interval`` at the shared value, acks=all
(``producer_acks=-1``) and the shared linger. faust flushes its producer before each commit
(at-least-once). It enables producer idempotence only in exactly-once mode, so this run has
acks=all without idempotence. The worker is stopped with SIGTERM, as a user would, once the
target count is consumed; faust commits on stop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from typing import Any

import faust
import mode.loop

from bench.workloads.common import (
    Meter,
    counting_enrich,
    counting_filter,
    emit,
    emit_ready,
    load_config,
)


def main() -> None:
    # uvloop, as faust documents it: chosen before anything creates an event loop.
    mode.loop.use("uvloop")
    config = load_config()
    settings = config["settings"]
    meter = Meter(int(config["records"]), on_done=lambda: os.kill(os.getpid(), signal.SIGTERM))
    app = faust.App(
        config["group"],
        broker=f"kafka://{config['bootstrap']}",
        store="memory://",
        datadir=config["state_dir"],
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=float(settings["commit_interval_s"]),
        producer_acks=-1 if settings["acks"] == "all" else int(settings["acks"]),
        producer_linger=float(settings["linger_ms"]) / 1000.0,
        producer_compression_type=None
        if settings["compression"] == "none"
        else settings["compression"],
        web_enabled=False,
    )
    partitions = int(config["partitions"])
    source = app.topic(
        config["input_topic"], key_type=bytes, value_serializer="json", partitions=partitions
    )
    sink = app.topic(
        config["output_topic"], key_type=bytes, value_serializer="json", partitions=partitions
    )
    keep = counting_filter(meter)
    mapped = counting_enrich(meter)

    @app.agent(source)
    async def process(stream: Any) -> None:
        async for key, value in stream.items():
            if keep(value):
                await sink.send(key=key, value=mapped(value))

    worker = faust.Worker(app, loglevel=logging.WARNING, quiet=True, override_logging=False)
    emit_ready()
    # execute_from_commandline ends with SystemExit once the worker has stopped.
    with contextlib.suppress(SystemExit):
        worker.execute_from_commandline()
    meter.stop()
    emit(meter.result(peer_version=_version()))


def _version() -> str:
    from importlib.metadata import version

    return version("faust-streaming")


if __name__ == "__main__":
    main()
