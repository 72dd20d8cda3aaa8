"""JSON Schema serializer and deserializer in Confluent's wire format.

Documents are validated before they are written, with the format layer's validator (compiled
by fastjsonschema where it can be, jsonschema otherwise, references resolved through the
registry).
"""

from __future__ import annotations

from typing import Any, Callable

from formats import RecordMismatch, Schema
from formats.json_schema.schema import decode_document
from formats.wire import HEADER_SIZE
from registry_client import SchemaRegistryClient
from serdes.base import SchemaIdResolver, WriterSchemaCache, as_schema, parse_serializer_conf, parsed_schema
from serdes.serialization import SerializationContext, SerializationError


class JSONSerializer:
    """`JSONSerializer(schema_str, client, to_dict=None, conf=None)`, as confluent-kafka's."""

    def __init__(self, schema_str: str | Schema | None, schema_registry_client: SchemaRegistryClient,
                 to_dict: Callable[[Any, SerializationContext], Any] | None = None, conf: dict | None = None):
        schema = as_schema(schema_str, "JSON")
        self._to_dict = to_dict
        self._record_name = parsed_schema(schema_registry_client, schema).name() if schema else None
        self._resolver = SchemaIdResolver(schema_registry_client, schema, parse_serializer_conf(conf),
                                          lambda parsed: parsed.writer())

    def __call__(self, obj, ctx: SerializationContext) -> bytes | None:
        if obj is None:
            return None
        wire_header, write = self._resolver.resolve(ctx, self._record_name)
        value = self._to_dict(obj, ctx) if self._to_dict is not None else obj
        try:
            return write(value, wire_header)
        except RecordMismatch as exc:
            raise SerializationError(f"{ctx.describe()}: document does not match JSON Schema id "
                                     f"{int.from_bytes(wire_header[1:], 'big')}: {exc}") from exc


class JSONDeserializer:
    """`JSONDeserializer(schema_str=None, from_dict=None, schema_registry_client=None, conf=None)`.

    Validates against `schema_str` when given; with `conf={"validate": True}` and no
    schema_str, against the writer schema fetched from the registry."""

    def __init__(self, schema_str: str | Schema | None = None, from_dict=None,
                 schema_registry_client: SchemaRegistryClient | None = None, conf: dict | None = None):
        conf = dict(conf or {})
        validate_writer = conf.pop("validate", False)
        if conf:
            raise ValueError(f"unrecognized deserializer properties: {', '.join(conf)}")
        self._from_dict = from_dict
        reader = as_schema(schema_str, "JSON")
        self._reader_check = parsed_schema(schema_registry_client, reader, "reader schema").validator() \
            if reader is not None else None
        self._writers = WriterSchemaCache(schema_registry_client, lambda writer: writer.validator()) \
            if validate_writer and schema_registry_client is not None and reader is None else None

    def __call__(self, data: bytes | None, ctx: SerializationContext):
        if data is None:
            return None
        if len(data) < HEADER_SIZE or data[0] != 0:
            raise SerializationError(f"{ctx.describe()}: unknown magic byte or short payload: the data was not "
                                     "written by a schema registry serializer")
        try:
            doc = decode_document(data, HEADER_SIZE)
        except RecordMismatch as exc:
            raise SerializationError(f"{ctx.describe()}: payload is {exc}") from exc
        check = self._reader_check
        if check is None and self._writers is not None:
            check = self._writers.writer_of(data, ctx)[1]
        if check is not None:
            problem = check(doc)
            if problem is not None:
                raise SerializationError(f"{ctx.describe()}: document does not match its schema: {problem}")
        return self._from_dict(doc, ctx) if self._from_dict is not None else doc


# The names the public API uses; JSONSerializer/JSONDeserializer are confluent-kafka's.
JSONSchemaSerializer = JSONSerializer
JSONSchemaDeserializer = JSONDeserializer
