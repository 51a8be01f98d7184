"""Reference computations of every join, written from the definitions in docs/joins.md.

Plain loops over everything seen so far, in arrival order, with no store, no expiry and no
index: what the cores must produce, call by call. They share nothing with ``strom.joins``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Out = tuple[Any, Any, int]  # key, value, timestamp


def by_key(outputs: list[Out]) -> dict[Any, list[tuple[Any, int]]]:
    """Outputs grouped per key, in order: the order the joins define (across keys: none)."""
    grouped: dict[Any, list[tuple[Any, int]]] = {}
    for key, value, timestamp in outputs:
        grouped.setdefault(key, []).append((value, timestamp))
    return grouped


# -- windowed and interval joins ----------------------------------------------------------


@dataclass
class _Rec:
    side: str  # "L" or "R"
    key: Any
    value: Any
    ts: int
    arrival: int
    emitted: bool = False


@dataclass
class WindowedReference:
    """A windowed/interval join: ``lo``/``hi`` = the right timestamps a left record at t
    joins are ``[t + lo, t + hi]``; ``how`` inner/left/outer."""

    lo: int
    hi: int
    grace: int
    how: str
    joiner: Callable[[Any, Any], Any]
    watermark: int | None = None
    seen: list[_Rec] = field(default_factory=list)

    def _pair(self, left: _Rec, right: _Rec) -> bool:
        return (
            left.key is not None
            and left.key == right.key
            and left.ts + self.lo <= right.ts <= left.ts + self.hi
        )

    def _tracked(self, side: str) -> bool:
        return self.how == "outer" or (self.how == "left" and side == "L")

    def _closed(self, rec: _Rec) -> bool:
        # Last timestamp of the other side that can join rec, plus grace, behind the watermark.
        reach = rec.ts + self.hi if rec.side == "L" else rec.ts - self.lo
        return self.watermark is not None and self.watermark > reach + self.grace

    def _matches(self, rec: _Rec) -> list[_Rec]:
        if rec.side == "L":
            return [o for o in self.seen if o.side == "R" and self._pair(rec, o)]
        return [o for o in self.seen if o.side == "L" and self._pair(o, rec)]

    def _unmatched(self, rec: _Rec) -> Out:
        rec.emitted = True
        value = self.joiner(rec.value, None) if rec.side == "L" else self.joiner(None, rec.value)
        return rec.key, value, rec.ts

    def advance(self, watermark: int | None) -> list[Out]:
        if watermark is None or (self.watermark is not None and watermark <= self.watermark):
            return []
        self.watermark = watermark
        closing = [
            r
            for r in self.seen
            if self._tracked(r.side) and not r.emitted and self._closed(r) and not self._matches(r)
        ]
        closing.sort(key=lambda r: (r.ts, r.side, r.arrival))  # "L" < "R"
        return [self._unmatched(r) for r in closing]

    def process(
        self, side: str, key: Any, value: Any, ts: int, watermark: int | None
    ) -> tuple[list[Out], bool]:
        out = self.advance(watermark)
        if self.watermark is not None and ts + self.grace < self.watermark:
            return out, True
        rec = _Rec(side, key, value, ts, len(self.seen))
        matches = sorted(self._matches(rec), key=lambda o: (o.ts, o.arrival))
        for other in matches:
            # A record emitted as unmatched must never join later: that would be spurious.
            assert not other.emitted, f"spurious: {other} emitted unmatched, then joined {rec}"
            left, right = (rec, other) if side == "L" else (other, rec)
            out.append((key, self.joiner(left.value, right.value), max(left.ts, right.ts)))
        self.seen.append(rec)
        if self._tracked(side) and not matches and (key is None or self._closed(rec)):
            out.append(self._unmatched(rec))
        return out, False


# -- tables -------------------------------------------------------------------------------


class TableReference:
    """A table: a dict of key -> (value, timestamp), updated in arrival order."""

    def __init__(self) -> None:
        self.rows: dict[Any, tuple[Any, int]] = {}

    def upsert(self, key: Any, value: Any, ts: int) -> tuple[Any, Any, Any, int] | None:
        old = self.rows.get(key)
        if value is None:
            self.rows.pop(key, None)
        else:
            self.rows[key] = (value, ts)
        if old is None and value is None:
            return None
        return key, None if old is None else old[0], value, ts


def table_join_row(how: str, joiner: Callable[[Any, Any], Any], left: Any, right: Any) -> Any:
    """The joined row of one key from both sides' values (None: no row)."""
    if how == "inner" and (left is None or right is None):
        return None
    if how == "left" and left is None:
        return None
    if left is None and right is None:
        return None
    return joiner(left, right)


class TableTableReference:
    """A table-table join recomputed from both whole tables on every update."""

    def __init__(self, how: str, joiner: Callable[[Any, Any], Any]) -> None:
        self.how = how
        self.joiner = joiner
        self.left = TableReference()
        self.right = TableReference()

    def _row(self, key: Any) -> Any:
        left = self.left.rows.get(key)
        right = self.right.rows.get(key)
        return table_join_row(
            self.how,
            self.joiner,
            None if left is None else left[0],
            None if right is None else right[0],
        )

    def upsert(self, side: str, key: Any, value: Any, ts: int) -> tuple[Any, Any, Any, int] | None:
        before = self._row(key)
        table, other = (self.left, self.right) if side == "L" else (self.right, self.left)
        if table.upsert(key, value, ts) is None:
            return None
        after = self._row(key)
        if before is None and after is None:
            return None
        present = other.rows.get(key)
        return key, before, after, ts if present is None else max(ts, present[1])


def stream_table_reference(
    how: str,
    joiner: Callable[[Any, Any], Any],
    ops: list[tuple[Any, ...]],
    lookup: Callable[[Any, Any], Any] = lambda key, value: key,
) -> list[Out | None]:
    """One result per op: a table update (``("T", key, value, ts)``) gives None; a stream
    record (``("S", key, value, ts)``) gives its joined output or None."""
    table: dict[Any, Any] = {}
    results: list[Out | None] = []
    for kind, key, value, ts in ops:
        if kind == "T":
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
            results.append(None)
            continue
        found = table.get(lookup(key, value))
        if found is None and how == "inner":
            results.append(None)
        else:
            results.append((key, joiner(value, found), ts))
    return results
