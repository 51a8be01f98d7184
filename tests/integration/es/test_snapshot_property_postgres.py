"""The snapshot property (see tests/unit/es/test_snapshot_property.py) on PostgreSQL."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strom.es as es
from tests.contract.event_store_support import drop_schema, unique_schema
from tests.unit.es.snapshot_property import chunks, commands, run

pytestmark = pytest.mark.postgres


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=commands, every=st.integers(1, 10), sizes=chunks, probe=st.integers(0, 1000))
def test_snapshot_plus_tail_equals_full_replay_on_postgres(
    postgres_dsn: str, ops: list[tuple[str, int]], every: int, sizes: list[int], probe: int
) -> None:
    schema = unique_schema("prop")
    store = es.connect(postgres_dsn, schema=schema)
    try:
        run(store, ops, every, sizes, probe)
    finally:
        store.close()
        drop_schema(postgres_dsn, schema)
