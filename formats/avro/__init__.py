"""AVRO schemas: Avro's naming rules, the string Confluent stores, compatibility, fastavro at run time."""

from formats.avro.schema import AvroProvider, AvroSchema

__all__ = ["AvroProvider", "AvroSchema"]
