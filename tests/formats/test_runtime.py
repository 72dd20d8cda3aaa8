"""The runtime side of each format, used directly: writer -> reader round trips (with a 5-byte
header and `start`), RecordMismatch on values and payloads that do not fit, validators,
conversion to and from plain JSON values, record names, and payload bytes compared with what
confluent-kafka's serializers write (fastavro's schemaless_writer for Avro, its JSON encoder,
SerializeToString after its message-index bytes for Protobuf). No registry, no network."""

from __future__ import annotations

import io
import json
import math
from functools import cache
from pathlib import Path

import fastavro
import jsonschema
import pytest

import formats
from formats import InvalidSchemaError, RecordMismatch, Schema, SchemaReference
from formats.wire import HEADER_SIZE, encode_message_indexes, header

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
HEADER = header(7)  # magic byte 0, schema id 7


def text(name: str) -> str:
    return (SCHEMAS / name).read_text()


def round_trip(parsed, value, **reader_args):
    """The framed record, and the value read back from it at offset 5."""
    data = parsed.writer()(value, HEADER)
    assert data[:HEADER_SIZE] == HEADER
    return data, parsed.reader(**reader_args)(data, HEADER_SIZE)


def mismatch(fn, *args) -> str:
    with pytest.raises(RecordMismatch) as info:
        fn(*args)
    return str(info.value)


# =========================================================================== Avro

EVENT_AVSC = json.dumps({
    "type": "record", "name": "Event", "namespace": "shop",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "label", "type": "string"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "blob", "type": "bytes"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "counts", "type": {"type": "map", "values": "int"}},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["CREATED", "DELETED"]}},
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
        {"name": "ratio", "type": "double"},
        {"name": "flag", "type": "boolean"},
        {"name": "pet", "type": ["null",
                                 {"type": "record", "name": "Cat", "fields": [{"name": "lives", "type": "int"}]},
                                 {"type": "record", "name": "Dog", "fields": [{"name": "good", "type": "boolean"}]}],
         "default": None},
    ],
})

EVENT = {"id": 2**40, "label": "Zoë ☕", "note": "n", "blob": b"\x00\xff\x10", "tags": ["a", "b"],
         "counts": {"x": -1, "y": 2**31 - 1}, "kind": "DELETED", "digest": b"\x01\x02\x03\x04", "ratio": 0.25,
         "flag": False, "pet": {"good": True}}

# Avro's JSON encoding of EVENT: unions as {"type name": value}, bytes and fixed as code points.
EVENT_JSON = {"id": 2**40, "label": "Zoë ☕", "note": {"string": "n"}, "blob": "\u0000\u00ff\u0010",
              "tags": ["a", "b"], "counts": {"x": -1, "y": 2**31 - 1}, "kind": "DELETED",
              "digest": "\u0001\u0002\u0003\u0004", "ratio": 0.25, "flag": False,
              "pet": {"shop.Dog": {"good": True}}}


@cache
def avro(schema_text: str = EVENT_AVSC):
    return formats.parse(Schema(schema_text))


def fastavro_payload(schema_text: str, value, named_schemas=None) -> bytes:
    """What confluent-kafka's AvroSerializer writes after the header: fastavro's schemaless
    writer with the schema as given (not the registry's canonical string)."""
    parsed = fastavro.parse_schema(json.loads(schema_text), named_schemas=named_schemas)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, value)
    return out.getvalue()


def test_avro_round_trip_and_header_and_start():
    data, value = round_trip(avro(), EVENT)
    assert value == EVENT
    # `start` is where the payload begins; 0 reads an unframed payload.
    read = avro().reader()
    assert read(data[HEADER_SIZE:]) == EVENT
    assert read(b"junk!" + data[HEADER_SIZE:], 5) == EVENT
    # The writer writes the header it is given, and nothing when given none.
    assert avro().writer()(EVENT) == data[HEADER_SIZE:]


def test_avro_payload_is_fastavro_schemaless_writer_bytes():
    assert avro().writer()(EVENT, HEADER) == HEADER + fastavro_payload(EVENT_AVSC, EVENT)
    user = avro(text("user.avsc"))
    record = {"id": 1, "name": "Ada", "email": None}
    assert user.writer()(record) == fastavro_payload(text("user.avsc"), record)


def test_avro_with_a_reference_round_trips_and_matches_fastavro():
    address = text("address.avsc")
    customer = formats.parse(Schema(text("customer.avsc"), "AVRO",
                                    [SchemaReference("com.example.Address", "address", 1)]),
                             {"com.example.Address": address})
    record = {"id": 3, "name": "Bo", "since": 19000, "home": {"street": "1 Rue", "city": "Lyon", "country": "FR"},
              "billing": {"street": "2 Str", "city": "Köln", "country": "DE"}}
    data, value = round_trip(customer, record)
    assert value["home"] == record["home"] and value["billing"] == record["billing"]
    assert str(value["since"]) == "2022-01-08"  # date logical type: days since the epoch
    named: dict = {}
    fastavro.parse_schema(json.loads(address), named_schemas=named)
    assert data[HEADER_SIZE:] == fastavro_payload(text("customer.avsc"), record, named)
    assert customer.name() == "com.example.Customer"


def test_avro_reader_schema_adds_a_field_with_its_default():
    v1, v2 = avro(text("user.avsc")), avro(text("user-v2.avsc"))
    data = v1.writer()({"id": 5, "name": "Ann", "email": "a@x"}, HEADER)
    assert v1.reader(v2)(data, HEADER_SIZE) == {"id": 5, "name": "Ann", "email": "a@x", "country": "unknown"}
    # ... and the other way round, v2's extra field is skipped.
    data = v2.writer()({"id": 6, "name": "Bob", "email": None, "country": "FR"})
    assert v2.reader(v1)(data) == {"id": 6, "name": "Bob", "email": None}


def test_avro_reader_schema_that_cannot_read_the_writer():
    v1, v3 = avro(text("user.avsc")), avro(text("user-v3-incompatible.avsc"))
    data = v1.writer()({"id": 5, "name": "Ann", "email": None})
    message = mismatch(v1.reader(v3), data)
    assert "birth_year" in message
    with pytest.raises(InvalidSchemaError):
        v1.reader(formats.parse(Schema('{"type":"string"}', "JSON")))


def test_avro_return_record_name():
    data = avro().writer()(EVENT)
    assert avro().reader()(data)["pet"] == {"good": True}
    assert avro().reader(return_record_name=True)(data)["pet"] == ("shop.Dog", {"good": True})
    cat = avro().writer()({**EVENT, "pet": {"lives": 9}})
    assert avro().reader(return_record_name=True)(cat)["pet"] == ("shop.Cat", {"lives": 9})
    # The null branch is no record: no name.
    null = avro().writer()({**EVENT, "pet": None})
    assert avro().reader(return_record_name=True)(null)["pet"] is None


@pytest.mark.parametrize("change,named", [
    ({"id": "1"}, "id"),
    ({"id": 2**64}, ""),  # out of a long's range
    ({"label": 5}, "label"),
    ({"blob": "text"}, "blob"),
    ({"kind": "UPDATED"}, "UPDATED"),
    ({"pet": {"barks": True}}, "pet"),
    ({"digest": 1.5}, "digest"),
])
def test_avro_writer_rejects_values_that_do_not_fit(change, named):
    assert named in mismatch(avro().writer(), {**EVENT, **change})


def test_avro_writer_rejects_a_missing_field_and_a_non_record():
    value = dict(EVENT)
    del value["label"]
    assert "label" in mismatch(avro().writer(), value)
    mismatch(avro().writer(), 5)
    mismatch(avro().writer(), None)


def test_avro_reader_rejects_truncated_garbage_and_trailing_bytes():
    read = avro().reader()
    payload = avro().writer()(EVENT)
    for cut in range(len(payload)):
        mismatch(read, payload[:cut])
    assert mismatch(read, b"").startswith("EOFError")
    assert mismatch(read, payload[:-1]).startswith("EOFError")
    assert "1 bytes left over" in mismatch(read, payload + b"\x00")
    assert "2 bytes left over" in mismatch(read, HEADER + payload + b"\x00\x00", HEADER_SIZE)
    mismatch(read, b"\xff" * 20)  # a never-ending varint
    mismatch(read, b"\x02\x7f")  # id 1, then a string of -64 bytes


def test_avro_validator():
    check = avro().validator()
    assert check(EVENT) is None
    assert "shop.Event.id" in check({**EVENT, "id": "1"})
    assert "shop.Event.kind" in check({**EVENT, "kind": "UPDATED"})
    # fastavro's writer would write a string as the array of its characters; the validator says no.
    assert "shop.Event.tags" in check({**EVENT, "tags": "ab"})
    assert check([EVENT]) is not None
    assert avro('"string"').validator()("x") is None and avro('"string"').validator()(1) is not None


def test_avro_to_json_and_from_json():
    assert avro().to_json(EVENT) == EVENT_JSON
    assert avro().from_json(EVENT_JSON) == EVENT
    assert avro().to_json(avro().from_json(EVENT_JSON)) == EVENT_JSON
    # What the reader returns converts, and survives a JSON text round trip.
    value = avro().reader()(avro().writer()(EVENT))
    assert avro().from_json(json.loads(json.dumps(avro().to_json(value)))) == EVENT
    # Unions: the null branch is a bare null, a named branch goes by its full name.
    none = {**EVENT_JSON, "note": None, "pet": {"shop.Cat": {"lives": 1}}}
    assert avro().from_json(none)["note"] is None and avro().from_json(none)["pet"] == {"lives": 1}
    assert avro('"bytes"').to_json(b"\x00A\xe9") == "\x00Aé"
    assert avro('"bytes"').from_json("\x00Aé") == b"\x00A\xe9"


MISSING = object()


@pytest.mark.parametrize("change", [
    {"label": MISSING},  # a field without a default left out
    {"pet": {"shop.Bird": {"wings": 2}}},  # no such branch
    {"pet": {"lives": 9}},  # a union branch must be named
    {"note": "n"},  # idem
    {"flag": "false"},  # would have been written as true
    {"id": "1"},
    {"ratio": "0.5"},
    {"kind": "UPDATED"},
])
def test_avro_from_json_rejects_what_is_not_avro_json(change):
    value = {k: v for k, v in {**EVENT_JSON, **change}.items() if v is not MISSING}
    assert mismatch(avro().from_json, value).startswith("not Avro JSON for the schema")


def test_avro_to_json_rejects_a_value_that_does_not_fit():
    mismatch(avro().to_json, {"id": 1})
    mismatch(avro().to_json, 5)


def test_avro_name():
    assert avro().name() == "shop.Event"
    assert avro(text("user.avsc")).name() == "schemabus.example.User"
    assert avro('"string"').name() is None
    assert avro('{"type":"array","items":"int"}').name() is None


# =========================================================================== Protobuf

SHOP_PROTO = '''syntax = "proto3";
package shop.v1;

import "google/protobuf/timestamp.proto";

message Order {
  int64 id = 1;
  repeated Line lines = 2;
  map<string, string> labels = 3;
  Status status = 4;
  bytes token = 5;
  google.protobuf.Timestamp placed = 6;
  string customer_name = 7;

  message Line {
    string sku = 1;
    int32 qty = 2;
    Note note = 3;

    message Note {
      string text = 1;
    }
  }

  enum Status {
    STATUS_UNSPECIFIED = 0;
    PAID = 1;
  }
}

message Refund {
  int64 order_id = 1;
  Order.Line line = 2;
}
'''

LEGACY_PROTO = '''syntax = "proto2";
package legacy;
message Ping {
  required int32 seq = 1;
  optional string note = 2;
}
'''


@cache
def proto(schema_text: str = SHOP_PROTO):
    return formats.provider("PROTOBUF").parse(schema_text)


@cache
def proto_user():
    return formats.parse(Schema(text("user.proto"), "PROTOBUF", [SchemaReference("address.proto", "address.proto", 1)]),
                         {"address.proto": text("address.proto")})


def order():
    Order = proto().message_class("shop.v1.Order")
    message = Order(id=-7, status=1, token=b"\x00\x01", customer_name="Zoë")
    line = message.lines.add(sku="A-1", qty=3)
    line.note.text = "gift"
    message.lines.add(sku="B-2", qty=1)
    message.labels["channel"] = "web"
    message.placed.FromSeconds(1_700_000_000)
    return message


def confluent_index_bytes(descriptor) -> bytes:
    """The message-index bytes confluent-kafka's ProtobufSerializer writes for a message type."""
    try:
        from confluent_kafka.schema_registry.common.protobuf import _create_index_array
        from confluent_kafka.schema_registry.common.serde import SchemaId
        encode = SchemaId._encode_varints
    except ImportError:
        try:  # older confluent-kafka
            from confluent_kafka.schema_registry.protobuf import ProtobufSerializer, _create_index_array
            encode = ProtobufSerializer._encode_varints
        except ImportError:
            pytest.skip("this confluent-kafka has no _create_index_array")
    out = io.BytesIO()
    encode(out, _create_index_array(descriptor), zigzag=True)
    return out.getvalue()


def test_protobuf_index_paths():
    assert proto().index_paths() == {
        "shop.v1.Order": (0,),
        # protoc adds the map entry type LabelsEntry where the map field is declared, before Line:
        # it does not count, as in Confluent's Java serdes (confluent-kafka-python counts it).
        "shop.v1.Order.Line": (0, 0),
        "shop.v1.Order.Line.Note": (0, 0, 0),
        "shop.v1.Refund": (1,),
    }


def test_protobuf_round_trip_nested_message():
    message = order()
    data, value = round_trip(proto(), message)
    assert data == HEADER + b"\x00" + message.SerializeToString()
    assert value == message and value.DESCRIPTOR.full_name == "shop.v1.Order"
    assert value.lines[0].note.text == "gift" and value.labels["channel"] == "web"
    assert value.placed.seconds == 1_700_000_000


@pytest.mark.parametrize("full_name,indexes,fields", [
    ("shop.v1.Refund", [1], {"order_id": 9, "line": {"sku": "C", "qty": 2}}),
    ("shop.v1.Order.Line", [0, 0], {"sku": "D", "qty": 4, "note": {"text": "t"}}),
    ("shop.v1.Order.Line.Note", [0, 0, 0], {"text": "deep"}),
])
def test_protobuf_round_trip_other_message_types_by_index_path(full_name, indexes, fields):
    message = proto().message_class(full_name)(**fields)
    data, value = round_trip(proto(), message)
    assert data == HEADER + encode_message_indexes(indexes) + message.SerializeToString()
    assert type(value).DESCRIPTOR.full_name == full_name and value == message
    confluent_python = confluent_index_bytes(message.DESCRIPTOR) + message.SerializeToString()
    if full_name.startswith("shop.v1.Order.Line"):
        # Declared after the labels map: confluent-kafka-python counts the map entry type,
        # Confluent's Java serdes (and we) do not. The README names this difference.
        assert data[HEADER_SIZE:] != confluent_python
    else:
        assert data[HEADER_SIZE:] == confluent_python


def test_protobuf_first_type_matches_confluent_index_bytes():
    message = order()
    assert confluent_index_bytes(message.DESCRIPTOR) == b"\x00"
    assert proto().writer()(message) == b"\x00" + message.SerializeToString()


def test_protobuf_writes_a_message_of_its_type_from_another_pool():
    """A generated or separately compiled class of one of its types is written all the same."""
    other = formats.provider("PROTOBUF").parse(SHOP_PROTO + "\n// another copy\n")
    refund = other.message_class("shop.v1.Refund")(order_id=1)
    value = proto().reader()(proto().writer()(refund))
    assert value.order_id == 1 and value.DESCRIPTOR.full_name == "shop.v1.Refund"


def test_protobuf_start_offset_skips_anything_before_the_payload():
    message = proto().message_class("shop.v1.Refund")(order_id=3)
    data = proto().writer()(message, HEADER)
    read = proto().reader()
    assert read(data, HEADER_SIZE) == message
    assert read(data[HEADER_SIZE:]) == message
    assert read(b"\xff\xff" + data[HEADER_SIZE:], 2) == message


def test_protobuf_schema_with_references():
    user = proto_user()
    assert user.name() == "schemabus.example.User"
    assert user.index_paths()["schemabus.example.User"] == (0,)
    User = user.message_class()
    message = User(id=1, name="Ada", email="ada@example.com", phone="123", roles=[1, 2])
    message.address.city = "Paris"
    message.labels["k"] = "v"
    message.created.FromSeconds(0)
    data, value = round_trip(user, message)
    assert value == message and value.address.city == "Paris" and value.WhichOneof("contact") == "phone"
    # An imported type is not one of this schema's messages: no index path names it.
    Address = user.message_class("schemabus.example.Address")
    assert "not a message type of this schema" in mismatch(user.writer(), Address(city="x"))


@pytest.mark.parametrize("payload,named", [
    (b"\x02\x0a", "[5]"),  # one index: 5
    (b"\x04\x02\x00", "[1, 0]"),  # Refund has no nested message
    (b"\x06\x00\x02\x08", "[0, 1, 4]"),
    (b"\x02\x01", "[-1]"),
])
def test_protobuf_reader_rejects_an_unknown_message_index_path(payload, named):
    message = mismatch(proto().reader(), HEADER + payload + b"\x08\x01", HEADER_SIZE)
    assert f"message index path {named} does not exist" in message


def test_protobuf_reader_rejects_bad_payloads():
    read = proto().reader()
    good = order().SerializeToString()
    assert "truncated varint" in mismatch(read, b"")
    assert "truncated varint" in mismatch(read, b"\x80")
    assert "truncated varint" in mismatch(read, b"\x04\x02\x80")  # the second index is cut
    assert "invalid message index count 2" in mismatch(read, b"\x04\x00")  # two announced, one byte left
    assert "invalid message index count" in mismatch(read, b"\x7e\x00")  # 63 indexes in 2 bytes
    assert "cannot decode shop.v1.Order" in mismatch(read, b"\x00" + good[:-1])
    assert "cannot decode shop.v1.Order" in mismatch(read, HEADER + b"\x00\x12\x05ab", HEADER_SIZE)
    assert "cannot decode shop.v1.Refund" in mismatch(read, b"\x02\x02\xff\xff\xff")


def test_protobuf_writer_rejects_what_is_not_one_of_its_messages():
    write = proto().writer()
    assert "dict is not a message type of this schema" in mismatch(write, {"id": 1})
    foreign = proto('syntax = "proto3"; package other; message Order { int64 id = 1; }').message_class()
    assert "is not a message type of this schema" in mismatch(write, foreign(id=1))
    # Same simple name, another package: still not this schema's type.
    unpackaged = proto('syntax = "proto3"; message Order { int64 id = 1; }').message_class()
    mismatch(write, unpackaged(id=1))


def test_protobuf_proto2_required_fields():
    legacy = proto(LEGACY_PROTO)
    Ping = legacy.message_class()
    assert legacy.validator()(Ping(seq=1)) is None
    assert legacy.validator()(Ping(note="x")) == "legacy.Ping is missing required fields: seq"
    assert "missing required fields: seq" in mismatch(legacy.writer(), Ping(note="x"))
    data, value = round_trip(legacy, Ping(seq=2, note="é"))
    assert value.seq == 2 and value.note == "é"


def test_protobuf_validator():
    check = proto().validator()
    assert check(order()) is None
    assert check(proto().message_class("shop.v1.Order.Line.Note")()) is None
    assert check({"id": 1}) == "dict is not a message type of this schema"
    assert "not a message type of this schema" in check(proto_user().message_class("schemabus.example.Address")())


def test_protobuf_to_json_uses_proto_field_names_and_the_json_mapping():
    as_json = proto().to_json(order())
    assert as_json == {
        "id": "-7",  # 64-bit integers are strings
        "lines": [{"sku": "A-1", "qty": 3, "note": {"text": "gift"}}, {"sku": "B-2", "qty": 1}],
        "labels": {"channel": "web"},
        "status": "PAID",  # enums by name
        "token": "AAE=",  # bytes in base64
        "placed": "2023-11-14T22:13:20Z",  # well-known types by their own mapping
        "customer_name": "Zoë",  # the proto field name, not customerName
    }
    assert proto().from_json(as_json) == order()
    assert proto().to_json(proto().from_json(as_json)) == as_json
    # What the reader returns converts too; defaults are left out.
    assert proto().to_json(proto().reader()(proto().writer()(order()))) == as_json
    assert proto().to_json(proto().message_class()()) == {}


def test_protobuf_from_json_accepts_json_names_and_other_types():
    message = proto().from_json({"id": 5, "customerName": "x", "status": 1, "lines": [{"note": {}}]})
    assert message.id == 5 and message.customer_name == "x" and message.status == 1 and len(message.lines) == 1
    refund = proto().from_json({"order_id": "12", "line": {"sku": "S"}}, "shop.v1.Refund")
    assert refund.DESCRIPTOR.full_name == "shop.v1.Refund" and refund.order_id == 12 and refund.line.sku == "S"
    assert proto().to_json(refund) == {"order_id": "12", "line": {"sku": "S"}}


@pytest.mark.parametrize("value,named", [
    ({"nope": 1}, 'no field named "nope"'),
    ({"id": "x"}, "id"),
    ({"id": 1.5}, "id"),
    ({"lines": {"sku": "A"}}, "lines"),  # a repeated field needs a list
    ({"lines": [{"qty": "many"}]}, "qty"),
    ({"labels": ["a"]}, "labels"),
    ({"status": "REFUNDED"}, "REFUNDED"),
    ({"placed": "yesterday"}, "placed"),
    ("a string", "expected a JSON object, got str"),
    ([{"id": 1}], "expected a JSON object, got list"),
    (None, "expected a JSON object, got NoneType"),
    (5, "expected a JSON object, got int"),
])
def test_protobuf_from_json_rejects_what_is_not_its_json_mapping(value, named):
    message = mismatch(proto().from_json, value)
    assert message.startswith("not Protobuf JSON for shop.v1.Order") and named in message


def test_protobuf_names():
    assert proto().name() == "shop.v1.Order"
    assert proto('syntax = "proto3"; message A { message B {} } message C {}').name() == "A"
    assert proto('syntax = "proto3"; package p; enum E { E0 = 0; }').name() is None


def test_protobuf_index_paths_survive_the_stored_form():
    """Written with the schema as its producer compiled it, read with the schema the registry
    stores: the stored text renders the map field before B, so its compiled descriptor has
    A.MEntry ahead of B. Index paths count declared messages only (as Confluent's Java serdes
    do), so B is [0, 0] in both forms."""
    source = ('syntax = "proto3";\npackage t;\n'
              'message A {\n  message B { int32 x = 1; }\n  map<string, string> m = 1;\n  B b = 2;\n}\n')
    as_written = proto(source)
    as_stored = proto(as_written.canonical_string())
    B = as_written.message_class("t.A.B")
    value = as_stored.reader()(as_written.writer()(B(x=5)))
    assert value.DESCRIPTOR.full_name == "t.A.B"


# =========================================================================== JSON Schema

PRODUCT = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Product",
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "minLength": 1},
        "price": {"type": "number", "exclusiveMinimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "stock": {"type": "integer", "default": 0},
        "contact": {"type": "string", "format": "email"},
    },
    "required": ["id", "name"],
    "additionalProperties": False,
}
PRODUCT_DOC = {"id": 1, "name": "Café ☕ crème", "price": 2.5, "tags": ["hot", "drink"]}

USER_DOC = {"id": 1, "name": "Zoë", "email": "zoe@example.com",
            "address": {"street": "1 Rue", "city": "Paris", "postcode": "75001"}, "roles": ["admin"]}

POINT_2020 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Point",
    "type": "object",
    "properties": {
        "xy": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}], "items": False},
        "tag": {"$ref": "#/$defs/tag"},
    },
    "$defs": {"tag": {"type": "string", "minLength": 1}},
    "required": ["xy"],
    "unevaluatedProperties": False,
}


@cache
def json_schema(schema_text: str = json.dumps(PRODUCT)):
    return formats.parse(Schema(schema_text, "JSON"))


@cache
def json_user():
    """user.json: its $ref to address.json resolves through `resolved` (jsonschema's path)."""
    return formats.provider("JSON").parse(text("user.json"), [SchemaReference("address.json", "address", 1)],
                                          {"address.json": text("address.json")})


def confluent_json_payload(document) -> bytes:
    """What confluent-kafka's JSONSerializer writes after the header."""
    try:
        from confluent_kafka.schema_registry.common.json_schema import _json_dumps
    except ImportError:  # its documented form: compact, non-ASCII as UTF-8
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    return _json_dumps(document).encode("utf-8")


def test_json_round_trip_header_and_start():
    data, value = round_trip(json_schema(), PRODUCT_DOC)
    assert value == PRODUCT_DOC
    read = json_schema().reader()
    assert read(data[HEADER_SIZE:]) == PRODUCT_DOC
    assert read(b"xx" + data[HEADER_SIZE:], 2) == PRODUCT_DOC


def test_json_payload_is_confluents_compact_utf8():
    data = json_schema().writer()(PRODUCT_DOC, HEADER)
    assert data == HEADER + confluent_json_payload(PRODUCT_DOC)
    assert "Café ☕ crème".encode() in data  # not \u escapes
    assert json_user().writer()(USER_DOC) == confluent_json_payload(USER_DOC)


def test_json_writer_and_validator_leave_the_document_alone():
    """No default filled in (fastjsonschema's default would add "stock": 0)."""
    document = {"id": 1, "name": "n"}
    assert json_schema().validator()(document) is None
    assert json_schema().writer()(document) == b'{"id":1,"name":"n"}'
    assert json_schema().from_json(document) == {"id": 1, "name": "n"}
    assert json_schema().reader()(b'{"id":1,"name":"n"}') == {"id": 1, "name": "n"}
    assert document == {"id": 1, "name": "n"}


def test_json_referenced_schema_round_trip():
    user = json_user()
    data, value = round_trip(user, USER_DOC)
    assert value == USER_DOC
    # The referenced schema's rules apply.
    bad = {**USER_DOC, "address": {"street": "x"}}
    assert mismatch(user.writer(), bad) == "'city' is a required property at address"
    assert mismatch(user.reader(), json.dumps(bad).encode()) == "'city' is a required property at address"


def test_json_referenced_schema_validator_verdicts_match_jsonschema():
    check = json_user().validator()
    oracle = jsonschema.Draft7Validator(json.loads(text("user.json")), registry=json_user().registry)
    documents = [
        USER_DOC,
        {"id": 1, "name": "x"},
        {"id": 0, "name": "x"},
        {"id": 1, "name": ""},
        {"id": 1, "name": "x", "address": {"city": "P", "postcode": "!!"}},
        {"id": 1, "name": "x", "address": {"city": "P", "extra": 1}},
        {"id": 1, "name": "x", "roles": ["admin", "admin"]},
        {"id": 1, "name": "x", "roles": ["root"]},
        {"id": 1, "name": "x", "email": None},
        {"id": 1, "name": "x", "other": True},
        {"name": "x"},
        [],
    ]
    for document in documents:
        reason = check(document)
        assert (reason is None) == oracle.is_valid(document), document
        if reason is not None:
            best = jsonschema.exceptions.best_match(oracle.iter_errors(document))
            assert reason.startswith(best.message), (document, reason)
    assert check({"id": 1, "name": "x", "address": {"city": "P", "postcode": "!!"}}) == \
        "'!!' does not match '^[0-9A-Z -]{3,10}$' at address/postcode"


@pytest.mark.parametrize("draft", ["http://json-schema.org/draft-04/schema#",
                                   "http://json-schema.org/draft-07/schema#",
                                   "https://json-schema.org/draft/2019-09/schema"])
@pytest.mark.parametrize("document,valid", [
    (PRODUCT_DOC, True),
    ({"id": 1, "name": "n", "contact": "not an email"}, True),  # formats annotate, as jsonschema's default
    ({"id": 1, "name": "n", "stock": 3}, True),
    ({"id": 2.0, "name": "n"}, None),  # an integer from draft 6 on
    ({"id": True, "name": "n"}, False),
    ({"id": 0, "name": "n"}, False),
    ({"id": 1, "name": ""}, False),
    ({"id": 1, "name": "n", "price": 0}, None),  # draft 4's exclusiveMinimum is a boolean
    ({"id": 1, "name": "n", "tags": ["a", "a"]}, False),
    ({"id": 1, "name": "n", "extra": 1}, False),
    ({"id": 1}, False),
    ("text", False),
])
def test_json_validator_verdicts_are_jsonschemas_on_every_path(draft, document, valid):
    """Drafts 4/6/7 without references take fastjsonschema's path, others jsonschema's: one verdict."""
    schema = dict(PRODUCT, **{"$schema": draft})
    if draft.endswith("draft-04/schema#"):
        schema["properties"] = dict(schema["properties"], price={"type": "number", "minimum": 0,
                                                                  "exclusiveMinimum": True})
    parsed = json_schema(json.dumps(schema))
    expected = jsonschema.validators.validator_for(schema)(schema).is_valid(document)
    if valid is not None:
        assert expected is valid
    assert (parsed.validator()(document) is None) is expected


def test_json_fast_path_reasons_name_the_field():
    check = json_schema().validator()
    assert "id" in check({"id": 0, "name": "n"}) and "1" in check({"id": 0, "name": "n"})
    assert "'extra'" in check({"id": 1, "name": "n", "extra": 1})
    assert "name" in check({"id": 1})


def test_json_draft_2020_12():
    point = json_schema(json.dumps(POINT_2020))
    assert point.name() == "Point"
    document = {"xy": [1.5, -2], "tag": "t"}
    data, value = round_trip(point, document)
    assert value == document
    check = point.validator()
    assert check({"xy": [1, 2]}) is None
    assert "Expected at most 2 items" in check({"xy": [1, 2, 3]})
    assert check({"xy": [1, "a"]}) == "'a' is not of type 'number' at xy/1"
    assert check({"xy": [1, 2], "tag": ""}).endswith("at tag")
    assert "Unevaluated properties are not allowed" in check({"xy": [1, 2], "z": 0})
    assert "Unevaluated" in mismatch(point.writer(), {"xy": [1, 2], "z": 0})


def test_json_reader_rejects_payloads_that_are_not_json():
    read = json_schema().reader()
    for payload in (b"", b"{", b"nope", b"\xff\xfe\x00", b'{"id":1,"name":"n"} trailing', b"{'id': 1}"):
        assert mismatch(read, HEADER + payload, HEADER_SIZE).startswith("not JSON: ")


def test_json_reader_validates_the_document():
    read = json_schema().reader()
    assert "id" in mismatch(read, b'{"id":0,"name":"n"}')
    # Against the reader schema when one is given.
    strict = json_schema(json.dumps({**PRODUCT, "required": ["id", "name", "price"]}))
    payload = json_schema().writer()({"id": 1, "name": "n"})
    assert json_schema().reader()(payload) == {"id": 1, "name": "n"}
    assert "price" in mismatch(json_schema().reader(strict), payload)
    with pytest.raises(InvalidSchemaError):
        json_schema().reader(avro())


@pytest.mark.parametrize("document,reason", [
    ({"id": "1", "name": "n"}, "id"),
    ({"id": 1, "name": "n", "price": math.nan}, "not JSON-serializable"),
    ({"id": 1, "name": "n", "price": math.inf}, "not JSON-serializable"),
    ({"id": 1, "name": "n", "tags": {"a"}}, None),  # a set is no JSON array
])
def test_json_writer_rejects_documents_that_do_not_fit(document, reason):
    message = mismatch(json_schema().writer(), document)
    assert reason is None or reason in message


def test_json_writer_rejects_what_json_cannot_write_where_the_schema_allows_anything():
    anything = json_schema('{"title":"Any"}')
    assert anything.writer()({"a": [1, None, "é"]}) == '{"a":[1,null,"é"]}'.encode()
    for value in ({"a": {1, 2}}, {"a": b"bytes"}, {"a": math.nan}, {"a": "\ud800"}):
        assert mismatch(anything.writer(), value).startswith("not JSON-serializable")


def test_json_from_json_and_to_json():
    assert json_schema().from_json(PRODUCT_DOC) == PRODUCT_DOC
    assert json_schema().to_json(PRODUCT_DOC) == PRODUCT_DOC
    assert json_user().from_json(USER_DOC) == USER_DOC
    assert "id" in mismatch(json_schema().from_json, {"id": "1", "name": "n"})
    assert mismatch(json_user().from_json, {**USER_DOC, "address": {}}) == "'city' is a required property at address"


def test_json_names():
    assert json_schema().name() == "Product"
    assert json_user().name() == "User"
    assert json_schema('{"type":"string"}').name() is None
    assert json_schema('{"title":5}').name() is None
    assert json_schema("true").name() is None


def test_json_boolean_schemas():
    assert json_schema("true").writer()([1, "x"]) == b'[1,"x"]'
    assert json_schema("false").validator()(1) is not None
    mismatch(json_schema("false").reader(), b"1")


# =========================================================================== all formats

@pytest.mark.parametrize("schema_type,schema_text,expected", [
    ("AVRO", text("user.avsc"), "schemabus.example.User"),
    ("PROTOBUF", SHOP_PROTO, "shop.v1.Order"),
    ("JSON", text("address.json"), "Address"),
])
def test_name_per_format_through_parse_and_provider(schema_type, schema_text, expected):
    assert formats.parse(Schema(schema_text, schema_type)).name() == expected
    assert formats.provider(schema_type).parse(schema_text).name() == expected


def test_record_mismatch_is_a_value_error():
    assert issubclass(RecordMismatch, ValueError)
    with pytest.raises(ValueError):
        avro().reader()(b"")


def test_generated_message_indexes_skip_map_entries():
    """A serializer's index path for a generated class counts declared messages only, so a
    message declared after a map field gets the path the stored schema's reader expects."""
    from formats.protobuf.generated import message_indexes

    source = ('syntax = "proto3";\npackage t;\n'
              'message A {\n  map<string, string> m = 1;\n  message B { int32 x = 1; }\n  B b = 2;\n}\n')
    compiled = proto(source)
    B = compiled.message_class("t.A.B")
    assert message_indexes(B.DESCRIPTOR) == [0, 0] == list(compiled.index_paths()["t.A.B"])
    stored = proto(compiled.canonical_string())
    assert stored.reader()(compiled.writer()(B(x=7))).x == 7


def test_json_schema_ref_to_a_meta_schema_validates_without_network():
    """A `$ref` out of the document (here to draft 7's meta-schema) is resolved from the known
    resources by jsonschema; the compiled fast path would fetch it over the network."""
    parsed = formats.provider("JSON").parse(json.dumps({
        "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
        "properties": {"inner": {"$ref": "http://json-schema.org/draft-07/schema#"}}}))
    check = parsed.validator()
    assert check({"inner": {"type": "string"}}) is None
    assert check({"inner": {"type": 12}}) is not None
