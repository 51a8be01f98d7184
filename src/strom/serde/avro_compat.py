"""Avro schema evolution: can data written with one schema be read with another?

Follows the resolution rules of the Avro specification (the ones ``fastavro`` applies when
reading): type promotions, record fields matched by name or alias with defaults for added
fields, enum symbols, unions, arrays, maps and fixed types. Checked once, when a serde is
built, so an incompatible pair fails at start-up instead of on the first record.

Example:
    >>> v1 = {"type": "record", "name": "User", "fields": [{"name": "id", "type": "int"}]}
    >>> v2 = {"type": "record", "name": "User", "fields": [
    ...     {"name": "id", "type": "long"},
    ...     {"name": "email", "type": ["null", "string"], "default": None}]}
    >>> avro_incompatibilities(v1, v2)
    []
    >>> avro_incompatibilities(v2, v1)
    ['User.id: writer type long cannot be read as int']
"""

from __future__ import annotations

from typing import Any

import fastavro
import orjson

from strom.errors import ConfigError

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_PROMOTIONS = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}
_NAMED = frozenset({"record", "error", "enum", "fixed"})


def parse_avro_schema(schema: Any, what: str = "schema") -> tuple[Any, dict[str, Any]]:
    """Parse a schema given as a dict, a list (union), a type name or a JSON string.

    Returns the parsed schema and its named types. Raises ConfigError naming the problem.
    """
    if isinstance(schema, str) and schema.lstrip()[:1] in ("{", "[", '"'):
        try:
            schema = orjson.loads(schema)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"avro serde: the {what} is not valid JSON: {exc}") from None
    named: dict[str, Any] = {}
    try:
        parsed = fastavro.parse_schema(schema, named_schemas=named)
    except Exception as exc:  # fastavro raises several unrelated types for bad schemas
        raise ConfigError(f"avro serde: invalid Avro {what}: {exc}") from None
    return parsed, named


def avro_incompatibilities(writer_schema: Any, reader_schema: Any) -> list[str]:
    """Why data written with ``writer_schema`` cannot be read with ``reader_schema``.

    An empty list means the reader can read everything the writer can write.
    """
    writer, writer_named = parse_avro_schema(writer_schema, "writer schema")
    reader, reader_named = parse_avro_schema(reader_schema, "reader schema")
    problems: list[str] = []
    _Checker(writer_named, reader_named, problems).check(writer, reader, "")
    return problems


def check_avro_compatible(writer_schema: Any, reader_schema: Any) -> None:
    """Raise ConfigError listing every incompatibility between the two schemas.

    Example:
        >>> check_avro_compatible("int", "string")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        strom.errors.ConfigError: avro serde: ...: writer type int cannot be read as string
    """
    problems = avro_incompatibilities(writer_schema, reader_schema)
    if problems:
        raise ConfigError(
            "avro serde: the reader schema cannot read data written with the writer schema: "
            + "; ".join(problems)
        )


class _Checker:
    def __init__(
        self, writer_named: dict[str, Any], reader_named: dict[str, Any], problems: list[str]
    ) -> None:
        self._writer_named = writer_named
        self._reader_named = reader_named
        self._problems = problems
        self._seen: set[tuple[str, str]] = set()  # named pairs in progress: recursive types

    def _resolve(self, schema: Any, named: dict[str, Any]) -> Any:
        while True:
            if isinstance(schema, str):
                if schema in _PRIMITIVES:
                    return schema
                if schema in named:
                    schema = named[schema]
                    continue
                return schema
            if isinstance(schema, dict):
                kind = schema.get("type")
                if isinstance(kind, str) and kind in _PRIMITIVES:
                    return kind
                if isinstance(kind, dict | list) or (isinstance(kind, str) and kind in named):
                    schema = kind
                    continue
            return schema

    def _fail(self, path: str, message: str) -> None:
        self._problems.append(f"{path}: {message}" if path else message)

    def _matches(self, writer: Any, reader: Any) -> bool:
        """True when ``writer`` resolves against ``reader`` with no problem (for unions)."""
        trial = _Checker(self._writer_named, self._reader_named, [])
        trial._seen = set(self._seen)
        trial.check(writer, reader, "")
        return not trial._problems

    def check(self, writer: Any, reader: Any, path: str) -> None:
        writer = self._resolve(writer, self._writer_named)
        reader = self._resolve(reader, self._reader_named)
        if isinstance(writer, list):
            for branch in writer:
                self.check(branch, reader, path)
            return
        if isinstance(reader, list):
            if not any(self._matches(writer, branch) for branch in reader):
                branches = [_describe(self._resolve(b, self._reader_named)) for b in reader]
                self._fail(
                    path,
                    f"writer type {_describe(writer)} matches no branch of the "
                    f"reader union {branches}",
                )
            return
        if isinstance(writer, str) or isinstance(reader, str):
            if writer == reader or (
                isinstance(writer, str)
                and isinstance(reader, str)
                and reader in _PROMOTIONS.get(writer, ())
            ):
                return
            self._fail(
                path, f"writer type {_describe(writer)} cannot be read as {_describe(reader)}"
            )
            return
        w_kind, r_kind = writer["type"], reader["type"]
        if w_kind != r_kind and not ({w_kind, r_kind} <= {"record", "error"}):
            self._fail(
                path, f"writer type {_describe(writer)} cannot be read as {_describe(reader)}"
            )
            return
        if w_kind in _NAMED and not _names_match(writer, reader):
            self._fail(
                path,
                f"writer {w_kind} {writer['name']!r} does not match reader {r_kind} "
                f"{reader['name']!r} (names and aliases differ)",
            )
            return
        if w_kind in ("record", "error"):
            self._check_record(writer, reader, path)
        elif w_kind == "enum":
            missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if missing and "default" not in reader:
                self._fail(
                    path or _short(reader["name"]),
                    f"enum symbols {missing} of the writer are "
                    "unknown to the reader, which has no default",
                )
        elif w_kind == "fixed":
            if writer["size"] != reader["size"]:
                self._fail(
                    path or _short(reader["name"]),
                    f"fixed size {writer['size']} cannot be read as size {reader['size']}",
                )
        elif w_kind == "array":
            self.check(writer["items"], reader["items"], f"{path}[]")
        elif w_kind == "map":
            self.check(writer["values"], reader["values"], f"{path}{{}}")

    def _check_record(self, writer: dict[str, Any], reader: dict[str, Any], path: str) -> None:
        pair = (writer["name"], reader["name"])
        if pair in self._seen:
            return
        self._seen.add(pair)
        base = path or _short(reader["name"])
        writer_fields = {f["name"]: f for f in writer["fields"]}
        for field in reader["fields"]:
            names = [field["name"], *field.get("aliases", ())]
            source = next((writer_fields[n] for n in names if n in writer_fields), None)
            where = f"{base}.{field['name']}"
            if source is None:
                if "default" not in field:
                    self._fail(
                        where,
                        "field is missing in the writer schema and has no default "
                        "in the reader schema",
                    )
                continue
            self.check(source["type"], field["type"], where)


def _names_match(writer: dict[str, Any], reader: dict[str, Any]) -> bool:
    w_name = writer["name"]
    candidates = {reader["name"], *reader.get("aliases", ())}
    return w_name in candidates or _short(w_name) in {_short(c) for c in candidates}


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _describe(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, dict):
        kind = schema.get("type")
        name = schema.get("name")
        return f"{kind} {_short(name)!r}" if name else str(kind)
    return str(schema)
