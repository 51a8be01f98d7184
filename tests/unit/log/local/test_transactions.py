"""Transactions: intents, recovery of interrupted commits, idempotence, misuse."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from strom.errors import TransactionError
from strom.log import RecordMetadata, TopicPartition
from strom.log.local import LocalLog
from strom.log.local.transactions import Intent, PartitionPart
from tests.unit.log.local.conftest import create, produce, read


class Crash(BaseException):
    """Stands for the process dying in the middle of applying a commit."""


def crash_during_commit(log: LocalLog) -> Callable[[], None]:
    """The next commit applies its first partition part, then the process "dies".

    Returns the undo (the dead process's log is not used again).
    """
    coordinator = log.transactions
    real_part, real_offsets = coordinator._apply_part, coordinator._apply_offsets
    applied: list[int] = []

    def apply_then_die(part: PartitionPart, intent: Intent) -> list[int]:
        if applied:
            raise Crash
        applied.append(1)
        return real_part(part, intent)

    def die(intent: Intent) -> None:
        raise Crash

    coordinator._apply_part = apply_then_die  # type: ignore[method-assign]
    coordinator._apply_offsets = die  # type: ignore[method-assign]

    def undo() -> None:
        coordinator._apply_part = real_part  # type: ignore[method-assign]
        coordinator._apply_offsets = real_offsets  # type: ignore[method-assign]

    return undo


def test_commit_is_visible_abort_is_not_and_callbacks_say_so(
    open_log: Callable[..., LocalLog],
) -> None:
    log = open_log()
    create(log, "t")
    reports: list[tuple[RecordMetadata | None, Exception | None]] = []
    producer = log.producer(transactional_id="tx")
    producer.init_transactions()
    producer.begin_transaction()
    producer.send("t", b"kept", on_delivery=lambda m, e: reports.append((m, e)))
    producer.commit_transaction()
    producer.begin_transaction()
    producer.send("t", b"dropped", on_delivery=lambda m, e: reports.append((m, e)))
    producer.abort_transaction()
    producer.close()

    assert [r.value for r in read(log, "t")] == [b"kept"]
    (meta, error), (no_meta, abort_error) = reports
    assert error is None and meta is not None and (meta.topic, meta.offset) == ("t", 0)
    assert no_meta is None and isinstance(abort_error, TransactionError)


def test_interrupted_commit_is_completed_once_on_next_open(
    open_log: Callable[..., LocalLog],
) -> None:
    log = open_log()
    create(log, "a")
    create(log, "b")
    create(log, "src")
    produce(log, "src", [(None, b"in")] * 3)
    consumer = log.consumer("g")
    consumer.subscribe(["src"])
    while len(consumer.assignment()) < 1:
        consumer.poll(timeout=0.05)
    producer = log.producer(transactional_id="tx")
    producer.init_transactions()
    producer.begin_transaction()
    producer.send("a", b"a1")
    producer.send("b", b"b1")
    producer.send_offsets_to_transaction({TopicPartition("src", 0): 3}, consumer.group_metadata())
    crash_during_commit(log)
    with pytest.raises(Crash):
        producer.commit_transaction()
    # "a" got its part; "b" and the offsets did not: the intent file is the proof of commit.
    assert len(log.transactions.pending_ids()) == 1
    assert log.partition("a", 0).state().next_offset == 1
    assert log.partition("b", 0).state().next_offset == 0

    other = open_log()  # a new process opening the log completes the transaction
    assert other.transactions.pending_ids() == []
    assert [r.value for r in read(other, "a")] == [b"a1"]  # not applied twice
    assert [r.value for r in read(other, "b")] == [b"b1"]
    assert other.admin().group_offsets("g") == {TopicPartition("src", 0): 3}
    consumer.close()


def test_committed_offsets_wait_for_pending_transactions(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "src")
    reader = log.consumer("g")
    reader.assign([TopicPartition("src", 0)])
    producer = log.producer(transactional_id="tx")
    producer.init_transactions()
    producer.begin_transaction()
    producer.send("src", b"out")  # the records are applied, then the "crash"
    producer.send_offsets_to_transaction({TopicPartition("src", 0): 1}, reader.group_metadata())
    undo = crash_during_commit(log)
    with pytest.raises(Crash):
        producer.commit_transaction()
    undo()
    assert log.offsets("g").read({"src": log.topics.get("src").id}) == {}
    assert reader.committed([TopicPartition("src", 0)]) == {TopicPartition("src", 0): 1}


def test_incomplete_intent_never_committed(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t")
    pending = log.transactions.pending / "tx.0.0.intent"
    pending.write_bytes(b"STXI\x05\x00")  # the writer died while writing it
    log.transactions.recover()
    assert not pending.exists()
    assert read(log, "t") == []


def test_epochs_increase_and_misuse_is_refused(open_log: Callable[..., LocalLog]) -> None:
    log = open_log()
    create(log, "t")
    producer = log.producer(transactional_id="tx")
    with pytest.raises(TransactionError, match="init_transactions"):
        producer.begin_transaction()
    producer.init_transactions()
    first_epoch = log.transactions.current_epoch("tx")
    with pytest.raises(TransactionError, match="outside a transaction"):
        producer.send("t", b"x")
    with pytest.raises(TransactionError, match="no transaction"):
        producer.commit_transaction()
    producer.begin_transaction()
    with pytest.raises(TransactionError, match="already open"):
        producer.begin_transaction()
    with pytest.raises(TransactionError, match="group_metadata"):
        producer.send_offsets_to_transaction({TopicPartition("t", 0): 1}, "g")
    producer.abort_transaction()
    producer.close()
    again = log.producer(transactional_id="tx")
    again.init_transactions()
    assert log.transactions.current_epoch("tx") == first_epoch + 1
    plain = log.producer()
    with pytest.raises(TransactionError, match="no transactional_id"):
        plain.begin_transaction()


def test_a_transaction_over_its_memory_bound_is_refused_clearly(
    open_log: Callable[..., LocalLog],
) -> None:
    log = open_log()
    create(log, "t")
    producer = log.producer(transactional_id="big", options={"transaction.max.bytes": "10000"})
    producer.init_transactions()
    producer.begin_transaction()
    for i in range(9):
        producer.send("t", b"x" * 1000, str(i).encode())
    with pytest.raises(TransactionError, match=r"transaction\.max\.bytes=10000"):
        producer.send("t", b"x" * 1000, b"too much")
    producer.abort_transaction()
    producer.begin_transaction()  # the producer goes on with smaller transactions
    producer.send("t", b"small")
    producer.commit_transaction()
    producer.close()
    assert [r.value for r in read(log, "t")] == [b"small"]
