"""What the SMTs share (Kafka's transforms.util): the checks on the kind of key or value a transform
was given, with Kafka's error texts; the `$Key`/`$Value` variants; copying a schema's name, version,
doc and parameters; the per-transform cache of rebuilt schemas."""

from __future__ import annotations

import datetime
import decimal
from collections import OrderedDict
from typing import Callable

from connect import data
from connect.api import ConnectRecord, SinkRecord, Transformation
from connect.config_def import ConfigDef, ConfigType, Importance
from connect.data import Schema, Struct, Type
from connect.errors import DataException

# The Apache Kafka release whose transforms these follow; what version() reports, as Kafka's do.
VERSION = "4.1.1"

REPLACE_NULL_WITH_DEFAULT = "replace.null.with.default"
REPLACE_NULL_WITH_DEFAULT_DOC = ("Whether to replace fields that have a default value and that are null to the "
                                 "default value. When set to true, the default value is used, otherwise null is used.")


def with_replace_null_with_default(config: ConfigDef) -> ConfigDef:
    return config.define(REPLACE_NULL_WITH_DEFAULT, ConfigType.BOOLEAN, True, None, Importance.MEDIUM,
                         REPLACE_NULL_WITH_DEFAULT_DOC)


class SimpleTransformation(Transformation):
    """A transform whose configs are its CONFIG_DEF, parsed as Kafka's SimpleConfig does."""
    abstract_plugin = True
    CONFIG_DEF = ConfigDef()

    def config(self) -> ConfigDef:
        return self.CONFIG_DEF

    def version(self) -> str:
        return VERSION

    def parse(self, configs: dict) -> dict:
        return self.CONFIG_DEF.parse(configs)


def type_name(value) -> str:
    """How an error message names a value's type (Kafka prints the Java class, or "null")."""
    return "null" if value is None else type(value).__name__


def require_map(value, purpose: str) -> dict:
    if not isinstance(value, dict):
        raise DataException(f"Only Map objects supported in absence of schema for [{purpose}], "
                            f"found: {type_name(value)}")
    return value


def require_struct(value, purpose: str) -> Struct:
    if not isinstance(value, Struct):
        raise DataException(f"Only Struct objects supported for [{purpose}], found: {type_name(value)}")
    return value


def require_map_or_none(value, purpose: str) -> dict | None:
    return None if value is None else require_map(value, purpose)


def require_struct_or_none(value, purpose: str) -> Struct | None:
    return None if value is None else require_struct(value, purpose)


def require_schema(schema: Schema | None, purpose: str) -> Schema:
    if schema is None:
        raise DataException(f"Schema required for [{purpose}]")
    return schema


def require_sink_record(record: ConnectRecord, purpose: str) -> SinkRecord:
    if not isinstance(record, SinkRecord):
        raise DataException(f"Only SinkRecord supported for [{purpose}], found: {type_name(record)}")
    return record


def field_value(struct: Struct, name: str, replace_null_with_default: bool):
    """A field's value; its schema default stands in for null unless replace.null.with.default=false."""
    return struct.get(name) if replace_null_with_default else struct.get_without_default(name)


def struct_like(schema: Schema, fields, *, optional: bool = False, default=None) -> Schema:
    """A STRUCT schema with `schema`'s name, version, doc and parameters (SchemaUtil.copySchemaBasics).
    Like Kafka, optionality and default are not copied: callers say them when they matter."""
    return data.struct(fields, name=schema.name, version=schema.version, doc=schema.doc,
                       parameters=schema.params or None, optional=optional, default=default)


def schema_type_of(value) -> Type | None:
    """The Connect type of a schemaless value (ConnectSchema.schemaType); None for values Connect
    only knows with a schema, e.g. the logical types' Decimal and datetimes."""
    if isinstance(value, bool):
        return Type.BOOLEAN
    if isinstance(value, int):
        return Type.INT64
    if isinstance(value, float):
        return Type.FLOAT64
    if isinstance(value, str):
        return Type.STRING
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Type.BYTES
    if isinstance(value, (list, tuple)):
        return Type.ARRAY
    if isinstance(value, dict):
        return Type.MAP
    if isinstance(value, Struct):
        return Type.STRUCT
    return None


def is_number(value) -> bool:
    """Java's `instanceof Number` for our values (bool is an int in Python but not a Number in Java)."""
    return isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)


def to_datetime(value) -> datetime.datetime:
    """A Date, Time or Timestamp value as an aware UTC datetime (Connect's java.util.Date)."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    if isinstance(value, datetime.date):
        return datetime.datetime.combine(value, datetime.time(), datetime.timezone.utc)
    if isinstance(value, datetime.time):
        return datetime.datetime.combine(data.EPOCH, value.replace(tzinfo=None), datetime.timezone.utc)
    raise DataException(f"Expected a datetime, found {type_name(value)}")


def epoch_millis(value) -> int:
    return data.logical_to_primitive(data.timestamp_schema(), to_datetime(value))


class SchemaCache:
    """Input schema -> rebuilt schema, the last 16 kept (Kafka's LRUCache(16) in each SMT). A transform
    instance belongs to one task, so no lock."""

    def __init__(self, size: int = 16):
        self._entries: OrderedDict = OrderedDict()
        self._size = size

    def get(self, schema: Schema, build: Callable[[Schema], Schema]) -> Schema:
        try:
            found = self._entries.get(schema)
        except TypeError:  # a default that is a list or dict makes the schema unhashable
            return build(schema)
        if found is None:
            found = build(schema)
            self._entries[schema] = found
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(schema)
        return found

    def clear(self) -> None:
        self._entries.clear()


# -- $Key / $Value variants ---------------------------------------------------------------------

class KeySide:
    """Mixed into a transform's `Key` variant: it works on the record key."""
    side = "Key"

    @staticmethod
    def operating_schema(record: ConnectRecord):
        return record.key_schema

    @staticmethod
    def operating_value(record: ConnectRecord):
        return record.key

    @staticmethod
    def new_record(record: ConnectRecord, schema, value, **changes) -> ConnectRecord:
        return record.new_record(key_schema=schema, key=value, **changes)


class ValueSide:
    """Mixed into a transform's `Value` variant: it works on the record value."""
    side = "Value"

    @staticmethod
    def operating_schema(record: ConnectRecord):
        return record.value_schema

    @staticmethod
    def operating_value(record: ConnectRecord):
        return record.value

    @staticmethod
    def new_record(record: ConnectRecord, schema, value, **changes) -> ConnectRecord:
        return record.new_record(value_schema=schema, value=value, **changes)


def key_value_variants(java_name: str):
    """Class decorator: the transform becomes an abstract plugin with nested `Key` and `Value`
    subclasses named as Kafka's (`<java_name>$Key`, `<java_name>$Value`), so existing connector
    configs find them; the short `InsertField$Value` form is an alias."""

    def decorate(cls):
        cls.abstract_plugin = True
        short = java_name.rsplit(".", 1)[-1]
        for side in (KeySide, ValueSide):
            variant = type(side.side, (side, cls), {
                "__module__": cls.__module__,
                "__qualname__": f"{cls.__qualname__}.{side.side}",
                "__doc__": f"{cls.__name__} on the record {side.side.lower()}.",
                "class_name": f"{java_name}${side.side}",
                "aliases": (f"{short}${side.side}",),
            })
            setattr(cls, side.side, variant)
        return cls

    return decorate
