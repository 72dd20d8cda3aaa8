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
    subject: str | None = None
    version: int | None = None
    schema_type: str = "AVRO"  # the registry's name of the format: AVRO, JSON, PROTOBUF


def _serializing_error(detail: str) -> RestError:
    return RestError(42207, f"Error serializing message. {detail}")


class SchemaEncoders:
    """Encoders per (format, subject, schema or id), cached: a schema is parsed and looked up once."""

    def __init__(self, registry: SchemaRegistryClient | None):
        self.registry = registry
        self._cache: dict[tuple, Encoder] = {}
        self._lock = threading.Lock()

    def encoder(self, fmt: str, subject: str, schema_text: str | None, schema_id: int | None) -> Encoder:
        """v2: the schema given inline (looked up under `subject`, registered if missing) or by id."""
        return self._cached(("v2", fmt, subject, schema_text, schema_id),
                            lambda: self._make(fmt, subject, schema_text, schema_id))

    def _cached(self, key: tuple, make: Callable[[], Encoder]) -> Encoder:
        self._require_registry()
        with self._lock:
            found = self._cache.get(key)
        if found is None:
            found = make()
            with self._lock:
                if len(self._cache) >= CACHE_ENTRIES:
                    self._cache.clear()
                self._cache[key] = found
        return found

    # -- v3: a schema by subject and version, by id, inline, or the subject's latest ----------

    def by_version(self, subject: str, version: int | str) -> Encoder:
        """`version` of `subject` ("latest" is not cached here: the registry client caches it)."""
        def make():
            try:
                registered = (self.registry.get_latest_version(subject) if version == "latest"
                              else self.registry.get_version(subject, version))
            except SchemaRegistryError as exc:
                if exc.http_status == 404 and version == "latest":
                    raise _serializing_error(f"Error when fetching latest schema version. subject = {subject}") from None
                if exc.http_status == 404:
                    raise bad_request(f"Schema does not exist for subject: {subject}, version: {version}") from None
                raise _serializing_error(f"Error when fetching schema version. subject = {subject}: "
                                         f"{exc.error_message}") from None
            return self._registered(registered.schema_id, registered.schema, subject, registered.version)
        if version == "latest":
            # The latest version can change: the registry client keeps it a short while and the
            # parsed writer is kept per id, so a new version costs one lookup.
            self._require_registry()
            return make()
        return self._cached(("version", subject, version), make)

    def _require_registry(self) -> None:
        if self.registry is None:
            raise RestError(42206, "Payload error. Schema Registry must be configured when using schemas.")

    def by_id(self, schema_id: int, subject_of: Callable[[str | None], str]) -> Encoder:
        """Schema `schema_id`, under the subject `subject_of(record name)` names (its version there)."""
        def make():
            schema = self._by_id(schema_id)
            parsed = self._parse(schema)
            subject = subject_of(parsed.name())
            try:
                version = self.registry.lookup_schema(subject, schema).version
            except SchemaRegistryError:
                raise _serializing_error(f"Error when fetching schema version. subject = {subject}, "
                                         f"schema = {schema.schema_str}") from None
            return Encoder(schema_id, _encode_function(parsed, header(schema_id)), subject, version,
                           schema.schema_type)
        return self._cached(("id", schema_id, subject_of), make)

    def inline(self, schema_type: str, text: str, subject_of: Callable[[str | None], str]) -> Encoder:
        """A raw schema: looked up under its subject, registered there when missing (as v2)."""
        def make():
            schema = Schema(text, schema_type)
            parsed = self._parse(schema)
            subject = subject_of(parsed.name())
            schema_id = self._register(subject, schema)
            version = self.registry.lookup_schema(subject, schema).version
            return Encoder(schema_id, _encode_function(parsed, header(schema_id)), subject, version, schema_type)
        return self._cached(("inline", schema_type, text, subject_of), make)

    def _registered(self, schema_id: int, schema: Schema, subject: str, version: int) -> Encoder:
        encode = self._cached(("writer", schema_id), lambda: Encoder(
            schema_id, _encode_function(self._parse(schema), header(schema_id)))).encode
        return Encoder(schema_id, encode, subject, version, schema.schema_type)

    def _parse(self, schema: Schema):
        try:
            return parse_schema(self.registry, schema)
        except InvalidSchemaError:
            raise bad_request(f"Error parsing schema with format = {schema.schema_type}") from None
        except SchemaRegistryError as exc:
            raise _serializing_error(f"Error when fetching the schema's references: {exc.error_message}") from None

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
        parsed = self._parse(schema)
        if schema_id is None:
            schema_id = self._register(subject, schema)
        return Encoder(schema_id, _encode_function(parsed, header(schema_id)), subject, None, schema_type)

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
            WriterSchemaCache(registry, lambda parsed: (parsed.reader(), parsed.to_json, parsed.schema_type))

    def decode(self, data: bytes | None, ctx: SerializationContext):
        return None if data is None else self.decode_framed(data, ctx)[2]

    def decode_framed(self, data: bytes, ctx: SerializationContext) -> tuple[int, str, object]:
        """(schema id, the registry's format name, the JSON form of the value) of a framed payload."""
        if self._readers is None:
            raise RestError(42206, "Payload error. Schema Registry must be configured when using schemas.")
        schema_id = None
        try:
            schema_id, (read, to_json, schema_type) = self._readers.writer_of(data, ctx)
            return schema_id, schema_type, to_json(read(data, HEADER_SIZE))
        except SerializationError as exc:
            raise RestError(40801, f"Error deserializing message: {exc}") from None
        except RecordMismatch as exc:
            raise RestError(40801, f"Error deserializing message with schema id {schema_id}: {exc}") from None
