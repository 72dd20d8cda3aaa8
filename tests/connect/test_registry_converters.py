"""Confluent's registry converters (Avro, Protobuf, JSON Schema) on our broker and our registry:
round trips of every Connect type, the schema text they register, byte compatibility with
confluent-kafka's own serializers and deserializers, and the errors bad payloads give."""

from __future__ import annotations

import datetime
import decimal
import json

import pytest
import requests

from connect import data
from connect.converters.avro import AvroConverter
from connect.converters.json_schema import JsonSchemaConverter
from connect.converters.protobuf import ProtobufConverter
from connect.data import (BOOLEAN_SCHEMA, BYTES_SCHEMA, FLOAT32_SCHEMA, FLOAT64_SCHEMA, INT8_SCHEMA, INT16_SCHEMA,
                          INT32_SCHEMA, INT64_SCHEMA, OPTIONAL_INT32_SCHEMA, OPTIONAL_STRING_SCHEMA, STRING_SCHEMA,
                          Schema, Struct, Type, array, map_of, struct)
from connect.errors import ConfigException, DataException
from connect.plugins import Plugins
from tests.conftest import unique_topic

pytestmark = pytest.mark.parametrize("platform", ["schemabus"], indirect=True)

CONVERTERS = {"avro": AvroConverter, "protobuf": ProtobufConverter, "json": JsonSchemaConverter}
UTC = datetime.timezone.utc

ADDRESS = struct([("street", STRING_SCHEMA), ("zip", OPTIONAL_INT32_SCHEMA)], name="com.example.Address")
EVERYTHING = struct([
    ("i8", INT8_SCHEMA), ("i16", INT16_SCHEMA), ("i32", INT32_SCHEMA), ("i64", INT64_SCHEMA),
    ("f32", FLOAT32_SCHEMA), ("f64", FLOAT64_SCHEMA), ("flag", BOOLEAN_SCHEMA), ("text", STRING_SCHEMA),
    ("raw", BYTES_SCHEMA),
    ("maybe_text", OPTIONAL_STRING_SCHEMA), ("maybe_int", OPTIONAL_INT32_SCHEMA),
    ("address", ADDRESS), ("maybe_address", ADDRESS.as_optional()),
    ("tags", array(STRING_SCHEMA)), ("scores", map_of(STRING_SCHEMA, INT64_SCHEMA)),
    ("by_id", map_of(INT32_SCHEMA, STRING_SCHEMA)),
    ("price", data.decimal_schema(2)), ("day", data.date_schema()), ("at", data.time_schema()),
    ("when", data.timestamp_schema()),
], name="com.example.Everything", version=1, doc="every Connect type")


def everything(**overrides) -> Struct:
    values = {
        "i8": -8, "i16": 1600, "i32": -32_000_000, "i64": 64_000_000_000, "f32": 1.5, "f64": 2.25,
        "flag": True, "text": "héllo", "raw": b"\x00\x01\xff", "maybe_text": "here", "maybe_int": None,
        "address": Struct(ADDRESS, {"street": "Main", "zip": 12345}), "maybe_address": None,
        "tags": ["a", "b"], "scores": {"x": 1, "y": -2}, "by_id": {1: "one", 2: "two"},
        "price": decimal.Decimal("12.34"), "day": datetime.date(2024, 2, 29), "at": datetime.time(13, 14, 15, 16000),
        "when": datetime.datetime(2024, 2, 29, 13, 14, 15, 16000, tzinfo=UTC),
    }
    values.update(overrides)
    return Struct(EVERYTHING, values)


@pytest.fixture
def registry_url(platform):
    return platform[1].url


def converter(kind: str, url: str, is_key: bool = False, **configs):
    conv = CONVERTERS[kind]()
    conv.configure({"schema.registry.url": url, **{k: str(v) for k, v in configs.items()}}, is_key)
    return conv


def registered(url: str, schema_id: int) -> dict:
    return requests.get(f"{url}/schemas/ids/{schema_id}", timeout=10).json()


def schema_id_of(payload: bytes) -> int:
    assert payload[0] == 0
    return int.from_bytes(payload[1:5], "big")


def confluent_client(url: str):
    from confluent_kafka.schema_registry import SchemaRegistryClient

    return SchemaRegistryClient({"url": url})


def ctx(topic: str):
    from confluent_kafka.serialization import MessageField, SerializationContext

    return SerializationContext(topic, MessageField.VALUE)


# ------------------------------------------------------------------------------------ round trips

@pytest.mark.parametrize("kind", ["avro", "json"])
def test_round_trip_gives_back_schema_and_value(kind, registry_url):
    conv = converter(kind, registry_url)
    topic = unique_topic("rt")
    value = everything(maybe_address=Struct(ADDRESS.as_optional(), {"street": "Side", "zip": None}))
    payload = conv.from_connect_data(topic, EVERYTHING, value)
    back = conv.to_connect_data(topic, payload)
    assert back.schema == EVERYTHING  # connect.version 1 travels with the schema
    assert back.value == value


def test_round_trip_protobuf(registry_url):
    """Protobuf reads every field back optional, tagged with its number, structs named by the
    message's simple name and the registry's version; proto3 gives unset scalars as zero."""
    conv = converter("protobuf", registry_url)
    topic = unique_topic("rt-proto")
    payload = conv.from_connect_data(topic, EVERYTHING, everything())
    back = conv.to_connect_data(topic, payload)
    schema = back.schema
    assert schema.name == "Everything" and schema.version == 1
    assert schema.field("i8").schema.type is Type.INT8 and schema.field("i16").schema.type is Type.INT16
    assert schema.field("i32").schema.params["io.confluent.connect.protobuf.Tag"] == "3"
    assert all(f.schema.optional for f in schema.fields)
    assert schema.field("price").schema.name == data.DECIMAL
    assert schema.field("by_id").schema.type is Type.MAP
    value = back.value
    expected = everything()
    for name in ("i8", "i16", "i32", "i64", "f32", "f64", "flag", "text", "raw", "maybe_text", "tags", "scores",
                 "by_id", "price", "day", "at", "when"):
        assert value.get(name) == expected.get(name), name
    assert value.get("maybe_int") == 0  # proto3: an unset int32 reads as 0, as in Confluent's converter
    assert value.get("maybe_address") is None
    assert value.get("address").get("street") == "Main" and value.get("address").get("zip") == 12345
    # What was read converts back to the same record (to another subject: the struct read back is
    # named without the package, as in Confluent's converter, so its schema is another one).
    other = unique_topic("rt-proto-again")
    again = conv.from_connect_data(other, schema, value)
    assert conv.to_connect_data(other, again).value == value


@pytest.mark.parametrize("kind", sorted(CONVERTERS))
def test_null_and_tombstones(kind, registry_url):
    conv = converter(kind, registry_url)
    topic = unique_topic("null")
    assert conv.from_connect_data(topic, None, None) is None
    assert conv.from_connect_data(topic, EVERYTHING.as_optional(), None) is None
    assert conv.to_connect_data(topic, None) == data.NULL
    if kind == "avro":  # as Confluent's: only the Avro converter refuses null for a required schema
        with pytest.raises(DataException, match="null value for non-optional schema"):
            conv.from_connect_data(topic, EVERYTHING, None)
    else:
        assert conv.from_connect_data(topic, EVERYTHING, None) is None


@pytest.mark.parametrize("kind", sorted(CONVERTERS))
def test_same_connect_schema_registers_once(kind, registry_url):
    conv, other = converter(kind, registry_url), converter(kind, registry_url)
    topic = unique_topic("once")
    first = conv.from_connect_data(topic, EVERYTHING, everything())
    second = other.from_connect_data(topic, EVERYTHING, everything(i32=7))
    assert schema_id_of(first) == schema_id_of(second)
    versions = requests.get(f"{registry_url}/subjects/{topic}-value/versions", timeout=10).json()
    assert versions == [1]


def test_primitive_roots(registry_url):
    for kind in CONVERTERS:
        conv = converter(kind, registry_url, is_key=True)
        topic = unique_topic(f"prim-{kind}")
        payload = conv.from_connect_data(topic, STRING_SCHEMA, "key-1")
        back = conv.to_connect_data(topic, payload)
        assert back.value == "key-1" and back.schema.type is Type.STRING, kind
        assert requests.get(f"{registry_url}/subjects/{topic}-key/versions", timeout=10).json() == [1]


# ------------------------------------------------------------------------------- registered text

AVRO_EXPECTED = (
    '{"type":"record","name":"Order","namespace":"com.example","fields":['
    '{"name":"id","type":{"type":"int","connect.type":"int16"}},'
    '{"name":"note","type":["null","string"],"default":null},'
    '{"name":"status","type":[{"type":"string","connect.default":"new"},"null"],"default":"new"},'
    '{"name":"amount","type":{"type":"bytes","scale":2,"precision":64,"connect.version":1,'
    '"connect.parameters":{"scale":"2"},"connect.name":"org.apache.kafka.connect.data.Decimal",'
    '"logicalType":"decimal"}},'
    '{"name":"created","type":{"type":"long","connect.version":1,'
    '"connect.name":"org.apache.kafka.connect.data.Timestamp","logicalType":"timestamp-millis"}},'
    '{"name":"due","type":["null",{"type":"int","connect.version":1,'
    '"connect.name":"org.apache.kafka.connect.data.Date","logicalType":"date"}],"default":null},'
    '{"name":"lines","type":{"type":"array","items":{"type":"record","name":"ConnectDefault",'
    '"namespace":"io.confluent.connect.avro","fields":[{"name":"sku","type":"string"}]}}},'
    '{"name":"counts","type":{"type":"array","items":{"type":"record","name":"MapEntry",'
    '"namespace":"io.confluent.connect.avro","fields":[{"name":"key","type":"long"},'
    '{"name":"value","type":"int"}]}}}],'
    '"connect.doc":"an order","connect.version":3,"connect.parameters":{"source":"shop"},'
    '"connect.name":"com.example.Order"}')

ORDER = struct([
    ("id", INT16_SCHEMA), ("note", OPTIONAL_STRING_SCHEMA),
    ("status", Schema(Type.STRING, optional=True, default="new")),
    ("amount", data.decimal_schema(2)), ("created", data.timestamp_schema()), ("due", data.date_schema(optional=True)),
    ("lines", array(struct([("sku", STRING_SCHEMA)]))), ("counts", map_of(INT64_SCHEMA, INT32_SCHEMA)),
], name="com.example.Order", version=3, doc="an order", parameters={"source": "shop"})


def order() -> Struct:
    line = Struct(ORDER.field("lines").schema.value_schema, {"sku": "A-1"})
    return Struct(ORDER, {"id": 7, "note": None, "status": "paid", "amount": decimal.Decimal("9.99"),
                          "created": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
                          "due": datetime.date(2024, 1, 31), "lines": [line], "counts": {10: 1}})


def test_avro_registers_confluents_text(registry_url):
    topic = unique_topic("avro-text")
    payload = converter("avro", registry_url).from_connect_data(topic, ORDER, order())
    assert registered(registry_url, schema_id_of(payload))["schema"] == AVRO_EXPECTED


def test_avro_finds_the_schema_a_java_worker_registered(registry_url):
    """The text Confluent's converter registers for ORDER is already in the subject: ours writes
    with its id, and the subject keeps one version."""
    topic = unique_topic("avro-java")
    answer = requests.post(f"{registry_url}/subjects/{topic}-value/versions", json={"schema": AVRO_EXPECTED},
                           timeout=10).json()
    payload = converter("avro", registry_url).from_connect_data(topic, ORDER, order())
    assert schema_id_of(payload) == answer["id"]
    assert requests.get(f"{registry_url}/subjects/{topic}-value/versions", timeout=10).json() == [1]


# Properties and connect.* keywords in the order Confluent's converter prints them (everit 1.14's
# HashMaps; checked against everit-json-schema 1.14.4). The oneOf members are [null, X]; everit
# sorts them by its schemas' hashCodes, which we do not reproduce (see the module doc).
JSON_EXPECTED = (
    '{"type":"object","title":"com.example.Order","description":"an order","connect.version":3,'
    '"connect.parameters":{"source":"shop"},"properties":{'
    '"note":{"connect.index":1,"oneOf":[{"type":"null"},{"type":"string"}]},'
    '"amount":{"type":"string","title":"org.apache.kafka.connect.data.Decimal","connect.index":3,'
    '"connect.version":1,"connect.type":"bytes","connect.parameters":{"scale":"2"}},'
    '"due":{"connect.index":5,"oneOf":[{"type":"null"},{"type":"integer",'
    '"title":"org.apache.kafka.connect.data.Date","connect.version":1,"connect.type":"int32"}]},'
    '"created":{"type":"integer","title":"org.apache.kafka.connect.data.Timestamp","connect.index":4,'
    '"connect.version":1,"connect.type":"int64"},'
    '"counts":{"type":"array","connect.index":7,"connect.type":"map","items":{"type":"object","properties":{'
    '"value":{"type":"integer","connect.index":1,"connect.type":"int32"},'
    '"key":{"type":"integer","connect.index":0,"connect.type":"int64"}}}},'
    '"id":{"type":"integer","connect.index":0,"connect.type":"int16"},'
    '"lines":{"type":"array","connect.index":6,"items":{"type":"object","properties":{'
    '"sku":{"type":"string","connect.index":0}}}},'
    '"status":{"connect.index":2,"oneOf":[{"type":"null"},{"type":"string","default":"new"}]}}}')


def test_json_schema_registers_confluents_text(registry_url):
    topic = unique_topic("json-text")
    payload = converter("json", registry_url).from_connect_data(topic, ORDER, order())
    answer = registered(registry_url, schema_id_of(payload))
    assert answer["schemaType"] == "JSON"
    assert answer["schema"] == JSON_EXPECTED


def test_protobuf_registers_confluents_layout(registry_url):
    topic = unique_topic("proto-text")
    payload = converter("protobuf", registry_url).from_connect_data(topic, ORDER, order())
    text = registered(registry_url, schema_id_of(payload))["schema"]
    assert "package com.example;" in text
    assert "message Order {" in text
    assert 'int32 id = 1 [(.confluent.field_meta) = { params { key: "connect.type" value: "int16" } }];' in text
    assert "string note = 2;" in text
    assert ".confluent.type.Decimal amount = 4" in text and 'key: "scale" value: "2"' in text
    assert ".google.protobuf.Timestamp created = 5;" in text and ".google.type.Date due = 6;" in text
    assert "repeated .com.example.Order.ConnectDefault1 lines = 7;" in text
    assert "repeated .com.example.Order.ConnectDefault2Entry counts = 8;" in text
    assert "message ConnectDefault2Entry {" in text and "int64 key = 1;" in text
    assert payload[5] == 0  # message index path [0]: the first message of the file


# ---------------------------------------------------------------- confluent-kafka reads our bytes

def test_confluent_avro_deserializer_reads_our_bytes(registry_url):
    from confluent_kafka.schema_registry.avro import AvroDeserializer

    topic = unique_topic("avro-ours")
    payload = converter("avro", registry_url).from_connect_data(topic, EVERYTHING, everything())
    got = AvroDeserializer(confluent_client(registry_url))(payload, ctx(topic))
    assert got == {
        "i8": -8, "i16": 1600, "i32": -32_000_000, "i64": 64_000_000_000, "f32": 1.5, "f64": 2.25, "flag": True,
        "text": "héllo", "raw": b"\x00\x01\xff", "maybe_text": "here", "maybe_int": None,
        "address": {"street": "Main", "zip": 12345}, "maybe_address": None, "tags": ["a", "b"],
        "scores": {"x": 1, "y": -2}, "by_id": [{"key": 1, "value": "one"}, {"key": 2, "value": "two"}],
        "price": decimal.Decimal("12.34"), "day": datetime.date(2024, 2, 29),
        "at": datetime.time(13, 14, 15, 16000), "when": datetime.datetime(2024, 2, 29, 13, 14, 15, 16000, tzinfo=UTC),
    }


def test_confluent_json_deserializer_reads_our_bytes(registry_url):
    from confluent_kafka.schema_registry.json_schema import JSONDeserializer

    topic = unique_topic("json-ours")
    payload = converter("json", registry_url).from_connect_data(topic, EVERYTHING, everything())
    got = JSONDeserializer(None, schema_registry_client=confluent_client(registry_url))(payload, ctx(topic))
    assert got == {
        "i8": -8, "i16": 1600, "i32": -32_000_000, "i64": 64_000_000_000, "f32": 1.5, "f64": 2.25, "flag": True,
        "text": "héllo", "raw": "AAH/", "maybe_text": "here", "maybe_int": None,
        "address": {"street": "Main", "zip": 12345}, "maybe_address": None, "tags": ["a", "b"],
        "scores": {"x": 1, "y": -2}, "by_id": [{"key": 1, "value": "one"}, {"key": 2, "value": "two"}],
        "price": "BNI=", "day": 19782, "at": 47655016, "when": 1709212455016,
    }


def test_confluent_protobuf_deserializer_reads_our_bytes(registry_url):
    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer

    import formats

    topic = unique_topic("proto-ours")
    conv = converter("protobuf", registry_url)
    payload = conv.from_connect_data(topic, EVERYTHING, everything())
    schema = formats.parse(formats.Schema(registered(registry_url, schema_id_of(payload))["schema"], "PROTOBUF"))
    message_type = schema.message_class("com.example.Everything")
    got = ProtobufDeserializer(message_type, {"use.deprecated.format": False})(payload, ctx(topic))
    assert (got.i8, got.i16, got.i32, got.i64, got.f32, got.f64, got.flag) == \
        (-8, 1600, -32_000_000, 64_000_000_000, 1.5, 2.25, True)
    assert (got.text, got.raw, got.maybe_text, got.maybe_int) == ("héllo", b"\x00\x01\xff", "here", 0)
    assert (got.address.street, got.address.zip, got.HasField("maybe_address")) == ("Main", 12345, False)
    assert list(got.tags) == ["a", "b"]
    assert {e.key: e.value for e in got.scores} == {"x": 1, "y": -2}
    assert {e.key: e.value for e in got.by_id} == {1: "one", 2: "two"}
    assert (got.price.value, got.price.precision, got.price.scale) == (bytes([0x04, 0xD2]), 4, 2)
    assert (got.day.year, got.day.month, got.day.day) == (2024, 2, 29)
    assert (got.at.hours, got.at.minutes, got.at.seconds, got.at.nanos) == (13, 14, 15, 16_000_000)
    assert (got.when.seconds, got.when.nanos) == (1709212455, 16_000_000)


# ------------------------------------------------------------- our converters read confluent-kafka's

PLAIN_AVRO = json.dumps({
    "type": "record", "name": "Reading", "namespace": "io.sensors", "doc": "one reading",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "label", "type": ["null", "string"], "default": None},
        {"name": "level", "type": "int", "default": 3},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["HOT", "COLD"]}},
        {"name": "where", "type": {"type": "record", "name": "Place", "fields": [{"name": "x", "type": "double"}]}},
        {"name": "values", "type": {"type": "array", "items": "float"}},
        {"name": "attrs", "type": {"type": "map", "values": "string"}},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 3}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "either", "type": ["int", "string"]},
    ]})


def test_avro_converter_reads_confluent_avro_serializer_bytes(registry_url):
    from confluent_kafka.schema_registry.avro import AvroSerializer

    topic = unique_topic("avro-theirs")
    record = {"id": 1, "label": None, "level": 5, "kind": "COLD", "where": {"x": 1.5}, "values": [0.5],
              "attrs": {"a": "b"}, "amount": decimal.Decimal("1.250"), "day": datetime.date(2020, 1, 2),
              "at": datetime.datetime(2020, 1, 2, 3, 4, 5, 6000, tzinfo=UTC), "either": "yes"}
    payload = AvroSerializer(confluent_client(registry_url), PLAIN_AVRO)(record, ctx(topic))
    got = converter("avro", registry_url).to_connect_data(topic, payload)
    schema = got.schema
    assert (schema.name, schema.version) == ("io.sensors.Reading", 1)  # the registry's version
    assert schema.params["io.confluent.connect.avro.record.doc"] == "one reading"
    assert schema.field("id").schema == INT64_SCHEMA
    assert schema.field("label").schema == OPTIONAL_STRING_SCHEMA
    level = schema.field("level").schema
    assert (level.type, level.default, level.params["io.confluent.connect.avro.field.default"]) == \
        (Type.INT32, 3, "true")
    kind = schema.field("kind").schema
    assert kind.type is Type.STRING and kind.name == "io.sensors.Kind"
    assert kind.params["io.confluent.connect.avro.Enum"] == "io.sensors.Kind"
    assert schema.field("where").schema.name == "io.sensors.Place"
    amount = schema.field("amount").schema
    assert (amount.name, amount.params["scale"], amount.params["connect.decimal.precision"]) == \
        (data.DECIMAL, "3", "10")
    assert schema.field("day").schema == data.date_schema() and schema.field("at").schema == data.timestamp_schema()
    either = schema.field("either").schema
    assert either.name == "io.confluent.connect.avro.Union" and [f.name for f in either.fields] == ["int", "string"]
    value = got.value
    assert (value.get("id"), value.get("label"), value.get("level"), value.get("kind")) == (1, None, 5, "COLD")
    assert value.get("where").get("x") == 1.5 and value.get("values") == [0.5] and value.get("attrs") == {"a": "b"}
    assert value.get("amount") == decimal.Decimal("1.250") and value.get("day") == datetime.date(2020, 1, 2)
    assert value.get("at") == datetime.datetime(2020, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)
    assert value.get("either").get("string") == "yes" and value.get("either").get("int") is None


PLAIN_JSON = json.dumps({
    "$schema": "http://json-schema.org/draft-07/schema#", "title": "Reading", "type": "object",
    "properties": {
        "id": {"type": "integer"}, "ratio": {"type": "number"}, "name": {"type": "string"},
        "ok": {"type": "boolean"}, "tags": {"type": "array", "items": {"type": "string"}},
        "note": {"oneOf": [{"type": "null"}, {"type": "string"}]},
        "where": {"$ref": "#/definitions/Place"},
    },
    "definitions": {"Place": {"type": "object", "properties": {"x": {"type": "number"}}}},
})


def test_json_converter_reads_confluent_json_serializer_bytes(registry_url):
    from confluent_kafka.schema_registry.json_schema import JSONSerializer

    topic = unique_topic("json-theirs")
    document = {"id": 3, "ratio": 0.5, "name": "n", "ok": False, "tags": ["t"], "note": None, "where": {"x": 2.0}}
    payload = JSONSerializer(PLAIN_JSON, confluent_client(registry_url))(document, ctx(topic))
    got = converter("json", registry_url).to_connect_data(topic, payload)
    schema = got.schema
    assert (schema.name, schema.version) == ("Reading", 1)
    assert [f.name for f in schema.fields] == ["id", "ratio", "name", "ok", "tags", "note", "where"]
    assert [schema.field(n).schema.type for n in ("id", "ratio", "name", "ok")] == \
        [Type.INT64, Type.FLOAT64, Type.STRING, Type.BOOLEAN]
    assert schema.field("note").schema == OPTIONAL_STRING_SCHEMA
    value = got.value
    assert (value.get("id"), value.get("ratio"), value.get("name"), value.get("ok")) == (3, 0.5, "n", False)
    assert value.get("tags") == ["t"] and value.get("note") is None and value.get("where").get("x") == 2.0


PLAIN_PROTO = """
syntax = "proto3";
package io.sensors;
import "google/protobuf/timestamp.proto";

message Reading {
  int64 id = 1;
  string label = 2;
  Kind kind = 3;
  Place where = 4;
  repeated float values = 5;
  map<string, string> attrs = 6;
  google.protobuf.Timestamp at = 7;
  oneof choice {
    int32 number = 8;
    string word = 9;
  }
  enum Kind { HOT = 0; COLD = 1; }
  message Place { double x = 1; }
}
"""


def test_protobuf_converter_reads_confluent_protobuf_serializer_bytes(registry_url):
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer

    import formats

    topic = unique_topic("proto-theirs")
    message_type = formats.parse(formats.Schema(PLAIN_PROTO, "PROTOBUF")).message_class("io.sensors.Reading")
    message = message_type(id=9, label="l", kind=1, values=[0.5], attrs={"a": "b"}, word="w")
    message.where.x = 2.5
    message.at.seconds, message.at.nanos = 1_600_000_000, 5_000_000
    serializer = ProtobufSerializer(message_type, confluent_client(registry_url), {"use.deprecated.format": False})
    payload = serializer(message, ctx(topic))
    got = converter("protobuf", registry_url).to_connect_data(topic, payload)
    schema = got.schema
    assert (schema.name, schema.version) == ("Reading", 1)
    assert [f.name for f in schema.fields] == ["choice_0", "id", "label", "kind", "where", "values", "attrs", "at"]
    assert schema.field("choice_0").schema.name == "io.confluent.connect.protobuf.Union.choice"
    kind = schema.field("kind").schema
    assert (kind.type, kind.name, kind.params["io.confluent.connect.protobuf.Enum.COLD"]) == (Type.STRING, "Kind", "1")
    attrs = schema.field("attrs").schema
    assert (attrs.type, attrs.name) == (Type.MAP, "attrs")
    assert schema.field("at").schema.name == data.TIMESTAMP
    value = got.value
    assert (value.get("id"), value.get("label"), value.get("kind")) == (9, "l", "COLD")
    assert value.get("where").get("x") == 2.5 and value.get("values") == [0.5] and value.get("attrs") == {"a": "b"}
    assert value.get("at") == datetime.datetime.fromtimestamp(1_600_000_000.005, UTC)
    assert value.get("choice_0").get("word") == "w" and value.get("choice_0").get("number") is None


# ----------------------------------------------------------------------------------- bad payloads

@pytest.mark.parametrize("kind", sorted(CONVERTERS))
def test_wrong_magic_byte_is_a_data_exception(kind, registry_url):
    with pytest.raises(DataException, match="magic byte"):
        converter(kind, registry_url).to_connect_data("t", b"\x01\x00\x00\x00\x01{}")


@pytest.mark.parametrize("kind", sorted(CONVERTERS))
def test_unknown_schema_id_is_a_data_exception(kind, registry_url):
    with pytest.raises(DataException, match="schema id 987654"):
        converter(kind, registry_url).to_connect_data("t", b"\x00" + (987654).to_bytes(4, "big") + b"\x00\x02")


def test_payload_that_does_not_decode_is_a_data_exception(registry_url):
    conv = converter("avro", registry_url)
    topic = unique_topic("trunc")
    payload = conv.from_connect_data(topic, EVERYTHING, everything())
    with pytest.raises(DataException, match=f"Failed to deserialize data for topic {topic} to Avro"):
        conv.to_connect_data(topic, payload[:-3])


def test_value_that_does_not_fit_its_schema_is_a_data_exception(registry_url):
    with pytest.raises(DataException):
        converter("avro", registry_url).from_connect_data("t", struct([("a", INT32_SCHEMA)]), {"a": 1})


# -------------------------------------------------------------------------------------- configs

def test_schema_registry_url_is_required(platform):
    with pytest.raises(ConfigException, match="schema.registry.url"):
        AvroConverter().configure({}, False)


def test_plugin_names_are_confluents(platform):
    plugins = Plugins()
    assert plugins.find("io.confluent.connect.avro.AvroConverter").cls is AvroConverter
    assert plugins.find("io.confluent.connect.protobuf.ProtobufConverter").cls is ProtobufConverter
    assert plugins.find("io.confluent.connect.json.JsonSchemaConverter").cls is JsonSchemaConverter


@pytest.mark.parametrize("strategy, subject", [
    ("io.confluent.kafka.serializers.subject.RecordNameStrategy", "com.example.Order"),
    ("io.confluent.kafka.serializers.subject.TopicRecordNameStrategy", "{topic}-com.example.Order"),
])
def test_subject_name_strategies(strategy, subject, registry_url):
    topic = unique_topic("strategy")
    conv = converter("avro", registry_url, **{"value.subject.name.strategy": strategy})
    payload = conv.from_connect_data(topic, ORDER, order())
    subject = subject.format(topic=topic)
    found = requests.get(f"{registry_url}/subjects/{subject}/versions/latest", timeout=10).json()
    assert found["id"] == schema_id_of(payload)
    assert conv.to_connect_data(topic, payload).value == order()


def test_auto_register_off_uses_what_is_registered(registry_url):
    topic = unique_topic("noreg")
    off = converter("avro", registry_url, **{"auto.register.schemas": "false"})
    with pytest.raises(DataException, match="not found|40401|40403"):
        off.from_connect_data(topic, ORDER, order())
    answer = requests.post(f"{registry_url}/subjects/{topic}-value/versions", json={"schema": AVRO_EXPECTED},
                           timeout=10).json()
    assert schema_id_of(off.from_connect_data(topic, ORDER, order())) == answer["id"]
    latest = converter("avro", registry_url, **{"auto.register.schemas": "false", "use.latest.version": "true"})
    assert schema_id_of(latest.from_connect_data(topic, ORDER, order())) == answer["id"]


def test_basic_auth_settings_are_accepted(registry_url):
    conv = converter("json", registry_url, **{"basic.auth.credentials.source": "USER_INFO",
                                              "schema.registry.basic.auth.user.info": "alice:secret"})
    assert conv.client is not None  # our registry runs without auth: the header is simply ignored
    topic = unique_topic("auth")
    assert conv.to_connect_data(topic, conv.from_connect_data(topic, ORDER, order())).value == order()


def test_data_settings(registry_url):
    """connect.meta.data=false leaves the connect.* props out; the other AvroData keys are taken."""
    topic = unique_topic("meta")
    conv = converter("avro", registry_url, **{"connect.meta.data": "false", "enhanced.avro.schema.support": "true",
                                              "schemas.cache.config": "10", "scrub.invalid.names": "false"})
    text = registered(registry_url, schema_id_of(conv.from_connect_data(topic, ORDER, order())))["schema"]
    assert '"connect.' not in text and '"logicalType":"decimal"' in text


def test_through_the_broker(platform, registry_url):
    """Our converter's bytes through our broker, read by confluent-kafka's consumer and deserializer."""
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.schema_registry.avro import AvroDeserializer

    broker = platform[0]
    topic = unique_topic("wire")
    payload = converter("avro", registry_url).from_connect_data(topic, ORDER, order())
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce(topic, payload)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": topic, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        message = None
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.error() is None
        got = AvroDeserializer(confluent_client(registry_url))(message.value(), ctx(topic))
    finally:
        consumer.close()
    assert got["id"] == 7 and got["amount"] == decimal.Decimal("9.99") and got["counts"] == [{"key": 10, "value": 1}]
