"""The sparse offset and time index."""

from __future__ import annotations

from strom.log.local.index import ENTRY, SegmentIndex, encode_index


def test_offset_lookup_finds_the_last_entry_at_or_before() -> None:
    index = SegmentIndex.from_entries(1000, [(10, 4096, 50), (25, 9000, 70), (40, 15000, 90)])
    assert index.position_for_offset(1000) == 0
    assert index.position_for_offset(1009) == 0
    assert index.position_for_offset(1010) == 4096
    assert index.position_for_offset(1030) == 9000
    assert index.position_for_offset(99_999) == 15000


def test_time_lookup_starts_where_no_earlier_record_can_match() -> None:
    # ts_before: largest timestamp of the records before each indexed batch
    index = SegmentIndex.from_entries(0, [(10, 100, 50), (20, 200, 50), (30, 300, 80)])
    assert index.position_for_timestamp(10) == 0  # something before batch 10 may match
    assert index.position_for_timestamp(50) == 0
    assert index.position_for_timestamp(51) == 200  # everything before 20 is <= 50
    assert index.position_for_timestamp(81) == 300


def test_parse_drops_entries_that_cannot_be_right() -> None:
    good = encode_index(SegmentIndex.from_entries(0, [(10, 100, 1), (20, 200, 2)]))
    torn = good + ENTRY.pack(15, 150, 3)[:7]  # partial entry, then nonsense ordering
    assert SegmentIndex.parse(0, torn, 10_000).positions == [100, 200]
    backwards = good + ENTRY.pack(5, 300, 3)
    assert SegmentIndex.parse(0, backwards, 10_000).offsets == [10, 20]
    assert SegmentIndex.parse(0, good, 150).positions == [100]  # past the end of data
