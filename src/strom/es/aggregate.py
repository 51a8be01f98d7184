"""Aggregates: state rebuilt from events, commands that decide new events.

A subclass declares its state as annotated attributes, sets the initial state in
``__init__(self, id)``, changes state only in :meth:`Aggregate.apply`, and has command methods
that check their arguments against the state and return the events they decide, through
:meth:`Aggregate.record` (which applies them and queues them for the repository to save).

Snapshots store the annotated attributes (JSON through msgspec, so nested dataclasses, lists,
dicts, datetimes and so on round-trip with their types). An aggregate whose state shape
changes bumps :attr:`Aggregate.snapshot_version`: older snapshots are then ignored (the
aggregate is rebuilt from its events) rather than misread.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Added:
    ...     item: str
    >>> class Cart(Aggregate[Added]):
    ...     items: list[str]
    ...     def __init__(self, id: str) -> None:
    ...         super().__init__(id)
    ...         self.items = []
    ...     def apply(self, event: Added) -> None:
    ...         self.items.append(event.item)
    ...     def add(self, item: str) -> list[Added]:
    ...         if item in self.items:
    ...             raise ValueError(f"{item} is already in the cart")
    ...         return self.record(Added(item))
    >>> cart = Cart("cart-1")
    >>> cart.add("book")
    [Added(item='book')]
    >>> cart.version, cart.items, len(cart.pending_events)
    (1, ['book'], 1)
    >>> Cart.restore("cart-1", 1, cart.snapshot_state()).items
    ['book']
"""

from __future__ import annotations

import typing
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from strom.errors import ConfigError, SerializationError

E = TypeVar("E")
A = TypeVar("A", bound="Aggregate[Any]")

_BASE_FIELDS = frozenset({"id", "version", "_pending"})


class Aggregate(Generic[E]):
    """Base class of aggregates; ``E`` is the type (or union) of its events.

    Attributes:
        id: the aggregate's id (its stream is the repository's prefix + id).
        version: the number of events applied, including pending ones.
        snapshot_version: the version of the snapshot state's shape; bump it when the
            annotated attributes change.
    """

    snapshot_version: ClassVar[int] = 1
    id: str
    version: int

    def __init__(self, id: str) -> None:
        self.id = id
        self.version = 0
        self._pending: list[E] = []

    def apply(self, event: E) -> None:
        """Change the state for ``event``. Must not fail for a recorded event, and must not
        decide anything: it runs again on every load."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement apply(event)")

    def record(self, *events: E) -> list[E]:
        """Apply ``events`` and queue them for saving; returns them (commands return this)."""
        for event in events:
            self.apply(event)
            self.version += 1
            self._pending.append(event)
        return list(events)

    @property
    def pending_events(self) -> list[E]:
        """Events recorded since the last save."""
        return list(self._pending)

    def collect_events(self) -> list[E]:
        """The pending events, clearing them (the repository calls this on save)."""
        pending, self._pending = self._pending, []
        return pending

    # --- snapshots -----------------------------------------------------------------------

    @classmethod
    def _snapshot_struct(cls) -> type[msgspec.Struct]:
        cached = cls.__dict__.get("_strom_snapshot_struct")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        try:
            hints = typing.get_type_hints(cls)
        except Exception as exc:
            raise ConfigError(
                f"{cls.__qualname__}: cannot resolve the annotations of its state: {exc}"
            ) from exc
        fields = [
            (name, tp)
            for name, tp in hints.items()
            if name not in _BASE_FIELDS
            and typing.get_origin(tp) is not ClassVar
            and tp is not ClassVar
            and not name.startswith("_")
        ]
        struct = msgspec.defstruct(f"{cls.__name__}Snapshot", fields)
        type.__setattr__(cls, "_strom_snapshot_struct", struct)
        return struct

    def snapshot_state(self) -> bytes:
        """The annotated state attributes as JSON (override with :meth:`restore` for a
        custom format)."""
        struct = self._snapshot_struct()
        try:
            values = {name: getattr(self, name) for name in struct.__struct_fields__}
            return msgspec.json.encode(struct(**values))
        except (AttributeError, TypeError, msgspec.EncodeError) as exc:
            raise SerializationError(
                f"{type(self).__qualname__} {self.id!r}: cannot snapshot its state: {exc}"
            ) from exc

    @classmethod
    def restore(cls: type[A], id: str, version: int, state: bytes) -> A:
        """An aggregate at ``version`` with the state of a :meth:`snapshot_state`."""
        struct = cls._snapshot_struct()
        try:
            decoded = msgspec.json.decode(state, type=struct)
        except msgspec.DecodeError as exc:
            raise SerializationError(
                f"{cls.__qualname__} {id!r}: snapshot at version {version} does not match "
                f"the state's shape (bump snapshot_version when it changes): {exc}"
            ) from exc
        aggregate = cls(id)
        for name in struct.__struct_fields__:
            setattr(aggregate, name, getattr(decoded, name))
        aggregate.version = version
        return aggregate

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}(id={self.id!r}, version={self.version})"
