"""JsonSchemaConverter as Confluent's (io.confluent.connect.json.JsonSchemaConverter), with its
JsonSchemaData mapping.

Connect -> JSON Schema: a struct is `{"type": "object", "properties": {...}}` (no `required`
list; `additionalProperties: false` only with `object.additional.properties=false`), each property
carrying its field position as `connect.index`; optional schemas are `{"oneOf": [{"type": "null"},
X]}`; integers `{"type": "integer", "connect.type": "int8".."int64"}`, floats `number` with
`float32`/`float64`, bytes base64 strings with `connect.type: bytes`; maps with string keys objects
with `additionalProperties`, other maps arrays of `{key, value}` objects (`connect.type: map`).
The name is the `title`, the version `connect.version`, the doc `description`, the parameters
`connect.parameters` (logical types are recognised by title + parameters).

Key order is part of the registered text (the registry compares schema strings), so the JSON is
written in the order Confluent's converter prints it (checked against everit-json-schema 1.14.4):
everit's printer (keywords in a fixed order per schema kind) and the Java HashMaps it and
JsonSchemaData keep properties, `connect.*` keywords and parameters in. One difference remains:
everit 1.14 sorts the members of a oneOf by their schemas' hashCodes, so Confluent's optional
fields come out as `[null, X]` or `[X, null]` depending on X; ours are always `[null, X]`.

JSON Schema -> Connect reads any schema document (refs followed) through the format layer's model
of it (formats/json_schema/model.py, everit's loader).
"""

from __future__ import annotations

import base64
import binascii
import decimal
import json

from connect import data
from connect.config_def import ConfigDef, ConfigType, Importance, ValidString
from connect.converters.avro import float32, warn_unimplemented
from connect.converters.registry import Reader, RegistryConverter
from connect.data import Schema, SchemaAndValue, Struct, Type
from connect.errors import DataException
from formats import Schema as FormatSchema
from formats.json_schema import model as js
from formats.json_schema.schema import JsonSchema, decode_document
from formats.wire import HEADER_SIZE

NAMESPACE = "io.confluent.connect.json"
JSON_TYPE_ENUM = NAMESPACE + ".Enum"
JSON_TYPE_ONE_OF = NAMESPACE + ".OneOf"
JSON_ID_PROP = NAMESPACE + ".Id"
NULL_MARKER = "<NULL>"
_NUMBER_TYPES = {Type.INT8: "int8", Type.INT16: "int16", Type.INT32: "int32", Type.INT64: "int64",
                 Type.FLOAT32: "float32", Type.FLOAT64: "float64"}
_BY_CONNECT_TYPE = {name: kind for kind, name in _NUMBER_TYPES.items()}
_UNIMPLEMENTED = {"generalized.sum.type.support": False, "ignore.modern.dialects": False,
                  "preserve.additional.properties": False}


def json_schema_data_config_def() -> ConfigDef:
    return (ConfigDef()
            .define("object.additional.properties", ConfigType.BOOLEAN, True, None, Importance.LOW,
                    "Whether to allow additional properties for object schemas.")
            .define("use.optional.for.nonrequired", ConfigType.BOOLEAN, False, None, Importance.LOW,
                    "Whether to set non-required properties to be optional.")
            .define("ignore.modern.dialects", ConfigType.BOOLEAN, False, None, Importance.LOW,
                    "Whether to ignore modern dialects (accepted; not implemented).")
            .define("decimal.format", ConfigType.STRING, "BASE64", ValidString.in_("BASE64", "NUMERIC"),
                    Importance.LOW, "Controls which format this converter will serialize decimals in.")
            .define("flatten.singleton.unions", ConfigType.BOOLEAN, True, None, Importance.LOW,
                    "Whether to flatten singleton unions.")
            .define("preserve.additional.properties", ConfigType.BOOLEAN, False, None, Importance.LOW,
                    "Whether to keep undeclared properties (accepted; not implemented).")
            .define("generalized.sum.type.support", ConfigType.BOOLEAN, False, None, Importance.MEDIUM,
                    "Interoperability of enum/union with other schema formats (accepted; not implemented).")
            .define("ignore.default.for.nullables", ConfigType.BOOLEAN, False, None, Importance.MEDIUM,
                    "Whether to ignore the default for nullable fields when the value is null"))


# ------------------------------------------------------------------------------ Java's key order

def _java_hash(text: str) -> int:
    h = 0
    units = text.encode("utf-16-be")
    for i in range(0, len(units), 2):
        h = (31 * h + int.from_bytes(units[i:i + 2], "big")) & 0xFFFFFFFF
    return h


def _table_size_for(capacity: int) -> int:
    size = 1
    while size < capacity:
        size *= 2
    return size


class JavaHashMap:
    """The iteration order of a java.util.HashMap: by bucket (the spread hash masked by the
    table size), then insertion order; the table doubles past 3/4 full. Treeified buckets
    (8+ collisions) are not modelled."""

    def __init__(self, initial_capacity: int | None = None):
        self.threshold = _table_size_for(initial_capacity) if initial_capacity is not None else 0
        self.capacity = 0
        self.buckets: list[list] = []
        self.size = 0

    @classmethod
    def copy_of(cls, items) -> "JavaHashMap":
        """`new HashMap<>(map)`: sized for the map, filled in its iteration order."""
        out = cls()
        if items:
            out.threshold = _table_size_for(int(len(items) / 0.75 + 1.0))
        for key, value in items:
            out.put(key, value)
        return out

    def _index(self, key: str) -> int:
        h = _java_hash(key)
        return (h ^ (h >> 16)) & (self.capacity - 1)

    def _resize(self) -> None:
        entries = list(self.items())
        if self.capacity > 0:
            self.capacity *= 2
        else:
            self.capacity = self.threshold or 16
        self.threshold = int(self.capacity * 0.75)
        self.buckets = [[] for _ in range(self.capacity)]
        for key, value in entries:
            self.buckets[self._index(key)].append((key, value))

    def put(self, key: str, value) -> None:
        if not self.capacity:
            self._resize()
        bucket = self.buckets[self._index(key)]
        for i, (existing, _) in enumerate(bucket):
            if existing == key:
                bucket[i] = (key, value)
                return
        bucket.append((key, value))
        self.size += 1
        if self.size > self.threshold:
            self._resize()

    def items(self):
        return [entry for bucket in self.buckets for entry in bucket]


def java_hashmap_order(items: dict, initial_capacity: int | None = None) -> dict:
    """`items` (inserted in this order) in the order a HashMap holding them iterates."""
    table = JavaHashMap(initial_capacity)
    for key, value in items.items():
        table.put(key, value)
    return dict(table.items())


def everit_order(items: dict) -> dict:
    """The order everit prints a map it was built with (properties, unprocessed keywords):
    JsonSchemaData fills a HashMap, everit keeps a copy of it (`new HashMap<>(map)`)."""
    return dict(JavaHashMap.copy_of(java_hashmap_order(items).items()).items())


def json_object_order(items: dict) -> dict:
    """The order org.json prints a Map value (connect.parameters): JsonSchemaData's HashMap,
    copied by JSONObject into `new HashMap<>(size)`."""
    return java_hashmap_order(java_hashmap_order(items), len(items))


def _is_union(schema: Schema) -> bool:
    return schema.name == JSON_TYPE_ONE_OF


# ------------------------------------------------------------------------------ Connect -> JSON Schema

class _Node:
    """One everit schema being built: its kind, keywords and unprocessed properties, printed in
    everit's order by `json()`."""

    def __init__(self, kind: str, **keywords):
        self.kind = kind  # number, string, boolean, enum, array, object, combined, null
        self.keywords = keywords
        self.title = self.description = None
        self.default = _NONE
        self.unprocessed: dict = {}

    def json(self) -> dict:
        out: dict = {}
        kw = self.keywords
        if self.kind in ("number", "string", "array", "object"):
            out["type"] = kw["type"]
        if self.kind == "enum":
            out["enum"] = kw["values"]
        if self.kind == "object" and kw.get("closed"):
            out["additionalProperties"] = False
        if self.kind == "null":
            return {"type": "null"}
        if self.title is not None:
            out["title"] = self.title
        if self.description is not None:
            out["description"] = self.description
        if self.default is not _NONE:
            out["default"] = self.default
        out.update(everit_order(self.unprocessed))
        if self.kind == "boolean":
            out["type"] = "boolean"
        elif self.kind == "array":
            out["items"] = kw["items"].json()
        elif self.kind == "object":
            if kw.get("additional") is not None:
                out["additionalProperties"] = kw["additional"].json()
            if kw.get("properties"):
                out["properties"] = {name: node.json() for name, node in everit_order(kw["properties"]).items()}
        elif self.kind == "combined":
            out["oneOf"] = [node.json() for node in kw["subschemas"]]
        return out


_NONE = object()


class JsonSchemaData:
    """Confluent's JsonSchemaData with the settings of JsonSchemaDataConfig that have an effect here."""

    def __init__(self, allow_additional_properties: bool = True, decimal_format: str = "BASE64",
                 optional_for_nonrequired: bool = False, flatten_singleton_unions: bool = True,
                 ignore_default_for_nullables: bool = False):
        self.allow_additional_properties = allow_additional_properties
        self.decimal_format = decimal_format
        self.optional_for_nonrequired = optional_for_nonrequired
        self.flatten_singleton_unions = flatten_singleton_unions
        self.ignore_default_for_nullables = ignore_default_for_nullables

    # -- schemas -------------------------------------------------------------------------------

    def from_connect_schema(self, schema: Schema) -> dict:
        """The JSON Schema document Confluent's converter registers for `schema`."""
        return self._node(schema).json()

    def _node(self, schema: Schema, index: int | None = None, ignore_optional: bool = False) -> _Node:
        unprocessed: dict = {}
        kind = schema.type
        params = schema.params
        if kind in _NUMBER_TYPES:
            node = _Node("number", type="integer" if kind in data.INTEGER_BOUNDS else "number")
            unprocessed["connect.type"] = _NUMBER_TYPES[kind]
        elif kind is Type.BOOLEAN:
            node = _Node("boolean")
        elif kind is Type.STRING and JSON_TYPE_ENUM in params:
            prefix = JSON_TYPE_ENUM + "."
            node = _Node("enum", values=[None if k[len(prefix):] == NULL_MARKER else k[len(prefix):]
                                         for k in params if k.startswith(prefix)])
        elif kind is Type.STRING:
            node = _Node("string", type="string")
        elif kind is Type.BYTES:
            numeric = schema.name == data.DECIMAL and self.decimal_format == "NUMERIC"
            node = _Node("number" if numeric else "string", type="number" if numeric else "string")
            unprocessed["connect.type"] = "bytes"
        elif kind is Type.ARRAY:
            node = _Node("array", type="array", items=self._node(schema.value_schema))
        elif kind is Type.MAP:
            if schema.key_schema.type is Type.STRING and not schema.key_schema.optional:
                node = _Node("object", type="object", additional=self._node(schema.value_schema))
            else:
                entry = _Node("object", type="object", properties={
                    "key": self._node(schema.key_schema, 0), "value": self._node(schema.value_schema, 1)})
                node = _Node("array", type="array", items=entry)
            unprocessed["connect.type"] = "map"
        elif _is_union(schema):
            members = [_Node("null")] if schema.optional else []
            members += [self._node(f.schema.as_required(), f.index, ignore_optional=True) for f in schema.fields]
            node = _Node("combined", subschemas=members)
        elif schema.optional:
            node = _Node("combined", subschemas=[_Node("null"), self._node(schema.as_required())])
        else:
            node = _Node("object", type="object", closed=not self.allow_additional_properties,
                         properties={f.name: self._node(f.schema, f.index) for f in schema.fields})
        if node.kind != "combined":
            node.title = schema.name
            if schema.version is not None:
                unprocessed["connect.version"] = schema.version
            node.description = schema.doc
            shown = {k: v for k, v in params.items() if not k.startswith(NAMESPACE)}
            if shown:
                unprocessed["connect.parameters"] = json_object_order(shown)
            if schema.default is not None:
                node.default = _unwrap(self.from_connect_value(schema, schema.default))
            if not ignore_optional and schema.optional:
                # The keywords stay with the schema; the oneOf around it gets only the index.
                node.unprocessed = unprocessed
                node = _Node("combined", subschemas=[_Node("null"), node])
                unprocessed = {}
        if index is not None:
            unprocessed["connect.index"] = index
        node.unprocessed = unprocessed
        return node

    def to_connect_schema(self, root: js.SchemaNode, version: int | None = None) -> Schema:
        return _ToConnect(self).convert(root, version)

    # -- values --------------------------------------------------------------------------------

    def from_connect_value(self, schema: Schema, value):
        """Confluent's fromConnectData: the JSON value; None where a required field's value is
        missing (its property is then left out)."""
        if value is None:
            if schema.default is not None and not self.ignore_default_for_nullables:
                return self.from_connect_value(schema, schema.default)
            return _JSON_NULL if schema.optional else None
        if schema.name == data.DECIMAL:
            if self.decimal_format == "NUMERIC":
                # Python's json module writes no arbitrary-precision numbers: a float when not integral.
                return int(value) if value == value.to_integral_value() else float(value)
            return base64.b64encode(data.logical_to_primitive(schema, value)).decode()
        if data.is_logical(schema):
            return data.logical_to_primitive(schema, value)
        kind = schema.type
        try:
            if kind in data.PASSTHROUGH_TYPES:
                return data.checked_primitive(kind, value)
            if kind is Type.FLOAT32:
                return float32(float(value))
            if kind is Type.FLOAT64:
                return float(value)
            if kind is Type.BYTES:
                return base64.b64encode(bytes(value)).decode()
            if kind is Type.ARRAY:
                return [_unwrap(self.from_connect_value(schema.value_schema, v)) for v in value]
            if kind is Type.MAP:
                return self._map_value(schema, value)
        except (TypeError, ValueError, AttributeError):
            raise DataException(f"Invalid type for {kind.name}: {type(value).__name__}") from None
        return self._struct_value(schema, value)

    def _map_value(self, schema: Schema, value: dict):
        if schema.key_schema.type is Type.STRING and not schema.key_schema.optional:
            return {k: _unwrap(self.from_connect_value(schema.value_schema, v)) for k, v in value.items()}
        return [{"key": _unwrap(self.from_connect_value(schema.key_schema, k)),
                 "value": _unwrap(self.from_connect_value(schema.value_schema, v))} for k, v in value.items()]

    def _struct_value(self, schema: Schema, value):
        if not isinstance(value, Struct) or value.schema != schema:
            raise DataException("Mismatching schema.")
        get = value.get_without_default if self.ignore_default_for_nullables else value.get
        if _is_union(schema):
            for f in schema.fields:
                member = get(f.name)
                if member is not None:
                    return self.from_connect_value(f.schema, member)
            return self.from_connect_value(schema, None)
        out = {}
        for f in schema.fields:
            converted = self.from_connect_value(f.schema, get(f.name))
            if converted is not None:
                out[f.name] = _unwrap(converted)
        return out

    def to_connect_value(self, schema: Schema | None, value):
        """Confluent's toConnectData: a JSON value as the Connect value of `schema`."""
        if value is None:
            if schema.default is not None:
                return schema.default
            if schema.optional:
                return None
            raise DataException(f"Invalid null value for required {schema.type.name} field")
        if schema.name in (data.DATE, data.TIME, data.TIMESTAMP):
            if isinstance(value, bool) or not isinstance(value, int):
                raise DataException(f"Invalid type for {schema.name.rpartition('.')[2]}, underlying representation "
                                    f"should be integer but was {type(value).__name__}")
            return data.logical_from_primitive(schema, value)
        if schema.name == data.DECIMAL:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return decimal.Decimal(str(value))
            try:
                return data.logical_from_primitive(schema, base64.b64decode(value, validate=True))
            except (binascii.Error, TypeError, ValueError):
                raise DataException("Invalid bytes for Decimal field") from None
        kind = schema.type
        if kind in data.INTEGER_BOUNDS:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise DataException(f"Invalid value for {kind.name}: {value!r}")
            return _java_narrow(int(value), kind)
        if kind in (Type.FLOAT32, Type.FLOAT64):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise DataException(f"Invalid value for {kind.name}: {value!r}")
            return float(value)
        if kind is Type.BOOLEAN:
            return bool(value)
        if kind is Type.STRING:
            return value if isinstance(value, str) else str(value)
        if kind is Type.BYTES:
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise DataException("Invalid bytes field") from None
        if kind is Type.ARRAY:
            return [self.to_connect_value(schema.value_schema, v) for v in value]
        if kind is Type.MAP:
            return self._map_from_json(schema, value)
        if _is_union(schema):
            return self._union_from_json(schema, value)
        if not isinstance(value, dict):
            raise DataException(f"Structs should be encoded as JSON objects, but found {type(value).__name__}")
        result = Struct(schema)
        for f in schema.fields:
            converted = self.to_connect_value(f.schema, value.get(f.name))
            if converted is not None:
                result.put(f.name, converted)
        return result

    def _map_from_json(self, schema: Schema, value) -> dict:
        if schema.key_schema.type is Type.STRING and not schema.key_schema.optional:
            if not isinstance(value, dict):
                raise DataException("Maps with string fields should be encoded as JSON objects, but found "
                                    + type(value).__name__)
            return {k: self.to_connect_value(schema.value_schema, v) for k, v in value.items()}
        if not isinstance(value, list):
            raise DataException("Maps with non-string fields should be encoded as JSON array of objects, but found "
                                + type(value).__name__)
        out = {}
        for entry in value:
            if not isinstance(entry, dict) or len(entry) != 2:
                raise DataException(f"Found invalid map entry: {entry!r}")
            key = self.to_connect_value(schema.key_schema, entry.get("key"))
            out[tuple(key) if isinstance(key, list) else key] = self.to_connect_value(schema.value_schema,
                                                                                       entry.get("value"))
        return out

    def _union_from_json(self, schema: Schema, value) -> Struct:
        """The OneOf struct with the first member whose type the value is of set."""
        for f in schema.fields:
            if _json_fits(f.schema, value):
                return Struct(schema).put(f.name, self.to_connect_value(f.schema, value))
        raise DataException("Did not find matching oneof field for data")


class _JsonNull:
    """An optional value's explicit JSON null (kept as a property), unlike a left-out property."""


_JSON_NULL = _JsonNull()


def _unwrap(value):
    return None if value is _JSON_NULL else value


def _java_narrow(value: int, kind: Type) -> int:
    bits = data.INTEGER_BOUNDS[kind]
    half = 1 << (bits - 1)
    return (value + half) % (1 << bits) - half


def _json_fits(schema: Schema, value) -> bool:
    kind = schema.type
    if kind in data.INTEGER_BOUNDS:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in (Type.FLOAT32, Type.FLOAT64):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is Type.BOOLEAN:
        return isinstance(value, bool)
    if kind in (Type.STRING, Type.BYTES):
        return isinstance(value, str)
    if kind is Type.ARRAY:
        return isinstance(value, list)
    return isinstance(value, dict)


# ------------------------------------------------------------------------------ JSON Schema -> Connect

class _ToConnect:
    def __init__(self, jd: JsonSchemaData):
        self.jd = jd
        self.open: set[int] = set()

    def convert(self, node: js.SchemaNode, version: int | None = None, force_optional: bool = False) -> Schema:
        if isinstance(node, js.ReferenceSchema):
            target = node.referred
            if target is None:
                raise DataException(f"Unresolved reference {node.ref}")
            if id(target) in self.open:
                raise DataException(f"Recursive JSON schemas ({node.ref}) cannot be represented as Connect schemas")
            self.open.add(id(target))
            try:
                return self.convert(target, version, force_optional)
            finally:
                self.open.discard(id(target))
        if isinstance(node, js.CombinedSchema):
            combined = self._combined(node, version, force_optional)
            if combined is not None:
                return combined
        kind, extra = self._shape(node)
        unprocessed = node.unprocessed
        name = node.title if extra.get("name") is None else extra["name"]
        connect_version = unprocessed.get("connect.version")
        if isinstance(connect_version, int) and not isinstance(connect_version, bool):
            version = connect_version
        params = dict(extra.get("params") or {})
        connect_params = unprocessed.get("connect.parameters")
        if isinstance(connect_params, dict):
            params.update({str(k): str(v) for k, v in connect_params.items()})
        schema = Schema(kind, optional=force_optional or bool(extra.get("optional")), name=name, version=version,
                        doc=node.description, parameters=tuple(params.items()) or None,
                        fields=extra.get("fields", ()), key_schema=extra.get("keys"), value_schema=extra.get("values"))
        if node.has_default:
            try:
                schema = schema.with_default(self.jd.to_connect_value(schema, node.default))
            except (DataException, ValueError, TypeError, KeyError):
                pass  # a default Connect cannot hold
        return schema

    def _combined(self, node: js.CombinedSchema, version, force_optional) -> Schema | None:
        subschemas = node.subschemas
        if len(subschemas) == 1 and self.jd.flatten_singleton_unions:
            return self.convert(subschemas[0])
        if node.criterion == "allOf":
            raise DataException("allOf schemas are not supported by this converter")
        if len(subschemas) == 2 and any(isinstance(s, js.NullSchema) for s in subschemas):
            member = next(s for s in subschemas if not isinstance(s, js.NullSchema))
            return self.convert(member, version, True)
        return None  # a real union: _shape builds the OneOf struct

    def _shape(self, node: js.SchemaNode) -> tuple[Type, dict]:
        unprocessed = node.unprocessed
        connect_type = unprocessed.get("connect.type")
        if isinstance(node, js.BooleanSchema):
            return Type.BOOLEAN, {}
        if isinstance(node, js.NumberSchema):
            if connect_type is None:
                return (Type.INT64 if node.requires_integer else Type.FLOAT64), {}
            if connect_type == "bytes":
                return Type.BYTES, {}
            if connect_type not in _BY_CONNECT_TYPE:
                raise DataException(f"Unsupported type {connect_type}")
            return _BY_CONNECT_TYPE[connect_type], {}
        if isinstance(node, js.StringSchema):
            return (Type.BYTES if connect_type == "bytes" else Type.STRING), {}
        if isinstance(node, (js.EnumSchema, js.ConstSchema)):
            values = node.values if isinstance(node, js.EnumSchema) else [node.value]
            params = {JSON_TYPE_ENUM: ""}
            for value in values:
                symbol = NULL_MARKER if value is None else str(value)
                params[JSON_TYPE_ENUM + "." + symbol] = symbol
            return Type.STRING, {"params": params}
        if isinstance(node, js.CombinedSchema):
            pairs, optional, index = [], False, 0
            for sub in node.subschemas:
                if isinstance(sub, js.NullSchema):
                    optional = True
                    continue
                pairs.append((f"{JSON_TYPE_ONE_OF}.field.{index}", self.convert(sub, None, True)))
                index += 1
            return Type.STRUCT, {"name": JSON_TYPE_ONE_OF, "optional": optional, "fields": data.struct(pairs).fields}
        if isinstance(node, js.ArraySchema):
            items = node.all_items
            if items is None:
                raise DataException("Array schema did not specify the items type")
            target = items.referred if isinstance(items, js.ReferenceSchema) else items
            if connect_type == "map" and isinstance(target, js.ObjectSchema):
                return Type.MAP, {"keys": self.convert(target.properties["key"]),
                                  "values": self.convert(target.properties["value"])}
            return Type.ARRAY, {"values": self.convert(items)}
        if isinstance(node, js.ObjectSchema):
            if connect_type == "map":
                if node.additional_schema is None:
                    raise DataException("Map schema did not specify the value type")
                return Type.MAP, {"keys": data.STRING_SCHEMA, "values": self.convert(node.additional_schema)}
            return Type.STRUCT, {"fields": self._fields(node)}
        raise DataException(f"Unsupported schema type {type(node).__name__}")

    def _fields(self, node: js.ObjectSchema) -> tuple:
        """Properties in `connect.index` order (document order for those without)."""
        ordered: dict[int, tuple[str, js.SchemaNode]] = {}
        for name, sub in node.properties.items():
            index = sub.unprocessed.get("connect.index")
            if not isinstance(index, int) or isinstance(index, bool):
                index = len(ordered)
            ordered[index] = (name, sub)
        pairs = []
        for index in sorted(ordered):
            name, sub = ordered[index]
            optional = self.jd.optional_for_nonrequired and name not in node.required
            pairs.append((name, self.convert(sub, None, optional)))
        return data.struct(pairs).fields


# ------------------------------------------------------------------------------ the converter

class JsonSchemaConverter(RegistryConverter):
    class_name = "io.confluent.connect.json.JsonSchemaConverter"
    schema_type = "JSON"
    format_name = "JSON Schema"

    def __init__(self):
        super().__init__()
        self.json_data = JsonSchemaData()

    def data_config_def(self) -> ConfigDef:
        return json_schema_data_config_def()

    def configure_data(self, parsed: dict) -> None:
        warn_unimplemented(parsed, _UNIMPLEMENTED, "JsonSchemaConverter")
        self.json_data = JsonSchemaData(
            allow_additional_properties=parsed["object.additional.properties"],
            decimal_format=parsed["decimal.format"], optional_for_nonrequired=parsed["use.optional.for.nonrequired"],
            flatten_singleton_unions=parsed["flatten.singleton.unions"],
            ignore_default_for_nullables=parsed["ignore.default.for.nullables"])

    def target_for(self, schema: Schema):
        document = self.json_data.from_connect_schema(schema)
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
        jd = self.json_data
        return FormatSchema(text, "JSON"), document.get("title"), \
            lambda value: _unwrap(jd.from_connect_value(schema, value))

    def prepare_reader(self, parsed: JsonSchema) -> Reader:
        jd = self.json_data
        schemas: dict[int | None, Schema] = {}

        def read(payload: bytes, version: int | None) -> SchemaAndValue:
            schema = schemas.get(version)
            if schema is None:
                schema = schemas[version] = jd.to_connect_schema(parsed.model, version)
            document = decode_document(payload, HEADER_SIZE)
            return SchemaAndValue(schema, jd.to_connect_value(schema, document))
        return Reader(read, parsed.name())


__all__ = ["JsonSchemaConverter", "JsonSchemaData", "java_hashmap_order"]
