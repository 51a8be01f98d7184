"""The windowed workload in Quix Streams (runs in the ``quix`` peer venv).

``sdf.tumbling_window(5 min, grace 0).agg(count=Count(), sum=Sum("amount")).final(
closing_strategy="partition")``: the event time from the value (the topic's
``timestamp_extractor``), final results when the partition's event time passes a window's end,
as strom and the hand-written loop close them. Quix's RocksDB state with its changelog topics
(its defaults), at-least-once, ``commit_interval`` and the producer settings shared by every
implementation. Output values: ``{"start", "end", "count", "sum"}`` keyed by the user id.
"""

from __future__ import annotations

import logging
from typing import Any

from quixstreams import Application
from quixstreams.dataframe.windows import Count, Sum

from bench.stateful.data import WINDOW_MS
from bench.stateful.mem import peak_rss_mib
from bench.workloads.common import Meter, emit, emit_ready, load_config, producer_config


def main() -> None:
    config = load_config()
    settings = config["settings"]
    app: Application | None = None

    def done() -> None:
        assert app is not None
        app.stop()

    meter = Meter(int(config["records"]), on_done=done)
    tick = meter.tick
    producer_extra = {k: v for k, v in producer_config(config).items() if k != "bootstrap.servers"}
    app = Application(
        broker_address=config["bootstrap"],
        consumer_group=config["group"],
        auto_offset_reset="earliest",
        commit_interval=float(settings["commit_interval_s"]),
        producer_extra_config=producer_extra,
        processing_guarantee="at-least-once",
        state_dir=config["state_dir"],
        loglevel=logging.WARNING,
    )

    def event_time(value: Any, _headers: Any, _timestamp: float, _type: Any) -> int:
        tick()
        return int(value["timestamp"])

    source = app.topic(
        config["input_topic"],
        key_deserializer="bytes",
        value_deserializer="json",
        timestamp_extractor=event_time,
    )
    sink = app.topic(config["output_topic"], key_serializer="bytes", value_serializer="json")
    sdf = app.dataframe(source)
    sdf = (
        sdf.tumbling_window(duration_ms=WINDOW_MS, grace_ms=0)
        .agg(count=Count(), sum=Sum("amount"))
        .final(closing_strategy="partition")
    )
    sdf.to_topic(sink)
    emit_ready()
    app.run()
    meter.stop()
    emit(meter.result(peer_version=_version(), peak_rss_mib=peak_rss_mib()))


def _version() -> str:
    from importlib.metadata import version

    return version("quixstreams")


if __name__ == "__main__":
    main()
