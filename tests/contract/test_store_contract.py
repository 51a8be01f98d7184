"""The store contract: what every backend of :mod:`strom.state` does, written once.

Each test runs on the memory and the RocksDB backend (``backend`` fixture) through the public
API only. Key-value, window and session stores; the write buffer, the changelog, restore,
checkpoint and reopen, expiry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from strom.errors import StateError
from strom.serde import integer, json, string
from tests.contract.store_support import BACKENDS, RAW, Harness, kv_state

Make = Callable[..., Harness]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every backend."""
    return str(request.param)


@pytest.fixture
def harness_factory(backend: str, tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    """Make harnesses on the parametrized backend; closes them after the test."""
    made: list[Harness] = []

    def make(kind: str = "key-value", **kwargs: Any) -> Harness:
        harness = Harness(backend, tmp_path / f"state{len(made)}", kind, **kwargs)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()


# -- key-value: reads, writes and order ---------------------------------------------------


def test_get_put_delete(harness_factory: Make) -> None:
    store = harness_factory().store
    assert store.get("a") is None
    store.put("a", 1)
    store.put("b", 2)
    store.delete("b")
    assert (store.get("a"), store.get("b")) == (1, None)
    store.flush()
    assert (store.get("a"), store.get("b")) == (1, None)
    store.delete("a")
    assert store.get("a") is None
    store.flush()
    assert store.get("a") is None
    assert kv_state(store) == []


def test_order_is_serialized_key_bytes_everywhere(harness_factory: Make) -> None:
    # integer() is big-endian two's complement: negative keys sort after positive ones.
    h = harness_factory(key_serde=integer(), value_serde=string())
    store = h.store
    for key in (5, -1, 0, 300, -300):
        store.put(key, f"v{key}")
    h.flush()
    store.put(7, "v7")  # dirty entries merge into the committed order
    store.put(-2, "v-2")
    store.delete(300)
    expected = [0, 5, 7, -300, -2, -1]
    assert [k for k, _ in store.items()] == expected
    assert [k for k, _ in store.range(5, -300)] == [5, 7]
    assert [k for k, _ in store.range(lo=-2)] == [-2, -1]
    assert [k for k, _ in store.range(hi=7)] == [0, 5]
    h.flush()
    assert [k for k, _ in store.items()] == expected


def test_range_with_prefix_keys_and_zero_bytes(harness_factory: Make) -> None:
    h = harness_factory(key_serde=RAW, value_serde=RAW)
    keys = [b"a\x00\x01", b"", b"a", b"a\x00", b"ab", b"\xff", b"a\xff"]
    for key in keys[:4]:
        h.store.put(key, key + b"!")
    h.flush()
    for key in keys[4:]:
        h.store.put(key, key + b"!")
    assert [k for k, _ in h.store.items()] == sorted(keys)
    assert [k for k, _ in h.store.range(b"a", b"ab")] == [b"a", b"a\x00", b"a\x00\x01"]


def test_dirty_values_override_committed_ones(harness_factory: Make) -> None:
    h = harness_factory()
    h.store.put("k", 1)
    h.store.put("gone", 1)
    h.flush()
    h.store.put("k", 2)
    h.store.delete("gone")
    assert h.store.get("k") == 2
    assert h.store.get("gone") is None
    assert kv_state(h.store) == [("k", 2)]


def test_bad_arguments_and_closed_store_raise(harness_factory: Make) -> None:
    store = harness_factory().store
    with pytest.raises(StateError, match=r"value must not be None.*delete"):
        store.put("a", None)
    with pytest.raises(StateError, match="key must not be None"):
        store.put(None, 1)
    with store as same:  # a context manager closes the store
        assert same is store and not store.closed
    assert store.closed
    for call in (
        lambda: store.get("a"),
        lambda: store.put("a", 1),
        lambda: store.delete("a"),
        lambda: list(store.items()),
        lambda: store.flush(),
        lambda: store.restore([]),
    ):
        with pytest.raises(StateError, match=r"'s' partition 0 .* is closed"):
            call()
    store.close()  # idempotent


def test_closing_during_an_iteration_ends_it_and_the_store_reopens(harness_factory: Make) -> None:
    h = harness_factory()
    for i in range(20):
        h.store.put(f"k{i:02}", i)
    h.flush()
    h.store.put("k99", 99)
    iteration = h.store.items()
    assert next(iteration) == ("k00", 0)
    h.store.close()
    with pytest.raises(StateError, match="closed during the iteration"):
        list(iteration)
    store = h.reopen()
    assert len(kv_state(store)) == 20
    if h.backend == "rocksdb":
        assert not store.recovery.wiped


def test_restore_refuses_records_that_are_not_bytes(harness_factory: Make) -> None:
    store = harness_factory().store
    with pytest.raises(StateError, match=r"must be \(bytes, bytes or None\), got \(str, bytes\)"):
        store.restore([("a", b"1")])
    with pytest.raises(StateError, match=r"got \(bytes, int\)"):
        store.restore([(b"a", 1)])


def test_a_key_the_serde_cannot_write_fails_at_prepare_naming_the_store(
    harness_factory: Make,
) -> None:
    store = harness_factory().store
    store.put(123, 1)  # string() keys
    with pytest.raises(Exception, match="string serde"):
        store.prepare()
    store.discard()
    assert store.flush() == []


# -- the write buffer and the changelog ---------------------------------------------------


def test_flush_returns_the_latest_change_per_dirty_key_once(harness_factory: Make) -> None:
    h = harness_factory()
    store = h.store
    store.put("a", 1)
    store.put("a", 2)
    store.put("b", 1)
    store.delete("b")
    store.put("c", 1)
    store.delete("c")
    store.put("c", 3)
    assert store.dirty_count == 3
    changes = h.flush()
    assert sorted(changes) == sorted(
        [(b"a", integer().serialize(2)), (b"b", None), (b"c", integer().serialize(3))]
    )
    assert store.dirty_count == 0
    assert store.flush() == []


def test_discard_returns_to_the_last_flushed_state(harness_factory: Make) -> None:
    h = harness_factory(value_serde=json())
    store = h.store
    store.put("keep", {"n": 1})
    store.put("gone", {"n": 1})
    h.flush()
    value = store.get("keep")
    value["n"] += 1  # an aggregator mutating what it read, then writing it back
    store.put("keep", value)
    store.delete("gone")
    store.put("new", {"n": 9})
    store.discard()
    assert store.dirty_count == 0
    assert kv_state(store) == [("gone", {"n": 1}), ("keep", {"n": 1})]


def test_prepare_commit_is_the_two_phase_flush(harness_factory: Make) -> None:
    h = harness_factory()
    store = h.store
    store.put("a", 1)
    changes = store.prepare()
    assert store.prepare() == changes  # idempotent until commit or discard
    assert store.get("a") == 1  # the buffer stays readable
    with pytest.raises(StateError, match="prepared: call commit"):
        store.put("b", 2)
    with pytest.raises(StateError, match="prepared"):
        store.delete("a")
    store.commit()
    assert store.get("a") == 1
    store.put("a", 5)
    with pytest.raises(StateError, match="without prepare"):
        store.commit()
    store.prepare()
    store.discard()  # the transaction aborted after the changes were prepared
    assert store.get("a") == 1
    store.put("b", 2)  # writable again
    assert store.dirty_count == 1


def test_restore_applies_last_write_wins_and_tombstones(harness_factory: Make) -> None:
    store = harness_factory().store
    one, two = integer().serialize(1), integer().serialize(2)
    count = store.restore([(b"a", one), (b"b", one), (b"a", two), (b"b", None), (b"c", one)])
    assert count == 5
    assert kv_state(store) == [("a", 2), ("c", 1)]
    store.put("d", 1)
    with pytest.raises(StateError, match="uncommitted writes"):
        store.restore([(b"x", one)])
    assert store.metrics().restored == 5


def test_reopen_restores_the_flushed_state(harness_factory: Make) -> None:
    h = harness_factory()
    for i in range(50):
        h.store.put(f"k{i:02}", i)
    h.flush()
    h.store.delete("k00")
    h.store.put("k01", 100)
    h.flush()
    h.store.put("uncommitted", 1)  # lost with the close: it never reached the changelog
    store = h.reopen()
    expected = [("k01", 100)] + [(f"k{i:02}", i) for i in range(2, 50)]
    assert kv_state(store) == expected
    if h.backend == "rocksdb":
        assert not store.recovery.needs_full_restore
        assert store.recovery.checkpoint_offset == len(h.changelog) == h.restored_from
        assert store.checkpointed_offset() == len(h.changelog)
    else:
        assert store.recovery.needs_full_restore and h.restored_from == 0


def test_checkpoint_behind_the_local_copy_replays_safely(harness_factory: Make) -> None:
    h = harness_factory()
    h.store.put("a", 1)
    h.flush()
    mark = len(h.changelog)
    h.store.put("a", 2)
    h.store.put("b", 1)
    h.store.flush()  # flushed but the changes reach the changelog later, no checkpoint
    h.changelog.extend([(b"a", integer().serialize(2)), (b"b", integer().serialize(1))])
    store = h.reopen()
    if h.backend == "rocksdb":
        assert store.recovery.checkpoint_offset == mark
    assert kv_state(store) == [("a", 2), ("b", 1)]


def test_counts_and_metrics(harness_factory: Make) -> None:
    h = harness_factory()
    for i in range(10):
        h.store.put(str(i), i)
    metrics = h.store.metrics()
    assert (metrics.dirty_count, metrics.store, metrics.partition) == (10, "s", 0)
    h.flush()
    assert h.store.approximate_count() == 10
    metrics = h.store.metrics()
    assert metrics.flushed == 10 and metrics.backend == h.backend
    assert (metrics.disk_bytes is None) == (h.backend == "memory")


# -- window stores ------------------------------------------------------------------------


def _window(make: Make, **kwargs: Any) -> Harness:
    return make("window", segment_interval=kwargs.pop("segment_interval", 100), **kwargs)


def test_window_get_put_delete_fetch(harness_factory: Make) -> None:
    h = _window(harness_factory)
    store = h.store
    store.put("a", 0, 100, 1)
    store.put("a", 100, 200, 2)
    store.put("b", 100, 200, 3)
    h.flush()
    store.put("a", 200, 300, 4)  # dirty
    store.delete("a", 100, 200)
    assert store.get("a", 0, 100) == 1
    assert store.get("a", 100, 200) is None
    assert store.get("a", 0, 99) is None
    assert store.fetch("a", 0, 1_000) == [(0, 100, 1), (200, 300, 4)]
    assert store.fetch("a", 1, 200) == [(200, 300, 4)]
    assert store.fetch("b", 100, 100) == [(100, 200, 3)]
    assert store.fetch("c", 0, 1_000) == []
    h.flush()
    assert store.fetch("a", 0, 1_000) == [(0, 100, 1), (200, 300, 4)]


def test_window_fetch_all_orders_by_start_then_key_then_end(harness_factory: Make) -> None:
    h = _window(harness_factory, key_serde=RAW)
    store = h.store
    store.put(b"b", 0, 100, 1)
    store.put(b"a", 50, 150, 2)
    store.put(b"a", 0, 1_000, 3)  # a long window in a late segment
    h.flush()
    store.put(b"a", 0, 100, 4)
    store.put(b"c", 0, 100, 5)
    rows = list(store.fetch_all(0, 50))
    assert rows == [
        (b"a", 0, 100, 4),
        (b"a", 0, 1_000, 3),
        (b"b", 0, 100, 1),
        (b"c", 0, 100, 5),
        (b"a", 50, 150, 2),
    ]
    assert [r[:2] for r in store.fetch_all(1, 1_000)] == [(b"a", 50)]


def test_windows_of_prefix_keys_stay_apart(harness_factory: Make) -> None:
    h = _window(harness_factory, key_serde=RAW)
    keys = [b"a", b"a\x00", b"a\x00\x01", b"ab", b""]
    for i, key in enumerate(keys):
        h.store.put(key, 0, 100, i)
    h.flush()
    for i, key in enumerate(keys):
        assert h.store.fetch(key, -10, 10) == [(0, 100, i)]
        assert h.store.get(key, 0, 100) == i
    assert [r[0] for r in h.store.fetch_all(0, 0)] == sorted(keys)


def test_window_expiry(harness_factory: Make) -> None:
    h = _window(harness_factory)
    store = h.store
    for start in range(0, 1_000, 100):
        store.put("k", start, start + 100, start)
    h.flush()
    assert store.expired_before is None
    store.expire(550)  # windows ending before 550 go: [0,100) .. [400,500)
    assert store.expired_before == 550
    assert [w[0] for w in store.fetch("k", 0, 2_000)] == list(range(500, 1_000, 100))
    assert store.get("k", 0, 100) is None
    store.discard()  # expiry is part of the transaction
    assert store.get("k", 0, 100) == 0 and store.expired_before is None
    store.expire(550)
    store.expire(300)  # never goes back
    assert store.expired_before == 550
    with pytest.raises(StateError, match="expired"):
        store.put("k", 400, 500, 1)
    store.delete("k", 0, 100)  # deleting an expired window is a no-op
    h.flush()
    assert [w[0] for w in store.fetch("k", 0, 2_000)] == list(range(500, 1_000, 100))
    assert [r[1] for r in store.fetch_all(0, 2_000)] == list(range(500, 1_000, 100))
    replica = h.fresh_replica()
    assert list(replica.fetch_all(0, 2_000)) == list(store.fetch_all(0, 2_000))
    assert replica.expired_before == 550
    reopened = h.reopen()
    assert [w[0] for w in reopened.fetch("k", 0, 2_000)] == list(range(500, 1_000, 100))
    assert reopened.expired_before == 550


def test_expiry_drops_whole_segments_from_storage(harness_factory: Make) -> None:
    h = _window(harness_factory, segment_interval=10)
    for i in range(100):
        h.store.put(f"k{i}", i * 10, i * 10 + 10, i)
    h.flush()
    assert h.store.approximate_count() >= 100
    h.store.expire(905)
    h.flush()
    if h.backend == "memory":  # exact count; RocksDB's estimate lags range deletes
        assert h.store.approximate_count() <= 12
    assert len(list(h.store.fetch_all(0, 10_000))) == 10


def test_windows_spanning_many_segments(harness_factory: Make) -> None:
    h = _window(harness_factory, segment_interval=7)
    store = h.store
    store.put("k", 0, 1_000, 1)  # long
    store.put("k", 500, 510, 2)  # short
    store.put("k", -50, -40, 3)  # before the epoch
    h.flush()
    assert store.fetch("k", -100, 600) == [(-50, -40, 3), (0, 1_000, 1), (500, 510, 2)]
    assert store.fetch("k", 0, 0) == [(0, 1_000, 1)]
    assert store.fetch("k", 400, 499) == []


# -- session stores -----------------------------------------------------------------------


def _session(make: Make, **kwargs: Any) -> Harness:
    return make("session", segment_interval=kwargs.pop("segment_interval", 100), **kwargs)


def test_find_sessions_returns_the_overlapping_ones(harness_factory: Make) -> None:
    h = _session(harness_factory)
    store = h.store
    store.put("u", 0, 10, 1)
    store.put("u", 50, 80, 2)
    store.put("u", 200, 200, 3)
    store.put("v", 50, 80, 9)
    h.flush()
    assert store.find_sessions("u", 5, 60) == [(0, 10, 1), (50, 80, 2)]
    assert store.find_sessions("u", 11, 49) == []
    assert store.find_sessions("u", 80, 80) == [(50, 80, 2)]
    assert store.find_sessions("u", 81, 1_000) == [(200, 200, 3)]
    assert store.get("u", 50, 80) == 2


def test_session_merge_as_an_aggregator_does_it(harness_factory: Make) -> None:
    h = _session(harness_factory)
    store, gap = h.store, 10

    def add(key: str, t: int) -> None:
        found = store.find_sessions(key, t - gap, t + gap)
        start = min([t, *(s for s, _, _ in found)])
        end = max([t, *(e for _, e, _ in found)])
        total = 1 + sum(v for _, _, v in found)
        for s, e, _ in found:
            store.remove(key, s, e)
        store.put(key, start, end, total)

    for t in (0, 5, 40, 45):
        add("u", t)
    h.flush()
    assert store.find_sessions("u", -1_000, 1_000) == [(0, 5, 2), (40, 45, 2)]
    add("u", 22)  # 22 is within the gap of neither 5 (17 away) nor 40 (18 away)
    assert store.find_sessions("u", -1_000, 1_000) == [(0, 5, 2), (22, 22, 1), (40, 45, 2)]
    add("u", 14)  # 14 bridges 5 and 22
    assert store.find_sessions("u", -1_000, 1_000) == [(0, 22, 4), (40, 45, 2)]
    add("u", 31)  # 31 bridges 22 and 40
    assert store.find_sessions("u", -1_000, 1_000) == [(0, 45, 7)]
    h.flush()
    assert list(store.fetch_all(0, 1_000)) == [("u", 0, 45, 7)]
    assert list(h.fresh_replica().fetch_all(0, 1_000)) == [("u", 0, 45, 7)]


def test_session_fetch_all_orders_by_end_and_expires(harness_factory: Make) -> None:
    h = _session(harness_factory)
    store = h.store
    store.put("b", 0, 30, 1)
    store.put("a", 10, 30, 2)
    store.put("a", 0, 5, 3)
    h.flush()
    store.put("c", 300, 400, 4)
    assert [r[:3] for r in store.fetch_all(0, 1_000)] == [
        ("a", 0, 5),
        ("a", 10, 30),
        ("b", 0, 30),
        ("c", 300, 400),
    ]
    assert [r[:3] for r in store.fetch_all(6, 30)] == [("a", 10, 30), ("b", 0, 30)]
    store.expire(30)
    store.remove("c", 300, 400)
    h.flush()
    assert [r[:3] for r in store.fetch_all(0, 1_000)] == [("a", 10, 30), ("b", 0, 30)]
    assert [r[:3] for r in h.reopen().fetch_all(0, 1_000)] == [("a", 10, 30), ("b", 0, 30)]


def test_window_bounds_are_checked(harness_factory: Make) -> None:
    for make in (_window, _session):
        store = make(harness_factory).store
        with pytest.raises(StateError, match="start <= end"):
            store.put("k", 10, 5, 1)
        with pytest.raises(StateError, match="ints"):
            store.put("k", 1.5, 5, 1)
        with pytest.raises(StateError, match="must not be None"):
            store.put("k", 0, 5, None)
        with pytest.raises(StateError, match=r"time|end|start"):
            store.fetch_all("0", 5)
