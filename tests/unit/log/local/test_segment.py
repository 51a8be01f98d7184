"""The record batch format: round trips, checksums, the fast record factory."""

from __future__ import annotations

import pytest

from strom.log import Record
from strom.log.local.segment import (
    ATTR_HEADERS,
    ATTR_SPARSE,
    HEADER_SIZE,
    batch_bytes,
    body_ok,
    build_records,
    decode_columns,
    decode_records,
    encode,
    header_ok,
    make_record,
    parse_header,
    reencode,
    seal,
)


def sealed(batch_base: int = 0, **kwargs: object) -> bytes:
    batch = encode(
        [b"k1", None, b""],
        [b"v1", b"v2", None],
        [10, 30, 20],
        [(("h", b"x"), ("h", b"y")), (), (("only", b""),)],
        **kwargs,  # type: ignore[arg-type]
    )
    seal(batch.header, batch_base)
    return batch_bytes(batch)


def test_round_trip_keeps_keys_values_timestamps_headers() -> None:
    raw = sealed(100)
    header = parse_header(raw, 0)

    assert header_ok(raw, 0, header) and body_ok(raw, 0, header)
    assert (header.base_offset, header.record_count, header.last_offset, header.max_timestamp) == (
        100,
        3,
        102,
        30,
    )
    assert header.attributes & ATTR_HEADERS
    records = decode_records(raw, 0, header, "t", 4)
    assert records == [
        Record("t", 4, 100, b"k1", b"v1", 10, (("h", b"x"), ("h", b"y"))),
        Record("t", 4, 101, None, b"v2", 30, ()),
        Record("t", 4, 102, b"", None, 20, (("only", b""),)),
    ]
    assert decode_records(raw, 0, header, "t", 4, min_offset=102)[0].offset == 102


def test_fast_factory_builds_equal_records() -> None:
    made = make_record("t", 1, 2, b"k", None, 3, (("a", b"b"),))
    assert made == Record("t", 1, 2, b"k", None, 3, (("a", b"b"),))
    assert type(made) is Record
    assert hash(made.topic_partition) == hash(Record("t", 1, 2, None, None, 0).topic_partition)


def test_unicode_header_names() -> None:
    batch = encode([b"k"], [b"v"], [1], [(("grüße", b"\xff"),)])
    seal(batch.header, 0)
    raw = batch_bytes(batch)
    assert decode_records(raw, 0, parse_header(raw, 0), "t", 0)[0].headers == (("grüße", b"\xff"),)


@pytest.mark.parametrize("position", [0, 5, 13, 30, HEADER_SIZE - 1])
def test_a_flipped_header_bit_is_detected(position: int) -> None:
    raw = bytearray(sealed(7))
    raw[position] ^= 0x10
    header = parse_header(bytes(raw), 0)
    assert not header_ok(bytes(raw), 0, header)


@pytest.mark.parametrize("offset_from_end", [1, 5, 20, 40])
def test_a_flipped_body_bit_is_detected(offset_from_end: int) -> None:
    raw = bytearray(sealed(7))
    raw[len(raw) - offset_from_end] ^= 0x01
    header = parse_header(bytes(raw), 0)
    assert header_ok(bytes(raw), 0, header)
    assert not body_ok(bytes(raw), 0, header)


def test_base_offset_is_covered_by_the_header_checksum() -> None:
    raw = bytearray(sealed(1000))
    raw[0] ^= 0x01  # base offset 1000 -> 1001
    assert not header_ok(bytes(raw), 0, parse_header(bytes(raw), 0))


def test_reencode_keeps_offsets_of_survivors() -> None:
    raw = sealed(50)
    header = parse_header(raw, 0)
    columns = decode_columns(raw, 0, header)
    thin = reencode(columns, [0, 2], header, delete_horizon=123)
    seal(thin.header, header.base_offset)
    out = batch_bytes(thin)
    new_header = parse_header(out, 0)
    assert new_header.attributes & ATTR_SPARSE
    assert new_header.delete_horizon == 123
    assert [(r.offset, r.key) for r in decode_records(out, 0, new_header, "t", 0)] == [
        (50, b"k1"),
        (52, b""),
    ]


def test_empty_batch_is_refused() -> None:
    with pytest.raises(ValueError):
        encode([], [], [])


@pytest.mark.parametrize(
    ("keys", "values"),
    [
        ([None, None, None], [b"abc", b"def", b"ghi"]),  # no keys; values of one length
        ([b"k1", b"k2", b"k3"], [b"", None, b"longer value"]),  # keys of one length
        ([b"a", b"", None], [None, None, None]),  # only tombstones
        ([b"", b"", b""], [b"x", b"yy", b""]),  # empty keys: one length, zero
    ],
)
def test_columns_of_one_length_and_mixed_round_trip(
    keys: list[bytes | None], values: list[bytes | None]
) -> None:
    batch = encode(keys, values, [5, 6, 7])
    seal(batch.header, 40)
    raw = batch_bytes(batch) + b"trailing bytes of the next batch"
    header = parse_header(raw, 0)
    assert body_ok(raw, 0, header)
    got = decode_records(raw, 0, header, "t", 1)
    assert [(r.offset, r.key, r.value, r.timestamp) for r in got] == list(
        zip([40, 41, 42], keys, values, [5, 6, 7], strict=True)
    )
    assert all(type(r) is Record for r in got)


def test_build_records_is_make_record_in_bulk() -> None:
    headers = [(), (("h", b"1"),)]
    built = build_records("t", 3, [10, 12], [None, b"k"], [b"a", None], [1, 2], headers)
    assert built == [
        make_record("t", 3, 10, None, b"a", 1, ()),
        make_record("t", 3, 12, b"k", None, 2, (("h", b"1"),)),
    ]
    assert all(type(r) is Record for r in built)


def test_min_offset_inside_a_compacted_batch() -> None:
    raw = sealed(50)
    header = parse_header(raw, 0)
    thin = reencode(decode_columns(raw, 0, header), [0, 2], header, delete_horizon=0)
    seal(thin.header, 50)
    out = batch_bytes(thin)
    new_header = parse_header(out, 0)
    assert [r.offset for r in decode_records(out, 0, new_header, "t", 0, min_offset=51)] == [52]
    assert decode_records(out, 0, new_header, "t", 0, min_offset=53) == []
