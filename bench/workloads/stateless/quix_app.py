"""The stateless workload in Quix Streams (runs in the ``quix`` peer venv).

Quix's own JSON serializers (orjson underneath), ``commit_interval`` set to the shared value,
at-least-once, the shared producer settings passed as ``producer_extra_config``.
"""

from __future__ import annotations

import logging

from quixstreams import Application

from bench.workloads.common import (
    Meter,
    counting_enrich,
    counting_filter,
    emit,
    emit_ready,
    load_config,
    producer_config,
)


def main() -> None:
    config = load_config()
    settings = config["settings"]
    app: Application | None = None

    def done() -> None:
        assert app is not None
        app.stop()

    meter = Meter(int(config["records"]), on_done=done)
    producer_extra = {k: v for k, v in producer_config(config).items() if k != "bootstrap.servers"}
    app = Application(
        broker_address=config["bootstrap"],
        consumer_group=config["group"],
        auto_offset_reset="earliest",
        commit_interval=float(settings["commit_interval_s"]),
        producer_extra_config=producer_extra,
        processing_guarantee="at-least-once",
        state_dir=config["state_dir"],
        auto_create_topics=False,
        use_changelog_topics=False,
        loglevel=logging.WARNING,
    )
    source = app.topic(config["input_topic"], key_deserializer="bytes", value_deserializer="json")
    sink = app.topic(config["output_topic"], key_serializer="bytes", value_serializer="json")
    sdf = app.dataframe(source)
    sdf = sdf.filter(counting_filter(meter)).apply(counting_enrich(meter)).to_topic(sink)
    emit_ready()
    app.run()
    meter.stop()
    emit(meter.result(peer_version=_version()))


def _version() -> str:
    from importlib.metadata import version

    return version("quixstreams")


if __name__ == "__main__":
    main()
