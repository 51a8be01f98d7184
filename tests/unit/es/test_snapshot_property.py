"""Property: loading from the latest snapshot plus the events after it gives the same state as
replaying every event, for any commands, save boundaries and snapshot interval (embedded)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import strom.es as es
from tests.unit.es.snapshot_property import chunks, commands, run


@settings(max_examples=60, deadline=None)
@given(ops=commands, every=st.integers(1, 10), sizes=chunks, probe=st.integers(0, 1000))
def test_snapshot_plus_tail_equals_full_replay(
    ops: list[tuple[str, int]], every: int, sizes: list[int], probe: int
) -> None:
    store = es.connect("sqlite://:memory:")
    try:
        run(store, ops, every, sizes, probe)
    finally:
        store.close()
