"""AvroConverter as Confluent's (io.confluent.connect.avro.AvroConverter), with its AvroData mapping.

Connect -> Avro builds the schema exactly as Confluent's AvroData does, props in the same order,
so the same Connect schema registers the same schema text (and id) as a Java worker would:
INT8/INT16 are `int` with `connect.type`, optional X is `["null", X]` (or `[X, "null"]` when X has
a default), unnamed structs are `io.confluent.connect.avro.ConnectDefault`, `ConnectDefault2`, ...,
maps with non-string keys are arrays of `io.confluent.connect.avro.MapEntry` records, and the
Connect name, version, doc, parameters and default travel as `connect.*` props
(`connect.meta.data`). The four logical types are Avro's decimal, date, time-millis and
timestamp-millis.

Avro -> Connect reads any Avro schema (a plain record from any producer included): records are
structs named by their full name, `["null", X]` is optional X, other unions are
`io.confluent.connect.avro.Union` structs, enums are strings with their symbols as parameters.
Values are read without Avro's logical-type conversions (as Confluent's converter does), then
turned into Connect's logical values by the Connect schema.
"""

from __future__ import annotations

import io
import json
import math
import struct
import urllib.parse
from typing import Any

import fastavro

from connect import data
from connect.config_def import ConfigDef, ConfigType, Importance
from connect.converters.registry import Reader, RegistryConverter, log
from connect.data import Schema, SchemaAndValue, Struct, Type
from connect.errors import DataException
from formats import RecordMismatch
from formats import Schema as FormatSchema
from formats.avro import AvroSchema
from formats.avro.model import AvroType, Enum, Fixed, Named, Record, Union

NAMESPACE = "io.confluent.connect.avro"
DEFAULT_SCHEMA_NAME = "ConnectDefault"
DEFAULT_SCHEMA_FULL_NAME = NAMESPACE + "." + DEFAULT_SCHEMA_NAME
MAP_ENTRY_TYPE_NAME = "MapEntry"
AVRO_TYPE_UNION = NAMESPACE + ".Union"
AVRO_TYPE_ENUM = NAMESPACE + ".Enum"
AVRO_RECORD_DOC_PROP = NAMESPACE + ".record.doc"
AVRO_FIELD_DOC_PREFIX_PROP = NAMESPACE + ".field.doc."
AVRO_FIELD_DEFAULT_FLAG_PROP = NAMESPACE + ".field.default"
AVRO_ENUM_DOC_PREFIX_PROP = NAMESPACE + ".enum.doc."
AVRO_ENUM_DEFAULT_PREFIX_PROP = NAMESPACE + ".enum.default."
CONNECT_FIXED_SIZE_PROP = "connect.fixed.size"
CONNECT_DECIMAL_PRECISION_PROP = "connect.decimal.precision"
DECIMAL_PRECISION_DEFAULT = 64
_INT_TYPES = {"int8": Type.INT8, "int16": Type.INT16}
_AVRO_PRIMITIVE = {Type.INT32: "int", Type.INT64: "long", Type.FLOAT32: "float", Type.FLOAT64: "double",
                   Type.BOOLEAN: "boolean", Type.STRING: "string", Type.BYTES: "bytes"}
_LOGICAL_AVRO = {data.DATE: "date", data.TIME: "time-millis", data.TIMESTAMP: "timestamp-millis"}
_LOGICAL_NAMES = (data.DECIMAL, data.DATE, data.TIME, data.TIMESTAMP)
# AvroData settings that change the mapping and are not implemented: accepted, and a warning
# when set to anything but their default.
_UNIMPLEMENTED = {"generalized.sum.type.support": False, "discard.type.doc.default": False}


def avro_data_config_def() -> ConfigDef:
    return (ConfigDef()
            .define("enhanced.avro.schema.support", ConfigType.BOOLEAN, False, None, Importance.MEDIUM,
                    "Toggle for enabling/disabling enhanced avro schema support: Enum symbol preservation "
                    "and Package Name awareness")
            .define("scrub.invalid.names", ConfigType.BOOLEAN, False, None, Importance.MEDIUM,
                    "Whether to scrub invalid names by replacing invalid characters with valid ones")
            .define("connect.meta.data", ConfigType.BOOLEAN, True, None, Importance.LOW,
                    "Toggle for enabling/disabling connect converter to add its meta data to the output schema "
                    "or not")
            .define("discard.type.doc.default", ConfigType.BOOLEAN, False, None, Importance.LOW,
                    "Only Avro field doc and default will be retained during conversion of Avro and Connect "
                    "schema. (Accepted; not implemented.)")
            .define("allow.optional.map.keys", ConfigType.BOOLEAN, False, None, Importance.LOW,
                    "Allow optional string map key when converting from Connect Schema to Avro Schema.")
            .define("flatten.singleton.unions", ConfigType.BOOLEAN, True, None, Importance.LOW,
                    "Whether to flatten singleton unions")
            .define("generalized.sum.type.support", ConfigType.BOOLEAN, False, None, Importance.MEDIUM,
                    "Interoperability of enum/union with other schema formats. (Accepted; not implemented.)")
            .define("ignore.default.for.nullables", ConfigType.BOOLEAN, False, None, Importance.MEDIUM,
                    "Whether to ignore the default for nullable fields when the value is null"))


def warn_unimplemented(parsed: dict, defaults: dict[str, Any], converter: str) -> None:
    for key, default in defaults.items():
        if parsed.get(key, default) != default:
            log.warning("%s: %s=%s is accepted but not implemented; the default's mapping is used",
                        converter, key, parsed[key])


def scrub_name(name: str | None) -> str | None:
    """Confluent's doScrubName: a valid Avro name for any string (scrub.invalid.names)."""
    if not name:
        return name
    if all(c.isascii() and (c.isalnum() or c == "_") for c in name) and not name[0].isdigit():
        return name
    encoded = urllib.parse.quote_plus(name, safe="*-._")
    if encoded[0].isdigit():
        encoded = "x" + encoded
    return "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in encoded)


def _is_union(schema: Schema) -> bool:
    return schema.name == AVRO_TYPE_UNION


def _is_fixed(schema: Schema) -> bool:
    return schema.type is Type.BYTES and schema.name is not None and CONNECT_FIXED_SIZE_PROP in schema.params


def _non_optional(schema: Schema) -> Schema:
    return schema.as_required()


def _add_prop(node: dict, key: str, value) -> None:
    """Avro's addProp: a prop is set once; setting it again with the same value changes nothing."""
    node.setdefault(key, value)


def _fullname(node: dict) -> str:
    space = node.get("namespace")
    return f"{space}.{node['name']}" if space else node["name"]


def _emit(node, seen: set[str]):
    """The schema JSON with each named type defined once and referred to by name afterwards, as
    Avro's Schema.toString writes a schema whose parts are shared."""
    if isinstance(node, list):
        return [_emit(branch, seen) for branch in node]
    if isinstance(node, str):
        return node
    kind = node["type"]
    if kind in ("record", "enum", "fixed"):
        full = _fullname(node)
        if full in seen:
            return full
        seen.add(full)
        if kind == "record":
            return {**node, "fields": [{**f, "type": _emit(f["type"], seen)} for f in node["fields"]]}
        return node
    if kind == "array":
        return {**node, "items": _emit(node["items"], seen)}
    if kind == "map":
        return {**node, "values": _emit(node["values"], seen)}
    return node


def _default_fits(avro: Any, value) -> bool:
    """Whether a field default is valid for its Avro type (Avro refuses the field's default
    otherwise, and Confluent's AvroData then drops it): a union's default must be of its first
    branch; the rest comes from a Connect default of the field's own schema and fits."""
    if isinstance(avro, list):
        first = avro[0]
        if first == "null" or (isinstance(first, dict) and first.get("type") == "null"):
            return value is None
        return value is not None and not (_named_kind(first) == "record" and not isinstance(value, dict))
    if isinstance(avro, dict) and avro.get("type") == "array" and _named_kind(avro.get("items")) == "record":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    return True


def _named_kind(node) -> str | None:
    return node.get("type") if isinstance(node, dict) else None


# =============================================================================== Connect -> Avro

class _FromConnect:
    """One fromConnectSchema run (Confluent's FromConnectContext): the ConnectDefault counter and
    the Avro schemas already built for non-optional Connect schemas (reused, as Java does)."""

    def __init__(self, avro_data: "AvroData"):
        self.ad = avro_data
        self.name_index = 0
        self.built: dict[Schema, Any] = {}

    def name_or_default(self, name: str | None) -> tuple[str | None, str]:
        if name is not None:
            return self.ad.split_name(name)
        self.name_index += 1
        return NAMESPACE, DEFAULT_SCHEMA_NAME + (str(self.name_index) if self.name_index > 1 else "")

    def convert(self, schema: Schema, ignore_optional: bool = False):
        if not _is_union(schema) and not schema.optional and schema in self.built:
            return self.built[schema]
        connect_type, base = self._base(schema)
        final = base
        if not isinstance(base, list):
            self._annotate(schema, base, connect_type)
            if not ignore_optional:
                final = self._maybe_optional(schema, base)
        if not schema.optional:
            self.built[schema] = final
        return final

    def _base(self, schema: Schema):
        kind = schema.type
        if kind in (Type.INT8, Type.INT16):
            return kind.value, {"type": "int"}
        if kind is Type.STRING and self.ad.enhanced and AVRO_TYPE_ENUM in schema.params:
            return None, self._enum(schema)
        if kind is Type.BYTES:
            return None, self._bytes(schema)
        if kind in _AVRO_PRIMITIVE:
            return None, {"type": _AVRO_PRIMITIVE[kind]}
        if kind is Type.ARRAY:
            return None, {"type": "array", "items": self.convert(schema.value_schema)}
        if kind is Type.MAP:
            return None, self._map(schema)
        return None, self._struct(schema)

    def _enum(self, schema: Schema) -> dict:
        params = schema.params
        prefix = AVRO_TYPE_ENUM + "."
        _, name = self.name_or_default(schema.name)
        enum_name = params[AVRO_TYPE_ENUM]
        space, short = enum_name.rpartition(".")[::2]
        node = {"type": "enum", "name": short}
        if space:
            node["namespace"] = space
        if params.get(AVRO_ENUM_DOC_PREFIX_PROP + name) is not None:
            node["doc"] = params[AVRO_ENUM_DOC_PREFIX_PROP + name]
        node["symbols"] = [k[len(prefix):] for k in params if k.startswith(prefix)]
        if params.get(AVRO_ENUM_DEFAULT_PREFIX_PROP + name) is not None:
            node["default"] = params[AVRO_ENUM_DEFAULT_PREFIX_PROP + name]
        return node

    def _bytes(self, schema: Schema) -> dict:
        params = schema.params
        if _is_fixed(schema):
            space, name = self.name_or_default(schema.name)
            node = {"type": "fixed", "name": name, "namespace": space or "",
                    "size": int(params[CONNECT_FIXED_SIZE_PROP])}
        else:
            node = {"type": "bytes"}
        if schema.name == data.DECIMAL:
            node["scale"] = int(params[data.DECIMAL_SCALE])
            node["precision"] = int(params.get(CONNECT_DECIMAL_PRECISION_PROP, DECIMAL_PRECISION_DEFAULT))
        return node

    def _map(self, schema: Schema):
        if self.ad.string_keyed(schema):
            return {"type": "map", "values": self.convert(schema.value_schema)}
        if schema.name is None:
            entry = {"type": "record", "name": MAP_ENTRY_TYPE_NAME, "namespace": NAMESPACE}
        else:
            space, name = self.name_or_default(schema.name)
            entry = {"type": "record", "name": name, "namespace": space or ""}
        fields = [self._field("key", schema.key_schema, None), self._field("value", schema.value_schema, None)]
        entry["fields"] = fields
        if schema.name is not None:
            entry["connect.internal.type"] = MAP_ENTRY_TYPE_NAME
        return {"type": "array", "items": entry}

    def _struct(self, schema: Schema):
        if _is_union(schema):
            branches = ["null"] if schema.optional else []
            branches += [self.convert(_non_optional(f.schema), ignore_optional=True) for f in schema.fields]
            return branches
        if schema.optional:
            return ["null", self.convert(_non_optional(schema))]
        space, name = self.name_or_default(schema.name)
        params = schema.params
        node = {"type": "record", "name": name, "namespace": space or ""}
        if params.get(AVRO_RECORD_DOC_PROP) is not None:
            node["doc"] = params[AVRO_RECORD_DOC_PROP]
        node["fields"] = [self._field(self.ad.scrub(f.name), f.schema, params.get(AVRO_FIELD_DOC_PREFIX_PROP + f.name))
                          for f in schema.fields]
        return node

    def _field(self, name: str, schema: Schema, doc: str | None) -> dict:
        """Confluent's addAvroRecordField: the default is the Connect default, or null for an
        optional field; one Avro does not accept is left out."""
        avro = self.convert(schema)
        field = {"name": name, "type": avro}
        if doc is not None:
            field["doc"] = doc
        if schema.default is not None:
            default = self.ad.default_json(schema, schema.default)
            if _default_fits(avro, default):
                field["default"] = default
        elif schema.optional:
            field["default"] = None
        return field

    def _annotate(self, schema: Schema, node: dict, connect_type: str | None) -> None:
        """The connect.* props, then the logical type, then the `avro*` parameters, in the order
        Confluent's AvroData adds them (Avro keeps props in insertion order)."""
        params = schema.params
        if self.ad.meta:
            if schema.doc is not None:
                _add_prop(node, "connect.doc", schema.doc)
            if schema.version is not None:
                _add_prop(node, "connect.version", schema.version)
            if schema.parameters:
                shown = {k: v for k, v in params.items() if k != AVRO_FIELD_DEFAULT_FLAG_PROP}
                if shown:
                    _add_prop(node, "connect.parameters", shown)
            if schema.default is not None and AVRO_FIELD_DEFAULT_FLAG_PROP not in params:
                _add_prop(node, "connect.default", self.ad.default_json(schema, schema.default))
            if schema.name is not None:
                _add_prop(node, "connect.name", schema.name)
            if connect_type is not None:
                _add_prop(node, "connect.type", connect_type)
        if schema.name == data.DECIMAL:
            # Avro's own decimal when scale and precision allow it, else Connect's legacy props;
            # either way the prop reads "decimal" (precision and scale are already set).
            _add_prop(node, "logicalType", "decimal")
        elif schema.name in _LOGICAL_AVRO:
            _add_prop(node, "logicalType", _LOGICAL_AVRO[schema.name])
        for key, value in params.items():
            if key.startswith("avro"):
                _add_prop(node, key, value)

    @staticmethod
    def _maybe_optional(schema: Schema, node):
        if not schema.optional:
            return node
        return [node, "null"] if schema.default is not None else ["null", node]


# =============================================================================== Avro -> Connect

class _ToConnect:
    """One toConnectSchema run; records being converted are tracked to refuse recursion, which a
    Connect schema here (immutable) cannot express."""

    def __init__(self, avro_data: "AvroData"):
        self.ad = avro_data
        self.open: set[str] = set()

    def convert(self, t: AvroType, force_optional: bool = False, field_default=None, field_doc=None,
                version: int | None = None) -> Schema:
        if isinstance(t, Union):
            return self._union(t, field_doc)
        props = t.props
        kind, name, params, fields, key_schema, value_schema = self._shape(t)
        doc = props.get("connect.doc") if self.ad.meta and isinstance(props.get("connect.doc"), str) else None
        version = self._version(props, version, 1 if name in _LOGICAL_NAMES else None)
        connect_params = props.get("connect.parameters")
        if self.ad.meta and connect_params is not None:
            if not isinstance(connect_params, dict):
                raise DataException(f"Expected JSON object for schema parameters but found: {connect_params}")
            for key, value in connect_params.items():
                if not isinstance(value, str):
                    raise DataException(f"Expected schema parameter values to be strings but found: {value}")
                params[key] = value
        for key, value in props.items():
            if key.startswith("avro"):
                params[key] = value if isinstance(value, str) else json.dumps(value)
        connect_default = props.get("connect.default")
        default_json = connect_default
        if field_default is not None:
            default_json = field_default
            if self.ad.meta and connect_default is None:
                params[AVRO_FIELD_DEFAULT_FLAG_PROP] = "true"
        connect_name = props.get("connect.name")
        if connect_name is not None and not isinstance(connect_name, str):
            raise DataException(f"Invalid schema name: {connect_name}")
        if connect_name is not None:
            if name is not None and name != connect_name:
                raise DataException(f"Mismatched names: name already added to SchemaBuilder ({name}) differs "
                                    f"from name in source schema ({connect_name})")
            name = connect_name
        elif isinstance(t, (Record, Enum)) or (isinstance(t, Fixed) and name != data.DECIMAL):
            name = name or t.fullname
        if name is not None and name.startswith(DEFAULT_SCHEMA_FULL_NAME):
            name = None
        schema = Schema(kind, optional=force_optional, name=name, version=version, doc=doc,
                        parameters=tuple(params.items()) or None, fields=fields, key_schema=key_schema,
                        value_schema=value_schema)
        if default_json is not None and default_json is not _JSON_NULL:
            try:
                schema = schema.with_default(self.ad.default_from_avro(schema, t, default_json))
            except (DataException, ValueError, TypeError, KeyError, AttributeError):
                pass  # Confluent's AvroData logs "Ignoring invalid default" and goes on
        return schema

    @staticmethod
    def _version(props: dict, registry_version: int | None, logical_version: int | None) -> int | None:
        """The schema's own `connect.version`, else the registry's version (top level only); a
        logical type's version (1) must agree with it."""
        found = props.get("connect.version")
        if found is not None:
            if isinstance(found, bool) or not isinstance(found, (int, float)):
                raise DataException(f"Invalid Connect version found: {found}")
            version = int(found)
        else:
            version = registry_version
        if version is None or version < 0:
            return logical_version
        if logical_version is not None and version != logical_version:
            raise DataException(f"Mismatched versions: version already added to SchemaBuilder ({logical_version}) "
                                f"differs from version in source schema ({version})")
        return version

    def _shape(self, t: AvroType):
        """(type, name, parameters, fields, key schema, value schema) of a non-union Avro type."""
        props = t.props
        logical = props.get("logicalType")
        fields, key_schema, value_schema, name = (), None, None, None
        params: dict[str, str] = {}
        kind = t.kind
        if kind == "boolean":
            return Type.BOOLEAN, None, params, fields, None, None
        if kind in ("bytes", "fixed"):
            if isinstance(logical, str) and logical.lower() == "decimal":
                scale = props.get("scale")
                params[data.DECIMAL_SCALE] = str(int(scale) if isinstance(scale, (int, float)) else 0)
                precision = props.get("precision")
                if precision is not None:
                    if isinstance(precision, bool) or not isinstance(precision, (int, float)):
                        raise DataException("precision property must be a JSON Integer. "
                                            "https://avro.apache.org/docs/1.9.1/spec.html#Decimal")
                    if int(precision) != DECIMAL_PRECISION_DEFAULT:
                        params[CONNECT_DECIMAL_PRECISION_PROP] = str(int(precision))
                name = data.DECIMAL
            if kind == "fixed":
                params[CONNECT_FIXED_SIZE_PROP] = str(t.size)
            return Type.BYTES, name, params, fields, None, None
        if kind == "double":
            return Type.FLOAT64, None, params, fields, None, None
        if kind == "float":
            return Type.FLOAT32, None, params, fields, None, None
        if kind == "int":
            connect_type = props.get("connect.type")
            if isinstance(logical, str) and logical.lower() == "date":
                return Type.INT32, data.DATE, params, fields, None, None
            if isinstance(logical, str) and logical.lower() == "time-millis":
                return Type.INT32, data.TIME, params, fields, None, None
            if logical is None and connect_type is not None:
                if connect_type not in _INT_TYPES:
                    raise DataException("Connect type annotation for Avro int field is null")
                return _INT_TYPES[connect_type], None, params, fields, None, None
            return Type.INT32, None, params, fields, None, None
        if kind == "long":
            if isinstance(logical, str) and logical.lower() == "timestamp-millis":
                return Type.INT64, data.TIMESTAMP, params, fields, None, None
            return Type.INT64, None, params, fields, None, None
        if kind == "string":
            return Type.STRING, None, params, fields, None, None
        if kind == "array":
            items = t.items
            if self.ad.is_map_entry(items):
                if len(items.fields) != 2 or items.field("key") is None or items.field("value") is None:
                    raise DataException("Found map encoded as array of key-value pairs, but array elements do "
                                        "not match the expected format.")
                key_schema = _ToConnect(self.ad).convert(items.field("key").type)
                value_schema = _ToConnect(self.ad).convert(items.field("value").type)
                return Type.MAP, None, params, fields, key_schema, value_schema
            return Type.ARRAY, None, params, fields, None, self.convert(items)
        if kind == "map":
            return Type.MAP, None, params, fields, data.STRING_SCHEMA, self.convert(t.values)
        if isinstance(t, Record):
            return Type.STRUCT, None, params, self._fields(t, params), None, None
        if isinstance(t, Enum):
            if self.ad.meta:
                if t.doc is not None:
                    params[AVRO_ENUM_DOC_PREFIX_PROP + t.name] = t.doc
                if t.default is not None:
                    params[AVRO_ENUM_DEFAULT_PREFIX_PROP + t.name] = t.default
            params[AVRO_TYPE_ENUM] = t.fullname
            for symbol in t.symbols:
                params[AVRO_TYPE_ENUM + "." + symbol] = symbol
            return Type.STRING, None, params, fields, None, None
        if kind == "null":
            raise DataException("Standalone null schemas are not supported by this converter")
        raise DataException(f"Couldn't translate unsupported schema type {kind}.")

    def _fields(self, t: Record, params: dict) -> tuple:
        if t.fullname in self.open:
            raise DataException(f"Recursive Avro schemas ({t.fullname}) cannot be represented as Connect schemas")
        self.open.add(t.fullname)
        try:
            if self.ad.meta and t.doc is not None:
                params[AVRO_RECORD_DOC_PROP] = t.doc
            pairs = []
            for f in t.fields:
                if self.ad.meta and f.doc is not None:
                    params[AVRO_FIELD_DOC_PREFIX_PROP + f.name] = f.doc
                default = _JSON_NULL if f.has_default and f.default is None else (f.default if f.has_default else None)
                field_schema = self.convert(f.type, False, default, f.doc)
                field_params = f.props.get("connect.parameters")
                if self.ad.meta and isinstance(field_params, dict):
                    merged = {**field_schema.params, **{str(k): str(v) for k, v in field_params.items()}}
                    if merged != field_schema.params:
                        field_schema = _replace_params(field_schema, merged)
                pairs.append((f.name, field_schema))
            return data.struct(pairs).fields
        finally:
            self.open.discard(t.fullname)

    def _union(self, t: Union, field_doc) -> Schema:
        branches = t.branches
        if len(branches) == 1 and self.ad.flatten_singleton_unions:
            return self.convert(branches[0], False, None, field_doc)
        if len(branches) == 2 and any(b.kind == "null" for b in branches):
            member = next(b for b in branches if b.kind != "null")
            return self.convert(member, True, None, field_doc)
        pairs, seen, optional = [], set(), False
        for index, member in enumerate(branches):
            if member.kind == "null":
                optional = True
                continue
            name = self.ad.union_member_name(member)
            if name in seen:
                raise DataException("Multiple union schemas map to the Connect union field name")
            seen.add(name)
            pairs.append((name, self.convert(member, True)))
        return data.struct(pairs, name=AVRO_TYPE_UNION, optional=optional)


class _JsonNull:
    """A field default of JSON null (Avro's JsonProperties.NULL_VALUE), unlike no default."""


_JSON_NULL = _JsonNull()


def _replace_params(schema: Schema, params: dict[str, str]) -> Schema:
    from dataclasses import replace
    return replace(schema, parameters=tuple(params.items()) or None)


# =============================================================================== the mapping

class AvroData:
    """Confluent's AvroData with the settings of AvroDataConfig."""

    def __init__(self, enhanced: bool = False, meta: bool = True, scrub: bool = False,
                 allow_optional_map_keys: bool = False, flatten_singleton_unions: bool = True,
                 ignore_default_for_nullables: bool = False):
        self.enhanced = enhanced
        self.meta = meta
        self.scrub_names = scrub
        self.allow_optional_map_keys = allow_optional_map_keys
        self.flatten_singleton_unions = flatten_singleton_unions
        self.ignore_default_for_nullables = ignore_default_for_nullables

    # -- names ---------------------------------------------------------------------------------

    def scrub(self, name: str | None) -> str | None:
        return scrub_name(name) if self.scrub_names else name

    def split_name(self, full: str) -> tuple[str | None, str]:
        parts = [self.scrub(p) for p in full.split(".")]
        return (".".join(parts[:-1]) or None) if len(parts) > 1 else None, parts[-1]

    def string_keyed(self, schema: Schema) -> bool:
        keys = schema.key_schema
        return keys.type is Type.STRING and (not keys.optional or self.allow_optional_map_keys)

    @staticmethod
    def is_map_entry(t: AvroType) -> bool:
        return isinstance(t, Record) and (t.fullname == NAMESPACE + "." + MAP_ENTRY_TYPE_NAME
                                          or t.props.get("connect.internal.type") == MAP_ENTRY_TYPE_NAME)

    def union_member_name(self, t: AvroType) -> str:
        if isinstance(t, Named):
            return t.fullname if self.enhanced else t.name
        return t.kind

    def union_field_name(self, schema: Schema) -> str:
        if schema.type is Type.STRUCT or (schema.type is Type.STRING and AVRO_TYPE_ENUM in schema.params) \
                or _is_fixed(schema):
            return self.scrub(schema.name) if self.enhanced else self.split_name(schema.name)[1]
        return _AVRO_PRIMITIVE.get(schema.type, "int")

    # -- schemas -------------------------------------------------------------------------------

    def from_connect_schema(self, schema: Schema) -> str:
        """The Avro schema JSON text Confluent's converter registers for `schema`."""
        return json.dumps(_emit(_FromConnect(self).convert(schema), set()), separators=(",", ":"),
                          ensure_ascii=False)

    def to_connect_schema(self, avro: AvroType, version: int | None = None) -> Schema:
        return _ToConnect(self).convert(avro, version=version)

    # -- defaults ------------------------------------------------------------------------------

    def default_json(self, schema: Schema, value):
        """Confluent's defaultValueFromConnect: a Connect default as Avro's JSON."""
        if value is None:
            return None
        if data.is_logical(schema):
            value = data.logical_to_primitive(schema, value)
        kind = schema.type
        if kind in data.INTEGER_BOUNDS:
            return int(value)
        if kind in (Type.FLOAT32, Type.FLOAT64):
            return float32(value) if kind is Type.FLOAT32 else float(value)
        if kind in (Type.BOOLEAN, Type.STRING):
            return value
        if kind is Type.BYTES:
            return bytes(value).decode("latin-1")
        if kind is Type.ARRAY:
            return [self.default_json(schema.value_schema, v) for v in value]
        if kind is Type.MAP:
            if self.string_keyed(schema):
                return {k: self.default_json(schema.value_schema, v) for k, v in value.items()}
            return [[self.default_json(schema.key_schema, k), self.default_json(schema.value_schema, v)]
                    for k, v in value.items()]
        out = {}
        for f in schema.fields:
            field_default = self.default_json(f.schema, value.get(f.name))
            if _is_union(schema):
                return field_default
            out[self.scrub(f.name)] = field_default
        return out

    def default_from_avro(self, schema: Schema, t: AvroType, value):
        """Confluent's defaultValueFromAvro: an Avro JSON default as a Connect value."""
        if value is None or value is _JSON_NULL:
            return None
        if isinstance(t, Union):
            first = t.branches[0]
            if first.kind == "null":
                return None
            if schema.type is Type.STRUCT and _is_union(schema):
                return self.default_from_avro(schema.field(self.union_member_name(first)).schema, first, value)
            return self.default_from_avro(schema, first, value)
        kind = t.kind
        if kind in ("int", "long"):
            raw = int(value)
        elif kind in ("float", "double"):
            raw = float(value)
        elif kind == "boolean":
            raw = bool(value)
        elif kind in ("string", "enum"):
            raw = str(value)
        elif kind in ("bytes", "fixed"):
            raw = value.encode("latin-1")
        elif kind == "array":
            if isinstance(t.items, Record) and self.is_map_entry(t.items):
                return None  # Confluent's AvroData has no JSON form for these either
            return [self.default_from_avro(schema.value_schema, t.items, v) for v in value]
        elif kind == "map":
            return {k: self.default_from_avro(schema.value_schema, t.values, v) for k, v in value.items()}
        elif isinstance(t, Record):
            result = Struct(schema)
            for af in t.fields:
                f = schema.field(af.name)
                result.put(af.name, self.default_from_avro(f.schema, af.type, value.get(af.name)))
            return result
        else:
            return None
        return data.logical_from_primitive(schema, raw) if data.is_logical(schema) else raw

    # -- values --------------------------------------------------------------------------------

    def from_connect_value(self, schema: Schema, value):
        """A Connect value as the value fastavro writes with the schema from_connect_schema gave
        (logical types as their primitives, as Confluent's AvroData does)."""
        if value is None:
            if not schema.optional:
                raise DataException("Found null value for non-optional schema")
            return None
        if data.is_logical(schema):
            value = data.logical_to_primitive(schema, value)
        kind = schema.type
        try:
            if kind in data.PASSTHROUGH_TYPES:
                return data.checked_primitive(kind, value)
            if kind in (Type.FLOAT32, Type.FLOAT64):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise TypeError
                return float(value)
            if kind is Type.BYTES:
                raw = bytes(value)
                if _is_fixed(schema) and schema.name == data.DECIMAL:
                    raw = _pad(raw, int(schema.params[CONNECT_FIXED_SIZE_PROP]))
                return raw
            if kind is Type.ARRAY:
                return [self.from_connect_value(schema.value_schema, v) for v in value]
            if kind is Type.MAP:
                if self.string_keyed(schema):
                    return {k: self.from_connect_value(schema.value_schema, v) for k, v in value.items()}
                return [{"key": self.from_connect_value(schema.key_schema, k),
                         "value": self.from_connect_value(schema.value_schema, v)} for k, v in value.items()]
            return self._struct_value(schema, value)
        except (TypeError, AttributeError):
            raise DataException(f"Invalid type for {kind.name}: {type(value).__name__}") from None

    def _struct_value(self, schema: Schema, value):
        if not isinstance(value, Struct) or value.schema != schema:
            raise DataException("Mismatching struct schema")
        get = value.get_without_default if self.ignore_default_for_nullables else value.get
        if _is_union(schema):
            for f in schema.fields:
                member = get(f.name)
                if member is not None:
                    converted = self.from_connect_value(f.schema, member)
                    # A record branch is named, so fastavro picks it among several records.
                    if f.schema.type is Type.STRUCT:
                        return (self._record_fullname(f.schema), converted)
                    return converted
            return None
        return {self.scrub(f.name): self.from_connect_value(f.schema, get(f.name)) for f in schema.fields}

    def _record_fullname(self, schema: Schema) -> str:
        space, name = self.split_name(schema.name) if schema.name else (NAMESPACE, DEFAULT_SCHEMA_NAME)
        return f"{space}.{name}" if space else name

    def to_connect_value(self, schema: Schema | None, value):
        """A value fastavro read (logical types as primitives) as the Connect value of `schema`."""
        if value is None:
            if not schema.optional:
                raise DataException("Found null value for non-optional schema")
            return None
        if isinstance(value, tuple) and schema.type is Type.STRUCT and not _is_union(schema):
            value = value[1]  # (record name, record): fastavro names the branch of a union
        kind = schema.type
        if kind in (Type.INT8, Type.INT16, Type.INT32, Type.INT64, Type.BOOLEAN, Type.STRING):
            converted = value
        elif kind in (Type.FLOAT32, Type.FLOAT64):
            converted = float(value)
        elif kind is Type.BYTES:
            converted = bytes(value)
        elif kind is Type.ARRAY:
            converted = [self.to_connect_value(schema.value_schema, v) for v in value]
        elif kind is Type.MAP:
            if isinstance(value, dict):
                converted = {k: self.to_connect_value(schema.value_schema, v) for k, v in value.items()}
            else:
                converted = {}
                for entry in value:
                    if isinstance(entry, tuple):
                        entry = entry[1]
                    key = self.to_connect_value(schema.key_schema, entry["key"])
                    converted[_hashable(key)] = self.to_connect_value(schema.value_schema, entry["value"])
        elif _is_union(schema):
            converted = self._union_value(schema, value)
        else:
            converted = Struct(schema)
            for f in schema.fields:
                converted.put(f.name, self.to_connect_value(f.schema, value.get(self.scrub(f.name))))
        return data.logical_from_primitive(schema, converted) if data.is_logical(schema) else converted

    def _union_value(self, schema: Schema, value) -> Struct:
        """The io.confluent.connect.avro.Union struct with the member the value is of set. A
        record is matched by name; other values by their Python type (so of two branches that
        read as the same Python type, e.g. int and long, the first is taken)."""
        for f in schema.fields:
            if self._is_instance(f.schema, value):
                return Struct(schema).put(f.name, self.to_connect_value(f.schema, value))
        raise DataException("Did not find matching union field for data")

    def _is_instance(self, schema: Schema, value) -> bool:
        if isinstance(value, tuple):
            return schema.type is Type.STRUCT and self._record_fullname(schema).rpartition(".")[2] == \
                value[0].rpartition(".")[2]
        if schema.type is Type.STRING and AVRO_TYPE_ENUM in schema.params:
            return isinstance(value, str) and value in [k[len(AVRO_TYPE_ENUM) + 1:] for k in schema.params
                                                        if k.startswith(AVRO_TYPE_ENUM + ".")]
        expected = {Type.INT32: int, Type.INT64: int, Type.INT8: int, Type.INT16: int, Type.FLOAT32: float,
                    Type.FLOAT64: float, Type.BOOLEAN: bool, Type.STRING: str, Type.BYTES: bytes,
                    Type.ARRAY: list, Type.MAP: (dict, list)}.get(schema.type)
        if expected is None or not isinstance(value, expected):
            return False
        if schema.type is not Type.BOOLEAN and isinstance(value, bool):
            return False
        if _is_fixed(schema):
            return len(value) == int(schema.params[CONNECT_FIXED_SIZE_PROP])
        return True


def _pad(raw: bytes, size: int) -> bytes:
    """Sign-extend an unscaled decimal to a fixed size."""
    if len(raw) > size:
        raise DataException(f"Unscaled value byte array length {len(raw)} is greater than fixed size {size}")
    fill = b"\xff" if raw and raw[0] & 0x80 else b"\x00"
    return fill * (size - len(raw)) + raw


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def float32(value: float) -> float:
    """The shortest decimal that reads back as the same 32-bit float: what Java prints for a
    Float (JSON defaults, JSON Schema values), e.g. 1.1 and not 1.100000023841858."""
    if math.isnan(value) or math.isinf(value):
        return value
    packed = struct.pack(">f", value)
    for digits in range(1, 10):
        candidate = float(f"{struct.unpack('>f', packed)[0]:.{digits}g}")
        if struct.pack(">f", candidate) == packed:
            return candidate
    return struct.unpack(">f", packed)[0]


# =============================================================================== reading

def _without_logical_types(node):
    """A schema JSON with the logicalType props removed: values are read as their primitives."""
    if isinstance(node, list):
        return [_without_logical_types(n) for n in node]
    if isinstance(node, dict):
        return {k: _without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    return node


def raw_reader(parsed: AvroSchema):
    """read(data, start) -> the value of an Avro payload with logical types left as primitives
    (fastavro would turn them into Python objects, and an unknown-to-Connect logical type such
    as timestamp-micros must stay the long it is for Connect)."""
    plain = fastavro.parse_schema(_without_logical_types(json.loads(parsed.resolved_string())))

    def read(payload: bytes, start: int):
        buf = io.BytesIO(payload)
        buf.seek(start)
        try:
            value = fastavro.schemaless_reader(buf, plain, None, True)
        except Exception as exc:  # fastavro raises EOFError, StopIteration, ValueError, ...
            raise RecordMismatch(f"{type(exc).__name__}: {exc}") from exc
        if buf.tell() != len(payload):
            raise RecordMismatch(f"{len(payload) - buf.tell()} bytes left over after the Avro record")
        return value
    return read


# =============================================================================== the converter

class AvroConverter(RegistryConverter):
    class_name = "io.confluent.connect.avro.AvroConverter"
    schema_type = "AVRO"
    format_name = "Avro"
    rejects_required_null = True

    def __init__(self):
        super().__init__()
        self.avro_data = AvroData()

    def data_config_def(self) -> ConfigDef:
        return avro_data_config_def()

    def configure_data(self, parsed: dict) -> None:
        warn_unimplemented(parsed, _UNIMPLEMENTED, "AvroConverter")
        self.avro_data = AvroData(
            enhanced=parsed["enhanced.avro.schema.support"], meta=parsed["connect.meta.data"],
            scrub=parsed["scrub.invalid.names"], allow_optional_map_keys=parsed["allow.optional.map.keys"],
            flatten_singleton_unions=parsed["flatten.singleton.unions"],
            ignore_default_for_nullables=parsed["ignore.default.for.nullables"])

    def target_for(self, schema: Schema):
        text = self.avro_data.from_connect_schema(schema)
        root = json.loads(text)
        record_name = _fullname(root) if isinstance(root, dict) and root.get("type") == "record" else None
        return FormatSchema(text, "AVRO"), record_name, lambda value: self.avro_data.from_connect_value(schema, value)

    def prepare_reader(self, parsed: AvroSchema) -> Reader:
        from formats.wire import HEADER_SIZE
        read_raw = raw_reader(parsed)
        avro_data = self.avro_data
        schemas: dict[int | None, Schema] = {}

        def read(payload: bytes, version: int | None) -> SchemaAndValue:
            schema = schemas.get(version)
            if schema is None:
                schema = schemas[version] = avro_data.to_connect_schema(parsed.root, version)
            value = read_raw(payload, HEADER_SIZE)
            return SchemaAndValue(schema, avro_data.to_connect_value(schema, value))
        return Reader(read, parsed.name())


__all__ = ["AvroConverter", "AvroData", "float32", "raw_reader", "scrub_name"]
