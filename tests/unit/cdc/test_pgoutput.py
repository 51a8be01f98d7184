"""The pgoutput decoder on messages built byte by byte from the protocol's documentation."""

from __future__ import annotations

import struct

import pytest

from strom.cdc.postgres import pgoutput as pgo


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def tuple_data(*values: str | object | None) -> bytes:
    out = struct.pack(">h", len(values))
    for value in values:
        if value is None:
            out += b"n"
        elif value is pgo.UNCHANGED:
            out += b"u"
        else:
            data = str(value).encode()
            out += b"t" + struct.pack(">i", len(data)) + data
    return out


def test_begin_and_commit_carry_lsns_times_and_xid() -> None:
    begin = pgo.decode(b"B" + struct.pack(">QqI", 0x1_0000_0010, 1_000_000, 4242))
    assert begin == pgo.Begin(0x1_0000_0010, pgo.PG_EPOCH_US + 1_000_000, 4242)
    commit = pgo.decode(b"C" + struct.pack(">BQQq", 0, 100, 148, 5))
    assert commit == pgo.Commit(0, 100, 148, pgo.PG_EPOCH_US + 5)


def test_relation_lists_columns_with_key_flags_types_and_typmods() -> None:
    body = struct.pack(">I", 16384) + cstr("shop") + cstr("orders") + b"d" + struct.pack(">h", 2)
    body += b"\x01" + cstr("id") + struct.pack(">Ii", 23, -1)
    body += b"\x00" + cstr("price") + struct.pack(">Ii", 1700, (10 << 16 | 2) + 4)
    relation = pgo.decode(b"R" + body)
    assert relation == pgo.Relation(
        16384,
        "shop",
        "orders",
        "d",
        (
            pgo.RelationColumn(True, "id", 23, -1),
            pgo.RelationColumn(False, "price", 1700, (10 << 16 | 2) + 4),
        ),
    )


def test_insert_update_delete_tuples() -> None:
    insert = pgo.decode(b"I" + struct.pack(">I", 7) + b"N" + tuple_data("1", None, "é"))
    assert insert == pgo.Insert(7, ("1", None, "é"))
    old, new = tuple_data("1", "a"), tuple_data("1", pgo.UNCHANGED)
    update = pgo.decode(b"U" + struct.pack(">I", 7) + b"O" + old + b"N" + new)
    assert update == pgo.Update(7, ("1", "a"), "O", ("1", pgo.UNCHANGED))
    plain = pgo.decode(b"U" + struct.pack(">I", 7) + b"N" + new)
    assert plain.old is None and plain.old_kind is None  # type: ignore[union-attr]
    delete = pgo.decode(b"D" + struct.pack(">I", 7) + b"K" + tuple_data("1", None))
    assert delete == pgo.Delete(7, ("1", None), "K")


def test_truncate_type_origin_and_message() -> None:
    truncate = pgo.decode(b"T" + struct.pack(">IB", 2, 3) + struct.pack(">II", 10, 11))
    assert truncate == pgo.Truncate(True, True, (10, 11))
    assert pgo.decode(b"Y" + struct.pack(">I", 99) + cstr("public") + cstr("mood")) == (
        pgo.TypeMessage(99, "public", "mood")
    )
    assert pgo.decode(b"O" + struct.pack(">Q", 5) + cstr("node2")) == pgo.Origin(5, "node2")
    message = pgo.decode(
        b"M" + struct.pack(">BQ", 1, 9) + cstr("app") + struct.pack(">I", 2) + b"hi"
    )
    assert message == pgo.LogicalMessage(True, 9, "app", b"hi")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"Z\x00", "unknown pgoutput message type 'Z'"),
        (b"B\x00\x01", "malformed pgoutput 'B'"),
        (b"I" + struct.pack(">I", 7) + b"N" + struct.pack(">h", 1) + b"b", "binary mode"),
        (b"I" + struct.pack(">I", 7) + b"N" + struct.pack(">h", 1) + b"t\x00\x00\x00\x09ab",
         "truncated"),
    ],
)  # fmt: skip
def test_bad_messages_are_named(data: bytes, match: str) -> None:
    with pytest.raises(pgo.PgOutputError, match=match):
        pgo.decode(data)


def test_lsn_text_round_trip() -> None:
    for lsn in (0, 1, 0xFFFFFFFF, 0x1_0000_0000, 0xABCDEF_12345678):
        assert pgo.parse_lsn(pgo.format_lsn(lsn)) == lsn
    assert pgo.format_lsn(0x16_B374_8) == "0/16B3748"
