"""The key-value store: typed keys and values over any engine.

Storage key = the serialized key, storage value = the serialized value; the changelog record
is the same pair (Kafka Streams' key-value changelog format). The write buffer maps typed keys
to typed values, so ``put`` is one dict write and ``get`` of a dirty key one dict read; a clean
key costs a key serialization, the engine lookup and a value deserialization.

Example:
    >>> from strom.serde import string, integer
    >>> from strom.state import open_key_value_store
    >>> store = open_key_value_store("counts", 0, string(), integer())
    >>> store.put("b", 2); store.put("a", 1); store.delete("c")
    >>> store.get("a"), [k for k, _ in store.items()]
    (1, ['a', 'b'])
    >>> [(key, value is None) for key, value in store.flush()]   # None: a tombstone
    [(b'b', False), (b'a', False), (b'c', True)]
    >>> store.close()
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar, cast

from strom.errors import StateError
from strom.serde.base import Serde
from strom.state.base import MISSING, TOMBSTONE, BufferedStore, Prepared
from strom.state.engine import Engine
from strom.state.types import Change

K = TypeVar("K")
V = TypeVar("V")

_RESTORE_CHUNK = 65_536


class BufferedKeyValueStore(BufferedStore, Generic[K, V]):
    """A :class:`~strom.state.protocols.KeyValueStore` over an engine (see module doc)."""

    def __init__(
        self,
        engine: Engine,
        key_serde: Serde[K],
        value_serde: Serde[V],
        *,
        name: str,
        partition: int,
    ) -> None:
        super().__init__(engine, name=name, partition=partition)
        self._key_serde = key_serde
        self._value_serde = value_serde
        self._kser = key_serde.serialize
        self._kde = key_serde.deserialize
        self._vser = value_serde.serialize
        self._vde = value_serde.deserialize
        self._dirty: dict[K, Any] = {}
        # The dirty keys sorted by their bytes, for ordered reads; valid while the dirty key
        # set has this many keys (the set only grows until commit/discard clears it).
        self._dirty_sorted: list[tuple[bytes, K]] = []
        self._dirty_sorted_len = 0

    # -- hot path -------------------------------------------------------------------------

    def get(self, key: K) -> V | None:
        """The value of ``key`` (the buffer's if dirty), or None."""
        value = self._dirty.get(key, MISSING)
        if value is not MISSING:
            return None if value is TOMBSTONE else cast(V, value)
        data = self._get(self._key_bytes(key))
        return None if data is None else self._vde(data)

    def put(self, key: K, value: V) -> None:
        """Set ``key`` to ``value`` in the buffer."""
        if not self._writable:
            self._refuse_write()
        if value is None or key is None:
            self._refuse_none(key, value)
        self._dirty[key] = value

    def delete(self, key: K) -> None:
        """Delete ``key``."""
        if not self._writable:
            self._refuse_write()
        if key is None:
            self._refuse_none(key, TOMBSTONE)
        self._dirty[key] = TOMBSTONE

    def _refuse_none(self, key: object, value: object) -> None:
        what = "key" if key is None else "value"
        hint = "" if key is None else "; use delete(key) to remove a key"
        raise StateError(f"{self._where()}: {what} must not be None{hint}")

    def _key_bytes(self, key: K) -> bytes:
        data = self._kser(key)
        if data is None:
            raise StateError(f"{self._where()}: key must not be None")
        return data

    @property
    def dirty_count(self) -> int:
        """Entries in the write buffer."""
        return len(self._dirty)

    # -- ordered reads --------------------------------------------------------------------

    def range(self, lo: K | None = None, hi: K | None = None) -> Iterator[tuple[K, V]]:
        """Entries with ``lo <= key < hi`` in serialized-key order."""
        self._check_open()
        lo_b = b"" if lo is None else self._key_bytes(lo)
        hi_b = None if hi is None else self._key_bytes(hi)
        return self._merged(lo_b, hi_b)

    def items(self) -> Iterator[tuple[K, V]]:
        """Every entry in serialized-key order."""
        return self.range()

    def _sorted_dirty(self) -> list[tuple[bytes, K]]:
        if self._dirty_sorted_len != len(self._dirty):
            kser = self._key_bytes
            self._dirty_sorted = sorted((kser(key), key) for key in self._dirty)
            self._dirty_sorted_len = len(self._dirty)
        return self._dirty_sorted

    def _merged(self, lo_b: bytes, hi_b: bytes | None) -> Iterator[tuple[K, V]]:
        dirty = self._dirty
        pending = [
            (kb, key)
            for kb, key in self._sorted_dirty()
            if kb >= lo_b and (hi_b is None or kb < hi_b)
        ]
        kde, vde = self._kde, self._vde
        index, count = 0, len(pending)
        for kb, vb in self._engine.iterate(lo_b, hi_b):
            while index < count and pending[index][0] <= kb:
                dkb, key = pending[index]
                index += 1
                value = dirty.get(key, TOMBSTONE)
                if value is not TOMBSTONE:
                    yield key, value
                if dkb == kb:
                    break
            else:
                yield cast(K, kde(kb)), cast(V, vde(vb))
        if self.closed:
            raise StateError(f"{self._where()} was closed during the iteration")
        for _, key in pending[index:]:
            value = dirty.get(key, TOMBSTONE)
            if value is not TOMBSTONE:
                yield key, value

    # -- changelog ------------------------------------------------------------------------

    def _prepare(self) -> Prepared:
        # Copies (bytes(memoryview(...))) because some serializers return bytes that sit in a
        # page-sized allocation (orjson 3.13: ~4 KiB of RSS each while alive): kept in the
        # buffer and in memory storage, they would cost a page fault and 4 KiB per entry.
        kser, vser = self._key_bytes, self._vser
        changes: list[Change] = [
            (
                bytes(memoryview(kser(key))),
                None if value is TOMBSTONE else bytes(memoryview(vser(value))),  # type: ignore[arg-type]
            )
            for key, value in self._dirty.items()
        ]
        return Prepared(changes, changes)

    def _clear_buffer(self) -> None:
        self._dirty = {}
        self._dirty_sorted = []
        self._dirty_sorted_len = 0

    def _restore(self, changes: Iterable[Change]) -> int:
        write = self._engine.write
        total = 0
        chunk: list[Change] = []
        append = chunk.append
        for change in changes:
            key, value = change
            if key.__class__ is not bytes or not (value is None or value.__class__ is bytes):
                raise StateError(
                    f"{self._where()}: a changelog record must be (bytes, bytes or None), got "
                    f"({type(key).__name__}, {type(value).__name__})"
                )
            append(change)
            if len(chunk) >= _RESTORE_CHUNK:
                write(chunk, bulk=True)
                total += len(chunk)
                chunk = []
                append = chunk.append
        if chunk:
            write(chunk, bulk=True)
            total += len(chunk)
        return total
