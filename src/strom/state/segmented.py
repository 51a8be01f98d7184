"""What window and session stores share: entries keyed by (key, start, end), time segments,
expiry, and their changelog encoding (:mod:`strom.state.codec`).

The write buffer maps each typed key to ``{(start, end): value}``, so the per-key queries that
sliding and session windows make on every record read the key's dirty entries directly.
Storage is segmented by ``end // segment_interval``: a query by time reads only the segments
its range can touch (the longest span ever stored bounds how far past a start an end can be),
and ``expire`` removes whole segments with one range delete and hides the expired rest of the
boundary segment (reads filter on the expiry horizon) until its segment goes too.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import Any, Generic, NoReturn, TypeVar, cast

from strom.errors import StateError
from strom.serde.base import Serde
from strom.state import codec
from strom.state.base import MISSING, TOMBSTONE, BufferedStore, Prepared
from strom.state.codec import (
    DATA,
    EXPIRE_KEY,
    FLIP,
    MAX_TIME,
    META_EXPIRED,
    META_SPAN,
    MIN_TIME,
    escape,
    pack_bounds,
    pack_flipped_bounds,
    pack_time,
    segment_prefix,
    unescape,
)
from strom.state.engine import Engine
from strom.state.types import Change

K = TypeVar("K")
V = TypeVar("V")

_unpack_bounds = struct.Struct(">QQ").unpack_from
_unpack_signed_bounds = struct.Struct(">qq").unpack_from
_RESTORE_CHUNK = 65_536
_CACHE_LIMIT = 1 << 17
_DATA_END = b"\x02"

Window = tuple[int, int]


class SegmentedStore(BufferedStore, Generic[K, V]):
    """Base of :class:`~strom.state.window.SegmentedWindowStore` and the session store."""

    _what = "window"

    def __init__(
        self,
        engine: Engine,
        key_serde: Serde[K],
        value_serde: Serde[V],
        *,
        name: str,
        partition: int,
        segment_interval: int,
    ) -> None:
        super().__init__(engine, name=name, partition=partition)
        if type(segment_interval) is not int or segment_interval <= 0:
            raise StateError(
                f"{self._where()}: segment_interval must be a positive int (ms), "
                f"got {segment_interval!r}"
            )
        self._interval = segment_interval
        self._kser = key_serde.serialize
        self._kde = key_serde.deserialize
        self._vser = value_serde.serialize
        self._vde = value_serde.deserialize
        self._dirty: dict[K, dict[Window, Any]] = {}
        self._dirty_entries = 0  # kept by every write: dirty_count is read per record
        self._pending_expire: int | None = None
        stored = engine.get(META_EXPIRED)
        self._expired = MIN_TIME if stored is None else codec.unpack_time(stored)[0]
        self._horizon = self._expired
        stored = engine.get(META_SPAN)
        self._span = 0 if stored is None else codec.unpack_time(stored)[0]
        self._segments: list[int] = []
        self._segment_set: set[int] = set()
        self._set_segments(self._discover_segments())
        # Per-commit caches of the hot path: a key's bytes and escaped bytes, segment prefixes.
        self._forms: dict[K, tuple[bytes, bytes]] = {}
        self._prefixes: dict[int, bytes] = {}

    def _set_segments(self, segments: Iterable[int]) -> None:
        self._segments = sorted(segments)
        self._segment_set = set(self._segments)

    def _discover_segments(self) -> list[int]:
        segments: list[int] = []
        lo = DATA
        while True:
            first = next(iter(self._engine.iterate(lo, _DATA_END)), None)
            if first is None:
                return segments
            segment = codec.parse_segment(first[0])
            segments.append(segment)
            lo = segment_prefix(segment + 1)

    # -- argument checks ------------------------------------------------------------------

    def _key_bytes(self, key: K) -> bytes:
        return self._key_forms(key)[0]

    def _key_forms(self, key: K) -> tuple[bytes, bytes]:
        """(serialized key, escaped key), cached until the next commit or discard."""
        forms = self._forms.get(key)
        if forms is None:
            data = self._kser(key)
            if data is None:
                raise StateError(f"{self._where()}: key must not be None")
            if len(self._forms) >= _CACHE_LIMIT:
                self._forms.clear()
            forms = self._forms[key] = (data, escape(data))
        return forms

    def _prefix(self, segment: int) -> bytes:
        prefix = self._prefixes.get(segment)
        if prefix is None:
            if len(self._prefixes) >= _CACHE_LIMIT:
                self._prefixes.clear()
            prefix = self._prefixes[segment] = segment_prefix(segment)
        return prefix

    def _bad_bounds(self, start: object, end: object) -> NoReturn:
        raise StateError(
            f"{self._where()}: {self._what} bounds must be ints (epoch ms) with "
            f"start <= end, got start={start!r} end={end!r}"
        )

    @staticmethod
    def _check_time(name: str, value: object, where: str) -> None:
        if type(value) is not int or not MIN_TIME <= value <= MAX_TIME:
            raise StateError(f"{where}: {name} must be an int (epoch ms), got {value!r}")

    # -- point access (hot path) ----------------------------------------------------------

    def get(self, key: K, start: int, end: int) -> V | None:
        """The value of one entry, or None."""
        inner = self._dirty.get(key)
        if inner is not None:
            value = inner.get((start, end), MISSING)
            if value is not MISSING:
                return None if value is TOMBSTONE else cast(V, value)
        if (
            type(start) is not int
            or type(end) is not int
            or not MIN_TIME <= start <= end <= MAX_TIME
        ):
            self._bad_bounds(start, end)
        if end < self._horizon:
            return None
        segment = end // self._interval
        if segment not in self._segment_set:
            return None  # e.g. a window that just opened: no storage lookup
        data = self._get(
            self._prefix(segment)
            + self._key_forms(key)[1]
            + pack_flipped_bounds(start + FLIP, end + FLIP)
        )
        return None if data is None else self._vde(data)

    def put(self, key: K, start: int, end: int, value: V) -> None:
        """Set the value of one entry."""
        if not self._writable:
            self._refuse_write()
        if (
            type(start) is not int
            or type(end) is not int
            or not MIN_TIME <= start <= end <= MAX_TIME
        ):
            self._bad_bounds(start, end)
        if value is None or key is None:
            what = "key" if key is None else "value"
            raise StateError(f"{self._where()}: {what} must not be None")
        if end < self._horizon:
            raise StateError(
                f"{self._where()}: {self._what} [{start}, {end}] of key {key!r} has expired "
                f"(entries ending before {self._horizon} are gone); late records must be "
                "dropped before the store"
            )
        inner = self._dirty.get(key)
        if inner is None:
            self._dirty[key] = {(start, end): value}
            self._dirty_entries += 1
        else:
            window = (start, end)
            if window not in inner:
                self._dirty_entries += 1
            inner[window] = value

    def _delete(self, key: K, start: int, end: int) -> None:
        if not self._writable:
            self._refuse_write()
        if (
            type(start) is not int
            or type(end) is not int
            or not MIN_TIME <= start <= end <= MAX_TIME
        ):
            self._bad_bounds(start, end)
        if key is None:
            raise StateError(f"{self._where()}: key must not be None")
        if end < self._horizon:
            return
        inner = self._dirty.get(key)
        if inner is None:
            self._dirty[key] = {(start, end): TOMBSTONE}
            self._dirty_entries += 1
        else:
            window = (start, end)
            if window not in inner:
                self._dirty_entries += 1
            inner[window] = TOMBSTONE

    @property
    def dirty_count(self) -> int:
        """Entries in the write buffer (a pending ``expire`` counts as one)."""
        return self._dirty_entries + (self._pending_expire is not None)

    def _meta_count(self) -> int:
        return (self._expired != MIN_TIME) + (self._span > 0)

    # -- expiry ---------------------------------------------------------------------------

    def expire(self, before: int) -> None:
        """Drop every entry whose end is before ``before`` (with the next commit)."""
        if not self._writable:
            self._refuse_write()
        self._check_time("before", before, self._where())
        if before <= self._horizon:
            return
        self._pending_expire = before
        self._horizon = before
        for key in list(self._dirty):
            inner = self._dirty[key]
            for window in [w for w in inner if w[1] < before]:
                del inner[window]
            if not inner:
                del self._dirty[key]
        self._dirty_entries = sum(map(len, self._dirty.values()))

    @property
    def expired_before(self) -> int | None:
        """The expiry horizon in force (including an uncommitted ``expire``), or None."""
        return None if self._horizon == MIN_TIME else self._horizon

    def _expiry_ranges(self, segments: Iterable[int], before: int) -> list[tuple[bytes, bytes]]:
        cut = before // self._interval
        low = min((s for s in segments if s < cut), default=None)
        return [] if low is None else [(segment_prefix(low), segment_prefix(cut))]

    # -- changelog ------------------------------------------------------------------------

    def _prepare(self) -> Prepared:
        interval, vser = self._interval, self._vser
        changelog: list[Change] = []
        storage: list[Change] = []
        span = self._span
        new_segments: set[int] = set()
        key_forms, prefixes, prefix_of = self._key_forms, self._prefixes, self._prefix
        add_changelog, add_storage = changelog.append, storage.append
        for key, inner in self._dirty.items():
            kb, escaped = key_forms(key)
            head = DATA + kb  # a new, compact object
            for (start, end), value in inner.items():
                # A compact copy: see BufferedKeyValueStore._prepare.
                data = None if value is TOMBSTONE else bytes(memoryview(vser(value)))  # type: ignore[arg-type]
                segment = end // interval
                add_changelog((head + pack_bounds(start, end), data))
                add_storage(
                    (
                        (prefixes.get(segment) or prefix_of(segment))
                        + escaped
                        + pack_flipped_bounds(start + FLIP, end + FLIP),
                        data,
                    )
                )
                if data is not None:
                    new_segments.add(segment)
                    if end - start > span:
                        span = end - start
        before = self._pending_expire
        ranges: list[tuple[bytes, bytes]] = []
        if before is not None:
            changelog.append((EXPIRE_KEY, pack_time(before)))
            storage.append((META_EXPIRED, pack_time(before)))
            ranges = self._expiry_ranges(self._segments, before)
        if span > self._span:
            storage.append((META_SPAN, pack_time(span)))

        def on_commit() -> None:
            self._span = span
            if before is not None:
                self._expired = before
                cut = before // interval
                self._set_segments(s for s in self._segment_set | new_segments if s >= cut)
            elif not new_segments <= self._segment_set:
                self._set_segments(self._segment_set | new_segments)

        return Prepared(changelog, storage, ranges, on_commit)

    def _clear_buffer(self) -> None:
        self._forms = {}
        self._dirty = {}
        self._dirty_entries = 0
        self._pending_expire = None
        self._horizon = self._expired

    def _restore(self, changes: Iterable[Change]) -> int:
        write, interval = self._engine.write, self._interval
        expired, span = self._expired, self._span
        segments = set(self._segments)
        batch: list[Change] = []
        append = batch.append
        count = 0
        # The hot loop of a restore: codec.parse_changelog_key and storage_key, inlined.
        escapes: dict[bytes, bytes] = {}
        prefix_of, flip = self._prefix, FLIP
        prefixes = self._prefixes
        for key, value in changes:
            count += 1
            size = len(key)
            if size >= 17 and key[0] == 1:
                start, end = _unpack_signed_bounds(key, size - 16)
                if end < expired:
                    continue
                kb = key[1:-16]
                escaped = escapes.get(kb)
                if escaped is None:
                    if len(escapes) >= _CACHE_LIMIT:
                        escapes.clear()
                    escaped = escapes[kb] = escape(kb)
                segment = end // interval
                append(
                    (
                        (prefixes.get(segment) or prefix_of(segment))
                        + escaped
                        + pack_flipped_bounds(start + flip, end + flip),
                        value,
                    )
                )
                if value is not None:
                    segments.add(segment)
                    if end - start > span:
                        span = end - start
                if len(batch) >= _RESTORE_CHUNK:
                    write(batch, bulk=True)
                    batch = []
                    append = batch.append
            elif key == EXPIRE_KEY and value is not None and len(value) == 8:
                before = codec.unpack_time(value)[0]
                if before > expired:
                    # Puts before the control record first, then the range delete.
                    write(batch, bulk=True)
                    batch = []
                    append = batch.append
                    write([(META_EXPIRED, value)], self._expiry_ranges(segments, before), bulk=True)
                    expired = before
                    segments = {s for s in segments if s >= before // interval}
            else:
                raise StateError(
                    f"{self._where()}: changelog record {key[:40]!r} is not a "
                    f"format-{codec.FORMAT_VERSION} {self._what} record (is the changelog "
                    "topic shared with another store, or written by a newer strom?)"
                )
        if span > self._span:
            batch.append((META_SPAN, pack_time(span)))
        if batch:
            write(batch, bulk=True)
        self._span = span
        self._expired = self._horizon = expired
        self._set_segments(segments)
        return count

    # -- scans ----------------------------------------------------------------------------

    def _segments_between(self, lo: int, hi: int) -> list[int]:
        segments = self._segments
        index = bisect_left(segments, max(lo, self._horizon) // self._interval)
        out: list[int] = []
        limit = hi // self._interval
        while index < len(segments) and segments[index] <= limit:
            out.append(segments[index])
            index += 1
        return out

    def _stored_of_key(
        self, escaped: bytes, end_lo: int, end_hi: int, start_lo: int, start_hi: int
    ) -> dict[Window, bytes]:
        """Stored entries of one key: end in [end_lo, end_hi] (segments), start in range."""
        out: dict[Window, bytes] = {}
        horizon = self._horizon
        iterate = self._engine.iterate
        for segment in self._segments_between(end_lo, end_hi):
            prefix = segment_prefix(segment) + escaped
            for skey, data in iterate(
                codec.start_bound(prefix, start_lo), codec.after_start(prefix, start_hi)
            ):
                start, end = codec.parse_bounds(skey)
                if end >= horizon:
                    out[(start, end)] = data
        return out

    def _merge_key(
        self, key: K, stored: dict[Window, bytes], keep: Any
    ) -> list[tuple[int, int, V]]:
        """Stored entries of ``key`` overlaid with its dirty ones that ``keep(start, end)``."""
        rows: list[tuple[int, int, V]] = []
        inner = self._dirty.get(key)
        if inner:
            for window, value in inner.items():
                stored.pop(window, None)
                if value is not TOMBSTONE and keep(*window):
                    rows.append((window[0], window[1], value))
        vde = self._vde
        rows.extend((start, end, cast(V, vde(data))) for (start, end), data in stored.items())
        rows.sort(key=_by_window)
        return rows

    def _all_between(self, lo: int, hi: int, *, by_end: bool) -> Iterator[tuple[K, int, int, V]]:
        """Every key's entries with start (or end, ``by_end``) in ``[lo, hi]``, stored overlaid
        with dirty, ordered by that time, then key bytes, then the other bound."""
        # Rows sort as tuples: (time, key bytes, other bound, dirty?, key, value or data);
        # the first three never tie (a dirty entry shadows the stored one).
        rows: list[tuple[int, bytes, int, bool, Any, Any]] = []
        shadow: set[tuple[bytes, int, int]] = set()
        key_forms = self._key_forms
        for key, inner in self._dirty.items():
            kb: bytes | None = None
            for (start, end), value in inner.items():
                at, other = (end, start) if by_end else (start, end)
                if lo <= at <= hi:
                    if kb is None:
                        kb = key_forms(key)[0]
                    shadow.add((kb, start, end))
                    if value is not TOMBSTONE:
                        rows.append((at, kb, other, True, key, value))
        horizon, flip, unpack = self._horizon, FLIP, _unpack_bounds
        end_hi = hi if by_end else min(hi + self._span, MAX_TIME)
        for segment in self._segments_between(lo, end_hi):
            for skey, data in self._engine.iterate(
                segment_prefix(segment), segment_prefix(segment + 1)
            ):
                start, end = unpack(skey, len(skey) - 16)
                start -= flip
                end -= flip
                at, other = (end, start) if by_end else (start, end)
                if end < horizon or not lo <= at <= hi:
                    continue
                kb = unescape(skey[9:-18])
                if shadow and (kb, start, end) in shadow:
                    continue
                rows.append((at, kb, other, False, None, data))
        rows.sort()
        keys: dict[bytes, Any] = {}
        kde, vde = self._kde, self._vde
        for at, kb, other, dirty, row_key, value in rows:
            if not dirty:
                row_key = keys.get(kb, MISSING)
                if row_key is MISSING:
                    row_key = keys[kb] = kde(kb)
                value = vde(value)
            if by_end:
                yield row_key, other, at, value
            else:
                yield row_key, at, other, value


def _by_window(row: tuple[int, int, Any]) -> tuple[int, int]:
    return row[0], row[1]
