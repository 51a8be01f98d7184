"""The property "snapshot + tail == full replay", shared by the SQLite and PostgreSQL runs."""

from __future__ import annotations

import contextlib

from hypothesis import strategies as st

import strom.es as es
from tests.unit.es.bank import Account, registry

# A command: (name, amount). Refused commands (withdrawing too much) record nothing.
commands = st.lists(
    st.tuples(st.sampled_from(["deposit", "withdraw", "freeze"]), st.integers(1, 50)),
    min_size=1,
    max_size=40,
)
# How many commands go into each save (the chunks cycle).
chunks = st.lists(st.integers(1, 7), min_size=1, max_size=5)


def run(
    store: es.EventStore, ops: list[tuple[str, int]], every: int, sizes: list[int], probe: int
) -> None:
    """Save ``ops`` in chunks with snapshots every ``every`` events, then check that loads from
    snapshots equal full replays, now and at version ``probe``."""
    with_snaps = es.Repository(store, Account, registry(), snapshot_policy=es.every(every))
    replay = es.Repository(store, Account, registry(), use_snapshots=False)
    account = Account("p")
    account.open("owner")
    i = 0
    while i < len(ops):
        for name, amount in ops[i : i + sizes[i % len(sizes)]]:
            with contextlib.suppress(ValueError):
                getattr(account, name)(amount) if name != "freeze" else account.freeze("x")
        i += sizes[i % len(sizes)]
        with_snaps.save(account)
    assert with_snaps.load("p").state() == replay.load("p").state() == account.state()
    version = 1 + probe % account.version
    assert (
        with_snaps.load("p", version=version).state() == replay.load("p", version=version).state()
    )
