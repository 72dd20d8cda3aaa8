"""Connect's data model: schemas, structs and the four logical types (org.apache.kafka.connect.data).

Python values stand for Connect's: int for INT8..INT64, float for FLOAT32/64, bool, str, bytes,
list for ARRAY, dict for MAP, Struct for STRUCT; the logical types Decimal, Date, Time and
Timestamp are decimal.Decimal, datetime.date, datetime.time and datetime.datetime (UTC).
A Schema is immutable and hashable, so converters can cache by it.
"""

from __future__ import annotations

import datetime
import decimal
import enum
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from connect.errors import DataException


class Type(str, enum.Enum):
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT32 = "float"
    FLOAT64 = "double"
    BOOLEAN = "boolean"
    STRING = "string"
    BYTES = "bytes"
    ARRAY = "array"
    MAP = "map"
    STRUCT = "struct"

    @property
    def is_primitive(self) -> bool:
        return self not in (Type.ARRAY, Type.MAP, Type.STRUCT)


INTEGER_BOUNDS = {Type.INT8: 8, Type.INT16: 16, Type.INT32: 32, Type.INT64: 64}
# Types every converter writes as the value itself, once checked.
PASSTHROUGH_TYPES = frozenset({*INTEGER_BOUNDS, Type.BOOLEAN, Type.STRING})


def checked_primitive(kind: Type, value):
    """The value of a BOOLEAN, STRING or integer schema, unchanged; TypeError unless it has that
    type (a bool is no integer here, though Python says it is)."""
    if kind is Type.BOOLEAN:
        ok = isinstance(value, bool)
    elif kind is Type.STRING:
        ok = isinstance(value, str)
    else:
        ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok:
        raise TypeError(f"{type(value).__name__} is not {kind.name}")
    return value


@dataclass(frozen=True)
class Field:
    name: str
    index: int
    schema: "Schema"


@dataclass(frozen=True)
class Schema:
    """A Connect schema. `fields` for STRUCT, `key_schema`/`value_schema` for MAP, `value_schema`
    for ARRAY (Kafka's valueSchema()). `parameters` is a tuple of (key, value) pairs so the
    schema stays hashable; `params` gives it as a dict."""

    type: Type
    optional: bool = False
    default: Any = None
    name: str | None = None
    version: int | None = None
    doc: str | None = None
    parameters: tuple[tuple[str, str], ...] | None = None
    fields: tuple[Field, ...] = ()
    key_schema: "Schema | None" = None
    value_schema: "Schema | None" = None
    _by_name: dict = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self):
        if self.type is Type.STRUCT:
            object.__setattr__(self, "_by_name", {f.name: f for f in self.fields})

    @property
    def params(self) -> dict[str, str]:
        return dict(self.parameters or ())

    def field(self, name: str) -> Field | None:
        if self.type is not Type.STRUCT:
            raise DataException("Cannot look up fields on non-struct type")
        return self._by_name.get(name)

    def as_optional(self) -> "Schema":
        return self if self.optional else replace(self, optional=True)

    def as_required(self) -> "Schema":
        return replace(self, optional=False) if self.optional else self

    def with_default(self, default) -> "Schema":
        validate(self, default)
        return replace(self, default=default)

    def __str__(self) -> str:
        return f"Schema{{{self.name + ':' if self.name else ''}{self.type.name}}}"


def struct(fields: Iterable[tuple[str, Schema]], *, name: str | None = None, optional: bool = False,
           version: int | None = None, doc: str | None = None,
           parameters: dict[str, str] | None = None, default=None) -> Schema:
    """A STRUCT schema from (name, schema) pairs, in order (SchemaBuilder.struct().field(...))."""
    built, seen = [], set()
    for i, (fname, fschema) in enumerate(fields):
        fname = str.__str__(fname)  # a plain str: e.g. SQLAlchemy's quoted_name subclass is no JSON key for orjson
        if fname in seen:
            raise DataException(f"Cannot create field because of field name duplication {fname}")
        seen.add(fname)
        built.append(Field(fname, i, fschema))
    return Schema(Type.STRUCT, optional=optional, name=name, version=version, doc=doc,
                  parameters=_params(parameters), fields=tuple(built), default=default)


def array(items: Schema, *, optional: bool = False, name: str | None = None) -> Schema:
    return Schema(Type.ARRAY, optional=optional, name=name, value_schema=items)


def map_of(keys: Schema, values: Schema, *, optional: bool = False, name: str | None = None) -> Schema:
    return Schema(Type.MAP, optional=optional, name=name, key_schema=keys, value_schema=values)


def _params(parameters: dict[str, str] | None):
    return tuple(parameters.items()) if parameters else None


INT8_SCHEMA = Schema(Type.INT8)
INT16_SCHEMA = Schema(Type.INT16)
INT32_SCHEMA = Schema(Type.INT32)
INT64_SCHEMA = Schema(Type.INT64)
FLOAT32_SCHEMA = Schema(Type.FLOAT32)
FLOAT64_SCHEMA = Schema(Type.FLOAT64)
BOOLEAN_SCHEMA = Schema(Type.BOOLEAN)
STRING_SCHEMA = Schema(Type.STRING)
BYTES_SCHEMA = Schema(Type.BYTES)
OPTIONAL_INT8_SCHEMA = Schema(Type.INT8, optional=True)
OPTIONAL_INT16_SCHEMA = Schema(Type.INT16, optional=True)
OPTIONAL_INT32_SCHEMA = Schema(Type.INT32, optional=True)
OPTIONAL_INT64_SCHEMA = Schema(Type.INT64, optional=True)
OPTIONAL_FLOAT32_SCHEMA = Schema(Type.FLOAT32, optional=True)
OPTIONAL_FLOAT64_SCHEMA = Schema(Type.FLOAT64, optional=True)
OPTIONAL_BOOLEAN_SCHEMA = Schema(Type.BOOLEAN, optional=True)
OPTIONAL_STRING_SCHEMA = Schema(Type.STRING, optional=True)
OPTIONAL_BYTES_SCHEMA = Schema(Type.BYTES, optional=True)


# Logical types: a primitive schema with one of these names (version 1).
DECIMAL = "org.apache.kafka.connect.data.Decimal"
DATE = "org.apache.kafka.connect.data.Date"
TIME = "org.apache.kafka.connect.data.Time"
TIMESTAMP = "org.apache.kafka.connect.data.Timestamp"
DECIMAL_SCALE = "scale"
EPOCH = datetime.date(1970, 1, 1)
EPOCH_DT = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def decimal_schema(scale: int, *, optional: bool = False, precision: int | None = None) -> Schema:
    params = {DECIMAL_SCALE: str(scale)}
    if precision is not None:
        params["connect.decimal.precision"] = str(precision)
    return Schema(Type.BYTES, optional=optional, name=DECIMAL, version=1, parameters=_params(params))


def date_schema(*, optional: bool = False) -> Schema:
    return Schema(Type.INT32, optional=optional, name=DATE, version=1)


def time_schema(*, optional: bool = False) -> Schema:
    return Schema(Type.INT32, optional=optional, name=TIME, version=1)


def timestamp_schema(*, optional: bool = False) -> Schema:
    return Schema(Type.INT64, optional=optional, name=TIMESTAMP, version=1)


def is_logical(schema: Schema | None) -> bool:
    return schema is not None and schema.name in (DECIMAL, DATE, TIME, TIMESTAMP)


def decimal_scale(schema: Schema) -> int:
    try:
        return int(schema.params[DECIMAL_SCALE])
    except (KeyError, ValueError):
        raise DataException("Invalid Decimal schema: scale parameter not found.") from None


def logical_to_primitive(schema: Schema, value):
    """A logical value as its base type's value (Decimal -> unscaled two's-complement bytes,
    Date -> days, Time -> ms since midnight, Timestamp -> ms since epoch)."""
    if value is None:
        return None
    if schema.name == DECIMAL:
        unscaled = int(value.scaleb(decimal_scale(schema)).to_integral_value())
        length = max(1, (unscaled + (unscaled < 0)).bit_length() // 8 + 1)
        return unscaled.to_bytes(length, "big", signed=True)
    if schema.name == DATE:
        if isinstance(value, datetime.datetime):
            value = value.date()
        return (value - EPOCH).days
    if schema.name == TIME:
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1000 + value.microsecond // 1000
    if schema.name == TIMESTAMP:
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        delta = value - EPOCH_DT
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return value


def logical_from_primitive(schema: Schema, value):
    """The inverse of logical_to_primitive."""
    if value is None:
        return None
    if schema.name == DECIMAL:
        unscaled = int.from_bytes(value, "big", signed=True)
        return decimal.Decimal(unscaled).scaleb(-decimal_scale(schema))
    if schema.name == DATE:
        return EPOCH + datetime.timedelta(days=value)
    if schema.name == TIME:
        if not 0 <= value < 86_400_000:
            raise DataException("Time values must use number of milliseconds greater than 0 and less than 86400000")
        return (datetime.datetime.min + datetime.timedelta(milliseconds=value)).time()
    if schema.name == TIMESTAMP:
        return EPOCH_DT + datetime.timedelta(milliseconds=value)
    return value


_PY_TYPES = {
    Type.INT8: int, Type.INT16: int, Type.INT32: int, Type.INT64: int,
    Type.FLOAT32: (float, int), Type.FLOAT64: (float, int), Type.BOOLEAN: bool,
    Type.STRING: str, Type.BYTES: (bytes, bytearray, memoryview), Type.ARRAY: (list, tuple),
    Type.MAP: dict,
}
_LOGICAL_PY_TYPES = {DECIMAL: decimal.Decimal, DATE: datetime.date, TIME: datetime.time,
                     TIMESTAMP: datetime.datetime}


def validate(schema: Schema, value, field_name: str | None = None) -> None:
    """ConnectSchema.validateValue: raise DataException unless `value` fits `schema`."""
    where = f' for field: "{field_name}"' if field_name else ""
    if value is None:
        if schema.optional or schema.default is not None:
            return
        raise DataException(f"Invalid value: null used for required field{where}, schema type: {schema.type.name}")
    expected = _LOGICAL_PY_TYPES.get(schema.name) if schema.name else None
    if expected is not None:
        ok = isinstance(value, expected)
    elif schema.type is Type.STRUCT:
        ok = isinstance(value, Struct)
        if ok and value.schema != schema:
            raise DataException(f"Struct schemas do not match{where}.")
    else:
        ok = isinstance(value, _PY_TYPES[schema.type]) and not (
            schema.type is not Type.BOOLEAN and isinstance(value, bool))
        if ok and schema.type in INTEGER_BOUNDS:
            bits = INTEGER_BOUNDS[schema.type]
            ok = -(1 << (bits - 1)) <= value < (1 << (bits - 1))
    if not ok:
        raise DataException(f"Invalid Java object for schema with type {schema.type.name}: "
                            f"{type(value).__name__}{where}")
    if schema.type is Type.ARRAY and expected is None:
        for item in value:
            validate(schema.value_schema, item, field_name)
    elif schema.type is Type.MAP:
        for k, v in value.items():
            validate(schema.key_schema, k, field_name)
            validate(schema.value_schema, v, field_name)


class Struct:
    """A STRUCT value: field values by name, checked against the schema on put (Kafka's Struct)."""

    __slots__ = ("schema", "_values")

    def __init__(self, schema: Schema, values: dict | None = None):
        if schema.type is not Type.STRUCT:
            raise DataException("Not a struct schema: " + str(schema))
        self.schema = schema
        self._values = [None] * len(schema.fields)
        for name, value in (values or {}).items():
            self.put(name, value)

    @classmethod
    def trusted(cls, schema: Schema, values: list) -> "Struct":
        """A struct from values already made to fit the schema's fields, in order (converters
        build them from the schema itself): no per-field validation."""
        out = cls.__new__(cls)
        out.schema = schema
        out._values = values
        return out

    def _field(self, name: str) -> Field:
        f = self.schema.field(name)
        if f is None:
            raise DataException(f"{name} is not a valid field name")
        return f

    def put(self, name: str, value) -> "Struct":
        f = self._field(name)
        validate(f.schema, value, name)
        self._values[f.index] = value
        return self

    def get(self, name: str):
        """The field's value, or its schema default when unset (Struct.get)."""
        f = self._field(name)
        value = self._values[f.index]
        return f.schema.default if value is None else value

    def get_without_default(self, name: str):
        return self._values[self._field(name).index]

    def validate(self) -> None:
        for f in self.schema.fields:
            validate(f.schema, self._values[f.index], f.name)

    def items(self):
        return ((f.name, self._values[f.index]) for f in self.schema.fields)

    def __eq__(self, other) -> bool:
        return isinstance(other, Struct) and self.schema == other.schema and self._values == other._values

    def __hash__(self) -> int:
        return hash((self.schema, tuple(_hashable(v) for v in self._values)))

    def __repr__(self) -> str:
        return "Struct{" + ",".join(f"{n}={v!r}" for n, v in self.items() if v is not None) + "}"


def _hashable(value):
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((repr(k), _hashable(v)) for k, v in value.items()))
    return value


@dataclass(frozen=True)
class SchemaAndValue:
    schema: Schema | None
    value: Any


NULL = SchemaAndValue(None, None)


def infer_schema(value) -> Schema | None:
    """The schema a schemaless value would have (Values.inferSchema), None when it cannot tell."""
    if isinstance(value, bool):
        return BOOLEAN_SCHEMA
    if isinstance(value, int):
        return INT64_SCHEMA
    if isinstance(value, float):
        return FLOAT64_SCHEMA
    if isinstance(value, str):
        return STRING_SCHEMA
    if isinstance(value, (bytes, bytearray)):
        return BYTES_SCHEMA
    if isinstance(value, Struct):
        return value.schema
    return None
