"""A decoder of PostgreSQL's ``pgoutput`` logical replication messages (protocol version 1).

The wire format is documented in PostgreSQL's "Logical Replication Message Formats". Column
values arrive in text form (each type's output function), so :mod:`strom.cdc.postgres.types`
converts them; a value is None for SQL NULL and :data:`UNCHANGED` for an unchanged TOASTed
value the server did not send.

Example:
    >>> import struct
    >>> begin = b"B" + struct.pack(">QqI", 0x16B3748, 0, 744)
    >>> decode(begin)
    Begin(final_lsn=23803720, commit_ts_us=946684800000000, xid=744)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from strom.errors import StromError

PG_EPOCH_US: Final = 946_684_800_000_000
"""2000-01-01T00:00:00Z in Unix epoch microseconds: PostgreSQL timestamps count from there."""


class _Unchanged:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged()
"""An unchanged TOASTed column value (the server does not resend it)."""

Value = str | None | _Unchanged
Tuple = tuple[Value, ...]


class PgOutputError(StromError):
    """A replication message could not be decoded (the message names the offset)."""


@dataclass(frozen=True, slots=True)
class Begin:
    """A transaction starts; ``final_lsn`` is the LSN of its commit record."""

    final_lsn: int
    commit_ts_us: int
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    """A transaction ends; resume after ``end_lsn`` to skip it."""

    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts_us: int


@dataclass(frozen=True, slots=True)
class Origin:
    """The transaction was replicated from another origin."""

    lsn: int
    name: str


@dataclass(frozen=True, slots=True)
class RelationColumn:
    """One column of a Relation message."""

    key: bool
    name: str
    type_oid: int
    typmod: int


@dataclass(frozen=True, slots=True)
class Relation:
    """The shape of a table, sent before its first change and after every schema change."""

    oid: int
    namespace: str
    name: str
    replica_identity: str
    columns: tuple[RelationColumn, ...]


@dataclass(frozen=True, slots=True)
class TypeMessage:
    """A non-built-in type used by a following Relation (an enum, a domain...)."""

    oid: int
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Insert:
    relation_oid: int
    new: Tuple


@dataclass(frozen=True, slots=True)
class Update:
    """``old`` is the old key (``K``), the full old row (``O``, REPLICA IDENTITY FULL) or None."""

    relation_oid: int
    old: Tuple | None
    old_kind: str | None
    new: Tuple


@dataclass(frozen=True, slots=True)
class Delete:
    relation_oid: int
    old: Tuple
    old_kind: str


@dataclass(frozen=True, slots=True)
class Truncate:
    cascade: bool
    restart_identity: bool
    relation_oids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LogicalMessage:
    """``pg_logical_emit_message`` output (only with the ``messages`` option)."""

    transactional: bool
    lsn: int
    prefix: str
    content: bytes


Message = (
    Begin
    | Commit
    | Origin
    | Relation
    | TypeMessage
    | Insert
    | Update
    | Delete
    | Truncate
    | LogicalMessage
)

_BEGIN = struct.Struct(">QqI")
_COMMIT = struct.Struct(">BQQq")
_U8 = struct.Struct(">B")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 1

    def u8(self) -> int:
        value: int = _U8.unpack_from(self.data, self.pos)[0]
        self.pos += 1
        return value

    def i16(self) -> int:
        value: int = _I16.unpack_from(self.data, self.pos)[0]
        self.pos += 2
        return value

    def i32(self) -> int:
        value: int = _I32.unpack_from(self.data, self.pos)[0]
        self.pos += 4
        return value

    def u32(self) -> int:
        value: int = _U32.unpack_from(self.data, self.pos)[0]
        self.pos += 4
        return value

    def u64(self) -> int:
        value: int = _U64.unpack_from(self.data, self.pos)[0]
        self.pos += 8
        return value

    def cstring(self) -> str:
        end = self.data.index(b"\0", self.pos)
        value = self.data[self.pos : end].decode("utf-8")
        self.pos = end + 1
        return value

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise PgOutputError(f"pgoutput message truncated at byte {self.pos} (wanted {n})")
        value = self.data[self.pos : self.pos + n]
        self.pos += n
        return value

    def tuple_data(self) -> Tuple:
        # The hot path of decoding: locals instead of attribute lookups per column.
        data, pos = self.data, self.pos
        count: int = _I16.unpack_from(data, pos)[0]
        pos += 2
        size = len(data)
        values: list[Value] = []
        for _ in range(count):
            kind = data[pos]
            pos += 1
            if kind == 0x74:  # 't': text
                length: int = _I32.unpack_from(data, pos)[0]
                pos += 4
                if pos + length > size:
                    raise PgOutputError(
                        f"pgoutput message truncated at byte {pos} (wanted {length})"
                    )
                values.append(data[pos : pos + length].decode("utf-8"))
                pos += length
            elif kind == 0x6E:  # 'n': null
                values.append(None)
            elif kind == 0x75:  # 'u': unchanged TOAST
                values.append(UNCHANGED)
            else:
                raise PgOutputError(
                    f"pgoutput tuple column kind {chr(kind)!r} at byte {pos - 1} is not "
                    "supported (binary mode is not requested by strom)"
                )
        self.pos = pos
        return tuple(values)


def decode(data: bytes) -> Message:
    """Decode one pgoutput message.

    Raises:
        PgOutputError: the message type is unknown or the message is malformed.
    """
    if not data:
        raise PgOutputError("empty pgoutput message")
    kind = data[0]
    try:
        if kind == 0x42:  # B
            final_lsn, ts, xid = _BEGIN.unpack_from(data, 1)
            return Begin(final_lsn, ts + PG_EPOCH_US, xid)
        if kind == 0x43:  # C
            flags, commit_lsn, end_lsn, ts = _COMMIT.unpack_from(data, 1)
            return Commit(flags, commit_lsn, end_lsn, ts + PG_EPOCH_US)
        reader = _Reader(data)
        if kind == 0x49:  # I
            oid = reader.u32()
            reader.u8()  # 'N'
            return Insert(oid, reader.tuple_data())
        if kind == 0x55:  # U
            oid = reader.u32()
            marker = chr(reader.u8())
            old: Tuple | None = None
            old_kind: str | None = None
            if marker in ("K", "O"):
                old, old_kind = reader.tuple_data(), marker
                marker = chr(reader.u8())
            if marker != "N":
                raise PgOutputError(f"pgoutput Update: expected 'N', got {marker!r}")
            return Update(oid, old, old_kind, reader.tuple_data())
        if kind == 0x44:  # D
            oid = reader.u32()
            marker = chr(reader.u8())
            return Delete(oid, reader.tuple_data(), marker)
        if kind == 0x52:  # R
            oid = reader.u32()
            namespace = reader.cstring()
            name = reader.cstring()
            identity = chr(reader.u8())
            columns = []
            for _ in range(reader.i16()):
                flags = reader.u8()
                columns.append(
                    RelationColumn(bool(flags & 1), reader.cstring(), reader.u32(), reader.i32())
                )
            return Relation(oid, namespace, name, identity, tuple(columns))
        if kind == 0x59:  # Y
            return TypeMessage(reader.u32(), reader.cstring(), reader.cstring())
        if kind == 0x54:  # T
            count = reader.u32()
            options = reader.u8()
            oids = tuple(reader.u32() for _ in range(count))
            return Truncate(bool(options & 1), bool(options & 2), oids)
        if kind == 0x4F:  # O
            return Origin(reader.u64(), reader.cstring())
        if kind == 0x4D:  # M
            flags = reader.u8()
            lsn = reader.u64()
            prefix = reader.cstring()
            length = reader.u32()
            return LogicalMessage(bool(flags & 1), lsn, prefix, reader.take(length))
    except (struct.error, ValueError, IndexError) as exc:
        raise PgOutputError(
            f"malformed pgoutput {chr(kind)!r} message ({len(data)} bytes): {exc}"
        ) from exc
    raise PgOutputError(f"unknown pgoutput message type {chr(kind)!r} ({len(data)} bytes)")


def format_lsn(lsn: int) -> str:
    """PostgreSQL's ``X/Y`` notation of an LSN.

    Example:
        >>> format_lsn(23803720), parse_lsn("0/16B3748")
        ('0/16B3748', 23803720)
    """
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """The integer of an ``X/Y`` LSN."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)
