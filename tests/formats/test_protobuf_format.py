"""The PROTOBUF provider: parsing (.proto text and base64 descriptors), the canonical and
normalized text (golden), descriptors usable for dynamic messages, and bad input."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from formats import InvalidSchemaError, provider
from formats.base import SchemaReference
from formats.protobuf import ProtobufProvider

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
PROVIDER = ProtobufProvider()
ADDRESS = (SCHEMAS / "address.proto").read_text()
ADDRESS_REF = [SchemaReference("address.proto", "address.proto", 1)]


def user(name: str = "user.proto"):
    return PROVIDER.parse((SCHEMAS / name).read_text(), ADDRESS_REF, {"address.proto": ADDRESS})


USER_CANONICAL = '''syntax = "proto3";
package schemabus.example;

import "address.proto";
import "google/protobuf/timestamp.proto";

option java_multiple_files = true;
option java_package = "io.schemabus.example";

message User {
  int64 id = 1;
  string name = 2;
  optional string email = 3;
  .schemabus.example.Address address = 4;
  .google.protobuf.Timestamp created = 5;
  map<string, string> labels = 6;
  repeated .schemabus.example.User.Role roles = 7 [packed = true];

  oneof contact {
    string phone = 8;
    string pager = 9;
  }

  enum Role {
    ROLE_UNSPECIFIED = 0;
    ROLE_ADMIN = 1;
    ROLE_MEMBER = 2;
  }
}
'''

UNSORTED = '''
// comments and layout do not matter
syntax = "proto3";
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
package shop;
option java_package = "shop";
option go_package = "example.com/shop";
message Order {
  reserved 20 to 25, 15;
  reserved "legacy";
  oneof payment { string card = 9; string iban = 7; }
  oneof channel { string web = 5; }
  google.protobuf.Timestamp placed = 3;
  int64 id = 1 [json_name = "orderId"];
  map<string, Line> lines = 2;
  State state = 4;
  google.protobuf.Duration ttl = 6;
  message Line { int32 qty = 2; string sku = 1; }
  enum State { option allow_alias = true; OPEN = 0; DONE = 2; CLOSED = 2; NEW = 1; }
}
message Empty {}
'''

UNSORTED_CANONICAL = '''syntax = "proto3";
package shop;

import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";

option go_package = "example.com/shop";
option java_package = "shop";

message Order {
  reserved 20 to 25;
  reserved 15;
  reserved "legacy";

  .google.protobuf.Timestamp placed = 3;
  int64 id = 1 [json_name = "orderId"];
  map<string, .shop.Order.Line> lines = 2;
  .shop.Order.State state = 4;
  .google.protobuf.Duration ttl = 6;

  oneof payment {
    string card = 9;
    string iban = 7;
  }
  oneof channel {
    string web = 5;
  }

  message Line {
    int32 qty = 2;
    string sku = 1;
  }
  enum State {
    option allow_alias = true;
    OPEN = 0;
    DONE = 2;
    CLOSED = 2;
    NEW = 1;
  }
}
message Empty {}
'''

UNSORTED_NORMALIZED = '''syntax = "proto3";
package shop;

import "google/protobuf/duration.proto";
import "google/protobuf/timestamp.proto";

option go_package = "example.com/shop";
option java_package = "shop";

message Order {
  reserved 15;
  reserved 20 to 25;
  reserved "legacy";

  int64 id = 1 [json_name = "orderId"];
  map<string, .shop.Order.Line> lines = 2;
  .google.protobuf.Timestamp placed = 3;
  .shop.Order.State state = 4;
  .google.protobuf.Duration ttl = 6;

  oneof channel {
    string web = 5;
  }
  oneof payment {
    string iban = 7;
    string card = 9;
  }

  message Line {
    string sku = 1;
    int32 qty = 2;
  }
  enum State {
    option allow_alias = true;
    OPEN = 0;
    NEW = 1;
    CLOSED = 2;
    DONE = 2;
  }
}
message Empty {}
'''

PROTO2 = '''
syntax = "proto2";
package legacy;
import "google/protobuf/descriptor.proto";
extend google.protobuf.FieldOptions { optional string sensitivity = 50001; }
message Account {
  required int64 id = 1;
  optional string name = 2 [default = "n/a", (sensitivity) = "low"];
  optional bytes salt = 3 [default = "\\001\\377"];
  optional double limit = 4 [default = inf];
  optional Kind kind = 5 [default = PERSONAL];
  repeated group Entry = 6 { optional string key = 1; }
  extensions 100 to max;
  enum Kind { PERSONAL = 1; BUSINESS = 2; }
}
extend Account { optional int32 score = 100; }
service Accounts { rpc Get (Account) returns (stream Account); }
'''

PROTO2_CANONICAL = '''syntax = "proto2";
package legacy;

import "google/protobuf/descriptor.proto";

message Account {
  required int64 id = 1;
  optional string name = 2 [default = "n/a", (.legacy.sensitivity) = "low"];
  optional bytes salt = 3 [default = "\\001\\377"];
  optional double limit = 4 [default = inf];
  optional .legacy.Account.Kind kind = 5 [default = PERSONAL];
  repeated group Entry = 6 {
    optional string key = 1;
  }

  extensions 100 to max;

  enum Kind {
    PERSONAL = 1;
    BUSINESS = 2;
  }
}

extend .google.protobuf.FieldOptions {
  optional string sensitivity = 50001;
}
extend .legacy.Account {
  optional int32 score = 100;
}

service Accounts {
  rpc Get (.legacy.Account) returns (stream .legacy.Account);
}
'''


def test_registered_as_protobuf():
    assert provider("PROTOBUF").schema_type == "PROTOBUF"


def test_canonical_text_golden():
    assert user().canonical_string() == USER_CANONICAL
    assert user().normalize().canonical_string() == USER_CANONICAL  # already in order


@pytest.mark.parametrize("text,canonical,normalized", [
    (UNSORTED, UNSORTED_CANONICAL, UNSORTED_NORMALIZED),
    (PROTO2, PROTO2_CANONICAL, PROTO2_CANONICAL),
])
def test_canonical_and_normalized_golden(text, canonical, normalized):
    parsed = PROVIDER.parse(text)
    assert parsed.canonical_string() == canonical
    assert parsed.normalize().canonical_string() == normalized
    # both strings are fixed points: stored, parsed again, they come out the same
    assert PROVIDER.parse(canonical, new=False).canonical_string() == canonical
    assert PROVIDER.parse(normalized, new=False).canonical_string() == normalized
    assert PROVIDER.parse(normalized).normalize().canonical_string() == normalized
    assert parsed.equivalent(PROVIDER.parse(normalized))


def test_base64_descriptor_gives_the_same_schema():
    parsed = user()
    encoded = parsed.formatted_string("serialized")
    assert parsed.formatted_string("SERIALIZED") == encoded
    fdp = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(encoded))
    assert fdp.name == "default" and fdp.package == "schemabus.example"
    assert list(fdp.dependency) == ["address.proto", "google/protobuf/timestamp.proto"]
    again = PROVIDER.parse(encoded, ADDRESS_REF, {"address.proto": ADDRESS})
    assert again.canonical_string() == USER_CANONICAL
    # a descriptor as protoc gives it to generated code, with its own file name
    fdp.name = "schemabus/example/user.proto"
    renamed = base64.b64encode(fdp.SerializeToString()).decode()
    assert PROVIDER.parse(renamed, ADDRESS_REF, {"address.proto": ADDRESS}).canonical_string() == USER_CANONICAL
    # references may themselves be stored as descriptors
    address_b64 = PROVIDER.parse(ADDRESS).formatted_string("serialized")
    assert PROVIDER.parse(encoded, ADDRESS_REF, {"address.proto": address_b64}).canonical_string() == USER_CANONICAL


def test_unknown_format_gives_the_canonical_text():
    assert user().formatted_string("ignore_extensions") == USER_CANONICAL
    assert user().formatted_string(None) == USER_CANONICAL


def test_descriptors_build_dynamic_messages():
    parsed = user()
    assert parsed.name() == "schemabus.example.User"
    cls = parsed.message_class()
    message = cls(id=7, name="ada", email="ada@example.com", phone="123")
    message.address.city = "London"
    message.labels["tier"] = "gold"
    message.roles.append(1)
    data = message.SerializeToString()
    back = parsed.message_class("schemabus.example.User").FromString(data)
    assert back.address.city == "London" and back.labels["tier"] == "gold" and back.WhichOneof("contact") == "phone"
    assert parsed.message_descriptor().fields_by_name["created"].message_type.full_name == "google.protobuf.Timestamp"
    assert parsed.file_descriptor().name == "default"
    assert [d.name for d in parsed.dependencies()] == ["address.proto", "google/protobuf/timestamp.proto"]


def test_well_known_imports_need_no_reference():
    text = '''syntax = "proto3";
import "google/protobuf/any.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/wrappers.proto";
import "google/type/date.proto";
import "confluent/meta.proto";
import "confluent/type/decimal.proto";
message W {
  google.protobuf.Any any = 1;
  google.protobuf.Struct doc = 2;
  google.protobuf.StringValue maybe = 3;
  google.type.Date day = 4;
  confluent.type.Decimal amount = 5 [(confluent.field_meta).doc = "money"];
}
'''
    parsed = PROVIDER.parse(text)
    assert "confluent.type.Decimal amount = 5" in parsed.canonical_string()
    assert "(.confluent.field_meta) = { doc: \"money\" }" in parsed.canonical_string()
    assert PROVIDER.parse(parsed.canonical_string()).canonical_string() == parsed.canonical_string()
    assert parsed.name() == "W"


def test_proto3_optional_maps_and_nested_types_round_trip():
    text = '''syntax = "proto3";
package a.b;
message Outer {
  message Inner { optional int32 x = 1; map<int32, Inner> self = 2; }
  Inner inner = 1;
  repeated Inner inners = 2;
  optional string note = 3;
}
'''
    parsed = PROVIDER.parse(text)
    canonical = parsed.canonical_string()
    assert "optional int32 x = 1;" in canonical and "map<int32, .a.b.Outer.Inner> self = 2;" in canonical
    assert "_x" not in canonical  # proto3 optional's synthetic oneof is not written
    assert PROVIDER.parse(canonical).canonical_string() == canonical


def test_normalize_sorts_references():
    refs = [SchemaReference("b.proto", "b", 1), SchemaReference("a.proto", "a", 2), SchemaReference("a.proto", "a", 2)]
    texts = {"a.proto": 'syntax = "proto3";\nmessage A {}\n', "b.proto": 'syntax = "proto3";\nmessage B {}\n'}
    parsed = PROVIDER.parse('syntax = "proto3";\nimport "b.proto";\nimport "a.proto";\nmessage M { A a = 1; B b = 2; }',
                            refs, texts)
    normalized = parsed.normalize()
    assert normalized.references == (SchemaReference("a.proto", "a", 2), SchemaReference("b.proto", "b", 1))
    assert 'import "a.proto";\nimport "b.proto";' in normalized.canonical_string()
    assert 'import "b.proto";\nimport "a.proto";' in parsed.canonical_string()


@pytest.mark.parametrize("text,fragment", [
    ('syntax = "proto3"; message X { Foo f = 1; }', '"Foo" is not defined'),
    ('syntax = "proto3"; import "dep.proto"; message X {}', "dep.proto: File not found"),
    ('syntax = "proto3"; message X { int32 a = 1; int32 b = 1; }', "Field number 1 has already been used"),
    ('syntax = "proto3"; message X { required int32 a = 1; }', "Required fields are not allowed in proto3"),
    ("message {", "Expected"),
    ("", "Empty schema"),
    ("   ", "Empty schema"),
    ('syntax = "proto4";', "proto4"),
    ("Cgd4LnByb3RvGgpub3BlLnByb3RvIgMKAVhiBnByb3RvMw==", "nope.proto"),  # a descriptor importing a missing file
])
def test_bad_input(text, fragment):
    with pytest.raises(InvalidSchemaError) as info:
        PROVIDER.parse(text)
    assert fragment in str(info.value)


def test_descriptor_with_an_unresolved_type_is_invalid():
    fdp = descriptor_pb2.FileDescriptorProto(name="x.proto", syntax="proto3")
    message = fdp.message_type.add(name="X")
    message.field.add(name="f", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                      type_name=".nowhere.Thing", label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    with pytest.raises(InvalidSchemaError):
        PROVIDER.parse(base64.b64encode(fdp.SerializeToString()).decode())


@pytest.mark.parametrize("name", ["../escape.proto", "/abs.proto", "a/../../b.proto"])
def test_reference_names_cannot_leave_the_work_directory(name):
    with pytest.raises(InvalidSchemaError):
        PROVIDER.parse('syntax = "proto3";\nmessage X {}\n', [SchemaReference(name, "s", 1)],
                       {name: 'syntax = "proto3";\nmessage Y {}\n'})


def test_well_known_imports_that_cannot_be_loaded_are_an_error(monkeypatch):
    """confluent/*.proto and google/type/*.proto resolve without references in every registry:
    when the installation lacks them the error says so, instead of the imports silently not
    resolving (a schema importing confluent/meta.proto would be refused as invalid)."""
    from formats.protobuf import compiler

    assert {"confluent/meta.proto", "confluent/type/decimal.proto", "google/type/date.proto"} \
        <= set(compiler.known_imports())
    monkeypatch.setattr(compiler, "_CONFLUENT_MODULES", ("schema_registry/confluent/missing_pb2.py",))
    with pytest.raises(compiler.KnownImportsMissing, match="missing_pb2.py from confluent-kafka"):
        compiler.known_imports()
