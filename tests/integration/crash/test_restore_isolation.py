"""A restore must see only committed state: records of an aborted transaction in a changelog
are not part of any store's state.

Found by the crash harness (issue 13) on Kafka: a SIGKILL during an exactly-once commit (after
the changelog records were sent, before the transaction committed) leaves them in the
changelog partition; the restarted producer aborts the transaction, but the restore consumer
read changelogs ``read_uncommitted``, so the restored store held the aborted updates and the
rolling counts skipped values (every user's count jumped by one or two after a kill in a
commit). Fixed in 0689e3c (the restore consumer reads ``read_committed`` under exactly-once).
This test writes deterministically what such a kill leaves behind: one changelog record in a
transaction that is then aborted. The embedded log never shows aborted records.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import strom
import strom.log
from strom.log import TopicPartition
from strom.runtime.plan import changelog_topic
from tests.conftest import unique
from tests.integration.runtime.processes import connected
from tests.integration.runtime.support import create, produce, read, run_until_caught_up


def _app(url: str, name: str, source: str, out: str, state_dir: Path) -> strom.App:
    app = strom.App(
        name,
        broker=url,
        guarantee="exactly-once",
        commit_interval=0.1,
        # Restored in full from the changelog at every start.
        state_backend="memory",
        state_dir=state_dir,
    )
    (app.stream(app.topic(source)).count(name="per-key").to(app.topic(out)))
    return app


@pytest.mark.kafka
def test_a_restore_ignores_changelog_records_of_an_aborted_transaction(
    kafka_url: str, tmp_path: Path
) -> None:
    name, source, out = unique("restore"), unique("in"), unique("out")
    with connected(kafka_url) as log:
        create(log, source, 1)
        create(log, out, 1)
        # Two runs: the changelog holds the state after the first record (count 1), then
        # after the fifth (count 5).
        app = _app(kafka_url, name, source, out, tmp_path)
        topic = app.topic(source)
        produce(log, topic, [("k", {"n": 0})])
        run_until_caught_up(app, log, timeout=120)
        produce(log, topic, [("k", {"n": i}) for i in range(1, 5)])
        run_until_caught_up(_app(kafka_url, name, source, out, tmp_path), log, timeout=120)
        assert [o.value for o in read(log, out)] == [1, 2, 3, 4, 5]

        # What a kill inside a commit leaves: a changelog record (here the state after the
        # first record, count 1) in a transaction that is then aborted.
        changelog = changelog_topic(name, "per-key")
        first = _first_record(log, changelog)
        producer = log.producer(transactional_id=f"zombie-{uuid.uuid4().hex}")
        producer.init_transactions(30)
        producer.begin_transaction()
        producer.send(changelog, first.value, first.key, partition=first.partition)
        producer.flush(30)
        producer.abort_transaction(30)
        producer.close(10)

        produce(log, topic, [("k", {"n": 5})])
        run_until_caught_up(_app(kafka_url, name, source, out, tmp_path), log, timeout=120)
        assert [o.value for o in read(log, out)] == [1, 2, 3, 4, 5, 6]


def _first_record(log: strom.log.Log, topic: str) -> strom.log.Record:
    consumer = log.consumer()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek(TopicPartition(topic, 0), strom.log.OFFSET_BEGINNING)
        for _ in range(100):
            records = consumer.poll(1, 0.2)
            if records:
                return records[0]
    finally:
        consumer.close()
    raise AssertionError(f"{topic} is empty")
