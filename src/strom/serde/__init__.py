"""Serializers: values to bytes and back, for topics, state stores and the CLI.

Every serde passes None through (tombstones, missing keys) and raises
:class:`~strom.errors.SerializationError` saying what failed. Use :func:`deserialize_record`
to attach the record's topic, partition and offset.

``avro`` needs the ``avro`` extra (``pip install 'strom[avro]'``), ``msgspec_struct``,
``dataclass`` and ``json(model=...)`` the ``msgspec`` extra; they are loaded on first use.

Example:
    >>> import strom.serde as serde
    >>> key, value = serde.string(), serde.json()
    >>> key.serialize("user-1"), value.serialize({"action": "login"})
    (b'user-1', b'{"action":"login"}')
    >>> value.deserialize(b'{"action":"login"}')
    {'action': 'login'}
    >>> value.serialize(None) is None
    True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from strom.serde.base import Serde
from strom.serde.json_serde import json
from strom.serde.names import SERDE_NAMES, by_name
from strom.serde.primitives import bytes_, floating, integer, raw, string
from strom.serde.record import deserialize_record, serialize_record

if TYPE_CHECKING:
    from strom.serde.avro_compat import avro_incompatibilities, check_avro_compatible
    from strom.serde.avro_serde import avro
    from strom.serde.typed import dataclass, msgspec_struct

# Serdes whose libraries are extras (fastavro, avro, msgspec): their modules are imported on
# first use, so ``import strom`` does not load them; a missing extra is named then.
_LAZY = {
    "avro": "strom.serde.avro_serde",
    "avro_incompatibilities": "strom.serde.avro_compat",
    "check_avro_compatible": "strom.serde.avro_compat",
    "dataclass": "strom.serde.typed",
    "msgspec_struct": "strom.serde.typed",
}

__all__ = [
    "SERDE_NAMES",
    "Serde",
    "avro",
    "avro_incompatibilities",
    "by_name",
    "bytes_",
    "check_avro_compatible",
    "dataclass",
    "deserialize_record",
    "floating",
    "integer",
    "json",
    "msgspec_struct",
    "raw",
    "serialize_record",
    "string",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'strom.serde' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
