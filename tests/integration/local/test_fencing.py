"""Fencing and the commit point, with real processes paused (SIGSTOP) and killed (SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from strom.log import TopicPartition, TopicSpec
from strom.log.local import LocalLog
from strom.log.local.locks import FileLock
from tests.integration.local.support import Worker, read_partition

IN = TopicPartition("in", 0)


def make_log(path: Path, out: int = 0) -> None:
    """Topics "in" (10 records) and "out" (``out`` records of 5000 bytes)."""
    log = LocalLog(path, {"fsync": "none"})
    log.admin().create_topics([TopicSpec("in", 1), TopicSpec("out", 1)])
    producer = log.producer()
    for i in range(10):
        producer.send("in", f"in-{i}".encode())
    for _ in range(out):
        producer.send("out", b"x" * 5000)
    producer.flush(10)
    producer.close()
    log.close()


def outcome(worker: Worker, name: str) -> tuple[str, str]:
    line = next(x for x in worker.lines if x.startswith(name + " "))
    parts = line.split(" ", 2)
    return parts[1], parts[2] if len(parts) > 2 else ""


def test_a_member_paused_past_its_session_is_fenced_and_commits_nothing(tmp_path: Path) -> None:
    path = tmp_path / "log"
    make_log(path)
    zombie = Worker("zombie", path, 1000)
    zombie.wait_for(lambda lines: any(x.startswith("ready") for x in lines))
    os.kill(zombie.proc.pid, signal.SIGSTOP)  # alive, holding its locks, silent
    log = LocalLog(path, {"fsync": "batch"})
    try:
        survivor = log.consumer("g", options={"session.timeout.ms": "1000"})
        try:
            survivor.subscribe(["in"])
            deadline = time.monotonic() + 30
            taken: list[bytes | None] = []
            while survivor.assignment() != [IN] and time.monotonic() < deadline:
                taken += [r.value for r in survivor.poll(timeout=0.1)]
            assert survivor.assignment() == [IN]  # the paused member's session ended
        finally:
            os.kill(zombie.proc.pid, signal.SIGCONT)
        (path / "go").touch()
        zombie.finish()
        for name in ("commit", "txn"):
            kind, raw = outcome(zombie, name)
            message = json.loads(raw)
            assert kind == "GroupFencedError", (name, kind, message)
            assert "no longer in group 'g'" in message
        # Nothing of the zombie's transaction or offsets was written ...
        assert read_partition(path, "out", 0) == []
        assert log.admin().group_offsets("g") == {}
        # ... so the new owner processes every record (at least once, not lost).
        while len(taken) < 10 and time.monotonic() < deadline:
            taken += [r.value for r in survivor.poll(timeout=0.1)]
        assert taken == [f"in-{i}".encode() for i in range(10)]
        survivor.close()
    finally:
        log.close()


def test_a_transaction_whose_apply_fails_after_the_commit_point_reports_success(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log"
    make_log(path, out=40)
    # The partition is over the file size limit: the intent (small, a new file) is written,
    # the append to the partition fails with EFBIG.
    worker = Worker("txn_apply_fails", path, 150_000)
    worker.finish()
    kind, rest = outcome(worker, "commit")
    assert kind == "ok", rest  # committed: no error that would invite a duplicating retry
    assert rest.split() == ["5", "1"]  # every record reported, the intent still pending
    records = read_partition(path, "out", 0)  # a new process completes the transaction
    txn = [r.value for r in records if r.value and r.value.startswith(b"txn-")]
    assert txn == [f"txn-{i}".encode() for i in range(5)]
    assert [r.offset for r in records] == list(range(45))


def test_a_transaction_killed_between_intent_and_apply_is_completed_once(tmp_path: Path) -> None:
    path = tmp_path / "log"
    make_log(path, out=1)
    lock = FileLock(path / "topics" / "out" / "0" / "lock")
    lock.acquire(10)  # the committer's append waits for this: it is between intent and apply
    try:
        worker = Worker("txn_committer", path)
        worker.wait_for(lambda lines: "committing" in lines)
        pending = path / "transactions" / "pending"
        deadline = time.monotonic() + 30
        while not list(pending.glob("*.intent")) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert list(pending.glob("*.intent"))
        worker.kill()
        assert "done" not in worker.lines
    finally:
        lock.release()
        lock.close()
    log = LocalLog(path, {"fsync": "batch"})  # opening the log completes it
    try:
        assert log.admin().group_offsets("g") == {IN: 3}
    finally:
        log.close()
    log = LocalLog(path, {"fsync": "batch"})  # and a second opening does not repeat it
    log.close()
    assert [r.value for r in read_partition(path, "out", 0)][1:] == [
        f"txn-{i}".encode() for i in range(5)
    ]
