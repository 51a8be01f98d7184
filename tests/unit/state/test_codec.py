"""The byte layouts of window and session entries: order, prefix-freedom, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strom.state import codec

KEYS = st.binary(max_size=6)
TIMES = st.integers(min_value=codec.MIN_TIME, max_value=codec.MAX_TIME)


@given(KEYS, KEYS)
def test_escaping_preserves_order_and_is_prefix_free(a: bytes, b: bytes) -> None:
    ea, eb = codec.escape(a), codec.escape(b)
    assert (ea < eb) == (a < b)
    if a != b:
        assert not eb.startswith(ea) and not ea.startswith(eb)
    assert codec.unescape(ea[:-2]) == a


@given(
    st.tuples(st.integers(-5, 5), KEYS, TIMES, TIMES),
    st.tuples(st.integers(-5, 5), KEYS, TIMES, TIMES),
)
def test_storage_keys_sort_by_segment_key_start_end(
    x: tuple[int, bytes, int, int], y: tuple[int, bytes, int, int]
) -> None:
    kx = codec.storage_key(x[0], codec.escape(x[1]), x[2], x[3])
    ky = codec.storage_key(y[0], codec.escape(y[1]), y[2], y[3])
    assert (kx < ky) == (x < y)
    assert codec.parse_storage_key(kx) == x
    assert codec.parse_segment(kx) == x[0]


@given(KEYS, TIMES, TIMES)
def test_changelog_keys_round_trip(key: bytes, start: int, end: int) -> None:
    record_key = codec.changelog_key(key, start, end)
    assert record_key[:1] == b"\x01"
    assert codec.parse_changelog_key(record_key) == (key, start, end)


@given(KEYS, TIMES)
def test_start_bounds_enclose_exactly_the_starts_asked_for(key: bytes, start: int) -> None:
    prefix = codec.segment_prefix(3) + codec.escape(key)
    entry = codec.storage_key(3, codec.escape(key), start, start)
    assert codec.start_bound(prefix, start) <= entry < codec.after_start(prefix, start)
    if start > codec.MIN_TIME:
        assert entry >= codec.after_start(prefix, start - 1)


@pytest.mark.parametrize("bad", [b"", b"\x01short", b"\x02" + bytes(16)])
def test_malformed_changelog_keys_are_refused(bad: bytes) -> None:
    with pytest.raises(ValueError, match="not a format-1"):
        codec.parse_changelog_key(bad)
