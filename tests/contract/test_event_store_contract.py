"""The event store contract: what every backend of :mod:`strom.es` does, written once.

Each test runs against the embedded store (``sqlite``) and a real PostgreSQL (``postgres``),
through the :class:`strom.es.EventStore` Protocol (projections use the backend's own SQL
placeholder style, the one difference users see).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import strom.es as es
from strom.es.errors import ConcurrencyError, EventTooLargeError, InvalidEventError
from tests.contract.event_store_support import events, open_store, sql

WAIT = 30.0


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[es.EventStore]:
    dsn = request.getfixturevalue("postgres_dsn") if backend == "postgres" else None
    with open_store(backend, tmp_path=tmp_path, postgres_dsn=dsn, max_event_bytes=4096) as s:
        yield s


# --- append and read ----------------------------------------------------------------------


def test_append_then_read_returns_every_field(store: es.EventStore) -> None:
    new = [
        es.NewEvent("Opened", b'{"owner":"ada"}', es.metadata(actor="ada", reason="signup")),
        es.NewEvent("Deposited", b"\x00\xff binary", {"note": "h\u00e9llo \u2603"}, type_version=3),
    ]
    result = store.append("acc-1", new, es.NO_STREAM)
    assert result == es.AppendResult(version=2, position=2)
    got = store.read("acc-1")
    assert [(e.version, e.position, e.type, e.type_version, e.data) for e in got] == [
        (1, 1, "Opened", 1, b'{"owner":"ada"}'),
        (2, 2, "Deposited", 3, b"\x00\xff binary"),
    ]
    assert [e.id for e in got] == [n.id for n in new]
    assert got[0].metadata == {"actor": "ada", "reason": "signup"}
    assert got[1].metadata == {"note": "h\u00e9llo \u2603"}
    assert all(e.stream_id == "acc-1" and e.timestamp > 1_600_000_000_000 for e in got)
    assert store.stream_version("acc-1") == 2
    assert store.last_position() == 2


def test_exact_expected_version(store: es.EventStore) -> None:
    store.append("s", events("A"), 0)
    assert store.append("s", events("B", "C"), 1) == es.AppendResult(3, 3)
    with pytest.raises(ConcurrencyError) as caught:
        store.append("s", events("D"), 1)
    err = caught.value
    assert (err.stream_id, err.expected, err.actual) == ("s", 1, 3)
    assert "'s'" in str(err) and "expected version 1" in str(err) and "version 3" in str(err)
    assert [e.type for e in store.read("s")] == ["A", "B", "C"]
    assert store.last_position() == 3


def test_stream_states(store: es.EventStore) -> None:
    with pytest.raises(ConcurrencyError, match="does not exist"):
        store.append("s", events("A"), es.STREAM_EXISTS)
    store.append("s", events("A"), es.NO_STREAM)
    with pytest.raises(ConcurrencyError) as caught:
        store.append("s", events("B"), es.NO_STREAM)
    assert caught.value.expected is es.NO_STREAM and caught.value.actual == 1
    store.append("s", events("B"), es.STREAM_EXISTS)
    store.append("s", events("C"), es.ANY)
    store.append("t", events("A"))  # ANY is the default, on a new stream too
    assert store.stream_version("s") == 3 and store.stream_version("t") == 1
    assert store.stream_version("nope") == 0


def test_empty_append_checks_the_expectation_and_writes_nothing(store: es.EventStore) -> None:
    store.append("s", events("A"))
    assert store.append("s", [], 1) == es.AppendResult(1, 1)
    with pytest.raises(ConcurrencyError):
        store.append("s", [], 5)
    assert store.append("new", [], es.NO_STREAM).version == 0
    assert store.stream_version("new") == 0 and store.last_position() == 1


@pytest.mark.parametrize("expected", [-1, -7, True, "3", 1.0, None])
def test_bad_expected_version_is_refused_and_writes_nothing(
    store: es.EventStore, expected: object
) -> None:
    with pytest.raises(InvalidEventError, match="expected_version") as caught:
        store.append("s", events("A"), expected)  # type: ignore[arg-type]
    assert "'s'" in str(caught.value)
    assert store.last_position() == 0 and store.read("s") == []


def test_oversized_event_is_refused_and_writes_nothing(store: es.EventStore) -> None:
    batch = [*events("Small"), *events("Huge", size=5000)]
    with pytest.raises(EventTooLargeError) as caught:
        store.append("s", batch)
    err = caught.value
    assert err.index == 1 and err.limit == 4096 and err.size > 4096
    assert "Huge" in str(err) and "'s'" in str(err) and "4096" in str(err)
    assert store.last_position() == 0 and store.stream_version("s") == 0


@pytest.mark.parametrize("stream_id", ["", None, 7, "a\x00b", "x" * 300])
def test_bad_stream_id_is_refused(store: es.EventStore, stream_id: object) -> None:
    with pytest.raises(InvalidEventError, match="stream id"):
        store.append(stream_id, events("A"))  # type: ignore[arg-type]
    assert store.last_position() == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "Dict"},
        es.NewEvent("", b"{}"),
        es.NewEvent("T", "text, not bytes"),  # type: ignore[arg-type]
        es.NewEvent("T", b"{}", type_version=0),
        es.NewEvent("T", b"{}", {"when": object()}),
    ],
)
def test_bad_event_is_refused_and_writes_nothing(store: es.EventStore, bad: object) -> None:
    with pytest.raises(InvalidEventError, match="event #1"):
        store.append("s", [*events("Fine"), bad])  # type: ignore[list-item]
    assert store.last_position() == 0


def test_read_ranges_and_unknown_streams(store: es.EventStore) -> None:
    store.append("s", events("A", "B", "C", "D", "E"))
    assert [e.version for e in store.read("s", 2, 4)] == [2, 3, 4]
    assert [e.version for e in store.read("s", 4)] == [4, 5]
    assert [e.version for e in store.read("s", 2, limit=2)] == [2, 3]
    assert store.read("s", 6) == [] and store.read("missing") == []
    with pytest.raises(InvalidEventError, match="from_version"):
        store.read("s", 0)


def test_read_as_of_a_time_is_a_prefix_of_the_stream(store: es.EventStore) -> None:
    for t in ("A", "B", "C"):
        store.append("s", events(t))
        time.sleep(0.005)  # distinct millisecond timestamps, so the cut falls between events
    full = store.read("s")
    cut = full[1].timestamp
    assert store.read("s", as_of=cut) == [e for e in full if e.timestamp <= cut] == full[:2]
    import datetime as dt

    when = dt.datetime.fromtimestamp(cut / 1000, dt.UTC)
    assert [e.version for e in store.read("s", as_of=when)] == [1, 2]
    assert store.read("s", as_of=full[0].timestamp - 1) == []
    with pytest.raises(InvalidEventError, match="time zone"):
        store.read("s", as_of=dt.datetime(2020, 1, 1))


def test_read_all_is_the_dense_global_order(store: es.EventStore) -> None:
    store.append("a", events("A1", "A2"))
    store.append("b", events("B1"))
    store.append("a", events("A3"))
    every = store.read_all()
    assert [(e.position, e.stream_id, e.type) for e in every] == [
        (1, "a", "A1"),
        (2, "a", "A2"),
        (3, "b", "B1"),
        (4, "a", "A3"),
    ]
    assert [e.position for e in store.read_all(3)] == [3, 4]
    assert [e.position for e in store.read_all(2, limit=2)] == [2, 3]
    assert store.read_all(5) == []
    timestamps = [e.timestamp for e in every]
    assert timestamps == sorted(timestamps)
    assert [e.position for e in es.iter_all(store, 2, page=1)] == [2, 3, 4]


def test_streams_listing(store: es.EventStore) -> None:
    store.append("order-2", events("A"))
    store.append("order-1", events("A", "B"))
    store.append("user-1", events("A"))
    listed = store.streams(prefix="order-")
    assert [(s.stream_id, s.version) for s in listed] == [("order-1", 2), ("order-2", 1)]
    assert [s.stream_id for s in store.streams()] == ["order-1", "order-2", "user-1"]
    assert len(store.streams(limit=1)) == 1


# --- snapshots ----------------------------------------------------------------------------


def test_snapshot_is_stored_with_the_append_and_loaded_with_the_tail(store: es.EventStore) -> None:
    store.append("s", events("A", "B"))
    store.append("s", events("C"), 2, snapshot=es.NewSnapshot("Agg", 1, b"state@3"))
    store.append("s", events("D", "E"), 3)
    snap, tail = store.load("s", snapshot_type="Agg", schema_version=1)
    assert snap is not None and (snap.version, snap.data, snap.type) == (3, b"state@3", "Agg")
    assert [e.version for e in tail] == [4, 5]
    # Another schema version or type: no snapshot, every event.
    for kwargs in ({"snapshot_type": "Agg", "schema_version": 2}, {"snapshot_type": "Other"}):
        snap, tail = store.load("s", **kwargs)  # type: ignore[arg-type]
        assert snap is None and [e.version for e in tail] == [1, 2, 3, 4, 5]
    # Bounded below the snapshot: replay from the start.
    snap, tail = store.load("s", snapshot_type="Agg", to_version=2)
    assert snap is None and [e.version for e in tail] == [1, 2]
    snap, tail = store.load("s", snapshot_type="Agg", to_version=4)
    assert snap is not None and snap.version == 3 and [e.version for e in tail] == [4]
    snap, tail = store.load("s")
    assert snap is None and len(tail) == 5


def test_snapshot_without_new_events(store: es.EventStore) -> None:
    store.append("s", events("A", "B"))
    store.append("s", [], 2, snapshot=es.NewSnapshot("Agg", 1, b"at2"))
    snap, tail = store.load("s", snapshot_type="Agg")
    assert snap is not None and snap.version == 2 and tail == []
    assert store.last_position() == 2


def test_snapshot_respects_as_of(store: es.EventStore) -> None:
    store.append("s", events("A"))
    time.sleep(0.005)
    store.append("s", events("B"), snapshot=es.NewSnapshot("Agg", 1, b"at2"))
    first = store.read("s")[0]
    snap, tail = store.load("s", snapshot_type="Agg", as_of=first.timestamp)
    assert snap is None and [e.version for e in tail] == [1]


# --- checkpoints, transactions, subscriptions ---------------------------------------------


def test_checkpoints(store: es.EventStore) -> None:
    assert store.get_checkpoint("p") == 0
    store.set_checkpoint("p", 7)
    assert store.get_checkpoint("p") == 7
    with pytest.raises(RuntimeError), store.transaction() as tx:
        store.set_checkpoint("p", 9, tx=tx)
        raise RuntimeError("rolled back")
    assert store.get_checkpoint("p") == 7
    with store.transaction() as tx:
        assert store.get_checkpoint("p", tx=tx) == 7
        store.set_checkpoint("p", 8, tx=tx)
    assert store.get_checkpoint("p") == 8


def test_subscription_catches_up_then_follows_live(store: es.EventStore) -> None:
    store.append("s", events("A", "B"))
    sub = store.subscribe("follower")
    assert [e.type for e in sub.poll(timeout=0)] == ["A", "B"]
    assert sub.poll(timeout=0.05) == []

    def later() -> None:
        time.sleep(0.2)
        store.append("t", events("C"))

    writer = threading.Thread(target=later)
    writer.start()
    live = sub.poll(timeout=WAIT)
    writer.join()
    assert [(e.position, e.type) for e in live] == [(3, "C")]
    sub.commit()
    store.append("s", events("D"))
    resumed = store.subscribe("follower")
    assert [e.type for e in resumed.poll(timeout=WAIT)] == ["D"]
    assert [e.type for e in store.subscribe(from_position=2).poll(timeout=0)] == ["B", "C", "D"]
    with pytest.raises(InvalidEventError):
        store.subscribe(from_position=0)


def test_projection_applies_and_checkpoints_atomically(store: es.EventStore, backend: str) -> None:
    class Totals:
        name = "totals"
        fail_on: str | None = None

        def setup(self, tx: es.SqlTransaction) -> None:
            tx.execute("CREATE TABLE IF NOT EXISTS totals (stream TEXT PRIMARY KEY, n INTEGER)")

        def reset(self, tx: es.SqlTransaction) -> None:
            tx.execute("DELETE FROM totals")

        def handle(self, event: es.RecordedEvent, tx: es.SqlTransaction) -> None:
            if event.type == self.fail_on:
                raise RuntimeError(f"cannot handle {event.type}")
            tx.execute(
                sql(
                    backend,
                    "INSERT INTO totals VALUES (?, 1) ON CONFLICT (stream) DO UPDATE "
                    "SET n = totals.n + 1",
                ),
                (event.stream_id,),
            )

    def totals() -> dict[str, int]:
        with store.transaction() as tx:
            return dict(tx.execute("SELECT stream, n FROM totals").fetchall())

    projection = Totals()
    runner = es.ProjectionRunner(store, projection, batch_size=2)
    store.append("a", events("X", "X"))
    store.append("b", events("X", "Boom"))
    projection.fail_on = "Boom"
    with pytest.raises(RuntimeError, match="Boom"):
        runner.run_until_caught_up()
    # Batch [1, 2] applied; the failed batch [3, 4] (b's X, then Boom) left no trace.
    assert runner.position == 2 and totals() == {"a": 2}
    projection.fail_on = None
    assert runner.run_until_caught_up() == 2
    assert runner.position == 4 and totals() == {"a": 2, "b": 2}
    assert runner.rebuild() == 4 and totals() == {"a": 2, "b": 2}


def test_concurrent_writers_with_one_expectation_one_wins(store: es.EventStore) -> None:
    store.append("s", events("A"))
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def write() -> None:
        barrier.wait(timeout=WAIT)
        try:
            store.append("s", events("B"), 1)
            outcomes.append("ok")
        except ConcurrencyError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=WAIT)
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    assert [e.version for e in store.read("s")] == [1, 2]
    assert [e.position for e in store.read_all()] == [1, 2]


def test_event_ids_are_kept(store: es.EventStore) -> None:
    ident = uuid.uuid4()
    store.append("s", [es.NewEvent("A", b"{}", id=ident)])
    assert store.read_all()[0].id == ident


def test_two_projection_runners_take_turns(store: es.EventStore, backend: str) -> None:
    class Seen:
        name = "seen"

        def setup(self, tx: es.SqlTransaction) -> None:
            tx.execute("CREATE TABLE IF NOT EXISTS seen (position INTEGER PRIMARY KEY)")

        def reset(self, tx: es.SqlTransaction) -> None:
            tx.execute("DELETE FROM seen")

        def handle(self, event: es.RecordedEvent, tx: es.SqlTransaction) -> None:
            # A second application of one event would violate the primary key.
            tx.execute(sql(backend, "INSERT INTO seen VALUES (?)"), (event.position,))

    for i in range(60):
        store.append(f"s-{i % 5}", events("E"))
    runners = [es.ProjectionRunner(store, Seen(), batch_size=7) for _ in range(2)]
    applied = [0, 0]
    barrier = threading.Barrier(2)

    def run(i: int) -> None:
        barrier.wait(timeout=WAIT)
        applied[i] = runners[i].run_until_caught_up()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=WAIT)
    assert sum(applied) == 60 and runners[0].position == 60
    with store.transaction() as tx:
        assert [
            r[0] for r in tx.execute("SELECT position FROM seen ORDER BY 1").fetchall()
        ] == list(range(1, 61))
