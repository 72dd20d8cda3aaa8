"""ProtobufConverter as Confluent's (io.confluent.connect.protobuf.ProtobufConverter), with its
ProtobufData mapping.

Connect -> Protobuf (proto3): a struct is a message (package = the namespace of the Connect name,
unnamed structs `ConnectDefault1`, `ConnectDefault2`, ...), nested structs nested messages (suffix
`Message` when the name clashes with the field's), fields numbered in order unless the field
schema carries `io.confluent.connect.protobuf.Tag`. INT8/INT16 are `int32` with a `connect.type`
entry in the field's `(confluent.field_meta)` params; arrays are `repeated`; maps are a
`repeated <Name>Entry` of a nested key/value message (not a proto map, as Confluent's); unions
(`io.confluent.connect.protobuf.Union.*` structs) are oneofs. Decimal is `confluent.type.Decimal`
(precision/scale in the field meta), Date `google.type.Date`, Time `google.type.TimeOfDay`,
Timestamp `google.protobuf.Timestamp`. A primitive root is the matching google.protobuf wrapper.

Protobuf -> Connect reads any message: every field becomes optional and carries its number as
`io.confluent.connect.protobuf.Tag`, structs are named by the message's simple name, oneofs are
union structs, enums strings (symbols as parameters), repeated key/value `...Entry` messages maps.

The text is compiled by the format layer (protoc), which also gives the message classes values are
built with.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import re

from google.protobuf import descriptor_pb2, message_factory, wrappers_pb2

from connect import data
from connect.config_def import ConfigDef, ConfigType, Importance
from connect.converters.avro import float32, scrub_name, warn_unimplemented
from connect.converters.registry import Reader, RegistryConverter
from connect.data import Schema, SchemaAndValue, Struct, Type
from connect.errors import DataException
from formats import InvalidSchemaError, RecordMismatch
from formats import Schema as FormatSchema
from formats import parse
from formats.protobuf.render import render_file
from formats.protobuf.schema import ProtobufSchema
from formats.wire import HEADER_SIZE

NAMESPACE = "io.confluent.connect.protobuf"
DEFAULT_SCHEMA_NAME = "ConnectDefault"
PROTOBUF_TYPE_ENUM = NAMESPACE + ".Enum"
PROTOBUF_TYPE_UNION_PREFIX = NAMESPACE + ".Union."
PROTOBUF_TYPE_TAG = NAMESPACE + ".Tag"
PROTOBUF_TYPE_PROP = NAMESPACE + ".Type"
CONNECT_TYPE_PROP = "connect.type"
CONNECT_PRECISION_PROP = "connect.decimal.precision"
META_IMPORT = "confluent/meta.proto"
# Connect logical type -> (message type, the file defining it)
LOGICAL_TYPES = {
    data.DECIMAL: ("confluent.type.Decimal", "confluent/type/decimal.proto"),
    data.DATE: ("google.type.Date", "google/type/date.proto"),
    data.TIME: ("google.type.TimeOfDay", "google/type/timeofday.proto"),
    data.TIMESTAMP: ("google.protobuf.Timestamp", "google/protobuf/timestamp.proto"),
}
_LOGICAL_BY_MESSAGE = {message: name for name, (message, _) in LOGICAL_TYPES.items()}
_SCALARS = {Type.INT8: "int32", Type.INT16: "int32", Type.INT32: "int32", Type.INT64: "int64",
            Type.FLOAT32: "float", Type.FLOAT64: "double", Type.BOOLEAN: "bool", Type.STRING: "string",
            Type.BYTES: "bytes"}
# A primitive root schema is written as the google.protobuf wrapper of its type.
_ROOT_WRAPPERS = {Type.INT8: "Int32Value", Type.INT16: "Int32Value", Type.INT32: "Int32Value",
                  Type.INT64: "Int64Value", Type.FLOAT32: "FloatValue", Type.FLOAT64: "DoubleValue",
                  Type.BOOLEAN: "BoolValue", Type.STRING: "StringValue", Type.BYTES: "BytesValue"}
_UNWRAPPED = {"google.protobuf.DoubleValue": Type.FLOAT64, "google.protobuf.FloatValue": Type.FLOAT32,
              "google.protobuf.Int64Value": Type.INT64, "google.protobuf.UInt64Value": Type.INT64,
              "google.protobuf.Int32Value": Type.INT32, "google.protobuf.UInt32Value": Type.INT64,
              "google.protobuf.BoolValue": Type.BOOLEAN, "google.protobuf.StringValue": Type.STRING,
              "google.protobuf.BytesValue": Type.BYTES}
_FD = descriptor_pb2.FieldDescriptorProto
_INT32_KINDS = {_FD.TYPE_INT32: "int32", _FD.TYPE_SINT32: "sint32", _FD.TYPE_SFIXED32: "sfixed32"}
_INT64_KINDS = {_FD.TYPE_UINT32: "uint32", _FD.TYPE_FIXED32: "fixed32", _FD.TYPE_INT64: "int64",
                _FD.TYPE_UINT64: "uint64", _FD.TYPE_SINT64: "sint64", _FD.TYPE_FIXED64: "fixed64",
                _FD.TYPE_SFIXED64: "sfixed64"}
_SIMPLE_KINDS = {_FD.TYPE_FLOAT: Type.FLOAT32, _FD.TYPE_DOUBLE: Type.FLOAT64, _FD.TYPE_BOOL: Type.BOOLEAN,
                 _FD.TYPE_STRING: Type.STRING, _FD.TYPE_BYTES: Type.BYTES}
_UNIMPLEMENTED = {"generalized.sum.type.support": False, "enhanced.protobuf.schema.support": False,
                  "int.for.enums": False, "optional.for.nullables": False, "wrapper.for.nullables": False,
                  "generate.struct.for.nulls": False, "flatten.unions": False}


def protobuf_data_config_def() -> ConfigDef:
    definition = ConfigDef()
    for key, default, doc in (
            ("enhanced.protobuf.schema.support", False, "Package name awareness (accepted; not implemented)."),
            ("scrub.invalid.names", False, "Whether to scrub invalid names by replacing invalid characters."),
            ("int.for.enums", False, "Whether to represent enums as integers (accepted; not implemented)."),
            ("optional.for.nullables", False, "Whether nullable fields are proto3 optional (accepted; not "
                                              "implemented)."),
            ("optional.for.proto2", True, "Whether proto2 optionals are supported."),
            ("wrapper.for.nullables", False, "Whether nullable fields use wrapper types (accepted; not "
                                             "implemented)."),
            ("wrapper.for.raw.primitives", True, "Whether a wrapper type at the root is read as its primitive."),
            ("generate.struct.for.nulls", False, "Whether unset message fields read as empty structs (accepted; "
                                                 "not implemented)."),
            ("generate.index.for.unions", True, "Whether union field names get the oneof's index as suffix."),
            ("flatten.unions", False, "Whether oneof members are read as plain fields (accepted; not "
                                      "implemented)."),
            ("generalized.sum.type.support", False, "Interoperability of enum/union with other schema formats "
                                                    "(accepted; not implemented)."),
            ("ignore.default.for.nullables", False, "Whether to ignore the default for nullable fields when the "
                                                    "value is null")):
        definition.define(key, ConfigType.BOOLEAN, default, None, Importance.LOW, doc)
    return definition


def to_map_entry(name: str) -> str:
    """ProtobufSchema.toMapEntry: lower_underscore names in UpperCamel, plus `Entry`."""
    if "_" in name:
        name = "".join(part[:1].upper() + part[1:].lower() for part in name.split("_"))
    return name + "Entry"


def to_map_field(name: str) -> str:
    """ProtobufSchema.toMapField: `MyMapEntry` -> `my_map`."""
    parts = name.split(".")
    last = parts[-1]
    if last.endswith("Entry"):
        last = re.sub(r"(?<!^)([A-Z])", r"_\1", last[: -len("Entry")]).lower()
        parts[-1] = last
    return ".".join(parts)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _is_union(schema: Schema) -> bool:
    return schema.name is not None and schema.name.startswith(NAMESPACE + ".Union")


def _enum_param(schema: Schema) -> bool:
    return PROTOBUF_TYPE_ENUM in schema.params


class _Message:
    """A message definition being built: its body lines (fields and oneofs in Connect field
    order) and its nested messages and enums."""

    def __init__(self, name: str):
        self.name = name
        self.body: list[str] = []
        self.nested: list[str] = []
        self.nested_names: set[str] = set()

    def render(self, indent: str = "") -> str:
        inner = indent + "  "
        lines = [f"{indent}message {self.name} {{\n"]
        lines += [inner + line + "\n" for line in self.body]
        lines += [block for block in self.nested]
        lines.append(f"{indent}}}\n")
        return "".join(lines)


# =============================================================================== Connect -> Protobuf

class _FromConnect:
    """One fromConnectSchema run (Confluent's FromConnectContext)."""

    def __init__(self, pd: "ProtobufData"):
        self.pd = pd
        self.name_index = 0
        self.imports: list[str] = []
        self.uses_meta = False

    def name_or_default(self, name: str | None) -> str:
        if name:
            return name
        self.name_index += 1
        return DEFAULT_SCHEMA_NAME + str(self.name_index)

    def unqualified(self, name: str | None) -> str:
        return self.pd.scrub(self.name_or_default(name).rpartition(".")[2])

    def file(self, schema: Schema) -> tuple[str, str]:
        """(.proto text, full name of the root message)."""
        full = self.name_or_default(schema.name)
        parts = [self.pd.scrub(p) for p in full.split(".")]
        package, name = ".".join(parts[:-1]), parts[-1]
        message = self.message(name, schema, depth=0)
        if self.uses_meta:
            self.imports.append(META_IMPORT)
        head = 'syntax = "proto3";\n'
        if package:
            head += f"package {package};\n"
        head += "".join(f'import "{dep}";\n' for dep in self.imports)
        return head + "\n" + message.render(), f"{package}.{name}" if package else name

    def message(self, name: str, schema: Schema, depth: int) -> _Message:
        msg = _Message(name)
        index = 1
        for f in schema.fields:
            tag_param = f.schema.params.get(PROTOBUF_TYPE_TAG)
            if tag_param is not None:
                tag = int(tag_param)
            else:
                tag, index = index, index + 1
            line = self.field(msg, f.schema, self.pd.scrub(f.name), tag, depth)
            if line is not None:
                msg.body.append(line)
        return msg

    def field(self, msg: _Message, schema: Schema, name: str, tag: int, depth: int) -> str | None:
        label = "repeated " if schema.type in (Type.ARRAY, Type.MAP) else ""
        if schema.type is Type.ARRAY:
            schema = schema.value_schema
            if schema.type is Type.ARRAY:
                raise DataException("Array cannot be nested")
        params: dict[str, str] = {}
        proto_type = self.data_type(schema, name, params)
        if schema.type is Type.STRUCT and schema.name not in LOGICAL_TYPES:
            if _is_union(schema):
                msg.body.append(self.oneof(msg, schema, depth))
                return None
            if proto_type != msg.name and proto_type not in msg.nested_names:
                msg.nested_names.add(proto_type)
                msg.nested.append(self.message(proto_type, schema, depth + 1).render("  " * (depth + 1)))
        elif schema.type is Type.MAP:
            entry = _Message(proto_type)
            for entry_name, entry_schema, tag_ in (("key", schema.key_schema, 1), ("value", schema.value_schema, 2)):
                entry.body.append(self.field(entry, entry_schema, entry_name, tag_, depth + 1))
            msg.nested_names.add(proto_type)
            msg.nested.append(entry.render("  " * (depth + 1)))
        elif _enum_param(schema):
            enum_name = self.unqualified(schema.name)
            if enum_name not in msg.nested_names:
                msg.nested_names.add(enum_name)
                msg.nested.append(self.enum(enum_name, schema, depth + 1))
        return f"{label}{proto_type} {name} = {tag}{self.meta_option(params)};"

    def data_type(self, schema: Schema, field_name: str, params: dict[str, str]) -> str:
        """Confluent's dataTypeFromConnectSchema (without wrapper.for.nullables)."""
        if schema.name in LOGICAL_TYPES:
            message, location = LOGICAL_TYPES[schema.name]
            if schema.name == data.DECIMAL:
                if CONNECT_PRECISION_PROP in schema.params:
                    params["precision"] = schema.params[CONNECT_PRECISION_PROP]
                if data.DECIMAL_SCALE in schema.params:
                    params["scale"] = schema.params[data.DECIMAL_SCALE]
            if location not in self.imports:
                self.imports.append(location)
            return "." + message
        kind = schema.type
        if kind in (Type.INT8, Type.INT16):
            params[CONNECT_TYPE_PROP] = kind.value
            return "int32"
        if kind in (Type.INT32, Type.STRING) and _enum_param(schema):
            return schema.params[PROTOBUF_TYPE_ENUM]
        if kind in (Type.INT32, Type.INT64):
            return schema.params.get(PROTOBUF_TYPE_PROP, _SCALARS[kind])
        if kind in _SCALARS:
            return _SCALARS[kind]
        if kind is Type.MAP:
            return to_map_entry(self.unqualified(schema.name))
        name = self.unqualified(schema.name)
        return name + "Message" if name == field_name else name

    def oneof(self, msg: _Message, schema: Schema, depth: int) -> str:
        oneof_name = self.unqualified(schema.name[len(PROTOBUF_TYPE_UNION_PREFIX):])
        lines = []
        for f in schema.fields:
            tag = int(f.schema.params.get(PROTOBUF_TYPE_TAG, 0))
            line = self.field(msg, f.schema, self.pd.scrub(f.name), tag, depth)
            if line is not None:
                lines.append("  " + line)
        return f"oneof {oneof_name} {{\n" + "".join("  " * (depth + 1) + line + "\n" for line in lines) \
            + "  " * (depth + 1) + "}"

    def enum(self, name: str, schema: Schema, depth: int) -> str:
        prefix = PROTOBUF_TYPE_ENUM + "."
        indent = "  " * depth
        values = "".join(f"{indent}  {key[len(prefix):]} = {int(value)};\n"
                         for key, value in schema.params.items() if key.startswith(prefix))
        return f"{indent}enum {name} {{\n{values}{indent}}}\n"

    def meta_option(self, params: dict[str, str]) -> str:
        """The field's `(confluent.field_meta)` option carrying Connect's params. Confluent's
        text has the option without importing confluent/meta.proto; protoc (our registry)
        refuses an option it cannot resolve, so the import is added."""
        if not params:
            return ""
        self.uses_meta = True
        entries = " ".join(f"params {{ key: {_quote(k)} value: {_quote(v)} }}" for k, v in params.items())
        return f" [(confluent.field_meta) = {{ {entries} }}]"


def _wrapper_file() -> str:
    proto = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(proto)
    return render_file(proto)


# =============================================================================== the mapping

class ProtobufData:
    """Confluent's ProtobufData with the settings of ProtobufDataConfig that have an effect here."""

    def __init__(self, scrub: bool = False, wrapper_for_raw_primitives: bool = True,
                 generate_index_for_unions: bool = True, ignore_default_for_nullables: bool = False,
                 optional_for_proto2: bool = True):
        self.scrub_names = scrub
        self.wrapper_for_raw_primitives = wrapper_for_raw_primitives
        self.generate_index_for_unions = generate_index_for_unions
        self.ignore_default_for_nullables = ignore_default_for_nullables
        self.optional_for_proto2 = optional_for_proto2

    def scrub(self, name: str) -> str:
        if not self.scrub_names or not name:
            return name
        scrubbed = scrub_name(name)
        return "x" + scrubbed if scrubbed.startswith("_") else scrubbed

    # -- schemas -------------------------------------------------------------------------------

    def from_connect_schema(self, schema: Schema) -> tuple[str, str]:
        """(.proto text Confluent's converter registers, full name of the message written)."""
        if schema.type in _ROOT_WRAPPERS:
            return _wrapper_file(), "google.protobuf." + _ROOT_WRAPPERS[schema.type]
        if schema.type is not Type.STRUCT:
            raise DataException(f"Unsupported root schema of type {schema.type.name}")
        return _FromConnect(self).file(schema)

    def to_connect_schema(self, descriptor, pool, version: int | None = None) -> Schema:
        if self.wrapper_for_raw_primitives and descriptor.full_name in _UNWRAPPED:
            return Schema(_UNWRAPPED[descriptor.full_name], version=version)
        return _ToConnect(self, pool).struct(descriptor, version)

    # -- values --------------------------------------------------------------------------------

    def from_connect_value(self, message_class, schema: Schema, value):
        """A Connect value as a message of `message_class` (the root message)."""
        message = message_class()
        if schema.type is not Type.STRUCT:  # a wrapper
            message.value = self._scalar(schema, message.DESCRIPTOR.fields_by_name["value"], value)
            return message
        self._fill(message, schema, value)
        return message

    def _fill(self, message, schema: Schema, struct: Struct) -> None:
        if not isinstance(struct, Struct) or struct.schema != schema:
            raise DataException("Mismatching struct schema")
        get = struct.get_without_default if self.ignore_default_for_nullables else struct.get
        for f in schema.fields:
            value = get(f.name)
            if value is None:
                continue
            if _is_union(f.schema):
                member = next((m for m in f.schema.fields if value.get(m.name) is not None), None)
                if member is None:
                    raise DataException("Cannot find non-null field")
                self._set(message, self.scrub(member.name), member.schema, value.get(member.name))
            else:
                self._set(message, self.scrub(f.name), f.schema, value)

    def _set(self, message, name: str, schema: Schema, value) -> None:
        field = message.DESCRIPTOR.fields_by_name.get(name)
        if field is None:
            raise DataException(f"Cannot find field with name {name}")
        if schema.type is Type.ARRAY:
            container = getattr(message, name)
            for item in value:
                if item is None:
                    raise DataException(f"Null element in array field {name}: protobuf has no null elements")
                self._append(container, field, schema.value_schema, item)
        elif schema.type is Type.MAP:
            container = getattr(message, name)
            for key, item in value.items():
                entry = container.add()
                if key is not None:
                    self._set(entry, "key", schema.key_schema, key)
                if item is not None:
                    self._set(entry, "value", schema.value_schema, item)
        elif field.message_type is not None:
            getattr(message, name).CopyFrom(self._message(field.message_type, schema, value))
        else:
            setattr(message, name, self._scalar(schema, field, value))

    def _append(self, container, field, schema: Schema, item) -> None:
        if field.message_type is not None:
            container.add().CopyFrom(self._message(field.message_type, schema, item))
        else:
            container.append(self._scalar(schema, field, item))

    def _message(self, descriptor, schema: Schema, value):
        message = message_factory.GetMessageClass(descriptor)()
        if schema.name == data.DECIMAL:
            sign, digits, exponent = value.as_tuple()
            unscaled = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
            length = max(1, (unscaled + (unscaled < 0)).bit_length() // 8 + 1)
            message.value = unscaled.to_bytes(length, "big", signed=True)
            message.precision = len(digits)
            message.scale = -exponent
        elif schema.name == data.DATE:
            message.year, message.month, message.day = value.year, value.month, value.day
        elif schema.name == data.TIME:
            message.hours, message.minutes, message.seconds = value.hour, value.minute, value.second
            message.nanos = value.microsecond // 1000 * 1_000_000
        elif schema.name == data.TIMESTAMP:
            millis = data.logical_to_primitive(schema, value)
            message.seconds, message.nanos = millis // 1000, millis % 1000 * 1_000_000
        else:
            self._fill(message, schema, value)
        return message

    @staticmethod
    def _scalar(schema: Schema, field, value):
        if field.enum_type is not None:
            if schema.type is Type.STRING:
                tag = schema.params.get(PROTOBUF_TYPE_ENUM + "." + value)
                if tag is None:
                    raise DataException(f"Unknown enum symbol {value!r}")
                return int(tag)
            return int(value)
        kind = schema.type
        if kind is Type.BYTES:
            return bytes(value)
        if kind in (Type.FLOAT32, Type.FLOAT64):
            return float(value)
        if kind in data.INTEGER_BOUNDS and (isinstance(value, bool) or not isinstance(value, int)):
            raise DataException(f"Invalid type for {kind.name}: {type(value).__name__}")
        return value

    def to_connect_value(self, schema: Schema, message):
        if schema.type is not Type.STRUCT:  # a wrapper read as its primitive
            return _ToConnect.scalar(schema, None, message.value)
        return _ToConnect(self, None).struct_value(schema, message)


# =============================================================================== Protobuf -> Connect

class _ToConnect:
    def __init__(self, pd: ProtobufData, pool):
        self.pd = pd
        self.pool = pool
        self.open: set[str] = set()

    # -- schemas -------------------------------------------------------------------------------

    def struct(self, descriptor, version: int | None = None, optional: bool = False) -> Schema:
        if descriptor.full_name in self.open:
            raise DataException(f"Recursive message {descriptor.full_name} cannot be represented as a Connect "
                                "schema")
        self.open.add(descriptor.full_name)
        try:
            pairs = []
            for oneof in _real_oneofs(descriptor):
                pairs.append((self.union_field_name(oneof), self.union(oneof)))
            for field in descriptor.fields:
                if _real_oneof(field) is None:
                    pairs.append((field.name, self.field(field)))
            return data.struct(pairs, name=descriptor.name, version=version, optional=optional)
        finally:
            self.open.discard(descriptor.full_name)

    def union_field_name(self, oneof) -> str:
        return f"{oneof.name}_{oneof.index}" if self.pd.generate_index_for_unions else oneof.name

    def union(self, oneof) -> Schema:
        pairs = [(field.name, self.field(field)) for field in oneof.fields]
        return data.struct(pairs, name=PROTOBUF_TYPE_UNION_PREFIX + oneof.name, optional=True)

    def field(self, field) -> Schema:
        """Confluent's toConnectSchema(FieldDescriptor): optional, with the field number."""
        params: dict[str, str] = {}
        kind = field.type
        if kind in _INT32_KINDS:
            connect_type = self.meta(field).get(CONNECT_TYPE_PROP)
            schema = Schema({"int8": Type.INT8, "int16": Type.INT16}.get(connect_type, Type.INT32))
            if schema.type is Type.INT32 and kind != _FD.TYPE_INT32:
                params[PROTOBUF_TYPE_PROP] = _INT32_KINDS[kind]
        elif kind in _INT64_KINDS:
            schema = Schema(Type.INT64)
            if kind != _FD.TYPE_INT64:
                params[PROTOBUF_TYPE_PROP] = _INT64_KINDS[kind]
        elif kind in _SIMPLE_KINDS:
            schema = Schema(_SIMPLE_KINDS[kind])
        elif kind == _FD.TYPE_ENUM:
            enum = field.enum_type
            params[PROTOBUF_TYPE_ENUM] = enum.name
            for value in enum.values:
                params[PROTOBUF_TYPE_ENUM + "." + value.name] = str(value.number)
            schema = Schema(Type.STRING, name=enum.name)
        elif kind == _FD.TYPE_MESSAGE:
            schema = self.message_field(field, params)
        else:
            raise DataException(f"Unknown Connect schema type: {kind}")
        schema = _with_params(schema, params).as_optional()
        if _is_repeated(field) and schema.type is not Type.MAP:
            schema = data.array(schema, optional=True)
        return _with_params(schema, {PROTOBUF_TYPE_TAG: str(field.number)}).as_optional()

    def message_field(self, field, params: dict[str, str]) -> Schema:
        message = field.message_type
        logical = _LOGICAL_BY_MESSAGE.get(message.full_name)
        if logical == data.DECIMAL:
            meta = self.meta(field)
            params[data.DECIMAL_SCALE] = str(_int_or(meta.get("scale"), 0))
            if _int_or(meta.get("precision"), None) is not None:
                params[CONNECT_PRECISION_PROP] = str(int(meta["precision"]))
            return Schema(Type.BYTES, name=data.DECIMAL, version=1)
        if logical is not None:
            return {data.DATE: data.date_schema(), data.TIME: data.time_schema(),
                    data.TIMESTAMP: data.timestamp_schema()}[logical]
        if _is_map_entry(field):
            key, value = message.fields
            return data.map_of(self.field(key), self.field(value), name=to_map_field(message.name))
        return self.struct(message)

    def meta(self, field) -> dict[str, str]:
        """The params of the field's `(confluent.field_meta)` option (read through the schema's
        own pool, which knows the extension when the schema imports confluent/meta.proto)."""
        raw = field.GetOptions().SerializeToString()
        if not raw or self.pool is None:
            return {}
        try:
            extension = self.pool.FindExtensionByName("confluent.field_meta")
            options_class = message_factory.GetMessageClass(
                self.pool.FindMessageTypeByName("google.protobuf.FieldOptions"))
        except KeyError:
            return {}
        options = options_class.FromString(raw)
        return dict(options.Extensions[extension].params) if options.HasExtension(extension) else {}

    # -- values --------------------------------------------------------------------------------

    def struct_value(self, schema: Schema, message) -> Struct:
        result = Struct(schema)
        descriptor = message.DESCRIPTOR
        for oneof in _real_oneofs(descriptor):
            which = message.WhichOneof(oneof.name)
            if which is None:
                continue
            union_field = schema.field(self.union_field_name(oneof))
            member = union_field.schema.field(which)
            field = descriptor.fields_by_name[which]
            value = self.value(member.schema, field, getattr(message, which))
            result.put(union_field.name, Struct(union_field.schema).put(which, value))
        for field in descriptor.fields:
            if _real_oneof(field) is not None:
                continue
            present = ((field.type != _FD.TYPE_MESSAGE or _is_repeated(field)) and not self.optional(field)) \
                or message.HasField(field.name)
            if present:
                f = schema.field(field.name)
                result.put(field.name, self.value(f.schema, field, getattr(message, field.name)))
        return result

    def optional(self, field) -> bool:
        """A field with presence of its own (proto3 `optional`, or proto2 optional when
        `optional.for.proto2`): unset reads as null, not as the type's zero."""
        if _is_proto3_optional(field):
            return True
        # A proto2 `optional` scalar is the only other non-message field with presence.
        return self.pd.optional_for_proto2 and field.has_presence and not _is_repeated(field) \
            and field.containing_oneof is None

    def value(self, schema: Schema, field, raw):
        if schema.type is Type.ARRAY:
            return [self.element(schema.value_schema, field, item) for item in raw]
        if schema.type is Type.MAP:
            key_field, value_field = field.message_type.fields
            # A proto map reads as a mapping; Connect's repeated entry messages as a list.
            pairs = raw.items() if field.message_type.GetOptions().map_entry else ((e.key, e.value) for e in raw)
            return {_hashable(self.element(schema.key_schema, key_field, key)):
                    self.element(schema.value_schema, value_field, value) for key, value in pairs}
        return self.element(schema, field, raw)

    def element(self, schema: Schema, field, raw):
        if schema.name in LOGICAL_TYPES and field.type == _FD.TYPE_MESSAGE:
            return _logical_value(schema.name, raw)
        if schema.type is Type.STRUCT:
            return self.struct_value(schema, raw)
        if schema.type is Type.ARRAY:
            return [self.element(schema.value_schema, field, item) for item in raw]
        return self.scalar(schema, field, raw)

    @staticmethod
    def scalar(schema: Schema, field, raw):
        if field is not None and field.type == _FD.TYPE_ENUM:
            if schema.type is Type.STRING:
                found = field.enum_type.values_by_number.get(raw)
                return found.name if found is not None else str(raw)
            return int(raw)
        if schema.type is Type.INT8:
            return (raw + 128) % 256 - 128  # Java's byteValue()
        if schema.type is Type.INT16:
            return (raw + 32768) % 65536 - 32768
        if schema.type is Type.FLOAT32:
            return float32(raw)
        if schema.type is Type.BYTES:
            return bytes(raw)
        return raw


def _logical_value(name: str, message):
    if name == data.DECIMAL:
        unscaled = int.from_bytes(message.value, "big", signed=True) if message.value else 0
        return decimal.Decimal(unscaled).scaleb(-message.scale)
    if name == data.DATE:
        try:
            return datetime.date(message.year, message.month, message.day)
        except ValueError as exc:
            raise DataException(f"Invalid google.type.Date: {exc}") from None
    if name == data.TIME:
        return datetime.time(message.hours, message.minutes, message.seconds, message.nanos // 1_000_000 * 1000)
    millis = message.seconds * 1000 + message.nanos // 1_000_000
    return data.logical_from_primitive(data.timestamp_schema(), millis)


def _with_params(schema: Schema, params: dict[str, str]) -> Schema:
    if not params:
        return schema
    from dataclasses import replace
    return replace(schema, parameters=tuple({**schema.params, **params}.items()))


def _int_or(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def _is_repeated(field) -> bool:
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return repeated() if callable(repeated) else bool(repeated)
    return field.label == field.LABEL_REPEATED


def _is_proto3_optional(field) -> bool:
    oneof = field.containing_oneof
    return oneof is not None and len(oneof.fields) == 1 and field.name in _proto3_optionals(field.containing_type)


@functools.lru_cache(maxsize=4096)
def _proto3_optionals(message) -> frozenset[str]:
    """Names of a message's proto3 `optional` fields (their synthetic oneofs are no unions)."""
    proto = descriptor_pb2.DescriptorProto()
    message.CopyToProto(proto)
    return frozenset(f.name for f in proto.field if f.proto3_optional)


def _real_oneof(field):
    oneof = field.containing_oneof
    return None if oneof is None or _is_proto3_optional(field) else oneof


def _real_oneofs(descriptor) -> list:
    return [o for o in descriptor.oneofs if not (len(o.fields) == 1 and _is_proto3_optional(o.fields[0]))]


def _is_map_entry(field) -> bool:
    """Confluent's isMapDescriptor: a repeated `...Entry` message of exactly key and value
    (real proto maps and Connect's repeated entry messages alike)."""
    if not _is_repeated(field):
        return False
    message = field.message_type
    names = [f.name for f in message.fields]
    return message.name.endswith("Entry") and names == ["key", "value"] \
        and not any(_is_repeated(f) for f in message.fields)


# =============================================================================== the converter

class ProtobufConverter(RegistryConverter):
    class_name = "io.confluent.connect.protobuf.ProtobufConverter"
    schema_type = "PROTOBUF"
    format_name = "Protobuf"

    def __init__(self):
        super().__init__()
        self.protobuf_data = ProtobufData()

    def data_config_def(self) -> ConfigDef:
        return protobuf_data_config_def()

    def configure_data(self, parsed: dict) -> None:
        warn_unimplemented(parsed, _UNIMPLEMENTED, "ProtobufConverter")
        self.protobuf_data = ProtobufData(
            scrub=parsed["scrub.invalid.names"], wrapper_for_raw_primitives=parsed["wrapper.for.raw.primitives"],
            generate_index_for_unions=parsed["generate.index.for.unions"],
            ignore_default_for_nullables=parsed["ignore.default.for.nullables"],
            optional_for_proto2=parsed["optional.for.proto2"])

    def target_for(self, schema: Schema):
        text, full_name = self.protobuf_data.from_connect_schema(schema)
        try:
            compiled: ProtobufSchema = parse(FormatSchema(text, "PROTOBUF"))
        except InvalidSchemaError as exc:
            raise DataException(f"Invalid protobuf schema for {schema}: {exc}") from exc
        message_class = compiled.message_class(full_name)
        pd = self.protobuf_data
        return FormatSchema(text, "PROTOBUF"), compiled.name(), \
            lambda value: pd.from_connect_value(message_class, schema, value)

    def prepare_reader(self, parsed: ProtobufSchema) -> Reader:
        read_message = parsed.reader()
        pd = self.protobuf_data
        schemas: dict[tuple[str, int | None], Schema] = {}

        def read(payload: bytes, version: int | None) -> SchemaAndValue:
            try:
                message = read_message(payload, HEADER_SIZE)
            except RecordMismatch as exc:
                raise DataException(str(exc)) from exc
            key = (message.DESCRIPTOR.full_name, version)
            schema = schemas.get(key)
            if schema is None:
                schema = schemas[key] = pd.to_connect_schema(message.DESCRIPTOR, parsed.pool, version)
            return SchemaAndValue(schema, pd.to_connect_value(schema, message))
        return Reader(read, parsed.name())


__all__ = ["ProtobufConverter", "ProtobufData", "to_map_entry", "to_map_field"]
