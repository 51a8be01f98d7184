"""Child processes for the embedded log's fault and concurrency tests.

Run as ``python -m tests.integration.local.workers ROLE ARGS...``; each role prints one line
per fact the parent needs (flushed at once, so a SIGKILL loses nothing already printed).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

from strom.errors import StromError
from strom.log import RecordMetadata, TopicPartition, TopicSpec
from strom.log.local import LocalLog


def emit(*parts: object) -> None:
    """One line to the parent, flushed."""
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


def writer(path: str, topic: str, fsync: str, prefix: str, count: int, pad: int = 0) -> None:
    """Append ``count`` records (forever if 0) of at least ``pad`` bytes, printing
    'ack PREFIX PARTITION OFFSET' for each acknowledged one."""
    log = LocalLog(path, {"fsync": fsync})
    producer = log.producer(options={"linger.ms": "1", "batch.num.messages": "50"})

    def acked(meta: RecordMetadata | None, error: Exception | None) -> None:
        if meta is not None:
            emit("ack", prefix, meta.partition, meta.offset)

    i = 0
    while count == 0 or i < count:
        value = f"{prefix}-{i}".encode().ljust(pad, b".")
        producer.send(topic, value, f"{prefix}-{i}".encode(), on_delivery=acked)
        i += 1
        if i % 25 == 0:
            producer.poll(0)
    producer.flush(30)
    producer.close()
    log.close()
    emit("done", prefix)


def limited_writer(path: str, topic: str, limit_bytes: int) -> None:
    """Append under RLIMIT_FSIZE until the limit stops it; print acks and the error."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so the write fails with EFBIG instead
    log = LocalLog(path, {"fsync": "batch"})
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    producer = log.producer(options={"linger.ms": "0", "batch.num.messages": "20"})

    def acked(meta: RecordMetadata | None, error: Exception | None) -> None:
        if meta is not None:
            emit("ack", meta.offset)

    try:
        for i in range(100_000):
            producer.send(topic, b"x" * 200, str(i).encode(), on_delivery=acked)
            if i % 20 == 19:
                producer.flush(30)
    except StromError as exc:
        cause = exc.__cause__
        emit("error", type(exc).__name__, type(cause).__name__, json.dumps(str(cause or exc)))
    else:
        emit("no-error")
    try:
        producer.close(5)
        log.close()
    except StromError:
        pass


def consumer(path: str, topic: str, group: str, out: str, stop: str) -> None:
    """Consume as a group member until ``stop`` exists; append 'partition offset value'
    lines to ``out`` and commit after each batch (and in on_revoke)."""
    log = LocalLog(path, {"fsync": "batch"})
    client = log.consumer(group, options={"session.timeout.ms": "5000"})
    client.subscribe([topic], on_revoke=lambda _: client.commit())
    with open(out, "a", buffering=1) as sink:
        emit("started")
        while not os.path.exists(stop):
            records = client.poll(max_records=200, timeout=0.1)
            for r in records:
                sink.write(f"{r.partition} {r.offset} {(r.value or b'').decode()}\n")
            if records:
                sink.flush()
                os.fsync(sink.fileno())
                client.commit()
    client.close()
    log.close()
    emit("stopped")


def member(path: str, topic: str, group: str, session_ms: int) -> None:
    """A group member that reports its assignment; used to be killed or stopped."""
    log = LocalLog(path, {"fsync": "none"})
    client = log.consumer(group, options={"session.timeout.ms": str(session_ms)})
    lost: list[TopicPartition] = []
    client.subscribe([topic], on_lost=lost.extend)
    reported: object = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        client.poll(timeout=0.05)
        now = (sorted(p.partition for p in client.assignment()), len(lost))
        if now != reported:
            emit("assignment", json.dumps(now[0], separators=(",", ":")), "lost", now[1])
            reported = now
        if Path(path, "stop-members").exists():
            break
    client.close()
    log.close()


def interval_commit(path: str, count: int) -> None:
    """Under fsync=interval (an hour: no timed fsync), produce ``count`` records, consume
    them in group "g" and commit; print 'committed OFFSET', then wait to be killed."""
    log = LocalLog(path, {"fsync": "interval", "fsync.interval.ms": "3600000"})
    log.admin().create_topics([TopicSpec("t", 1)])
    producer = log.producer()
    for i in range(count):
        producer.send("t", f"record-{i}".encode())
    producer.flush(30)
    client = log.consumer("g")
    client.subscribe(["t"])
    seen = 0
    deadline = time.monotonic() + 30
    while seen < count and time.monotonic() < deadline:
        seen += len(client.poll(timeout=0.1))
    client.commit()
    emit("committed", client.position(TopicPartition("t", 0)))
    time.sleep(120)


def zombie(path: str, session_ms: int) -> None:
    """A group member of "in" that reads, sends its output to "out" in a transaction with
    its offsets, prints 'ready', and commits only once the file PATH/go exists (the parent
    pauses it meanwhile); prints what each commit said."""
    log = LocalLog(path, {"fsync": "batch"})
    client = log.consumer("g", options={"session.timeout.ms": str(session_ms)})
    client.subscribe(["in"])
    records = []
    deadline = time.monotonic() + 30
    while not records and time.monotonic() < deadline:
        records = client.poll(timeout=0.1)
    tx = log.producer(transactional_id="zombie")
    tx.init_transactions()
    tx.begin_transaction()
    for r in records:
        tx.send("out", r.value)
    tp = TopicPartition("in", 0)
    tx.send_offsets_to_transaction({tp: records[-1].offset + 1}, client.group_metadata())
    emit("ready", len(records))
    while not Path(path, "go").exists():  # no poll(): it would learn it lost its partitions
        time.sleep(0.01)
    for name, commit in (("commit", client.commit), ("txn", tx.commit_transaction)):
        try:
            commit()
            emit(name, "ok")
        except StromError as exc:
            emit(name, type(exc).__name__, json.dumps(str(exc)))
    log.close()


def txn_apply_fails(path: str, limit_bytes: int) -> None:
    """Commit a transaction whose intent fits under RLIMIT_FSIZE but whose partition
    ("out", already bigger than the limit) does not take the append; print the outcome."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so the write fails with EFBIG instead
    log = LocalLog(path, {"fsync": "batch"})
    tx = log.producer(transactional_id="tx")
    tx.init_transactions()
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    tx.begin_transaction()
    delivered: list[int] = []
    for i in range(5):
        tx.send("out", f"txn-{i}".encode(), on_delivery=lambda m, e: delivered.append(m.offset))
    try:
        tx.commit_transaction()
        emit("commit", "ok", len(delivered), len(log.transactions.pending_ids()))
    except StromError as exc:
        emit("commit", type(exc).__name__, json.dumps(str(exc)))
    os._exit(0)  # no clean close: the pending intent is completed by the next process


def txn_committer(path: str) -> None:
    """Commit one transaction of 5 records to "out" with offset 3 of "in" for group "g"
    (as an assign() consumer); print 'done' (the parent kills it before, mid-commit)."""
    log = LocalLog(path, {"fsync": "batch"})
    client = log.consumer("g")
    client.assign([TopicPartition("in", 0)])
    tx = log.producer(transactional_id="tx")
    tx.init_transactions()
    tx.begin_transaction()
    for i in range(5):
        tx.send("out", f"txn-{i}".encode())
    tx.send_offsets_to_transaction({TopicPartition("in", 0): 3}, client.group_metadata())
    emit("committing")
    tx.commit_transaction()
    emit("done")


ROLES = {
    "writer": lambda a: writer(a[0], a[1], a[2], a[3], int(a[4]), int(a[5]) if a[5:] else 0),
    "limited_writer": lambda a: limited_writer(a[0], a[1], int(a[2])),
    "consumer": lambda a: consumer(a[0], a[1], a[2], a[3], a[4]),
    "member": lambda a: member(a[0], a[1], a[2], int(a[3])),
    "interval_commit": lambda a: interval_commit(a[0], int(a[1])),
    "zombie": lambda a: zombie(a[0], int(a[1])),
    "txn_apply_fails": lambda a: txn_apply_fails(a[0], int(a[1])),
    "txn_committer": lambda a: txn_committer(a[0]),
}

if __name__ == "__main__":
    ROLES[sys.argv[1]](sys.argv[2:])
