"""The schema'd embedded formats of produce (avro, jsonschema, protobuf), as kafka-rest serves them:
a key or value schema given inline (`value_schema`, looked up under `<topic>-value` and registered
there when missing) or by id (`value_schema_id`, which must be registered under that subject);
each record's JSON is turned into the format's value (Avro's JSON encoding, the JSON document,
Protobuf's JSON mapping) and written in Confluent's wire format by the format layer.

Errors are kafka-rest's: 42201/42202 (keys/values without a schema), 42206 (no registry), 42207
(fetching or registering the schema failed), 400 (a schema that does not parse, data that does
not fit the schema).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from formats import InvalidSchemaError, RecordMismatch, Schema
from formats.wire import HEADER_SIZE, header
from registry_client import SchemaRegistryClient, SchemaRegistryError, parse_schema
from serdes.base import WriterSchemaCache
from serdes.serialization import SerializationContext, SerializationError

from rest.errors import RestError, bad_request

SCHEMA_TYPES = {"avro": "AVRO", "jsonschema": "JSON", "protobuf": "PROTOBUF"}
CACHE_ENTRIES = 1024


@dataclass(frozen=True)
class Encoder:
    schema_id: int
    encode: Callable[[object], bytes]  # a record's JSON key or value -> framed bytes


def _serializing_error(detail: str) -> RestError:
    return RestError(42207, f"Error serializing message. {detail}")


class SchemaEncoders:
    """Encoders per (format, subject, schema or id), cached: a schema is parsed and looked up once."""

    def __init__(self, registry: SchemaRegistryClient | None):
        self.registry = registry
        self._cache: dict[tuple, Encoder] = {}
        self._lock = threading.Lock()

    def encoder(self, fmt: str, subject: str, schema_text: str | None, schema_id: int | None) -> Encoder:
        if self.registry is None:
            raise RestError(42206, "Payload error. Schema Registry must be configured when using schemas.")
        key = (fmt, subject, schema_text, schema_id)
        with self._lock:
            found = self._cache.get(key)
        if found is None:
            found = self._make(fmt, subject, schema_text, schema_id)
            with self._lock:
                if len(self._cache) >= CACHE_ENTRIES:
                    self._cache.clear()
                self._cache[key] = found
        return found

    def _make(self, fmt: str, subject: str, schema_text: str | None, schema_id: int | None) -> Encoder:
        schema_type = SCHEMA_TYPES[fmt]
        if schema_id is not None:
            schema = self._by_id(schema_id)
            if schema.schema_type != schema_type:
                raise _serializing_error(f"Schema {schema_id} is a {schema.schema_type} schema, not {schema_type}.")
            try:
                self.registry.lookup_schema(subject, schema)
            except SchemaRegistryError:
                raise _serializing_error(f"Error when fetching schema version. subject = {subject}, "
                                         f"schema = {schema.schema_str}") from None
        else:
            schema = Schema(schema_text, schema_type)
        try:
            parsed = parse_schema(self.registry, schema)
        except InvalidSchemaError:
            raise bad_request(f"Error parsing schema with format = {schema_type}") from None
        except SchemaRegistryError as exc:
            raise _serializing_error(f"Error when fetching the schema's references: {exc.error_message}") from None
        if schema_id is None:
            schema_id = self._register(subject, schema)
        return Encoder(schema_id, _encode_function(parsed, header(schema_id)))

    def _by_id(self, schema_id: int) -> Schema:
        try:
            return self.registry.get_schema(schema_id)
        except SchemaRegistryError:
            raise _serializing_error(f"Error when fetching schema by id. schemaId = {schema_id}") from None

    def _register(self, subject: str, schema: Schema) -> int:
        """kafka-rest looks the schema up under the subject first, and registers it if missing."""
        try:
            return self.registry.lookup_schema(subject, schema).schema_id
        except SchemaRegistryError:
            pass
        try:
            return self.registry.register_schema(subject, schema)
        except SchemaRegistryError as exc:
            if exc.http_status == 403:
                raise RestError(40301, exc.error_message) from None
            raise _serializing_error(f"Error when registering schema. format = {schema.schema_type}, "
                                     f"subject = {subject}, schema = {schema.schema_str}: {exc.error_message}") from None


def _encode_function(parsed, framing: bytes) -> Callable[[object], bytes]:
    """JSON -> the format's value -> framed bytes (the writers check the value against the schema)."""
    write = parsed.writer()

    def encode(data) -> bytes:
        try:
            return write(parsed.from_json(data), framing)
        except RecordMismatch as exc:
            raise bad_request(str(exc)) from None
    return encode


class SchemaDecoders:
    """Records written in Confluent's wire format -> the JSON form of their value, through the
    writer schema named by each record's id (the serdes' WriterSchemaCache: parsed once per id).
    A payload that is not framed or names an unknown id is kafka-rest's 40801 (its deserializers'
    SerializationException)."""

    def __init__(self, registry: SchemaRegistryClient | None):
        self._readers = None if registry is None else \
            WriterSchemaCache(registry, lambda parsed: (parsed.reader(), parsed.to_json))

    def decode(self, data: bytes | None, ctx: SerializationContext):
        if data is None:
            return None
        if self._readers is None:
            raise RestError(42206, "Payload error. Schema Registry must be configured when using schemas.")
        try:
            schema_id, (read, to_json) = self._readers.writer_of(data, ctx)
            return to_json(read(data, HEADER_SIZE))
        except SerializationError as exc:
            raise RestError(40801, f"Error deserializing message: {exc}") from None
        except RecordMismatch as exc:
            raise RestError(40801, f"Error deserializing message with schema id {schema_id}: {exc}") from None
