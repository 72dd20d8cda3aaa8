"""A thin client of Confluent's Schema Registry REST API, with the parsing of what it fetches.

Used by the serdes, the broker's governed topics and the console tools; depends only on the
format layer (`formats`).
"""

from registry_client.client import RegisteredSchema, SchemaRegistryClient, SchemaRegistryError, url_without_userinfo
from registry_client.references import parse_schema, referenced_schemas

__all__ = ["RegisteredSchema", "SchemaRegistryClient", "SchemaRegistryError", "parse_schema", "referenced_schemas",
           "url_without_userinfo"]
