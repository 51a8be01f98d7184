"""Aggregates and repositories on the embedded store: commands, saves, conflicts, snapshots,
temporal loads and the audit trail."""

from __future__ import annotations

import datetime as dt
import time

import pytest

import strom.es as es
from tests.unit.es.bank import Account, Deposited, Opened, registry


@pytest.fixture
def store() -> es.EventStore:
    return es.connect("sqlite://:memory:")


def opened(amounts: list[int]) -> Account:
    account = Account("a1")
    account.open("ada")
    for amount in amounts:
        account.deposit(amount)
    return account


def test_commands_return_events_and_save_appends_them(store: es.EventStore) -> None:
    repo = es.Repository(store, Account, registry())
    account = Account("a1")
    assert account.open("ada") == [Opened("ada")]
    assert account.deposit(5) == [Deposited(5)]
    assert repo.save(account) == es.AppendResult(2, 2)
    assert account.pending_events == []
    assert [e.stream_id for e in store.read_all()] == ["Account-a1", "Account-a1"]
    loaded = repo.load("a1")
    assert loaded.state() == account.state() == (2, "ada", 5, False, [5])
    with pytest.raises(ValueError, match="refused"):
        loaded.withdraw(100)
    assert loaded.pending_events == []


def test_stale_aggregate_save_conflicts_and_keeps_its_events(store: es.EventStore) -> None:
    repo = es.Repository(store, Account, registry())
    repo.save(opened([1]))
    first, second = repo.load("a1"), repo.load("a1")
    first.deposit(10)
    second.deposit(20)
    repo.save(first)
    with pytest.raises(es.ConcurrencyError) as caught:
        repo.save(second)
    assert (caught.value.expected, caught.value.actual) == (2, 3)
    assert second.pending_events == [Deposited(20)]
    assert repo.update("a1", lambda a: a.deposit(20)).balance == 31


def test_update_retries_a_conflict_once_more(store: es.EventStore) -> None:
    repo = es.Repository(store, Account, registry())
    repo.save(opened([]))
    calls = []

    def command(account: Account) -> None:
        calls.append(account.version)
        if len(calls) == 1:  # someone else writes between our load and our save
            repo.update("a1", lambda other: other.deposit(1))
        account.deposit(2)

    assert repo.update("a1", command).balance == 3
    assert calls == [1, 2]
    with pytest.raises(es.AggregateNotFoundError, match="'zz'"):
        repo.update("zz", lambda a: a.deposit(1))
    assert repo.update("new", lambda a: a.open("bob"), create=True).owner == "bob"


def test_load_missing_aggregate(store: es.EventStore) -> None:
    with pytest.raises(es.AggregateNotFoundError, match="Account 'nope' has no events"):
        es.Repository(store, Account, registry()).load("nope")


def test_snapshots_every_n_and_loading_uses_them(store: es.EventStore) -> None:
    repo = es.Repository(store, Account, registry(), snapshot_policy=es.every(3))
    account = opened([1, 2])  # 3 events: crosses 3
    repo.save(account)
    account.deposit(3)
    repo.save(account)
    snap, tail = store.load("Account-a1", snapshot_type="Account", schema_version=1)
    assert snap is not None and snap.version == 3 and [e.version for e in tail] == [4]
    assert repo.load("a1").state() == (4, "ada", 6, False, [1, 2, 3])
    plain = es.Repository(store, Account, registry(), use_snapshots=False)
    assert plain.load("a1").state() == repo.load("a1").state()


def test_snapshot_of_an_older_aggregate_version_is_ignored(store: es.EventStore) -> None:
    es.Repository(store, Account, registry(), snapshot_policy=es.every(1)).save(opened([5, 6]))

    class AccountV2(Account):
        snapshot_version = 2
        limit: int  # the state's shape changed

        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.limit = 100

    repo = es.Repository(store, AccountV2, registry(), prefix="Account-")
    repo.snapshot_type = "Account"
    loaded = repo.load("a1")  # the v1 snapshot has no "limit": replayed, not misread
    assert loaded.state() == (3, "ada", 11, False, [5, 6]) and loaded.limit == 100
    assert repo.take_snapshot("a1") == 3
    snap, tail = store.load("Account-a1", snapshot_type="Account", schema_version=2)
    assert snap is not None and snap.version == 3 and tail == []
    assert repo.load("a1").limit == 100


def test_state_as_of_a_version_and_a_time(store: es.EventStore) -> None:
    repo = es.Repository(store, Account, registry(), snapshot_policy=es.every(2))
    account = opened([])
    repo.save(account)
    for amount in (10, 20, 30):
        time.sleep(0.005)  # distinct millisecond timestamps
        account.deposit(amount)
        repo.save(account)
    assert repo.load("a1", version=2).state() == (2, "ada", 10, False, [10])
    stamps = [e.timestamp for e in store.read("Account-a1")]
    at = dt.datetime.fromtimestamp(stamps[2] / 1000, dt.UTC)
    assert repo.load("a1", as_of=at).balance == 30
    assert repo.load("a1", as_of=stamps[1]).balance == 10
    with pytest.raises(es.AggregateNotFoundError, match="within the bounds"):
        repo.load("a1", as_of=stamps[0] - 1)


def test_history_tells_who_when_why(store: es.EventStore) -> None:
    repo = es.Repository(store, Account, registry())
    account = opened([])
    repo.save(account, metadata=es.metadata(actor="ada", reason="signup", correlation_id="r1"))
    account.deposit(7)
    repo.save(account, metadata=es.metadata(actor="teller-3", reason="cash", causation_id="c9"))
    history = repo.history("a1")
    assert [(h.version, h.type, h.actor, h.reason) for h in history] == [
        (1, "Opened", "ada", "signup"),
        (2, "Deposited", "teller-3", "cash"),
    ]
    assert history[0].correlation_id == "r1" and history[1].causation_id == "c9"
    assert history[1].event == Deposited(7)
    assert history[0].time.tzinfo is not None
