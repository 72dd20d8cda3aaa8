"""A registered schema made usable: its references fetched, then parsed by the format layer."""

from __future__ import annotations

import formats
from formats import ParsedSchema, Schema
from registry_client.client import SchemaRegistryClient


def referenced_schemas(client: SchemaRegistryClient, schema: Schema) -> dict[str, str]:
    """Reference name -> schema string of everything `schema` references, transitively,
    dependencies first (what a provider's `resolved` takes). Raises SchemaRegistryError."""
    resolved: dict[str, str] = {}
    seen: set[tuple[str, int]] = set()

    def visit(s: Schema) -> None:
        for ref in s.references:
            if (ref.subject, ref.version) in seen:
                continue
            seen.add((ref.subject, ref.version))
            dep = client.get_version(ref.subject, ref.version).schema
            visit(dep)
            resolved.setdefault(ref.name, dep.schema_str)

    visit(schema)
    return resolved


def parse_schema(client: SchemaRegistryClient | None, schema: Schema) -> ParsedSchema:
    """`schema` parsed with its references fetched from the registry (none without a client).
    Raises SchemaRegistryError or formats.InvalidSchemaError."""
    resolved = referenced_schemas(client, schema) if client is not None and schema.references else {}
    return formats.parse(schema, resolved)
