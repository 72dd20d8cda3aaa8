"""StringConverter, ByteArrayConverter and SimpleHeaderConverter (org.apache.kafka.connect.storage)."""

from __future__ import annotations

from connect import data
from connect.api import Converter, HeaderConverter
from connect.config_def import ConfigDef, ConfigType, Importance
from connect.data import SchemaAndValue, Type
from connect.errors import DataException


class StringConverter(Converter):
    """UTF-8 text (or `converter.encoding`); any value is written as its string form."""
    class_name = "org.apache.kafka.connect.storage.StringConverter"

    def __init__(self):
        self.encoding = "utf-8"

    def config(self) -> ConfigDef:
        return ConfigDef().define("converter.encoding", ConfigType.STRING, "UTF8", None, Importance.HIGH,
                                  "The name of the Java character set to use for encoding strings")

    def configure(self, configs, is_key):
        name = configs.get("converter.encoding") or "UTF8"
        self.encoding = "utf-8" if name.upper().replace("-", "") == "UTF8" else name

    def from_connect_data(self, topic, schema, value, headers=None):
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if isinstance(value, bool):
            value = "true" if value else "false"
        return str(value).encode(self.encoding)

    def to_connect_data(self, topic, payload, headers=None):
        if payload is None:
            return SchemaAndValue(data.OPTIONAL_STRING_SCHEMA, None)
        try:
            return SchemaAndValue(data.OPTIONAL_STRING_SCHEMA, bytes(payload).decode(self.encoding))
        except UnicodeDecodeError as exc:
            raise DataException(f"Failed to deserialize string: {exc}") from exc


class ByteArrayConverter(Converter):
    """Bytes through unchanged; the schema must be BYTES (or absent)."""
    class_name = "org.apache.kafka.connect.converters.ByteArrayConverter"

    def from_connect_data(self, topic, schema, value, headers=None):
        if schema is not None and schema.type is not Type.BYTES:
            raise DataException(f"Invalid schema type for ByteArrayConverter: {schema.type.name}")
        if value is not None and not isinstance(value, (bytes, bytearray, memoryview)):
            raise DataException(f"ByteArrayConverter is not compatible with objects of type {type(value).__name__}")
        return None if value is None else bytes(value)

    def to_connect_data(self, topic, payload, headers=None):
        return SchemaAndValue(data.OPTIONAL_BYTES_SCHEMA, None if payload is None else bytes(payload))


class SimpleHeaderConverter(HeaderConverter):
    """Header values as UTF-8 text (Kafka's default header converter); reading gives strings,
    not Kafka's type inference from the text."""
    class_name = "org.apache.kafka.connect.storage.SimpleHeaderConverter"

    def from_connect_header(self, topic, key, schema, value):
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if isinstance(value, bool):
            return b"true" if value else b"false"
        return str(value).encode()

    def to_connect_header(self, topic, key, payload):
        if payload is None:
            return SchemaAndValue(None, None)
        try:
            return SchemaAndValue(data.STRING_SCHEMA, bytes(payload).decode())
        except UnicodeDecodeError:
            return SchemaAndValue(data.BYTES_SCHEMA, bytes(payload))
