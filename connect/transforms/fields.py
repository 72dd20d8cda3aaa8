"""SMTs that add, drop, rename, mask, extract or wrap fields: InsertField, ReplaceField, MaskField,
ValueToKey, ExtractField, HoistField (org.apache.kafka.connect.transforms)."""

from __future__ import annotations

import datetime
import decimal
import logging
from dataclasses import dataclass

from connect import data
from connect.api import ConnectRecord
from connect.config_def import NO_DEFAULT, ConfigDef, ConfigType, Importance, NonEmptyList, NonEmptyString, \
    ValidString
from connect.data import Schema, Struct
from connect.errors import ConfigException, DataException
from connect.transforms import java
from connect.transforms.util import REPLACE_NULL_WITH_DEFAULT, SchemaCache, SimpleTransformation, field_value, \
    key_value_variants, require_map, require_map_or_none, require_sink_record, require_struct, \
    require_struct_or_none, struct_like, type_name, with_replace_null_with_default

log = logging.getLogger("connect.transforms")


# -- InsertField --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Insertion:
    """A field to insert: `name!` makes it required, `name?` or plain `name` optional."""
    name: str
    optional: bool

    @classmethod
    def parse(cls, spec: str | None) -> "_Insertion | None":
        if spec is None:
            return None
        if spec.endswith("?"):
            return cls(spec[:-1], True)
        if spec.endswith("!"):
            return cls(spec[:-1], False)
        return cls(spec, True)


def _as_millis(ms: int) -> int:
    return ms


def _as_timestamp(ms: int) -> datetime.datetime:
    """With a schema the record timestamp goes in as a Connect Timestamp; without, as epoch millis."""
    return data.logical_from_primitive(data.timestamp_schema(), ms)


_OPTIONALITY_DOC = ("Suffix with <code>!</code> to make this a required field, or <code>?</code> to keep it optional "
                    "(the default).")


@key_value_variants("org.apache.kafka.connect.transforms.InsertField")
class InsertField(SimpleTransformation):
    """Insert the record's topic, partition, offset (sinks), timestamp and/or a static string."""
    PURPOSE = "field insertion"
    CONFIG_DEF = with_replace_null_with_default(
        ConfigDef()
        .define("topic.field", ConfigType.STRING, None, None, Importance.MEDIUM,
                "Field name for Kafka topic. " + _OPTIONALITY_DOC)
        .define("partition.field", ConfigType.STRING, None, None, Importance.MEDIUM,
                "Field name for Kafka partition. " + _OPTIONALITY_DOC)
        .define("offset.field", ConfigType.STRING, None, None, Importance.MEDIUM,
                "Field name for Kafka offset - only applicable to sink connectors.<br/>" + _OPTIONALITY_DOC)
        .define("timestamp.field", ConfigType.STRING, None, None, Importance.MEDIUM,
                "Field name for record timestamp. " + _OPTIONALITY_DOC)
        .define("static.field", ConfigType.STRING, None, None, Importance.MEDIUM,
                "Field name for static data field. " + _OPTIONALITY_DOC)
        .define("static.value", ConfigType.STRING, None, None, Importance.MEDIUM,
                "Static field value, if field name configured."))

    def configure(self, configs):
        c = self.parse(configs)
        self.topic = _Insertion.parse(c["topic.field"])
        self.partition = _Insertion.parse(c["partition.field"])
        self.offset = _Insertion.parse(c["offset.field"])
        self.timestamp = _Insertion.parse(c["timestamp.field"])
        self.static = _Insertion.parse(c["static.field"])
        self.static_value = c["static.value"]
        self.replace_null_with_default = c[REPLACE_NULL_WITH_DEFAULT]
        if not any((self.topic, self.partition, self.offset, self.timestamp, self.static)):
            raise ConfigException("No field insertion configured")
        if self.static is not None and self.static_value is None:
            raise ConfigException("static.value", None, f"No value specified for static field: {self.static.name}")
        self.cache = SchemaCache()

    def apply(self, record: ConnectRecord):
        if self.operating_value(record) is None:
            return record
        if self.operating_schema(record) is None:
            return self._apply_schemaless(record)
        return self._apply_with_schema(record)

    def _insertions(self, record: ConnectRecord, timestamp_value) -> list[tuple[_Insertion, object]]:
        """The (field, value) pairs to insert; none for a partition or timestamp the record lacks."""
        out = []
        if self.topic:
            out.append((self.topic, record.topic))
        if self.partition and record.kafka_partition is not None:
            out.append((self.partition, record.kafka_partition))
        if self.offset:
            out.append((self.offset, require_sink_record(record, self.PURPOSE).kafka_offset))
        if self.timestamp and record.timestamp is not None:
            out.append((self.timestamp, timestamp_value(record.timestamp)))
        if self.static and self.static_value is not None:
            out.append((self.static, self.static_value))
        return out

    def _apply_schemaless(self, record):
        value = dict(require_map(self.operating_value(record), self.PURPOSE))
        for spec, inserted in self._insertions(record, _as_millis):
            value[spec.name] = inserted
        return self.new_record(record, None, value)

    def _apply_with_schema(self, record):
        value = require_struct(self.operating_value(record), self.PURPOSE)
        schema = self.cache.get(value.schema, self._updated_schema)
        updated = Struct(schema)
        for f in value.schema.fields:
            updated.put(f.name, field_value(value, f.name, self.replace_null_with_default))
        for spec, inserted in self._insertions(record, _as_timestamp):
            updated.put(spec.name, inserted)
        return self.new_record(record, schema, updated)

    def _updated_schema(self, schema: Schema) -> Schema:
        fields = [(f.name, f.schema) for f in schema.fields]
        added = ((self.topic, data.STRING_SCHEMA), (self.partition, data.INT32_SCHEMA),
                 (self.offset, data.INT64_SCHEMA), (self.timestamp, data.timestamp_schema()),
                 (self.static, data.STRING_SCHEMA))
        for spec, field_schema in added:
            if spec is not None:
                fields.append((spec.name, field_schema.as_optional() if spec.optional else field_schema))
        return struct_like(schema, fields)

    def close(self):
        self.cache = SchemaCache()


# -- ReplaceField -------------------------------------------------------------------------------

def parse_renames(mappings: list[str]) -> dict[str, str]:
    renames = {}
    for mapping in mappings:
        parts = java.split(mapping, ":")
        if len(parts) != 2:
            raise ConfigException("renames", java.list_str(mappings), "Invalid rename mapping: " + mapping)
        renames[parts[0]] = parts[1]
    return renames


def _validate_renames(name, value):
    parse_renames(value or [])


# The names ReplaceField's include/exclude had before Kafka 2.7 (KIP-629), still read when the new ones are absent.
_DEPRECATED_NAMES = (("include", "whitelist"), ("exclude", "blacklist"))


@key_value_variants("org.apache.kafka.connect.transforms.ReplaceField")
class ReplaceField(SimpleTransformation):
    """Keep only `include` fields (when given), drop `exclude` fields, rename by `renames`."""
    PURPOSE = "field replacement"
    CONFIG_DEF = with_replace_null_with_default(
        ConfigDef()
        .define("exclude", ConfigType.LIST, [], None, Importance.MEDIUM,
                "Fields to exclude. This takes precedence over the fields to include.")
        .define("include", ConfigType.LIST, [], None, Importance.MEDIUM,
                "Fields to include. If specified, only these fields will be used.")
        .define("renames", ConfigType.LIST, [], _validate_renames, Importance.MEDIUM, "Field rename mappings."))

    def configure(self, configs):
        configs = dict(configs)
        for new, old in _DEPRECATED_NAMES:
            if old in configs:
                if new in configs:
                    log.warning("ReplaceField: '%s' is ignored because '%s' is set", old, new)
                else:
                    log.warning("ReplaceField: '%s' is deprecated, use '%s'", old, new)
                    configs[new] = configs[old]
        c = self.parse(configs)
        self.exclude = set(c["exclude"])
        self.include = set(c["include"])
        self.renames = parse_renames(c["renames"])
        self.reverse_renames = {new: old for old, new in self.renames.items()}
        self.replace_null_with_default = c[REPLACE_NULL_WITH_DEFAULT]
        self.cache = SchemaCache()

    def keeps(self, name: str) -> bool:
        return name not in self.exclude and (not self.include or name in self.include)

    def renamed(self, name: str) -> str:
        return self.renames.get(name, name)

    def apply(self, record):
        value = self.operating_value(record)
        if value is None:
            return record
        if self.operating_schema(record) is None:
            value = require_map(value, self.PURPOSE)
            updated = {self.renamed(k): v for k, v in value.items() if self.keeps(k)}
            return self.new_record(record, None, updated)
        value = require_struct(value, self.PURPOSE)
        schema = self.cache.get(value.schema, self._updated_schema)
        updated = Struct(schema)
        for f in schema.fields:
            original = self.reverse_renames.get(f.name, f.name)
            updated.put(f.name, field_value(value, original, self.replace_null_with_default))
        return self.new_record(record, schema, updated)

    def _updated_schema(self, schema: Schema) -> Schema:
        return struct_like(schema, [(self.renamed(f.name), f.schema) for f in schema.fields if self.keeps(f.name)])

    def close(self):
        self.cache = SchemaCache()


# -- MaskField ----------------------------------------------------------------------------------

def _empty_value(value):
    """The "null value" of the value's type that MaskField puts in its place."""
    if isinstance(value, bool):
        return False
    for kind, empty in ((int, 0), (float, 0.0), (decimal.Decimal, decimal.Decimal(0)), (str, ""),
                        (datetime.datetime, data.EPOCH_DT), (datetime.date, data.EPOCH),
                        (datetime.time, datetime.time())):
        if isinstance(value, kind):
            return empty
    if isinstance(value, (list, tuple)):
        return []
    if isinstance(value, dict):
        return {}
    raise DataException(f"Cannot mask value of type: {type_name(value)}")


def _replacement_value(value, replacement: str):
    """`replacement` converted to the value's type; only numbers and strings can take one."""
    if isinstance(value, str):
        return replacement
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
        raise DataException(f"Cannot mask value of type {type_name(value)} with custom replacement.")
    try:
        if isinstance(value, int):
            # Values.convertToLong and friends accept "1.5" too, keeping the integral part.
            return int(replacement) if java.INTEGER_TEXT.fullmatch(replacement) else int(decimal.Decimal(replacement))
        if isinstance(value, float):
            return java.parse_double(replacement)
        return decimal.Decimal(replacement)
    except (ValueError, ArithmeticError):
        raise DataException(f"Unable to convert {replacement} (str) to number") from None


@key_value_variants("org.apache.kafka.connect.transforms.MaskField")
class MaskField(SimpleTransformation):
    """Replace `fields` with their type's empty value (0, false, "", ...) or with `replacement`."""
    PURPOSE = "mask fields"
    CONFIG_DEF = with_replace_null_with_default(
        ConfigDef()
        .define("fields", ConfigType.LIST, NO_DEFAULT, NonEmptyList(), Importance.HIGH, "Names of fields to mask.")
        .define("replacement", ConfigType.STRING, None, NonEmptyString(), Importance.LOW,
                "Custom value replacement, that will be applied to all 'fields' values (numeric or non-empty "
                "string values only)."))

    def configure(self, configs):
        c = self.parse(configs)
        self.fields = list(dict.fromkeys(c["fields"]))
        self.replacement = c["replacement"]
        self.replace_null_with_default = c[REPLACE_NULL_WITH_DEFAULT]

    def masked(self, value):
        if value is None:
            return None
        return _empty_value(value) if self.replacement is None else _replacement_value(value, self.replacement)

    def apply(self, record):
        if self.operating_schema(record) is None:
            value = require_map(self.operating_value(record), self.PURPOSE)
            updated = dict(value)
            for name in self.fields:  # like Kafka, a masked field absent from the map is added as null
                updated[name] = self.masked(value.get(name))
            return self.new_record(record, None, updated)
        value = require_struct(self.operating_value(record), self.PURPOSE)
        updated = Struct(value.schema)
        for f in value.schema.fields:
            original = field_value(value, f.name, self.replace_null_with_default)
            updated.put(f.name, self.masked(original) if f.name in self.fields else original)
        return self.new_record(record, value.schema, updated)


# -- ValueToKey ---------------------------------------------------------------------------------

class ValueToKey(SimpleTransformation):
    """Make the key from the listed value fields (a struct with those fields, or a map)."""
    class_name = "org.apache.kafka.connect.transforms.ValueToKey"
    PURPOSE = "copying fields from value to key"
    CONFIG_DEF = with_replace_null_with_default(
        ConfigDef().define("fields", ConfigType.LIST, NO_DEFAULT, NonEmptyList(), Importance.HIGH,
                           "Field names on the record value to extract as the record key."))

    def configure(self, configs):
        c = self.parse(configs)
        self.fields = c["fields"]
        self.replace_null_with_default = c[REPLACE_NULL_WITH_DEFAULT]
        self.cache = SchemaCache()

    def apply(self, record):
        if record.value_schema is None:
            value = require_map(record.value, self.PURPOSE)
            return record.new_record(key_schema=None, key={name: value.get(name) for name in self.fields})
        value = require_struct(record.value, self.PURPOSE)
        key_schema = self.cache.get(value.schema, self._key_schema)
        key = Struct(key_schema)
        for name in self.fields:
            key.put(name, field_value(value, name, self.replace_null_with_default))
        return record.new_record(key_schema=key_schema, key=key)

    def _key_schema(self, value_schema: Schema) -> Schema:
        fields = []
        for name in self.fields:
            f = value_schema.field(name)
            if f is None:
                raise DataException("Field does not exist: " + name)
            fields.append((name, f.schema))
        return data.struct(fields)

    def close(self):
        self.cache = SchemaCache()


# -- ExtractField -------------------------------------------------------------------------------

FIELD_SYNTAX_VERSION = "field.syntax.version"
FIELD_SYNTAX_VERSION_DOC = (
    "Defines the version of the syntax to access fields. If set to `V1`, then the field paths are limited to access "
    "the elements at the root level of the struct or map. If set to `V2`, the syntax will support accessing nested "
    "elements. To access nested elements, dotted notation is used. If dots are already included in the field name, "
    "then backtick pairs can be used to wrap field names containing dots. E.g. to access the subfield `baz` from a "
    "field named \"foo.bar\" in a struct/map the following format can be used to access its elements: "
    "\"`foo.bar`.baz\".")


class FieldPath:
    """A field path (KIP-821): V1 is one top-level name; V2 is dotted steps, where a step in backticks
    may hold dots, and a backtick followed by a dot inside one is escaped with a backslash."""

    def __init__(self, path: str, version: str):
        self.path = path
        self.steps = [path] if version.upper() == "V1" else self.parse_v2(path)

    @staticmethod
    def parse_v2(path: str) -> list[str]:
        steps, i = [], 0
        while i < len(path):
            if path[i] != "`":
                dot = path.find(".", i)
                steps.append(path[i:] if dot < 0 else path[i:dot])
                i = len(path) if dot < 0 else dot + 1
            else:
                step, i = FieldPath._quoted_step(path, i)
                steps.append(step)
        if path.endswith("."):  # a trailing dot names an empty last step
            steps.append("")
        return steps

    @staticmethod
    def _quoted_step(path: str, opening: int) -> tuple[str, int]:
        """The step in backticks starting at `opening`, and where the next step starts. The closing
        backtick is the first unescaped one that ends the path or is followed by a dot."""
        pieces, start, i = [], opening + 1, opening + 1
        while True:
            close = path.find("`", i)
            if close < 0:
                FieldPath._incomplete(path, opening)
            escaped = path[close - 1] == "\\"
            if close == len(path) - 1:
                if escaped:
                    FieldPath._incomplete(path, opening)
                pieces.append(path[start:close])
                return "".join(pieces), close + 1
            if path[close + 1] != ".":  # a backtick inside the name
                i = close + 1
                continue
            if escaped:  # \` followed by a dot: a literal backtick, keep looking
                pieces.append(path[start:close - 1] + "`")
                start = i = close + 1
                continue
            pieces.append(path[start:close])
            return "".join(pieces), close + 2

    @staticmethod
    def _incomplete(path: str, at: int):
        raise ConfigException(f"Incomplete backtick pair in path: [{path}], consider adding a backslash before "
                              f"backtick at position {at} to escape it")

    def field_from(self, schema: Schema):
        current = schema
        for step in self.steps[:-1]:
            f = current.field(step)
            if f is None:
                return None
            current = f.schema
        return current.field(self.steps[-1])

    def value_from_struct(self, struct: Struct, with_default: bool = True):
        current = struct
        for step in self.steps[:-1]:
            if current.schema.field(step) is None:
                return None
            current = require_struct_or_none(current.get(step), "nested field access")
            if current is None:
                return None
        if current.schema.field(self.steps[-1]) is None:
            return None
        return field_value(current, self.steps[-1], with_default)

    def value_from_map(self, value: dict):
        current = value
        for step in self.steps[:-1]:
            current = require_map_or_none(current.get(step), "nested field access")
            if current is None:
                return None
        return current.get(self.steps[-1])


def _validate_syntax_version(name, value):
    ValidString.in_("V1", "V2", case_insensitive=True)(name, value)


def with_field_syntax_version(config: ConfigDef) -> ConfigDef:
    return config.define(FIELD_SYNTAX_VERSION, ConfigType.STRING, "V1", _validate_syntax_version, Importance.HIGH,
                         FIELD_SYNTAX_VERSION_DOC)


@key_value_variants("org.apache.kafka.connect.transforms.ExtractField")
class ExtractField(SimpleTransformation):
    """Replace the key or value with one of its fields (nested with field.syntax.version=V2)."""
    PURPOSE = "field extraction"
    CONFIG_DEF = with_field_syntax_version(with_replace_null_with_default(
        ConfigDef().define("field", ConfigType.STRING, NO_DEFAULT, None, Importance.MEDIUM, "Field name to extract.")))

    def configure(self, configs):
        c = self.parse(configs)
        self.path = FieldPath(c["field"], c[FIELD_SYNTAX_VERSION])
        self.replace_null_with_default = c[REPLACE_NULL_WITH_DEFAULT]

    def apply(self, record):
        schema = self.operating_schema(record)
        if schema is None:
            value = require_map_or_none(self.operating_value(record), self.PURPOSE)
            return self.new_record(record, None, None if value is None else self.path.value_from_map(value))
        value = require_struct_or_none(self.operating_value(record), self.PURPOSE)
        f = self.path.field_from(schema)
        if f is None:
            raise DataException("Unknown field: " + self.path.path)
        extracted = None if value is None else self.path.value_from_struct(value, self.replace_null_with_default)
        return self.new_record(record, f.schema, extracted)


# -- HoistField ---------------------------------------------------------------------------------

@key_value_variants("org.apache.kafka.connect.transforms.HoistField")
class HoistField(SimpleTransformation):
    """Wrap the key or value in a struct (or map) with one field."""
    CONFIG_DEF = ConfigDef().define(
        "field", ConfigType.STRING, NO_DEFAULT, None, Importance.MEDIUM,
        "Field name for the single field that will be created in the resulting Struct or Map.")

    def configure(self, configs):
        self.field = self.parse(configs)["field"]
        self.cache = SchemaCache()

    def apply(self, record):
        schema = self.operating_schema(record)
        value = self.operating_value(record)
        if schema is None:
            return self.new_record(record, None, {self.field: value})
        updated_schema = self.cache.get(schema, lambda s: data.struct([(self.field, s)]))
        return self.new_record(record, updated_schema, Struct(updated_schema).put(self.field, value))

    def close(self):
        self.cache = SchemaCache()
