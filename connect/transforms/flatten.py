"""Flatten (org.apache.kafka.connect.transforms.Flatten): nested structs or maps become one level,
field names joined with `delimiter`. Arrays are kept as they are."""

from __future__ import annotations

from dataclasses import replace

from connect.config_def import ConfigDef, ConfigType, Importance
from connect.data import Schema, Struct, Type
from connect.errors import DataException
from connect.transforms.util import SchemaCache, SimpleTransformation, key_value_variants, require_map, \
    require_struct_or_none, schema_type_of, struct_like, type_name

# Field types copied as they are; STRUCT is flattened; MAP (with a schema) is refused, as Kafka does.
_KEPT = {Type.INT8, Type.INT16, Type.INT32, Type.INT64, Type.FLOAT32, Type.FLOAT64, Type.BOOLEAN, Type.STRING,
         Type.BYTES, Type.ARRAY}


@key_value_variants("org.apache.kafka.connect.transforms.Flatten")
class Flatten(SimpleTransformation):
    PURPOSE = "flattening"
    CONFIG_DEF = ConfigDef().define(
        "delimiter", ConfigType.STRING, ".", None, Importance.MEDIUM,
        "Delimiter to insert between field names from the input record when generating field names for the "
        "output record")

    def configure(self, configs):
        self.delimiter = self.parse(configs)["delimiter"]
        self.cache = SchemaCache()

    def name(self, prefix: str, field: str) -> str:
        return f"{prefix}{self.delimiter}{field}" if prefix else field

    def apply(self, record):
        value = self.operating_value(record)
        if value is None:
            return record
        schema = self.operating_schema(record)
        if schema is None:
            flat = {}
            self._flatten_map(require_map(value, self.PURPOSE), "", flat)
            return self.new_record(record, None, flat)
        value = require_struct_or_none(value, self.PURPOSE)
        flat_schema = self.cache.get(schema, self._flat_schema)
        flat = Struct(flat_schema)
        self._flatten_struct(value, "", flat)
        return self.new_record(record, flat_schema, flat)

    def _flatten_map(self, value: dict, prefix: str, out: dict) -> None:
        for key, item in value.items():
            name = self.name(prefix, key)
            kind = schema_type_of(item) if item is not None else None
            if item is None or kind in _KEPT:
                out[name] = item
            elif kind is Type.MAP:
                self._flatten_map(item, name, out)
            elif kind is None:
                raise DataException(f"Flatten transformation was passed a value of type {type_name(item)} which is "
                                    "not supported by Connect's data API")
            else:
                raise DataException(f"Flatten transformation does not support {type_name(item)} for record "
                                    f"without schemas (for field {name}).")

    def _flat_schema(self, schema: Schema) -> Schema:
        fields = []
        self._flat_fields(schema, "", schema.optional, schema.default, fields)
        return struct_like(schema, fields)

    def _flat_fields(self, schema: Schema, prefix: str, optional: bool, parent_default: Struct | None,
                     out: list) -> None:
        """A field is optional when it or any struct above it is; its default is its own, else the
        one the default of a struct above it gives."""
        for f in schema.fields:
            name = self.name(prefix, f.name)
            field_optional = optional or f.schema.optional
            default = f.schema.default
            if default is None and parent_default is not None:
                default = parent_default.get(f.name)
            if f.schema.type in _KEPT:
                out.append((name, replace(f.schema, optional=field_optional, default=default)))
            elif f.schema.type is Type.STRUCT:
                self._flat_fields(f.schema, name, field_optional, default, out)
            else:
                raise DataException(f"Flatten transformation does not support {f.schema.type.name} for record "
                                    f"with schemas (for field {name}).")

    def _flatten_struct(self, value: Struct | None, prefix: str, out: Struct) -> None:
        if value is None:
            return
        for f in value.schema.fields:
            name = self.name(prefix, f.name)
            if f.schema.type in _KEPT:
                out.put(name, value.get(f.name))
            elif f.schema.type is Type.STRUCT:
                self._flatten_struct(value.get(f.name), name, out)
            else:
                raise DataException(f"Flatten transformation does not support {f.schema.type.name} for record "
                                    f"with schemas (for field {name}).")

    def close(self):
        self.cache = SchemaCache()
