"""schemabus serdes: Schema Registry serializers in Confluent's wire format.

    from serdes import SchemaRegistryClient, SerializationContext, MessageField, SerializationError
    from serdes.avro import AvroSerializer, AvroDeserializer
    from serdes.protobuf import ProtobufSerializer, ProtobufDeserializer
    from serdes.json_schema import JSONSchemaSerializer, JSONSchemaDeserializer
    from serdes.kafka import SerializingProducer, DeserializingConsumer
"""

from formats import Schema, SchemaReference
from registry_client import RegisteredSchema, SchemaRegistryClient, SchemaRegistryError
from serdes.serialization import (
    MessageField, SerializationContext, SerializationError, record_subject_name_strategy,
    topic_record_subject_name_strategy, topic_subject_name_strategy,
)

__all__ = [
    "MessageField", "RegisteredSchema", "Schema", "SchemaReference", "SchemaRegistryClient", "SchemaRegistryError",
    "SerializationContext", "SerializationError", "record_subject_name_strategy",
    "topic_record_subject_name_strategy", "topic_subject_name_strategy",
]
