"""Avro serializer and deserializer in Confluent's wire format.

The format layer parses the schema (with its references) and fastavro's C writer/reader does
the work per record; the subject -> id and id -> schema mappings are cached after the first
record, so the hot path is a dict lookup and one fastavro call.
"""

from __future__ import annotations

from typing import Any, Callable

from formats import RecordMismatch, Schema
from formats.wire import HEADER_SIZE
from registry_client import SchemaRegistryClient
from serdes.base import SchemaIdResolver, WriterSchemaCache, as_schema, parse_serializer_conf, parsed_schema
from serdes.serialization import SerializationContext, SerializationError


class AvroSerializer:
    """`AvroSerializer(client, schema_str, to_dict=None, conf=None)`, as confluent-kafka's."""

    def __init__(self, schema_registry_client: SchemaRegistryClient, schema_str: str | Schema | None = None,
                 to_dict: Callable[[Any, SerializationContext], dict] | None = None, conf: dict | None = None):
        self._to_dict = to_dict
        schema = as_schema(schema_str, "AVRO")
        self._resolver = SchemaIdResolver(schema_registry_client, schema, parse_serializer_conf(conf),
                                          lambda parsed: parsed.writer())
        self._record_name = parsed_schema(schema_registry_client, schema).name() if schema else None
        # (topic, field) -> (wire header, writer): one dict lookup on the hot path.
        self._by_target: dict[tuple[str, str], tuple[bytes, Callable]] = {}

    def __call__(self, obj, ctx: SerializationContext) -> bytes | None:
        if obj is None:
            return None
        target = (ctx.topic, ctx.field)
        found = self._by_target.get(target)
        if found is None:
            found = self._resolver.resolve(ctx, self._record_name)
            if not self._resolver.use_latest:  # the latest version may change
                self._by_target[target] = found
        wire_header, write = found
        value = self._to_dict(obj, ctx) if self._to_dict is not None else obj
        try:
            return write(value, wire_header)
        except RecordMismatch as exc:
            raise SerializationError(f"{ctx.describe()}: record does not match Avro schema id "
                                     f"{int.from_bytes(wire_header[1:], 'big')}: {exc}") from exc


class AvroDeserializer:
    """`AvroDeserializer(client, schema_str=None, from_dict=None, return_record_name=False)`.

    With a reader schema, records are resolved from their writer schema to it (Avro schema
    evolution); without one they are returned as written."""

    def __init__(self, schema_registry_client: SchemaRegistryClient, schema_str: str | Schema | None = None,
                 from_dict: Callable[[dict, SerializationContext], Any] | None = None,
                 return_record_name: bool = False, conf: dict | None = None):
        if conf:
            raise ValueError(f"unrecognized deserializer properties: {', '.join(conf)}")
        self._from_dict = from_dict
        reader = as_schema(schema_str, "AVRO")
        read_as = parsed_schema(schema_registry_client, reader, "reader schema") if reader is not None else None
        self._readers = WriterSchemaCache(
            schema_registry_client, lambda writer: writer.reader(read_as, return_record_name))

    def __call__(self, data: bytes | None, ctx: SerializationContext):
        if data is None:
            return None
        schema_id, read = self._readers.writer_of(data, ctx)
        try:
            obj = read(data, HEADER_SIZE)
        except RecordMismatch as exc:
            raise SerializationError(f"{ctx.describe()}: cannot decode Avro payload written with schema id "
                                     f"{schema_id}: {exc}") from exc
        return self._from_dict(obj, ctx) if self._from_dict is not None else obj
