"""Event types: domain classes (dataclasses or msgspec Structs) to stored events and back,
with versioned schemas and upcasters.

Each class is registered under a type name and a schema version. Events are stored as JSON
with strom's serdes (:func:`strom.serde.dataclass` / :func:`strom.serde.msgspec_struct`).
An event stored with an older schema version is upcast on read: its JSON object passes
through the registered upcasters (v1 → v2 → v3 ...) before it is decoded into the current
class. Stored events are never rewritten.

A stored event whose type is not registered, whose version is newer than the registered one,
or whose upcaster chain has a hole is an :class:`~strom.es.errors.UnknownEventError`, unless
the registry was made with ``on_unknown="skip"``: then it is skipped, logged once per type and
version, and counted in :attr:`EventRegistry.skipped`, never silently dropped.

Example:
    >>> from dataclasses import dataclass
    >>> registry = EventRegistry()
    >>> @registry.event("Renamed", version=3)
    ... @dataclass
    ... class Renamed:
    ...     first: str
    ...     last: str
    >>> @registry.upcaster("Renamed", from_version=1)
    ... def split_name(old: dict) -> dict:
    ...     first, _, last = old.pop("name").partition(" ")
    ...     return {**old, "first": first, "last": last}
    >>> @registry.upcaster("Renamed", from_version=2)
    ... def v2_to_v3(old: dict) -> dict:
    ...     return {"first": old["first"].title(), "last": old["last"].title()}
    >>> from strom.es.types import RecordedEvent
    >>> import uuid
    >>> stored_v1 = RecordedEvent(1, "user-1", 1, uuid.uuid4(), "Renamed", 1, 0,
    ...                           b'{"name": "ada lovelace"}', b"{}")
    >>> registry.decode(stored_v1)
    Renamed(first='Ada', last='Lovelace')
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import msgspec
import orjson

import strom.serde
from strom.errors import ConfigError, SerializationError
from strom.es.errors import UnknownEventError
from strom.es.types import NewEvent, RecordedEvent
from strom.serde import Serde

log = logging.getLogger(__name__)

T = TypeVar("T")
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns the JSON object of version n into the JSON object of version n + 1."""

OnUnknown = Literal["error", "skip"]


class _Skip:
    """The marker :meth:`EventRegistry.decode` returns for a skipped event."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SKIPPED"


SKIPPED: Any = _Skip()
"""Returned by :meth:`EventRegistry.decode` for an unknown event when ``on_unknown="skip"``."""


@dataclass(frozen=True)
class EventType:
    """A registered event class: its name, current schema version and serde."""

    cls: type[Any]
    name: str
    version: int
    serde: Serde[Any]


class EventRegistry:
    """Event classes by type name and schema version, and the upcasters between versions.

    Args:
        on_unknown: ``"error"`` (default) raises UnknownEventError for a stored event that
            cannot be decoded into a registered class; ``"skip"`` skips it, logging it and
            counting it in :attr:`skipped`.
    """

    def __init__(self, *, on_unknown: OnUnknown = "error") -> None:
        if on_unknown not in ("error", "skip"):
            raise ConfigError(f"on_unknown must be 'error' or 'skip', got {on_unknown!r}")
        self.on_unknown: OnUnknown = on_unknown
        self._by_class: dict[type[Any], EventType] = {}
        self._by_name: dict[str, EventType] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self.skipped: dict[tuple[str, int], int] = {}
        """Events skipped so far, by (type name, stored version)."""

    # --- registration --------------------------------------------------------------------

    def register(
        self, cls: type[Any], *, name: str | None = None, version: int = 1
    ) -> EventRegistry:
        """Register ``cls`` (a dataclass or msgspec Struct) as event type ``name`` (default:
        the class name) at schema ``version``; returns the registry for chaining.

        Raises:
            ConfigError: ``cls`` is neither a dataclass nor a msgspec Struct, the name or
                class is already registered, or the version is not an int >= 1.
        """
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ConfigError(f"event {cls!r}: version must be an int >= 1, got {version!r}")
        type_name = name or getattr(cls, "__name__", "")
        if not type_name:
            raise ConfigError(f"event {cls!r} needs a name")
        serde: Serde[Any]
        if isinstance(cls, type) and issubclass(cls, msgspec.Struct):
            serde = strom.serde.msgspec_struct(cls)
        elif isinstance(cls, type) and dataclasses.is_dataclass(cls):
            serde = strom.serde.dataclass(cls)
        else:
            raise ConfigError(
                f"event {cls!r} must be a dataclass or a msgspec.Struct class to be registered"
            )
        if type_name in self._by_name:
            raise ConfigError(
                f"event type {type_name!r} is already registered "
                f"(to {self._by_name[type_name].cls.__qualname__})"
            )
        if cls in self._by_class:
            raise ConfigError(
                f"{cls.__qualname__} is already registered as {self._by_class[cls].name!r}"
            )
        entry = EventType(cls, type_name, version, serde)
        self._by_class[cls] = entry
        self._by_name[type_name] = entry
        return self

    def event(self, name: str | None = None, *, version: int = 1) -> Callable[[type[T]], type[T]]:
        """Class decorator form of :meth:`register`."""

        def decorate(cls: type[T]) -> type[T]:
            self.register(cls, name=name, version=version)
            return cls

        return decorate

    def upcaster(self, name: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator registering ``fn`` to turn ``name`` v``from_version`` JSON objects into
        v``from_version + 1`` ones.

        Raises:
            ConfigError: an upcaster for that type and version already exists.
        """

        def decorate(fn: Upcaster) -> Upcaster:
            self.add_upcaster(name, from_version, fn)
            return fn

        return decorate

    def add_upcaster(self, name: str, from_version: int, fn: Upcaster) -> None:
        """Register ``fn`` as the ``name`` v``from_version`` → v``from_version + 1`` step."""
        if isinstance(from_version, bool) or not isinstance(from_version, int) or from_version < 1:
            raise ConfigError(f"upcaster of {name!r}: from_version must be an int >= 1")
        key = (name, from_version)
        if key in self._upcasters:
            raise ConfigError(f"an upcaster of {name!r} from v{from_version} is already registered")
        self._upcasters[key] = fn

    def type_of(self, cls: type[Any]) -> EventType:
        """The registration of ``cls``; ConfigError when it is not registered."""
        try:
            return self._by_class[cls]
        except KeyError:
            raise ConfigError(
                f"{getattr(cls, '__qualname__', cls)!r} is not a registered event type; "
                "register it with EventRegistry.register"
            ) from None

    @property
    def names(self) -> list[str]:
        """Registered type names, sorted."""
        return sorted(self._by_name)

    # --- encoding ------------------------------------------------------------------------

    def encode(
        self,
        event: Any,
        *,
        metadata: Mapping[str, Any] | None = None,
        id: uuid.UUID | None = None,
    ) -> NewEvent:
        """A :class:`NewEvent` for the domain ``event`` (its registered type name and
        version, JSON data) with ``metadata``."""
        entry = self.type_of(type(event))
        data = entry.serde.serialize(event)
        assert data is not None
        return NewEvent(entry.name, data, dict(metadata or {}), entry.version, id or uuid.uuid4())

    def decode(self, stored: RecordedEvent) -> Any:
        """The domain event of ``stored``, upcast to the current schema version first when it
        is older; :data:`SKIPPED` for an undecodable event when ``on_unknown="skip"``.

        Raises:
            UnknownEventError: unknown type, newer version, or missing upcaster (and
                ``on_unknown="error"``).
            SerializationError: the data does not match the class (after upcasting).
        """
        entry = self._by_name.get(stored.type)
        if entry is not None and entry.version == stored.type_version:
            try:
                return entry.serde.deserialize(stored.data)
            except SerializationError as exc:
                raise SerializationError(f"{_where(stored)}: {exc}") from exc
        if entry is None:
            return self._unknown(stored, f"type {stored.type!r} is not registered")
        if stored.type_version > entry.version:
            return self._unknown(
                stored,
                f"stored schema v{stored.type_version} is newer than the registered "
                f"v{entry.version} ({entry.cls.__qualname__}): run the newer code",
            )
        return self._upcast(stored, entry)

    def _upcast(self, stored: RecordedEvent, entry: EventType) -> Any:
        steps = []
        for v in range(stored.type_version, entry.version):
            step = self._upcasters.get((stored.type, v))
            if step is None:
                return self._unknown(
                    stored, f"no upcaster from v{v} to v{v + 1} (registered: v{entry.version})"
                )
            steps.append(step)
        try:
            value = orjson.loads(stored.data)
        except orjson.JSONDecodeError as exc:
            raise SerializationError(f"{_where(stored)}: data is not valid JSON: {exc}") from exc
        for v, step in enumerate(steps, stored.type_version):
            try:
                value = step(value)
            except Exception as exc:
                raise SerializationError(
                    f"{_where(stored)}: upcaster v{v} -> v{v + 1} failed: {exc!r}"
                ) from exc
        try:
            return msgspec.convert(value, entry.cls)
        except msgspec.ValidationError as exc:
            raise SerializationError(
                f"{_where(stored)}: upcast to v{entry.version} does not match "
                f"{entry.cls.__qualname__}: {exc}"
            ) from exc

    def _unknown(self, stored: RecordedEvent, reason: str) -> Any:
        if self.on_unknown == "error":
            raise UnknownEventError(
                reason,
                event_type=stored.type,
                type_version=stored.type_version,
                stream_id=stored.stream_id,
                version=stored.version,
                position=stored.position,
            )
        key = (stored.type, stored.type_version)
        if key not in self.skipped:
            log.warning("skipping events of %s v%s: %s (first at %s)", *key, reason, _where(stored))
        self.skipped[key] = self.skipped.get(key, 0) + 1
        return SKIPPED


def _where(stored: RecordedEvent) -> str:
    return (
        f"event {stored.type} v{stored.type_version} at stream {stored.stream_id!r} version "
        f"{stored.version} (position {stored.position})"
    )
