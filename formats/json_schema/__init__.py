"""JSON schemas: JSON Schema drafts 4 to 2020-12, Confluent's compatibility rules, validation at run time."""

from formats.json_schema.schema import JsonSchema, JsonSchemaProvider

__all__ = ["JsonSchema", "JsonSchemaProvider"]
