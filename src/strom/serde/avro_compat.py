"""Avro schema evolution: can data written with one schema be read with another?

The check is the Apache Avro project's own (``avro.compatibility``, the Python port of the
Java ``SchemaCompatibility`` that Schema Registries apply): type promotions, record fields
matched by name or alias with defaults for added fields, enum symbols and defaults, unions,
arrays, maps, fixed sizes, recursive types. Run once, when a serde is built, so an
incompatible pair fails at start-up instead of on the first record. Needs the ``avro`` extra
(``pip install 'strom[avro]'``).

Example:
    >>> v1 = {"type": "record", "name": "User", "fields": [{"name": "id", "type": "int"}]}
    >>> v2 = {"type": "record", "name": "User", "fields": [
    ...     {"name": "id", "type": "long"},
    ...     {"name": "email", "type": ["null", "string"], "default": None}]}
    >>> avro_incompatibilities(v1, v2)
    []
    >>> avro_incompatibilities(v2, v1)
    ['User.id: reader type: int not compatible with writer type: long']
"""

from __future__ import annotations

from typing import Any

import orjson

from strom.errors import ConfigError
from strom.serde.extras import require

_fastavro = require("fastavro", "avro", "the avro serde")
_CHECKS = "Avro schema compatibility checks"


def _as_json(schema: Any, what: str) -> Any:
    if isinstance(schema, str) and schema.lstrip()[:1] in ("{", "[", '"'):
        try:
            return orjson.loads(schema)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"avro serde: the {what} is not valid JSON: {exc}") from None
    return schema


def parse_avro_schema(schema: Any, what: str = "schema") -> tuple[Any, dict[str, Any]]:
    """Parse a schema given as a dict, a list (union), a type name or a JSON string, with
    fastavro (which encodes and decodes).

    Returns the parsed schema and its named types. Raises ConfigError naming the problem.
    """
    schema = _as_json(schema, what)
    named: dict[str, Any] = {}
    try:
        parsed = _fastavro.parse_schema(schema, named_schemas=named)
    except Exception as exc:  # fastavro raises several unrelated types for bad schemas
        raise ConfigError(f"avro serde: invalid Avro {what}: {exc}") from None
    return parsed, named


def _reference_schema(schema: Any, what: str) -> Any:
    avro_schema = require("avro.schema", "avro", _CHECKS)
    try:
        return avro_schema.parse(orjson.dumps(_as_json(schema, what)).decode())
    except Exception as exc:  # avro.errors.SchemaParseException and friends
        raise ConfigError(f"avro serde: invalid Avro {what}: {exc}") from None


def avro_incompatibilities(writer_schema: Any, reader_schema: Any) -> list[str]:
    """Why data written with ``writer_schema`` cannot be read with ``reader_schema``.

    An empty list means the reader can read everything the writer can write. One problem
    comes as one entry naming where in the reader schema it is (``Record.field``, ``[]`` for
    array items, ``{}`` for map values); several as their kinds, the checker's messages, and
    the places (the checker does not pair them).
    """
    parse_avro_schema(writer_schema, "writer schema")
    parse_avro_schema(reader_schema, "reader schema")
    compatibility = require("avro.compatibility", "avro", _CHECKS)
    writer = _reference_schema(writer_schema, "writer schema")
    reader = _reference_schema(reader_schema, "reader schema")
    result = compatibility.ReaderWriterCompatibilityChecker().get_compatibility(
        reader=reader, writer=writer
    )
    if result.compatibility is compatibility.SchemaCompatibilityType.compatible:
        return []
    places = sorted(_path(reader, location) for location in result.locations)
    messages = sorted(str(m) for m in result.messages)
    kinds = {kind.value for kind in result.incompatibilities}
    if len(messages) == 1 and len(kinds) == 1:
        # One problem: the checker's terse message ("{'Z'}", "b") made a sentence, at its
        # most precise place (a name mismatch also reports the record's top).
        text = _SENTENCES.get(kinds.pop(), "{}").format(messages[0])
        place = max(places, key=len, default="")
        return [f"{place}: {text}" if place else text]
    # Several: the checker reports kinds, messages and places as separate, unordered sets.
    kinds_text = ", ".join(sorted(k.replace("_", " ") for k in kinds))
    return [
        f"{len(result.incompatibilities)} problems ({kinds_text})",
        *messages,
        "at " + ", ".join(p or "the top level" for p in places),
    ]


_SENTENCES = {
    "name_mismatch": "the reader's name (and aliases) differ from the writer's ({})",
    "fixed_size_mismatch": "fixed sizes differ ({})",
    "missing_enum_symbols": (
        "enum symbols {} of the writer are unknown to the reader, which has no default"
    ),
    "reader_field_missing_default_value": (
        "field {!r} is missing in the writer schema and has no default in the reader schema"
    ),
}


def check_avro_compatible(writer_schema: Any, reader_schema: Any) -> None:
    """Raise ConfigError listing every incompatibility between the two schemas.

    Example:
        >>> check_avro_compatible("int", "string")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        strom.errors.ConfigError: avro serde: ...: reader type: string not compatible with ...
    """
    problems = avro_incompatibilities(writer_schema, reader_schema)
    if problems:
        raise ConfigError(
            "avro serde: the reader schema cannot read data written with the writer schema: "
            + "; ".join(problems)
        )


def _path(schema: Any, location: str) -> str:
    """A readable place in ``schema`` (parsed by ``avro``) for a location the checker gives
    as a JSON pointer (``/fields/0/type/items``): ``Order.lines[]``."""
    tokens = [t for t in location.split("/") if t]
    out = ""
    node = schema
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "fields" and i + 1 < len(tokens) and tokens[i + 1].isdigit():
            field = node.fields[int(tokens[i + 1])]
            out = f"{out or _short(node.name)}.{field.name}"
            node = field.type
            i += 2
            if i < len(tokens) and tokens[i] == "type":
                i += 1
            continue
        if token == "items":
            out, node = f"{out}[]", node.items
        elif token == "values":
            out, node = f"{out}{{}}", node.values
        elif token.isdigit() and hasattr(node, "schemas"):
            node = node.schemas[int(token)]  # a union branch: same place
        elif token in ("symbols", "size", "name"):
            out = out or _short(getattr(node, "name", token))
        i += 1
    return out


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]
