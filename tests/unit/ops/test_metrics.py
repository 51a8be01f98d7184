"""Metrics: per-app registries, names and labels, batch-level recording."""

from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from strom.log import TopicPartition
from strom.ops.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition text, keyed by (name, sorted labels)."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_two_apps_in_one_process_do_not_clash_nor_touch_the_global_registry() -> None:
    a, b = Metrics("a"), Metrics("a")  # even the same app id: separate registries
    a.step("s").processed(records_in=3, records_out=2)
    assert a.value("strom_records_in_total", step="s") == 3
    assert b.value("strom_records_in_total", step="s") is None
    assert REGISTRY.get_sample_value("strom_records_in_total", {"app": "a", "step": "s"}) is None


def test_step_counters_and_histogram_from_batch_updates() -> None:
    m = Metrics("orders")
    step = m.step("price")
    assert m.step("price") is step  # cached handle
    step.processed(records_in=500, records_out=480, seconds=0.01)
    step.processed(records_in=100, records_out=0, seconds=0.002)
    step.failed("ValueError", 2)
    step.failed("KeyError")
    step.retried(2)
    step.skipped()
    step.dead_lettered("orders-dlq", 3)
    got = samples(m)
    app_step = (("app", "orders"), ("step", "price"))
    assert got[("strom_records_in_total", app_step)] == 600
    assert got[("strom_records_out_total", app_step)] == 480
    assert got[("strom_step_processing_seconds_count", app_step)] == 2
    assert got[("strom_step_processing_seconds_sum", app_step)] == 0.012
    assert (
        got[("strom_errors_total", (*app_step[:1], ("error_type", "ValueError"), app_step[1]))] == 2
    )
    assert m.value("strom_errors_total", step="price", error_type="KeyError") == 1
    assert got[("strom_retries_total", app_step)] == 2
    assert got[("strom_skipped_total", app_step)] == 1
    assert m.value("strom_dead_lettered_total", step="price", topic="orders-dlq") == 3


def test_batch_latency_commit_and_rebalance_metrics() -> None:
    m = Metrics("app")
    m.batch(records=250, seconds=0.05)
    m.observe_end_to_end(10_000, [9_000, 7_500])
    m.committed(0.02)
    m.rebalanced("assigned", [TopicPartition("t", 0)])
    m.set_assigned(1)
    assert m.value("strom_batch_records_sum") == 250
    assert m.value("strom_batch_processing_seconds_count") == 1
    assert m.value("strom_end_to_end_latency_seconds_sum") == 3.5
    assert m.value("strom_end_to_end_latency_seconds_bucket", le="1.0") == 1
    assert m.value("strom_end_to_end_latency_seconds_bucket", le="2.5") == 2
    assert m.value("strom_commit_duration_seconds_count") == 1
    assert m.value("strom_commits_total") == 1
    assert m.value("strom_rebalances_total", kind="assigned") == 1
    assert m.value("strom_assigned_partitions") == 1


def test_end_to_end_latency_never_negative() -> None:
    m = Metrics("app")
    m.observe_end_to_end(1_000, [5_000])  # record stamped in the future (clock skew)
    assert m.value("strom_end_to_end_latency_seconds_sum") == 0


def test_lag_gauges_are_dropped_for_revoked_partitions() -> None:
    m = Metrics("app")
    t0, t1 = TopicPartition("t", 0), TopicPartition("t", 1)
    m.set_lag({t0: 5, t1: 7})
    m.set_lag({t0: 4})
    assert m.value("strom_consumer_lag", topic="t", partition="0") == 4
    m.rebalanced("revoked", [t1])
    assert m.value("strom_consumer_lag", topic="t", partition="1") is None
    assert m.value("strom_rebalances_total", kind="revoked") == 1
    m.forget_partitions([t1])  # already gone: no error
    assert b'strom_consumer_lag{app="app",partition="0",topic="t"} 4.0' in m.exposition()


def test_state_store_metrics() -> None:
    m = Metrics("app")
    m.set_store_bytes("counts", 2, 4096)
    m.restored("counts", 2, records=100, remaining=900)
    m.restored("counts", 2, records=900, remaining=0)
    assert m.value("strom_state_store_bytes", store="counts", partition="2") == 4096
    assert m.value("strom_state_restore_records_total", store="counts") == 1000
    assert m.value("strom_state_restore_remaining_records", store="counts", partition="2") == 0


def test_metric_names_follow_prometheus_conventions() -> None:
    m = Metrics("app")
    for family in text_string_to_metric_families(m.exposition().decode()):
        assert family.name.startswith("strom_")
        if family.type == "counter":
            assert not family.name.endswith("_total")  # the parser strips it; samples carry it
        if family.type == "histogram":
            assert family.name.endswith(("_seconds", "_records")), family.name
