"""Schema formats by `schemaType`: one provider per format, shared by the registry and the serdes."""

from __future__ import annotations

from registry.formats.avro import AvroProvider
from registry.formats.base import (Incompatibility, InvalidSchemaError, ParsedSchema, SchemaProvider,
                                   SchemaReference)
from registry.formats.json_schema import JsonSchemaProvider
from registry.formats.protobuf import ProtobufProvider

DEFAULT_SCHEMA_TYPE = "AVRO"

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


register_provider(AvroProvider())
register_provider(ProtobufProvider())
register_provider(JsonSchemaProvider())

__all__ = ["DEFAULT_SCHEMA_TYPE", "Incompatibility", "InvalidSchemaError", "ParsedSchema", "SchemaProvider",
           "SchemaReference", "provider", "register_provider", "schema_types"]
