"""Cast and SetSchemaMetadata (org.apache.kafka.connect.transforms): change the type of fields or
of the whole key/value, or the name/version of its schema."""

from __future__ import annotations

import base64
import datetime
from dataclasses import replace

from connect import data
from connect.config_def import NO_DEFAULT, ConfigDef, ConfigType, Importance
from connect.data import Schema, Struct, Type
from connect.errors import ConfigException, DataException
from connect.transforms import java
from connect.transforms.util import REPLACE_NULL_WITH_DEFAULT, SchemaCache, SimpleTransformation, epoch_millis, \
    field_value, is_number, key_value_variants, require_map, require_schema, require_struct, schema_type_of, \
    struct_like, type_name, with_replace_null_with_default

# Kafka lists these in its messages in enum order, as an EnumSet prints.
INPUT_TYPES = (Type.INT8, Type.INT16, Type.INT32, Type.INT64, Type.FLOAT32, Type.FLOAT64, Type.BOOLEAN, Type.STRING,
               Type.BYTES)
OUTPUT_TYPES = INPUT_TYPES[:-1]
_BITS = {Type.INT8: 8, Type.INT16: 16, Type.INT32: 32, Type.INT64: 64}
WHOLE_VALUE = None  # the spec key for "cast the whole key or value"
MILLIS_PER_DAY = 86_400_000


def _type_names(types) -> str:
    return java.list_str(t.name for t in types)


def _spec_type(text: str) -> Type:
    name = text.strip().upper()
    if name not in Type.__members__:
        raise ConfigException("Invalid type found in casting spec: " + text.strip())
    target = Type[name]
    if target not in OUTPUT_TYPES:
        raise ConfigException(f"Cast transformation does not support casting to {target.name}; supported types "
                              f"are {_type_names(OUTPUT_TYPES)}")
    return target


def parse_spec(mappings: list[str]) -> dict[str | None, Type]:
    """`type` (the whole value) or `field:type,...` as {field or WHOLE_VALUE: type}."""
    if not mappings:
        raise ConfigException("Must specify at least one field to cast.")
    casts = {}
    for mapping in mappings:
        parts = java.split(mapping, ":")
        if len(parts) > 2:
            # Kafka names the wrong key ("renames") in this message; we name "spec".
            raise ConfigException("spec", java.list_str(mappings), "Invalid rename mapping: " + mapping)
        if len(parts) == 1:
            casts[WHOLE_VALUE] = _spec_type(parts[0])
        else:
            casts[parts[0].strip()] = _spec_type(parts[1])
    if WHOLE_VALUE in casts and len(mappings) > 1:
        raise ConfigException("Cast transformations that specify a type to cast the entire value to may only "
                              "specify a single cast in their spec")
    return casts


def _validate_spec(name, value):
    parse_spec(value or [])


def date_string(value) -> str:
    """A Date/Time/Timestamp as Values.dateFormatFor writes it, choosing the format by the instant:
    before the first day ends a time, on a midnight a date, else a timestamp (UTC here)."""
    millis = epoch_millis(value)
    moment = data.EPOCH_DT + datetime.timedelta(milliseconds=millis)
    time_part = moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if millis < MILLIS_PER_DAY:
        return time_part
    if millis % MILLIS_PER_DAY == 0:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%dT") + time_part


def _to_int(value, bits: int) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return java.float_to_int(value, bits)
    if is_number(value):  # int or Decimal: Java keeps the low-order bits of the integral part
        return java.narrow(int(value), bits)
    if isinstance(value, str):
        return java.parse_int(value, bits)
    raise DataException(f"Unexpected type in Cast transformation: {type_name(value)}")


def _to_float(value) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if is_number(value):
        return float(value)
    if isinstance(value, str):
        return java.parse_double(value)
    raise DataException(f"Unexpected type in Cast transformation: {type_name(value)}")


def _to_boolean(value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return java.float_to_int(value, 64) != 0  # Number.longValue() != 0: 0.5 is false
    if is_number(value):
        return int(value) != 0
    if isinstance(value, str):
        return value.lower() == "true"  # Boolean.parseBoolean
    raise DataException(f"Unexpected type in Cast transformation: {type_name(value)}")


def _to_string(value) -> str:
    if isinstance(value, (datetime.date, datetime.time)):
        return date_string(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java.double_str(value)
    return str(value)  # int, str, and Decimal (whose str is BigDecimal.toString's)


def cast_value(schema: Schema | None, value, target: Type):
    """One value cast to `target`; with a schema its type decides, without, the value's own."""
    if value is None:
        return None
    source = schema.type if schema is not None else schema_type_of(value)
    if source is None:
        raise DataException(f"Cast transformation was passed a value of type {type_name(value)} which is not "
                            "supported by Connect's data API")
    if source not in INPUT_TYPES:
        raise DataException(f"Cast transformation does not support casting from {source.name}; supported types "
                            f"are {_type_names(INPUT_TYPES)}")
    # Date, Time and Timestamp cast as their int32/int64 encoding, except to string.
    if schema is not None and schema.name in (data.DATE, data.TIME, data.TIMESTAMP) and target is not Type.STRING:
        value = data.logical_to_primitive(schema, value)
    try:
        if target in _BITS:
            return _to_int(value, _BITS[target])
        if target in (Type.FLOAT32, Type.FLOAT64):
            return _to_float(value)
        if target is Type.BOOLEAN:
            return _to_boolean(value)
        return _to_string(value)
    except ValueError:
        raise DataException(f"Value ({value}) was out of range for requested data type") from None


@key_value_variants("org.apache.kafka.connect.transforms.Cast")
class Cast(SimpleTransformation):
    """Cast fields (`f1:int32,f2:string`) or the whole key/value (`int32`) to a primitive type."""
    PURPOSE = "cast types"
    CONFIG_DEF = with_replace_null_with_default(ConfigDef().define(
        "spec", ConfigType.LIST, NO_DEFAULT, _validate_spec, Importance.HIGH,
        "List of fields and the type to cast them to of the form field1:type,field2:type to cast fields of Maps or "
        "Structs. A single type to cast the entire value. Valid types are int8, int16, int32, int64, float32, "
        "float64, boolean, and string. Note that binary fields can only be cast to string."))

    def configure(self, configs):
        c = self.parse(configs)
        self.casts = parse_spec(c["spec"])
        self.whole_value_type = self.casts.get(WHOLE_VALUE)
        self.replace_null_with_default = c[REPLACE_NULL_WITH_DEFAULT]
        self.cache = SchemaCache()

    def apply(self, record):
        value = self.operating_value(record)
        if value is None:
            return record
        schema = self.operating_schema(record)
        if schema is None:
            return self._apply_schemaless(record, value)
        updated_schema = self.cache.get(schema, self._updated_schema)
        if self.whole_value_type is not None:
            return self.new_record(record, updated_schema, cast_value(schema, value, self.whole_value_type))
        value = require_struct(value, self.PURPOSE)
        updated = Struct(updated_schema)
        for f in value.schema.fields:
            original = field_value(value, f.name, self.replace_null_with_default)
            target = self.casts.get(f.name)
            updated.put(f.name, original if target is None else cast_value(f.schema, original, target))
        return self.new_record(record, updated_schema, updated)

    def _apply_schemaless(self, record, value):
        if self.whole_value_type is not None:
            return self.new_record(record, None, cast_value(None, value, self.whole_value_type))
        value = require_map(value, self.PURPOSE)
        updated = dict(value)
        for name, target in self.casts.items():  # like Kafka, a listed field absent from the map is added as null
            updated[name] = cast_value(None, value.get(name), target)
        return self.new_record(record, None, updated)

    def _updated_schema(self, schema: Schema) -> Schema:
        if self.whole_value_type is not None:
            target = self.whole_value_type
            # Kafka copies name, version and parameters onto the new type even for a logical type,
            # which makes e.g. a STRING "Timestamp"; we keep them only for non-logical schemas.
            keep = not data.is_logical(schema)
            built = Schema(target, optional=schema.optional, doc=schema.doc, name=schema.name if keep else None,
                           version=schema.version if keep else None, parameters=schema.parameters if keep else None)
        else:
            fields = []
            for f in schema.fields:
                target = self.casts.get(f.name)
                if target is None:
                    fields.append((f.name, f.schema))
                    continue
                default = cast_value(f.schema, f.schema.default, target)
                fields.append((f.name, Schema(target, optional=f.schema.optional, default=default)))
            built = struct_like(schema, fields, optional=schema.optional)
        if schema.default is not None:
            built = replace(built, default=self._cast_default(schema, built))
        return built

    def _cast_default(self, schema: Schema, built: Schema):
        if self.whole_value_type is not None:
            return cast_value(schema, schema.default, built.type)
        # A struct default is re-made with the new schema, its listed fields cast.
        updated = Struct(built)
        for f in schema.fields:
            original = schema.default.get_without_default(f.name)
            target = self.casts.get(f.name)
            updated.put(f.name, original if target is None else cast_value(f.schema, original, target))
        return updated

    def close(self):
        self.cache = SchemaCache()


@key_value_variants("org.apache.kafka.connect.transforms.SetSchemaMetadata")
class SetSchemaMetadata(SimpleTransformation):
    """Set the name and/or version of the key or value schema."""
    CONFIG_DEF = with_replace_null_with_default(
        ConfigDef()
        .define("schema.name", ConfigType.STRING, None, None, Importance.HIGH, "Schema name to set.")
        .define("schema.version", ConfigType.INT, None, None, Importance.HIGH, "Schema version to set."))

    def configure(self, configs):
        c = self.parse(configs)
        self.schema_name = c["schema.name"]
        self.schema_version = c["schema.version"]
        self.replace_null_with_default = c[REPLACE_NULL_WITH_DEFAULT]
        if self.schema_name is None and self.schema_version is None:
            raise ConfigException("Neither schema name nor version configured")

    def apply(self, record):
        value = self.operating_value(record)
        schema = self.operating_schema(record)
        if value is None and schema is None:
            return record
        require_schema(schema, "updating schema metadata")
        updated_schema = replace(
            schema,
            name=self.schema_name if self.schema_name is not None else schema.name,
            version=self.schema_version if self.schema_version is not None else schema.version)
        return self.new_record(record, updated_schema, self._with_schema(value, updated_schema))

    def _with_schema(self, value, schema: Schema):
        """A struct must carry its schema, so it is rebuilt with the renamed one."""
        if not isinstance(value, Struct):
            return value
        updated = Struct(schema)
        for f in schema.fields:
            updated.put(f.name, field_value(value, f.name, self.replace_null_with_default))
        return updated
