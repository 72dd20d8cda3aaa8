"""Serdes: how keys and values become bytes and back (Kafka's Serdes), with Kafka's byte layouts
for strings and numbers, JSON, and the registry formats (Avro, Protobuf, JSON Schema) through our
Confluent-wire-format serdes.

A Serde is two callables, `serialize(topic, value, headers)` and `deserialize(topic, data,
headers)`; None stays None both ways (a tombstone).
"""

from __future__ import annotations

import struct
from typing import Any, Callable

import orjson

from streams.processor import Change
from serdes import MessageField, SchemaRegistryClient, SerializationContext, SerializationError
from serdes.avro import AvroDeserializer, AvroSerializer
from serdes.json_schema import JSONDeserializer, JSONSerializer
from serdes.protobuf import ProtobufDeserializer, ProtobufSerializer


class Serde:
    def __init__(self, serialize: Callable[[Any], bytes | None], deserialize: Callable[[bytes], Any],
                 name: str = "Serde"):
        self._serialize = serialize
        self._deserialize = deserialize
        self.name = name

    def serialize(self, topic: str, value, headers=None) -> bytes | None:
        return None if value is None else self._serialize(value)

    def deserialize(self, topic: str, data: bytes | None, headers=None):
        return None if data is None else self._deserialize(data)

    def resolved(self, default: "Serde | None") -> "Serde":
        """This serde with the configured default in place of a missing inner serde (wrappers
        made before the defaults were known override this)."""
        return self

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _fixed(fmt: str, name: str) -> Serde:
    packer = struct.Struct(fmt)
    size = packer.size

    def unpack(data: bytes):
        if len(data) != size:
            raise SerializationError(f"Size of data received by {name}Deserializer is not {size}")
        return packer.unpack(data)[0]
    return Serde(packer.pack, unpack, f"{name}Serde")


def _json_dumps(value) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


class Serdes:
    """Kafka's Serdes factory, by the same names."""
    String = staticmethod(lambda: Serde(lambda v: v.encode("utf-8"), lambda d: d.decode("utf-8"), "StringSerde"))
    ByteArray = staticmethod(lambda: Serde(bytes, bytes, "ByteArraySerde"))
    Bytes = ByteArray
    Integer = staticmethod(lambda: _fixed(">i", "Integer"))
    Long = staticmethod(lambda: _fixed(">q", "Long"))
    Short = staticmethod(lambda: _fixed(">h", "Short"))
    Float = staticmethod(lambda: _fixed(">f", "Float"))
    Double = staticmethod(lambda: _fixed(">d", "Double"))
    Json = staticmethod(lambda: Serde(_json_dumps, orjson.loads, "JsonSerde"))
    Void = staticmethod(lambda: Serde(lambda v: None, lambda d: None, "VoidSerde"))


# Kafka's class names for default.key.serde / default.value.serde, and short names.
_BY_NAME = {
    "string": Serdes.String, "bytearray": Serdes.ByteArray, "bytes": Serdes.ByteArray, "integer": Serdes.Integer,
    "long": Serdes.Long, "short": Serdes.Short, "float": Serdes.Float, "double": Serdes.Double,
    "json": Serdes.Json, "void": Serdes.Void,
}


def serde_from_config(value) -> Serde | None:
    """A Serde instance as it is; a name (`String`, `Long`, `org.apache.kafka.common.serialization.
    Serdes$LongSerde`, ...) as Kafka's serde of that name."""
    if value is None or isinstance(value, Serde):
        return value
    name = str(value).rsplit(".", 1)[-1].rsplit("$", 1)[-1].lower()
    name = name[:-len("serde")] if name.endswith("serde") else name
    if name not in _BY_NAME:
        raise ValueError(f"unknown serde {value!r}: give a Serde or one of {', '.join(sorted(_BY_NAME))}")
    return _BY_NAME[name]()


class ChangeSerde(Serde):
    """A table update, Change(new, old), on a repartition topic (KTable.group_by): a flags byte
    (1: has new, 2: has old), the new value's length (4 bytes) and bytes, the old value's bytes."""

    def __init__(self, inner: Serde | None):
        super().__init__(None, None, f"Change({getattr(inner, 'name', 'default')})")
        self.inner = inner

    def resolved(self, default):
        return self if self.inner is not None else ChangeSerde(default)

    def serialize(self, topic, value, headers=None):
        if value is None:
            return None
        new = None if value.new is None else self.inner.serialize(topic, value.new, headers)
        old = None if value.old is None else self.inner.serialize(topic, value.old, headers)
        flags = (1 if new is not None else 0) | (2 if old is not None else 0)
        return bytes([flags]) + len(new or b"").to_bytes(4, "big") + (new or b"") + (old or b"")

    def deserialize(self, topic, data, headers=None):
        if data is None:
            return None
        flags, size = data[0], int.from_bytes(data[1:5], "big")
        new = self.inner.deserialize(topic, data[5:5 + size], headers) if flags & 1 else None
        old = self.inner.deserialize(topic, data[5 + size:], headers) if flags & 2 else None
        return Change(new, old)


class RegistrySerde(Serde):
    """A Serde over one of our registry serializers (Confluent's wire format), which need to know
    whether they write a key or a value (their subject is `<topic>-key` or `<topic>-value`)."""

    def __init__(self, serializer, deserializer, is_key: bool, name: str):
        field = MessageField.KEY if is_key else MessageField.VALUE
        super().__init__(None, None, name)
        self._serializer, self._deserializer, self._field = serializer, deserializer, field

    def serialize(self, topic, value, headers=None):
        if value is None:
            return None
        if self._serializer is None:
            raise SerializationError(f"{self.name} was made without a schema to write with")
        return self._serializer(value, SerializationContext(topic, self._field, headers))

    def deserialize(self, topic, data, headers=None):
        if data is None:
            return None
        return self._deserializer(data, SerializationContext(topic, self._field, headers))


def _client(registry) -> SchemaRegistryClient:
    if isinstance(registry, SchemaRegistryClient):
        return registry
    if isinstance(registry, str):
        return SchemaRegistryClient({"url": registry})
    return SchemaRegistryClient(dict(registry))


def avro_serde(registry, schema_str: str | None = None, is_key: bool = False, conf: dict | None = None) -> Serde:
    """Avro through the registry: records as dicts; without a schema, read-only."""
    client = _client(registry)
    serializer = AvroSerializer(client, schema_str, conf=conf) if schema_str else None
    return RegistrySerde(serializer, AvroDeserializer(client, schema_str), is_key, "AvroSerde")


def json_schema_serde(registry, schema_str: str | None = None, is_key: bool = False,
                      conf: dict | None = None) -> Serde:
    client = _client(registry)
    serializer = JSONSerializer(schema_str, client, conf=conf) if schema_str else None
    return RegistrySerde(serializer, JSONDeserializer(schema_str, schema_registry_client=client), is_key,
                         "JsonSchemaSerde")


def protobuf_serde(registry, message_type=None, is_key: bool = False, conf: dict | None = None) -> Serde:
    """Protobuf through the registry: with a generated class, its messages; without one, dynamic
    messages read with the writer schema (read-only)."""
    client = _client(registry)
    serializer = ProtobufSerializer(message_type, client, conf=conf) if message_type is not None else None
    return RegistrySerde(serializer, ProtobufDeserializer(message_type, schema_registry_client=client), is_key,
                         "ProtobufSerde")
