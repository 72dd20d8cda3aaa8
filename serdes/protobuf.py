"""Protobuf serializer and deserializer in Confluent's wire format.

The serializer registers the message's .proto file as a base64 FileDescriptorProto (what
Confluent's serializers send), each imported file first as its own subject named by file
name (well-known google/protobuf imports are skipped), and writes the message-index path
of the message type after the schema id. The deserializer returns the generated class
when given one, otherwise a dynamic message of the writer's schema as the format layer
parses it, so a consumer needs no generated code.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FileDescriptor
from google.protobuf.message import DecodeError, Message

from formats import RecordMismatch, Schema, SchemaReference
from formats.protobuf.generated import file_schema_string, message_indexes, registered_imports
from formats.wire import HEADER_SIZE, WireFormatError, decode_message_indexes, encode_message_indexes
from registry_client import SchemaRegistryClient, SchemaRegistryError
from serdes.base import SchemaIdResolver, WriterSchemaCache, parse_serializer_conf
from serdes.serialization import SerializationContext, SerializationError


class ProtobufSerializer:
    """`ProtobufSerializer(msg_type, client, conf=None)`, as confluent-kafka's."""

    def __init__(self, msg_type: type[Message], schema_registry_client: SchemaRegistryClient,
                 conf: dict | None = None):
        conf = dict(conf or {})
        self._skip_known = conf.pop("skip.known.types", True)
        conf.pop("use.deprecated.format", None)
        self._client = schema_registry_client
        self._descriptor = msg_type.DESCRIPTOR
        self._indexes = encode_message_indexes(message_indexes(self._descriptor))
        self._msg_type = msg_type
        self._references_resolved = False
        self._schema = Schema(file_schema_string(self._descriptor.file), "PROTOBUF")
        # The generated class writes the records: the registered schema is never parsed here.
        self._resolver = SchemaIdResolver(schema_registry_client, self._schema, parse_serializer_conf(conf), None)

    def _register_dependencies(self, file: FileDescriptor) -> tuple[SchemaReference, ...]:
        refs = []
        for dep in registered_imports(file, self._skip_known):
            dep_schema = Schema(file_schema_string(dep), "PROTOBUF", self._register_dependencies(dep))
            registered = self._client.register_schema_full_response(dep.name, dep_schema)
            version = registered.version
            if version < 0:  # served from the cache: ask which version it is
                version = self._client.lookup_schema(dep.name, dep_schema).version
            refs.append(SchemaReference(dep.name, dep.name, version))
        return tuple(refs)

    def __call__(self, message, ctx: SerializationContext) -> bytes | None:
        if message is None:
            return None
        if not isinstance(message, self._msg_type):
            raise SerializationError(f"{ctx.describe()}: expected a {self._descriptor.full_name} message, "
                                     f"got {type(message).__name__}")
        if not self._references_resolved:
            try:
                refs = self._register_dependencies(self._descriptor.file)
            except SchemaRegistryError as exc:
                raise SerializationError(f"{ctx.describe()}: cannot register imported files: "
                                         f"{exc.error_message}") from exc
            self._resolver.schema = Schema(self._schema.schema_str, "PROTOBUF", refs)
            self._references_resolved = True
        wire_header, _ = self._resolver.resolve(ctx, self._descriptor.full_name)
        try:
            payload = message.SerializeToString()
        except Exception as exc:  # e.g. missing required fields in proto2
            raise SerializationError(f"{ctx.describe()}: cannot serialize {self._descriptor.full_name}: {exc}") from exc
        return wire_header + self._indexes + payload


class ProtobufDeserializer:
    """`ProtobufDeserializer(message_type=None, conf=None, schema_registry_client=None)`.

    With a generated class it parses into it; without one it needs the registry client
    and returns dynamic messages built from the writer schema."""

    def __init__(self, message_type: type[Message] | None = None, conf: dict | None = None,
                 schema_registry_client: SchemaRegistryClient | None = None):
        if conf:
            conf = {k: v for k, v in conf.items() if k != "use.deprecated.format"}
            if conf:
                raise ValueError(f"unrecognized deserializer properties: {', '.join(conf)}")
        if message_type is None and schema_registry_client is None:
            raise ValueError("give a message_type or a schema_registry_client")
        self._message_type = message_type
        self._readers = WriterSchemaCache(schema_registry_client, lambda writer: writer.reader()) \
            if message_type is None else None

    def __call__(self, data: bytes | None, ctx: SerializationContext) -> Any:
        if data is None:
            return None
        if len(data) < HEADER_SIZE or data[0] != 0:
            raise SerializationError(f"{ctx.describe()}: unknown magic byte or short payload: the data was not "
                                     "written by a schema registry serializer")
        if self._message_type is None:
            schema_id, read = self._readers.writer_of(data, ctx)
            try:
                return read(data, HEADER_SIZE)
            except RecordMismatch as exc:
                raise SerializationError(f"{ctx.describe()}: schema id {schema_id}: {exc}") from exc
        return self._parse_generated(data, ctx)

    def _parse_generated(self, data: bytes, ctx: SerializationContext) -> Message:
        try:
            _, pos = decode_message_indexes(data, HEADER_SIZE)
        except WireFormatError as exc:
            raise SerializationError(f"{ctx.describe()}: {exc}") from None
        message = self._message_type()
        try:
            message.ParseFromString(data[pos:])
        except DecodeError as exc:
            raise SerializationError(f"{ctx.describe()}: cannot decode {self._message_type.DESCRIPTOR.full_name} "
                                     f"written with schema id {int.from_bytes(data[1:5], 'big')}: {exc}") from exc
        return message
