"""Kafka's configuration text formats, shared by every service: Java properties files, JAAS
login-module configs (`sasl.jaas.config`), and Java client properties turned into librdkafka's.

Imports no other schemabus package, so the broker, the registry, the serdes and the tools can
all read the same files the same way.
"""

from kafka_properties.errors import PropertiesError
from kafka_properties.jaas import JaasConfig, parse_jaas
from kafka_properties.librdkafka import connection_settings, librdkafka_config
from kafka_properties.properties import read_properties

__all__ = ["PropertiesError", "JaasConfig", "parse_jaas", "connection_settings", "librdkafka_config",
           "read_properties"]
