"""Protobuf serializer and deserializer in Confluent's wire format.

The serializer registers the message's .proto file as a base64 FileDescriptorProto (what
Confluent's serializers send), each imported file first as its own subject named by file
name (well-known google/protobuf imports are skipped), and writes the message-index path
of the message type after the schema id. The deserializer returns the generated class
when given one, otherwise a dynamic message built from the registry's schema, so a
consumer needs no generated code.
"""

from __future__ import annotations

import base64
import importlib
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FileDescriptor
from google.protobuf.message import DecodeError, Message

from serdes.base import SchemaIdResolver, parse_serializer_conf
from serdes.client import Schema, SchemaReference, SchemaRegistryClient, SchemaRegistryError
from serdes.serialization import SerializationContext, SerializationError
from serdes.wire import HEADER_SIZE, WireFormatError, decode_message_indexes, encode_message_indexes

WELL_KNOWN_PREFIX = "google/protobuf/"


def descriptor_to_str(file: FileDescriptor) -> str:
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    return base64.b64encode(proto.SerializeToString()).decode()


def message_indexes(descriptor: Descriptor) -> list[int]:
    """Position of a message type in its file: top-level index, then nested indexes."""
    path = []
    d = descriptor
    while d.containing_type is not None:
        path.append(list(d.containing_type.nested_types).index(d))
        d = d.containing_type
    path.append(list(d.file.message_types_by_name.values()).index(d))
    return path[::-1]


def _message_at(file: FileDescriptor, indexes: list[int]) -> Descriptor:
    try:
        d = list(file.message_types_by_name.values())[indexes[0]]
        for i in indexes[1:]:
            d = d.nested_types[i]
        return d
    except IndexError:
        raise SerializationError(f"message index path {indexes} does not exist in {file.name}") from None


def _well_known_file(name: str) -> descriptor_pb2.FileDescriptorProto:
    """google/protobuf/x.proto from the protobuf package (its _pb2 module registers it)."""
    importlib.import_module(name[: -len(".proto")].replace("/", ".") + "_pb2")
    proto = descriptor_pb2.FileDescriptorProto()
    descriptor_pool.Default().FindFileByName(name).CopyToProto(proto)
    return proto


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
        file = self._descriptor.file
        self._references_resolved = False
        self._schema = Schema(descriptor_to_str(file), "PROTOBUF", ())
        self._resolver = SchemaIdResolver(schema_registry_client, self._schema, parse_serializer_conf(conf),
                                          lambda schema: None)

    def _register_dependencies(self, file: FileDescriptor) -> tuple[SchemaReference, ...]:
        refs = []
        for dep in file.dependencies:
            if self._skip_known and dep.name.startswith(WELL_KNOWN_PREFIX):
                continue
            dep_schema = Schema(descriptor_to_str(dep), "PROTOBUF", self._register_dependencies(dep))
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
        self._client = schema_registry_client
        self._files: dict[int, FileDescriptor] = {}  # schema id -> writer file in our pool
        self._classes: dict[tuple[int, tuple[int, ...]], type[Message]] = {}
        self._pool = descriptor_pool.DescriptorPool()

    def _build_file(self, schema: Schema, file_name: str) -> FileDescriptor:
        """Add the writer's file and, first, its references to our pool (a dynamic schema).

        The registry names every serialized file "default", so files are renamed: a
        reference by its import path (what the importing file's dependency list says),
        the top-level schema by its id."""
        for ref in schema.references:
            if not ref.name.startswith(WELL_KNOWN_PREFIX) and not self._in_pool(ref.name):
                self._build_file(self._client.get_version(ref.subject, ref.version, "serialized").schema, ref.name)
        proto = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(schema.schema_str))
        proto.name = file_name
        for dep_name in proto.dependency:
            if dep_name.startswith(WELL_KNOWN_PREFIX) and not self._in_pool(dep_name):
                self._pool.Add(_well_known_file(dep_name))
        if not self._in_pool(file_name):
            self._pool.Add(proto)
        return self._pool.FindFileByName(file_name)

    def _in_pool(self, name: str) -> bool:
        try:
            self._pool.FindFileByName(name)
            return True
        except KeyError:
            return False

    def prepare(self, schema_id: int, ctx: SerializationContext) -> str:
        """Fetch and build the writer schema of `schema_id` ahead of the first record;
        returns the full name of its first message type."""
        return self._class_for(schema_id, [0], ctx).DESCRIPTOR.full_name

    def _class_for(self, schema_id: int, indexes: list[int], ctx: SerializationContext) -> type[Message]:
        key = (schema_id, tuple(indexes))
        cls = self._classes.get(key)
        if cls is None:
            file = self._files.get(schema_id)
            if file is None:
                try:
                    file = self._build_file(self._client.get_schema(schema_id, "serialized"),
                                            f"schema-id-{schema_id}.proto")
                except SchemaRegistryError as exc:
                    raise SerializationError(f"{ctx.describe()}: cannot fetch writer schema id {schema_id}: "
                                             f"{exc.error_message} (error code {exc.error_code})") from exc
                self._files[schema_id] = file
            cls = self._classes[key] = message_factory.GetMessageClass(_message_at(file, indexes))
        return cls

    def __call__(self, data: bytes | None, ctx: SerializationContext) -> Any:
        if data is None:
            return None
        if len(data) < HEADER_SIZE or data[0] != 0:
            raise SerializationError(f"{ctx.describe()}: unknown magic byte or short payload: the data was not "
                                     "written by a schema registry serializer")
        schema_id = int.from_bytes(data[1:5], "big")
        try:
            indexes, pos = decode_message_indexes(data, HEADER_SIZE)
        except WireFormatError as exc:
            raise SerializationError(f"{ctx.describe()}: {exc}") from None
        cls = self._message_type or self._class_for(schema_id, indexes, ctx)
        message = cls()
        try:
            message.ParseFromString(data[pos:])
        except DecodeError as exc:
            raise SerializationError(f"{ctx.describe()}: cannot decode {cls.DESCRIPTOR.full_name} written with "
                                     f"schema id {schema_id}: {exc}") from exc
        return message
