"""schemabus Schema Registry: Confluent's REST API v1 over a `_schemas` topic on any Kafka broker."""

__version__ = "0.1.0"
