"""Debezium's ``source.snapshot`` marks for the rows of an initial snapshot.

Example:
    >>> rows = [("a", 1), ("a", 2), ("b", 3), ("c", 4), ("c", 5)]
    >>> for table, row, mark in marked(iter(rows)):
    ...     print(table, row, mark)
    a 1 first
    a 2 last_in_data_collection
    b 3 last_in_data_collection
    c 4 first_in_data_collection
    c 5 last
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def _mark(first: bool, last: bool, first_in_table: bool, last_in_table: bool) -> str:
    # Debezium's SnapshotMarkerResolver: last wins over first, table marks after those.
    if last:
        return "last"
    if first:
        return "first"
    if last_in_table:
        return "last_in_data_collection"
    if first_in_table:
        return "first_in_data_collection"
    return "true"


def marked(rows: Iterator[tuple[T, Any]]) -> Iterator[tuple[T, Any, str]]:
    """``(table, row)`` pairs, table by table, with each row's mark (one row of look-ahead).

    Tables are compared by identity; the last row overall is ``last`` even when empty tables
    follow it, as in Debezium's output.
    """
    previous: tuple[T, Any, bool] | None = None
    first = True
    for table, row in rows:
        if previous is not None:
            p_table, p_row, p_first_in_table = previous
            yield p_table, p_row, _mark(first, False, p_first_in_table, p_table is not table)
            first = False
        previous = (table, row, previous is None or previous[0] is not table)
    if previous is not None:
        yield previous[0], previous[1], _mark(first, True, previous[2], True)
