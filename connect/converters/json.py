"""JsonConverter as Kafka's (org.apache.kafka.connect.json): with `schemas.enable` (default true)
each value is the envelope {"schema": ..., "payload": ...}; without, plain JSON read schemaless.
Bytes are base64, Decimal base64 of the unscaled value or a number (`decimal.format`)."""

from __future__ import annotations

import base64
import binascii
import decimal
import json

import orjson

from connect import data
from connect.api import Converter
from connect.config_def import ConfigDef, ConfigType, Importance, Range, ValidString
from connect.data import Schema, SchemaAndValue, Struct, Type
from connect.errors import DataException

ENVELOPE_ERROR = ('JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain '
                  'additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false '
                  'in your converter configuration.')


def compact(value) -> bytes:
    """JSON as Jackson writes it: no spaces, keys in insertion order, non-ASCII kept as UTF-8."""
    try:
        return orjson.dumps(value)
    except TypeError:  # what orjson refuses (e.g. keys of a str subclass) the standard library writes
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


# -- schema <-> JSON ---------------------------------------------------------------------------

def schema_to_json(schema: Schema | None):
    if schema is None:
        return None
    out = {"type": schema.type.value}
    if schema.type is Type.ARRAY:
        out["items"] = schema_to_json(schema.value_schema)
    elif schema.type is Type.MAP:
        out["keys"] = schema_to_json(schema.key_schema)
        out["values"] = schema_to_json(schema.value_schema)
    elif schema.type is Type.STRUCT:
        out["fields"] = [{**schema_to_json(f.schema), "field": f.name} for f in schema.fields]
    out["optional"] = schema.optional
    if schema.name is not None:
        out["name"] = schema.name
    if schema.version is not None:
        out["version"] = schema.version
    if schema.doc is not None:
        out["doc"] = schema.doc
    if schema.parameters:
        out["parameters"] = schema.params
    if schema.default is not None:
        out["default"] = value_to_json(schema, schema.default, "BASE64")
    return out


_TYPES = {t.value: t for t in Type}


def schema_from_json(obj) -> Schema | None:
    if obj is None:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise DataException("Schema must contain 'type' field")
    kind = _TYPES.get(obj["type"])
    if kind is None:
        raise DataException("Unknown schema type: " + obj["type"])
    optional = obj.get("optional", False)
    if not isinstance(optional, bool):
        raise DataException("Optional field must be a boolean")
    params = obj.get("parameters")
    extra = {"optional": optional, "name": obj.get("name"), "version": obj.get("version"), "doc": obj.get("doc"),
             "parameters": tuple((str(k), str(v)) for k, v in params.items()) if params else None}
    if kind is Type.ARRAY:
        if "items" not in obj:
            raise DataException("Array schema did not specify the element type")
        schema = Schema(kind, value_schema=schema_from_json(obj["items"]), **extra)
    elif kind is Type.MAP:
        if "keys" not in obj or "values" not in obj:
            raise DataException("Map schema did not specify the key type" if "keys" not in obj
                                else "Map schema did not specify the value type")
        schema = Schema(kind, key_schema=schema_from_json(obj["keys"]),
                        value_schema=schema_from_json(obj["values"]), **extra)
    elif kind is Type.STRUCT:
        fields = obj.get("fields")
        if not isinstance(fields, list):
            raise DataException("Struct schema's \"fields\" argument is not an array.")
        pairs = []
        for f in fields:
            if not isinstance(f, dict) or not isinstance(f.get("field"), str):
                raise DataException("Struct schema's field name not specified properly")
            pairs.append((f["field"], schema_from_json(f)))
        built = data.struct(pairs, **{k: v for k, v in extra.items() if k != "parameters"})
        schema = Schema(kind, fields=built.fields, **extra)
    else:
        schema = Schema(kind, **extra)
    if obj.get("default") is not None:
        schema = schema.with_default(value_from_json(schema, obj["default"]))
    return schema


# -- values ------------------------------------------------------------------------------------

def value_to_json(schema: Schema | None, value, decimal_format: str):
    """A Connect value as a JSON-ready Python value (JsonConverter.convertToJson)."""
    if value is None:
        if schema is None:
            return None
        if schema.default is not None:
            return value_to_json(schema, schema.default, decimal_format)
        if schema.optional:
            return None
        raise DataException("Conversion error: null value for field that is required and has no default value")
    if schema is None:
        return _schemaless_to_json(value, decimal_format)
    if schema.name == data.DECIMAL:
        if decimal_format == "NUMERIC":
            return _decimal_number(value)
        return base64.b64encode(data.logical_to_primitive(schema, value)).decode()
    if data.is_logical(schema):
        return data.logical_to_primitive(schema, value)
    kind = schema.type
    try:
        if kind in data.PASSTHROUGH_TYPES:
            return data.checked_primitive(kind, value)
        if kind in (Type.FLOAT32, Type.FLOAT64):
            return float(value)
        if kind is Type.BYTES:
            return base64.b64encode(bytes(value)).decode()
        if kind is Type.ARRAY:
            return [value_to_json(schema.value_schema, v, decimal_format) for v in value]
        if kind is Type.MAP:
            if schema.key_schema.type is Type.STRING:
                return {k: value_to_json(schema.value_schema, v, decimal_format) for k, v in value.items()}
            return [[value_to_json(schema.key_schema, k, decimal_format),
                     value_to_json(schema.value_schema, v, decimal_format)] for k, v in value.items()]
        if kind is Type.STRUCT:
            if not isinstance(value, Struct) or value.schema != schema:
                raise DataException("Mismatching schema.")
            return {f.name: value_to_json(f.schema, value.get(f.name), decimal_format) for f in schema.fields}
    except (TypeError, ValueError, AttributeError):
        raise DataException(f"Invalid type for {kind.name}: {type(value).__name__}") from None
    raise DataException(f"Couldn't convert {value!r} to JSON.")


def _schemaless_to_json(value, decimal_format):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Struct):
        return value_to_json(value.schema, value, decimal_format)
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: _schemaless_to_json(v, decimal_format) for k, v in value.items()}
        return [[_schemaless_to_json(k, decimal_format), _schemaless_to_json(v, decimal_format)]
                for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [_schemaless_to_json(v, decimal_format) for v in value]
    if isinstance(value, decimal.Decimal):
        return _decimal_number(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise DataException(f"Java class {type(value).__name__} does not have corresponding schema type.")


def _decimal_number(value: decimal.Decimal):
    """A NUMERIC decimal as a JSON number: exact when integral, else a double (Python's json
    module cannot write arbitrary-precision numbers; Jackson writes all the digits)."""
    return int(value) if value == value.to_integral_value() else float(value)


def value_from_json(schema: Schema | None, obj):
    """JsonConverter.convertToConnect."""
    if obj is None:
        if schema is None:
            return None
        if schema.default is not None:
            return schema.default
        if schema.optional:
            return None
        raise DataException("Invalid null value for required " + schema.type.name + " field")
    if schema is None:
        return _schemaless_from_json(obj)
    kind = schema.type
    try:
        if schema.name == data.DECIMAL:
            if isinstance(obj, str):
                return data.logical_from_primitive(schema, base64.b64decode(obj, validate=True))
            if isinstance(obj, (int, float)) and not isinstance(obj, bool):
                return decimal.Decimal(str(obj)).quantize(decimal.Decimal(1).scaleb(-data.decimal_scale(schema)))
            raise DataException("Invalid type for Decimal, underlying representation should be numeric or bytes")
        if kind in data.INTEGER_BOUNDS:
            bits = data.INTEGER_BOUNDS[kind]
            if not isinstance(obj, int) or isinstance(obj, bool) or not -(1 << (bits - 1)) <= obj < (1 << (bits - 1)):
                raise DataException(f"Invalid value for {kind.name}: {obj!r}")
            return data.logical_from_primitive(schema, obj) if data.is_logical(schema) else obj
        if kind in (Type.FLOAT32, Type.FLOAT64):
            if isinstance(obj, bool) or not isinstance(obj, (int, float)):
                raise DataException(f"Invalid value for {kind.name}: {obj!r}")
            return float(obj)
        if kind is Type.BOOLEAN:
            if not isinstance(obj, bool):
                raise DataException(f"Invalid value for BOOLEAN: {obj!r}")
            return obj
        if kind is Type.STRING:
            if not isinstance(obj, str):
                raise DataException(f"Invalid value for STRING: {obj!r}")
            return obj
        if kind is Type.BYTES:
            if not isinstance(obj, str):
                raise DataException("Invalid type for bytes type: " + type(obj).__name__)
            return base64.b64decode(obj, validate=True)
        if kind is Type.ARRAY:
            if not isinstance(obj, list):
                raise DataException("Invalid type for ARRAY: " + type(obj).__name__)
            return [value_from_json(schema.value_schema, v) for v in obj]
        if kind is Type.MAP:
            if schema.key_schema.type is Type.STRING:
                if not isinstance(obj, dict):
                    raise DataException("Maps with string fields should be encoded as JSON objects")
                return {k: value_from_json(schema.value_schema, v) for k, v in obj.items()}
            if not isinstance(obj, list):
                raise DataException("Maps with non-string fields should be encoded as JSON array of tuples")
            out = {}
            for entry in obj:
                if not isinstance(entry, list) or len(entry) != 2:
                    raise DataException("Found invalid map entry instead of array tuple")
                out[_hashable(value_from_json(schema.key_schema, entry[0]))] = value_from_json(schema.value_schema, entry[1])
            return out
        if kind is Type.STRUCT:
            if not isinstance(obj, dict):
                raise DataException("Structs should be encoded as JSON objects")
            return Struct.trusted(schema, [value_from_json(f.schema, obj.get(f.name)) for f in schema.fields])
    except (binascii.Error, ValueError) as exc:
        raise DataException(f"Invalid bytes field: {exc}") from None
    raise DataException("Unknown schema type: " + kind.name)


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def _schemaless_from_json(obj):
    if isinstance(obj, dict):
        return {k: _schemaless_from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_schemaless_from_json(v) for v in obj]
    return obj


# -- the converter -----------------------------------------------------------------------------

class JsonConverter(Converter):
    class_name = "org.apache.kafka.connect.json.JsonConverter"

    def __init__(self):
        self.schemas_enable = True
        self.decimal_format = "BASE64"
        self.replace_null_with_default = True
        self.cache_size = 1000
        self._schema_json = {}
        self._parsed: dict[bytes, Schema] = {}

    def config(self) -> ConfigDef:
        return (ConfigDef()
                .define("schemas.enable", ConfigType.BOOLEAN, True, None, Importance.HIGH,
                        "Include schemas within each of the serialized values and keys.")
                .define("schemas.cache.size", ConfigType.INT, 1000, Range.at_least(0), Importance.HIGH,
                        "The maximum number of schemas that can be cached in this converter instance.")
                .define("decimal.format", ConfigType.STRING, "BASE64", ValidString.in_("BASE64", "NUMERIC"),
                        Importance.LOW, "Controls which format this converter will serialize decimals in.")
                .define("replace.null.with.default", ConfigType.BOOLEAN, True, None, Importance.LOW,
                        "Whether to replace fields that have a default value and that are null to the default value."))

    def configure(self, configs, is_key):
        parsed = self.config().parse({k: v for k, v in configs.items() if k in self.config().keys})
        self.schemas_enable = parsed["schemas.enable"]
        self.decimal_format = parsed["decimal.format"]
        self.replace_null_with_default = parsed["replace.null.with.default"]
        self.cache_size = max(1, parsed["schemas.cache.size"])
        self._schema_json = {}
        self._parsed: dict[bytes, Schema] = {}

    def from_connect_data(self, topic, schema, value, headers=None):
        if schema is None and value is None:
            return None
        payload = value_to_json(schema, value, self.decimal_format)
        if not self.schemas_enable:
            return compact(payload)
        return compact({"schema": self._cached_schema_json(schema), "payload": payload})

    def _cached_schema_json(self, schema):
        if schema is None:
            return None
        cached = self._schema_json.get(schema)
        if cached is None:
            if len(self._schema_json) >= self.cache_size:
                self._schema_json.clear()
            cached = self._schema_json[schema] = schema_to_json(schema)
        return cached

    def to_connect_data(self, topic, payload, headers=None):
        if payload is None:
            return data.NULL
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise DataException(f"Converting byte[] to Kafka Connect data failed due to serialization error: {exc}") from None
        if not self.schemas_enable:
            return SchemaAndValue(None, _schemaless_from_json(obj))
        if not isinstance(obj, dict) or len(obj) != 2 or "schema" not in obj or "payload" not in obj:
            raise DataException(ENVELOPE_ERROR)
        schema = self._cached_schema(obj["schema"])
        return SchemaAndValue(schema, value_from_json(schema, obj["payload"]))

    def _cached_schema(self, schema_json) -> Schema | None:
        """Parsed schemas by their JSON text: a topic's records mostly share one schema, and parsing
        it per record was most of a JDBC sink's time."""
        if schema_json is None:
            return None
        key = orjson.dumps(schema_json)
        schema = self._parsed.get(key)
        if schema is None:
            if len(self._parsed) >= self.cache_size:
                self._parsed.clear()
            schema = self._parsed[key] = schema_from_json(schema_json)
        return schema
