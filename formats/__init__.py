"""Schema formats by `schemaType`: one provider per format, shared by every package.

The registry server, the serdes, the broker's governed topics and the console tools all parse,
check and use schemas through this package; nothing else parses or compiles a schema. It
depends on no other schemabus package (see docs/architecture.md).
"""

from __future__ import annotations

from typing import Mapping

from formats.avro import AvroProvider
from formats.base import (DEFAULT_SCHEMA_TYPE, DifferentSchemaType, Incompatibility, InvalidSchemaError, ParsedSchema,
                          RecordMismatch, Schema, SchemaProvider, SchemaReference)
from formats.json_schema import JsonSchemaProvider
from formats.protobuf import ProtobufProvider

_PROVIDERS: dict[str, SchemaProvider] = {}


def register_provider(provider: SchemaProvider) -> None:
    _PROVIDERS[provider.schema_type] = provider


def provider(schema_type: str | None) -> SchemaProvider:
    """The provider for `schema_type` (missing means AVRO); InvalidSchemaError if unknown."""
    name = schema_type or DEFAULT_SCHEMA_TYPE
    found = _PROVIDERS.get(name)
    if found is None:
        raise InvalidSchemaError(f"Invalid schema type {name}")
    return found


def schema_types() -> list[str]:
    return sorted(_PROVIDERS)


def parse(schema: Schema, resolved: Mapping[str, str] | None = None, *, new: bool = False) -> ParsedSchema:
    """Parse a Schema whose references resolve to `resolved` (name -> schema string,
    dependencies first). Stored and fetched schemas are parsed leniently (`new=False`)."""
    return provider(schema.schema_type).parse(schema.schema_str, schema.references, resolved, new=new)


register_provider(AvroProvider())
register_provider(ProtobufProvider())
register_provider(JsonSchemaProvider())

__all__ = ["DEFAULT_SCHEMA_TYPE", "DifferentSchemaType", "Incompatibility", "InvalidSchemaError", "ParsedSchema",
           "RecordMismatch", "Schema", "SchemaProvider", "SchemaReference", "parse", "provider", "register_provider",
           "schema_types"]
