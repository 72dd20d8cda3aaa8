"""JSON Schema serializer and deserializer in Confluent's wire format.

Documents are validated before they are written. The hot path uses a compiled validator
(fastjsonschema, drafts 4/6/7) when the schema allows it, and `jsonschema` otherwise
(2019-09, 2020-12, references to other subjects).
"""

from __future__ import annotations

import json
from typing import Any, Callable

import fastjsonschema
import jsonschema
from referencing import Registry, Resource

from serdes.base import SchemaIdResolver, WriterSchemaCache, parse_serializer_conf, resolve_references
from serdes.client import Schema, SchemaRegistryClient
from serdes.serialization import SerializationContext, SerializationError
from serdes.wire import HEADER_SIZE

_FAST_DRAFTS = ("draft-04", "draft-06", "draft-07")


def _as_schema(schema: str | Schema | None) -> Schema | None:
    if schema is None or isinstance(schema, Schema):
        return schema
    return Schema(schema, "JSON")


def compile_validator(client: SchemaRegistryClient | None, schema: Schema) -> Callable[[Any], str | None]:
    """A function document -> None if valid, else the reason."""
    try:
        document = json.loads(schema.schema_str)
    except ValueError as exc:
        raise SerializationError(f"invalid JSON Schema: {exc}") from exc
    dialect = str(document.get("$schema", "")) if isinstance(document, dict) else ""
    if not schema.references and (not dialect or any(d in dialect for d in _FAST_DRAFTS)):
        try:
            fast = fastjsonschema.compile(document)
        except (fastjsonschema.JsonSchemaDefinitionException, ValueError, TypeError):
            fast = None  # a construct fastjsonschema does not take: use jsonschema below
        if fast is not None:
            def check_fast(doc):
                try:
                    fast(doc)
                    return None
                except fastjsonschema.JsonSchemaValueException as exc:
                    return exc.message
            return check_fast
    resources = []
    for name, dep in (resolve_references(client, schema) if client and schema.references else []):
        resources.append((name, Resource.from_contents(json.loads(dep.schema_str),
                                                       default_specification=_spec_of(document))))
    registry = Registry().with_resources(resources)
    cls = jsonschema.validators.validator_for(document)
    validator = cls(document, registry=registry)

    def check(doc):
        error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return f"{error.message} at {where}"
    return check


def _spec_of(document):
    from referencing.jsonschema import DRAFT202012, specification_with

    if isinstance(document, dict) and "$schema" in document:
        return specification_with(document["$schema"], default=DRAFT202012)
    return DRAFT202012


def title_of(schema: Schema | None) -> str | None:
    if schema is None:
        return None
    try:
        doc = json.loads(schema.schema_str)
    except ValueError:
        return None
    return doc.get("title") if isinstance(doc, dict) else None


class JSONSerializer:
    """`JSONSerializer(schema_str, client, to_dict=None, conf=None)`, as confluent-kafka's."""

    def __init__(self, schema_str: str | Schema | None, schema_registry_client: SchemaRegistryClient,
                 to_dict: Callable[[Any, SerializationContext], Any] | None = None, conf: dict | None = None):
        schema = _as_schema(schema_str)
        self._to_dict = to_dict
        self._record_name = title_of(schema)
        self._resolver = SchemaIdResolver(schema_registry_client, schema, parse_serializer_conf(conf),
                                          lambda s: compile_validator(schema_registry_client, s))

    def __call__(self, obj, ctx: SerializationContext) -> bytes | None:
        if obj is None:
            return None
        wire_header, check = self._resolver.resolve(ctx, self._record_name)
        value = self._to_dict(obj, ctx) if self._to_dict is not None else obj
        problem = check(value)
        if problem is not None:
            raise SerializationError(f"{ctx.describe()}: document does not match JSON Schema id "
                                     f"{int.from_bytes(wire_header[1:], 'big')}: {problem}")
        return wire_header + json.dumps(value, separators=(",", ":")).encode()


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
        reader = _as_schema(schema_str)
        self._reader_check = compile_validator(schema_registry_client, reader) if reader is not None else None
        self._writers = WriterSchemaCache(schema_registry_client,
                                          lambda s: compile_validator(schema_registry_client, s)) \
            if validate_writer and schema_registry_client is not None and reader is None else None

    def __call__(self, data: bytes | None, ctx: SerializationContext):
        if data is None:
            return None
        if len(data) < HEADER_SIZE or data[0] != 0:
            raise SerializationError(f"{ctx.describe()}: unknown magic byte or short payload: the data was not "
                                     "written by a schema registry serializer")
        try:
            doc = json.loads(data[HEADER_SIZE:])
        except ValueError as exc:
            raise SerializationError(f"{ctx.describe()}: payload is not JSON: {exc}") from exc
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
