"""The registry side of every serializer: which schema id to write, which schema to read.

Serializer configs use Confluent's names: `auto.register.schemas` (default true),
`normalize.schemas`, `use.schema.id`, `use.latest.version`, `subject.name.strategy`.
Both sides cache per subject / per id, so the hot path is a dict lookup. Schemas are parsed
by the format layer (registry_client.parse_schema), once per schema id.
"""

from __future__ import annotations

import struct
import threading
from typing import Any, Callable

from formats import InvalidSchemaError, ParsedSchema, Schema
from formats.wire import HEADER_SIZE, MAGIC_BYTE, WireFormatError, header, read_header
from registry_client import RegisteredSchema, SchemaRegistryClient, SchemaRegistryError, parse_schema
from serdes.serialization import SerializationContext, SerializationError, subject_name_strategy, \
    topic_subject_name_strategy

_ID = struct.Struct(">I")
_BOOL_KEYS = ("auto.register.schemas", "normalize.schemas", "use.latest.version")


def parse_serializer_conf(conf: dict | None) -> dict:
    conf = dict(conf or {})
    out = {
        "auto.register.schemas": True, "normalize.schemas": False, "use.latest.version": False,
        "use.schema.id": None, "subject.name.strategy": topic_subject_name_strategy,
    }
    for key in list(conf):
        if key not in out:
            raise ValueError(f"unrecognized serializer property: {key}")
        value = conf.pop(key)
        if key in _BOOL_KEYS:
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be a boolean value")
        elif key == "use.schema.id":
            if value is not None and not isinstance(value, int):
                raise ValueError("use.schema.id must be an int value")
        elif key == "subject.name.strategy":
            value = subject_name_strategy(value)
        out[key] = value
    if out["use.latest.version"] and out["auto.register.schemas"]:
        raise ValueError("cannot enable both use.latest.version and auto.register.schemas")
    return out


class SchemaIdResolver:
    """Finds (and caches per subject) the schema id a serializer writes, and what it writes
    with: `prepare(parsed schema)`, e.g. the format's writer. `prepare=None` skips parsing
    (Protobuf's serializer writes with its generated class)."""

    def __init__(self, client: SchemaRegistryClient, schema: Schema | None, conf: dict,
                 prepare: Callable[[ParsedSchema], Any] | None):
        self.client = client
        self.schema = schema
        self.prepare = prepare
        self.auto_register = conf["auto.register.schemas"]
        self.normalize = conf["normalize.schemas"]
        self.use_latest = conf["use.latest.version"]
        self.use_schema_id = conf["use.schema.id"]
        self.strategy: Callable = conf["subject.name.strategy"]
        self._by_subject: dict[str, tuple[bytes, Any]] = {}
        self._prepared_by_id: dict[int, Any] = {}
        self._lock = threading.Lock()

    def resolve(self, ctx: SerializationContext, record_name: str | None) -> tuple[bytes, Any]:
        """(5-byte wire header with the schema id, prepared schema) for this record's subject."""
        subject = self.strategy(ctx, record_name)
        found = self._by_subject.get(subject)
        if found is not None:
            return found
        try:
            schema_id, schema = self._lookup(subject)
        except SchemaRegistryError as exc:
            raise SerializationError(f"{ctx.describe()}: schema registry refused subject {subject!r}: "
                                     f"{exc.error_message} (error code {exc.error_code})") from exc
        prepared = self._prepared_by_id.get(schema_id)
        if prepared is None and self.prepare is not None:
            prepared = self._prepared_by_id[schema_id] = \
                self.prepare(parsed_schema(self.client, schema, f"schema id {schema_id}"))
        found = (header(schema_id), prepared)
        if not self.use_latest:  # the latest version may change; everything else is fixed
            with self._lock:
                self._by_subject[subject] = found
        return found

    def _lookup(self, subject: str) -> tuple[int, Schema]:
        if self.use_schema_id is not None:
            return self.use_schema_id, self.client.get_schema(self.use_schema_id)
        if self.use_latest:
            latest: RegisteredSchema = self.client.get_latest_version(subject)
            return latest.schema_id, latest.schema
        if self.schema is None:
            raise SerializationError("no schema given: set use.schema.id or use.latest.version")
        if self.auto_register:
            return self.client.register_schema(subject, self.schema, self.normalize), self.schema
        return self.client.lookup_schema(subject, self.schema, self.normalize).schema_id, self.schema


class WriterSchemaCache:
    """Deserializers' cache: schema id -> `parse(parsed writer schema)`, e.g. the format's
    reader (built once per id)."""

    def __init__(self, client: SchemaRegistryClient, parse: Callable[[ParsedSchema], Any]):
        self.client = client
        self.parse = parse
        self._parsed: dict[int, Any] = {}
        self._lock = threading.Lock()

    def writer_of(self, data: bytes, ctx: SerializationContext) -> tuple[int, Any]:
        """(schema id, parsed writer schema) of a framed payload."""
        if len(data) >= HEADER_SIZE and data[0] == MAGIC_BYTE:  # the hot path: two checks, one lookup
            schema_id = _ID.unpack_from(data, 1)[0]
            parsed = self._parsed.get(schema_id)
            if parsed is not None:
                return schema_id, parsed
        try:
            schema_id = read_header(data)
        except WireFormatError as exc:
            raise SerializationError(f"{ctx.describe()}: {exc}") from None
        return schema_id, self._fetch(schema_id, ctx)

    def _fetch(self, schema_id: int, ctx: SerializationContext):
        try:
            schema = self.client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            raise SerializationError(f"{ctx.describe()}: cannot fetch writer schema id {schema_id}: "
                                     f"{exc.error_message} (error code {exc.error_code})") from exc
        parsed = self.parse(parsed_schema(self.client, schema, f"writer schema id {schema_id}"))
        with self._lock:
            self._parsed[schema_id] = parsed
        return parsed


def parsed_schema(client: SchemaRegistryClient | None, schema: Schema, what: str = "schema") -> ParsedSchema:
    """`schema` parsed with its references; SerializationError when that fails."""
    try:
        return parse_schema(client, schema)
    except SchemaRegistryError as exc:
        raise SerializationError(f"cannot resolve the references of the {what}: {exc.error_message}") from exc
    except InvalidSchemaError as exc:
        raise SerializationError(f"invalid {schema.schema_type} {what}: {exc}") from exc


def as_schema(schema: str | Schema | None, schema_type: str) -> Schema | None:
    """A schema given as a string or a Schema (Confluent's serializers take both)."""
    if schema is None or isinstance(schema, Schema):
        return schema
    return Schema(schema, schema_type)
