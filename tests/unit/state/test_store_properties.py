"""Property tests: random operation sequences against a plain dict model, on both backends.

Every sequence mixes writes, deletes, flushes, aborted transactions (prepare + discard),
expiry and reopen-with-restore; after each step the store must read exactly like the model,
and a fresh store restored from the whole changelog must hold the same state.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strom.errors import StateError
from strom.state.codec import MAX_TIME, MIN_TIME
from tests.contract.store_support import RAW, Harness

KEYS = st.sampled_from([b"", b"a", b"a\x00", b"a\x00\x01", b"\x00", b"ab", b"\xff", b"b"])
VALUES = st.binary(max_size=3)
TIMES = st.integers(min_value=-20, max_value=60)

_SETTINGS = {
    "memory": settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck)),
    "rocksdb": settings(max_examples=35, deadline=None, suppress_health_check=list(HealthCheck)),
}
BACKENDS = ["memory", "rocksdb"]

# -- key-value ----------------------------------------------------------------------------

KV_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), KEYS, VALUES),
        st.tuples(st.just("delete"), KEYS),
        st.tuples(st.just("flush")),
        st.tuples(st.just("abort")),
        st.tuples(st.just("reopen")),
    ),
    max_size=40,
)


def _run_kv(backend: str, ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        h = Harness(backend, Path(tmp), key_serde=RAW, value_serde=RAW)
        committed: dict[bytes, bytes] = {}
        dirty: dict[bytes, bytes | None] = {}
        try:
            for op in ops:
                if op[0] == "put":
                    h.store.put(op[1], op[2])
                    dirty[op[1]] = op[2]
                elif op[0] == "delete":
                    h.store.delete(op[1])
                    dirty[op[1]] = None
                elif op[0] == "flush":
                    changes = h.flush()
                    assert dict(changes) == dirty and len(changes) == len(dirty)
                    committed = _overlay(committed, dirty)
                    dirty = {}
                elif op[0] == "abort":
                    h.store.prepare()
                    h.store.discard()
                    dirty = {}
                else:
                    h.reopen()
                    dirty = {}
                view = _overlay(committed, dirty)
                assert h.store.dirty_count == len(dirty)
                assert list(h.store.items()) == sorted(view.items())
                for key in (b"a", b"a\x00", b""):
                    assert h.store.get(key) == view.get(key)
                    assert list(h.store.range(key, b"b")) == sorted(
                        (k, v) for k, v in view.items() if key <= k < b"b"
                    )
            h.flush()
            replica = h.fresh_replica()
            assert list(replica.items()) == list(h.store.items())
        finally:
            h.close()


def _overlay(base: dict[Any, Any], changes: dict[Any, Any]) -> dict[Any, Any]:
    out = dict(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_key_value_store_behaves_like_a_dict(backend: str) -> None:
    given(KV_OPS)(_SETTINGS[backend](lambda ops: _run_kv(backend, ops)))()


# -- window and session stores ------------------------------------------------------------

WINDOW_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), KEYS, TIMES, st.integers(0, 25), VALUES),
        st.tuples(st.just("delete"), KEYS, TIMES, st.integers(0, 25)),
        st.tuples(st.just("expire"), TIMES),
        st.tuples(st.just("flush")),
        st.tuples(st.just("abort")),
        st.tuples(st.just("reopen")),
    ),
    max_size=40,
)

Entry = tuple[bytes, int, int]


class WindowModel:
    """The committed and dirty entries plus expiry horizons, as plain dicts."""

    def __init__(self) -> None:
        self.committed: dict[Entry, bytes] = {}
        self.dirty: dict[Entry, bytes | None] = {}
        self.expired = MIN_TIME
        self.horizon = MIN_TIME

    def view(self) -> dict[Entry, bytes]:
        merged = _overlay(self.committed, self.dirty)
        return {k: v for k, v in merged.items() if k[2] >= self.horizon}

    def expire(self, before: int) -> None:
        if before > self.horizon:
            self.horizon = before
            self.dirty = {k: v for k, v in self.dirty.items() if k[2] >= before}

    def flush(self) -> None:
        self.committed = self.view()
        self.expired = self.horizon
        self.dirty = {}

    def abort(self) -> None:
        self.dirty = {}
        self.horizon = self.expired


def _run_segmented(kind: str, backend: str, ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        h = Harness(backend, Path(tmp), kind, key_serde=RAW, value_serde=RAW, segment_interval=7)
        model = WindowModel()
        try:
            for op in ops:
                if op[0] in ("put", "delete"):
                    key, start, end = op[1], op[2], op[2] + op[3]
                    if end < model.horizon and op[0] == "put":
                        with pytest.raises(StateError, match="expired"):
                            h.store.put(key, start, end, op[4])
                    elif op[0] == "put":
                        h.store.put(key, start, end, op[4])
                        model.dirty[(key, start, end)] = op[4]
                    else:
                        remove = h.store.delete if kind == "window" else h.store.remove
                        remove(key, start, end)
                        if end >= model.horizon:
                            model.dirty[(key, start, end)] = None
                elif op[0] == "expire":
                    h.store.expire(op[1])
                    model.expire(op[1])
                elif op[0] == "flush":
                    h.flush()
                    model.flush()
                elif op[0] == "abort":
                    h.store.prepare()
                    h.store.discard()
                    model.abort()
                else:
                    h.reopen()
                    model.abort()
                _check(kind, h.store, model.view())
                assert h.store.dirty_count == len(model.dirty) + (model.horizon > model.expired)
            h.flush()
            model.flush()
            replica = h.fresh_replica()
            _check(kind, replica, model.view())
        finally:
            h.close()


def _check(kind: str, store: Any, view: dict[Entry, bytes]) -> None:
    if kind == "window":
        everything = list(store.fetch_all(MIN_TIME, MAX_TIME))
        assert everything == sorted(
            ((k, s, e, v) for (k, s, e), v in view.items()), key=lambda r: (r[1], r[0], r[2])
        )
        assert list(store.fetch_all(0, 10)) == [r for r in everything if 0 <= r[1] <= 10]
        for key in (b"a", b"a\x00"):
            assert store.fetch(key, -5, 30) == sorted(
                (s, e, v) for (k, s, e), v in view.items() if k == key and -5 <= s <= 30
            )
    else:
        everything = list(store.fetch_all(MIN_TIME, MAX_TIME))
        assert everything == sorted(
            ((k, s, e, v) for (k, s, e), v in view.items()), key=lambda r: (r[2], r[0], r[1])
        )
        for key in (b"a", b"a\x00"):
            assert store.find_sessions(key, 10, 20) == sorted(
                (s, e, v) for (k, s, e), v in view.items() if k == key and e >= 10 and s <= 20
            )
    for (key, start, end), value in list(view.items())[:5]:
        assert store.get(key, start, end) == value


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["window", "session"])
def test_segmented_store_behaves_like_a_dict(kind: str, backend: str) -> None:
    given(WINDOW_OPS)(_SETTINGS[backend](lambda ops: _run_segmented(kind, backend, ops)))()
