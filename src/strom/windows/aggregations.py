"""Aggregations: what a window computes from its records, through an accumulator.

An :class:`Aggregation` is ``init() -> acc``, ``add(acc, value) -> acc`` per record (in arrival
order), ``merge(a, b) -> acc`` to join two accumulators (session windows merge sessions; the
earlier session is ``a``), ``result(acc)`` for the output, and the ``serde`` that stores the
accumulator (msgpack by default: compact, and it keeps ints, floats, strings, bytes, lists and
dicts; tuples come back as lists). ``add`` and ``merge`` may change ``acc`` in place and return
it; an accumulator is never None.

Example:
    >>> from strom.windows import aggregations as agg
    >>> agg.count().fold(["a", "b", "c"])
    3
    >>> agg.mean(lambda e: e["ms"]).fold([{"ms": 10}, {"ms": 20}])
    15.0
    >>> distinct = agg.aggregate(init=list,
    ...                          add=lambda acc, v: acc if v in acc else [*acc, v],
    ...                          merge=lambda a, b: [*a, *(v for v in b if v not in a)],
    ...                          result=len)
    >>> distinct.fold(["de", "fr", "de"])
    2
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from strom.errors import ConfigError, SerializationError
from strom.serde.base import Serde

A = TypeVar("A")
R = TypeVar("R")


class MsgpackSerde:
    """The default accumulator serde: msgpack (msgspec), compact and fast.

    Example:
        >>> serde = MsgpackSerde()
        >>> serde.deserialize(serde.serialize([3, 1.5]))
        [3, 1.5]
    """

    __slots__ = ("_decode", "_encode")
    name = "msgpack"

    def __init__(self) -> None:
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder().decode

    def serialize(self, value: Any) -> bytes | None:
        """msgpack bytes of ``value`` (None for None)."""
        if value is None:
            return None
        try:
            return self._encode(value)
        except (TypeError, OverflowError) as exc:
            raise SerializationError(
                f"accumulator serde (msgpack) cannot encode {value!r:.200}: {exc}; give the "
                "aggregation a serde that can (aggregate(..., serde=...))"
            ) from exc

    def deserialize(self, data: bytes | None) -> Any:
        """The value of msgpack ``data`` (None for None)."""
        if data is None:
            return None
        try:
            return self._decode(data)
        except msgspec.DecodeError as exc:
            raise SerializationError(f"accumulator serde (msgpack): {exc}") from exc


@dataclass(frozen=True, slots=True)
class Aggregation(Generic[A, R]):
    """An aggregation over a window's records.

    Attributes:
        name: a short name for messages (``count``, ``sum``...).
        init: returns a fresh, empty accumulator.
        add: ``add(acc, value)`` adds one record's value, returns the accumulator.
        merge: ``merge(a, b)`` joins two accumulators (``a`` the earlier); None when the
            aggregation cannot merge (then it cannot aggregate session windows).
        result: ``result(acc)`` is the window's output value; None means the accumulator
            itself (then ``add`` must not change it in place: results would change after
            they were emitted).
        serde: stores the accumulator.
    """

    name: str
    init: Callable[[], A]
    add: Callable[[A, Any], A]
    merge: Callable[[A, A], A] | None
    result: Callable[[A], R] | None
    serde: Serde[A]

    def fold(self, values: Iterable[Any]) -> R:
        """The result over ``values`` in order: ``result(add(...add(init(), v1)..., vn))``.

        Example:
            >>> collect().fold("abc")
            ['a', 'b', 'c']
        """
        acc = self.init()
        add = self.add
        for value in values:
            acc = add(acc, value)
        return self.output(acc)

    def output(self, acc: A) -> R:
        """``result(acc)``, or the accumulator when there is no ``result``."""
        return acc if self.result is None else self.result(acc)  # type: ignore[return-value]


def _count_add(acc: int, _value: Any) -> int:
    return acc + 1


def count() -> Aggregation[int, int]:
    """The number of records.

    Example:
        >>> count().fold([None, 1, "x"])
        3
    """
    return Aggregation("count", int, _count_add, operator.add, None, MsgpackSerde())


def sum(fn: Callable[[Any], Any] | None = None) -> Aggregation[Any, Any]:
    """The sum of the values, or of ``fn(value)``.

    Example:
        >>> sum().fold([1, 2, 3]), sum(lambda e: e["amount"]).fold([{"amount": 2.5}])
        (6, 2.5)
    """
    if fn is None:
        return Aggregation("sum", int, operator.add, operator.add, None, MsgpackSerde())
    _check_fn(fn, "sum")

    def add(acc: Any, value: Any) -> Any:
        return acc + fn(value)

    return Aggregation("sum", int, add, operator.add, None, MsgpackSerde())


def _none() -> None:
    return None


def min(fn: Callable[[Any], Any] | None = None) -> Aggregation[Any, Any]:
    """The smallest value (or ``fn(value)``); the earliest one wins a tie.

    Example:
        >>> min().fold([3, 1, 2]), min(len).fold(["abc", "z"])
        (1, 1)
    """
    key = _check_fn(fn, "min")

    def add(acc: Any, value: Any) -> Any:
        x = value if key is None else key(value)
        return x if acc is None or x < acc else acc

    def merge(a: Any, b: Any) -> Any:
        return b if a is None or (b is not None and b < a) else a

    return Aggregation("min", _none, add, merge, None, MsgpackSerde())


def max(fn: Callable[[Any], Any] | None = None) -> Aggregation[Any, Any]:
    """The largest value (or ``fn(value)``); the earliest one wins a tie.

    Example:
        >>> max().fold([3, 1, 2])
        3
    """
    key = _check_fn(fn, "max")

    def add(acc: Any, value: Any) -> Any:
        x = value if key is None else key(value)
        return x if acc is None or x > acc else acc

    def merge(a: Any, b: Any) -> Any:
        return b if a is None or (b is not None and b > a) else a

    return Aggregation("max", _none, add, merge, None, MsgpackSerde())


def _mean_init() -> tuple[int, int]:
    return (0, 0)


def _mean_merge(a: Any, b: Any) -> tuple[Any, int]:
    return (a[0] + b[0], a[1] + b[1])


def _mean_result(acc: Any) -> float:
    return float(acc[0] / acc[1])


def mean(fn: Callable[[Any], Any] | None = None) -> Aggregation[Any, float]:
    """The arithmetic mean of the values (or of ``fn(value)``); the accumulator is
    ``(sum, count)``.

    Example:
        >>> mean().fold([1, 2, 4])
        2.3333333333333335
    """
    key = _check_fn(fn, "mean")

    def add(acc: Any, value: Any) -> tuple[Any, int]:
        return (acc[0] + (value if key is None else key(value)), acc[1] + 1)

    return Aggregation("mean", _mean_init, add, _mean_merge, _mean_result, MsgpackSerde())


# first/last keep the value in a one-element list, so that a None value is told apart from
# "no value yet".


def _first_add(acc: Any, value: Any) -> Any:
    return acc if acc is not None else [value]


def _first_merge(a: Any, b: Any) -> Any:
    return a if a is not None else b


def _last_add(_acc: Any, value: Any) -> Any:
    return [value]


def _last_merge(a: Any, b: Any) -> Any:
    return b if b is not None else a


def _unwrap(acc: Any) -> Any:
    return acc[0]


def first() -> Aggregation[Any, Any]:
    """The first value in arrival order (for a merged session: the earlier session's).

    Example:
        >>> first().fold(["a", "b"])
        'a'
    """
    return Aggregation("first", _none, _first_add, _first_merge, _unwrap, MsgpackSerde())


def last() -> Aggregation[Any, Any]:
    """The last value in arrival order (for a merged session: the later session's, then the
    record that merged them).

    Example:
        >>> last().fold(["a", "b"])
        'b'
    """
    return Aggregation("last", _none, _last_add, _last_merge, _unwrap, MsgpackSerde())


def _collect_add(acc: list[Any], value: Any) -> list[Any]:
    acc.append(value)
    return acc


def _collect_merge(a: list[Any], b: list[Any]) -> list[Any]:
    a.extend(b)
    return a


def collect() -> Aggregation[list[Any], list[Any]]:
    """Every value, in arrival order (a merged session: the earlier session's values first).
    The accumulator grows with the window: for small windows.

    Example:
        >>> collect().fold([3, 1])
        [3, 1]
    """
    return Aggregation("collect", list, _collect_add, _collect_merge, list, MsgpackSerde())


def aggregate(
    init: Callable[[], A],
    add: Callable[[A, Any], A],
    merge: Callable[[A, A], A] | None = None,
    result: Callable[[A], R] | None = None,
    *,
    serde: Serde[A] | None = None,
    name: str = "aggregate",
) -> Aggregation[A, R]:
    """A custom aggregation.

    Args:
        init: returns a fresh accumulator (a callable: ``list``, ``lambda: 0``...).
        add: ``add(acc, value) -> acc`` for each record, in arrival order.
        merge: ``merge(a, b) -> acc``, ``a`` the earlier; required for session windows.
        result: ``result(acc)`` is the output value (default: the accumulator itself).
        serde: stores the accumulator (default msgpack).
        name: a name for messages.

    Example:
        >>> total = aggregate(lambda: 0, lambda acc, v: acc + v["n"], merge=lambda a, b: a + b)
        >>> total.fold([{"n": 2}, {"n": 3}])
        5
        >>> aggregate(0, lambda acc, v: acc + v)
        Traceback (most recent call last):
        ...
        strom.errors.ConfigError: aggregate: init must be a callable returning a fresh ...

    Raises:
        ConfigError: init, add, merge or result is not callable; serde is not a serde.
    """
    if not callable(init):
        raise ConfigError(
            f"{name}: init must be a callable returning a fresh accumulator "
            f"(e.g. list, or lambda: 0), got {init!r}"
        )
    for what, fn in (("add", add), ("merge", merge), ("result", result)):
        if fn is not None and not callable(fn):
            raise ConfigError(f"{name}: {what} must be callable, got {fn!r}")
    if add is None:
        raise ConfigError(f"{name}: add is required: add(acc, value) -> acc")
    if serde is not None and not isinstance(serde, Serde):
        raise ConfigError(f"{name}: serde must be a strom serde, got {serde!r}")
    return Aggregation(name, init, add, merge, result, serde or MsgpackSerde())


def _check_fn(fn: Callable[[Any], Any] | None, what: str) -> Callable[[Any], Any] | None:
    if fn is not None and not callable(fn):
        raise ConfigError(f"{what}: fn must be callable (value -> number), got {fn!r}")
    return fn
