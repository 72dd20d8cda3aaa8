"""Protobuf compatibility, table-driven: Confluent's protobuf `diff` rules on parsed schemas.

Each case gives the schema data was written with (original), the schema reading it (update),
every difference expected (type and path) and whether the pair is compatible. Every difference
type Confluent defines is produced by at least one case.
"""

from __future__ import annotations

import pytest

from registry import compatibility
from formats.base import SchemaReference
from formats.protobuf import ProtobufProvider
from formats.protobuf.compat import COMPATIBLE_CHANGES, DIFFERENCE_TYPES, differences

PROVIDER = ProtobufProvider()


def p3(body: str, package: str = "p", extra: str = "") -> str:
    return f'syntax = "proto3";\npackage {package};\n{extra}\nmessage M {{\n{body}\n}}\n'


def p2(body: str, extra: str = "") -> str:
    return f'syntax = "proto2";\npackage p;\n{extra}\nmessage M {{\n{body}\n}}\n'


CASES = [
    # ---- packages, messages, enums
    ("identical", p3("int32 a = 1;"), p3("int32 a = 1;"), [], True),
    ("package changed", p3("int32 a = 1;"), p3("int32 a = 1;", package="q"), ["PACKAGE_CHANGED #/"], False),
    ("package added", 'syntax = "proto3";\nmessage M { int32 a = 1; }', p3("int32 a = 1;"),
     ["PACKAGE_CHANGED #/"], False),
    ("message added", p3("int32 a = 1;"), p3("int32 a = 1;", extra="message N { int32 b = 1; }"),
     ["MESSAGE_ADDED #/N", "MESSAGE_MOVED #/M"], True),
    ("message removed", p3("int32 a = 1;", extra="message N { int32 b = 1; }"), p3("int32 a = 1;"),
     ["MESSAGE_MOVED #/M", "MESSAGE_REMOVED #/N"], False),
    ("message added after", p3("int32 a = 1;"), p3("int32 a = 1;") + "message N { int32 b = 1; }",
     ["MESSAGE_ADDED #/N"], True),
    ("messages reordered", p3("int32 a = 1;") + "message N { int32 b = 1; }",
     'syntax = "proto3";\npackage p;\nmessage N { int32 b = 1; }\nmessage M { int32 a = 1; }',
     ["MESSAGE_MOVED #/M", "MESSAGE_MOVED #/N"], True),
    ("nested message removed", p3("int32 a = 1; message N { int32 b = 1; }"), p3("int32 a = 1;"),
     ["MESSAGE_REMOVED #/M/N"], False),
    ("nested message added", p3("int32 a = 1;"), p3("int32 a = 1; message N { int32 b = 1; }"),
     ["MESSAGE_ADDED #/M/N"], True),
    ("message nested into another is a removal", p3("int32 a = 1;") + "message N { int32 b = 1; }",
     p3("int32 a = 1; message N { int32 b = 1; }"), ["MESSAGE_ADDED #/M/N", "MESSAGE_REMOVED #/N"], False),
    ("enum added", p3("int32 a = 1;"), p3("int32 a = 1; enum E { A = 0; }"), ["ENUM_ADDED #/M/E"], True),
    ("enum removed", p3("int32 a = 1; enum E { A = 0; }"), p3("int32 a = 1;"), ["ENUM_REMOVED #/M/E"], True),
    ("top-level enum removed", p3("int32 a = 1;") + "enum E { A = 0; }", p3("int32 a = 1;"),
     ["ENUM_REMOVED #/E"], True),
    ("enum constant added", p3("E e = 1; enum E { A = 0; }"), p3("E e = 1; enum E { A = 0; B = 1; }"),
     ["ENUM_CONST_ADDED #/M/E/1"], True),
    ("enum constant removed", p3("E e = 1; enum E { A = 0; B = 1; }"), p3("E e = 1; enum E { A = 0; }"),
     ["ENUM_CONST_REMOVED #/M/E/1"], True),
    ("enum constant renamed", p3("E e = 1; enum E { A = 0; B = 1; }"), p3("E e = 1; enum E { A = 0; C = 1; }"),
     ["ENUM_CONST_CHANGED #/M/E/1"], True),
    # ---- fields added, removed, renamed
    ("field added", p3("int32 a = 1;"), p3("int32 a = 1; string b = 2;"), ["FIELD_ADDED #/M/2"], True),
    ("field removed", p3("int32 a = 1; string b = 2;"), p3("int32 a = 1;"), ["FIELD_REMOVED #/M/2"], True),
    ("field renamed", p3("int32 a = 1;"), p3("int32 renamed = 1;"), ["FIELD_NAME_CHANGED #/M/1"], True),
    ("field renumbered", p3("int32 a = 1;"), p3("int32 a = 2;"), ["FIELD_ADDED #/M/2", "FIELD_REMOVED #/M/1"],
     True),
    ("required field added", p2("optional int32 a = 1;"), p2("optional int32 a = 1; required int32 b = 2;"),
     ["REQUIRED_FIELD_ADDED #/M/2"], False),
    ("required field removed", p2("optional int32 a = 1; required int32 b = 2;"), p2("optional int32 a = 1;"),
     ["REQUIRED_FIELD_REMOVED #/M/2"], False),
    ("proto2 optional field added", p2("optional int32 a = 1;"), p2("optional int32 a = 1; optional int32 b = 2;"),
     ["FIELD_ADDED #/M/2"], True),
    # ---- scalar kinds
    ("int32 to int64", p3("int32 a = 1;"), p3("int64 a = 1;"), [], True),
    ("int32 to uint64", p3("int32 a = 1;"), p3("uint64 a = 1;"), [], True),
    ("uint32 to bool", p3("uint32 a = 1;"), p3("bool a = 1;"), [], True),
    ("int32 to enum", p3("int32 a = 1; enum E { A = 0; }"), p3("E a = 1; enum E { A = 0; }"), [], True),
    ("enum to int64", p3("E a = 1; enum E { A = 0; }"), p3("int64 a = 1; enum E { A = 0; }"), [], True),
    ("sint32 to sint64", p3("sint32 a = 1;"), p3("sint64 a = 1;"), [], True),
    ("string to bytes", p3("string a = 1;"), p3("bytes a = 1;"), [], True),
    ("fixed32 to sfixed32", p3("fixed32 a = 1;"), p3("sfixed32 a = 1;"), [], True),
    ("fixed64 to sfixed64", p3("fixed64 a = 1;"), p3("sfixed64 a = 1;"), [], True),
    ("int32 to sint32", p3("int32 a = 1;"), p3("sint32 a = 1;"), ["FIELD_SCALAR_KIND_CHANGED #/M/1"], False),
    ("int32 to string", p3("int32 a = 1;"), p3("string a = 1;"), ["FIELD_SCALAR_KIND_CHANGED #/M/1"], False),
    ("fixed32 to fixed64", p3("fixed32 a = 1;"), p3("fixed64 a = 1;"), ["FIELD_SCALAR_KIND_CHANGED #/M/1"], False),
    ("float to double", p3("float a = 1;"), p3("double a = 1;"), ["FIELD_SCALAR_KIND_CHANGED #/M/1"], False),
    ("string to int32", p3("string a = 1;"), p3("int32 a = 1;"), ["FIELD_SCALAR_KIND_CHANGED #/M/1"], False),
    ("bool to sfixed32", p3("bool a = 1;"), p3("sfixed32 a = 1;"), ["FIELD_SCALAR_KIND_CHANGED #/M/1"], False),
    # ---- field kinds
    ("scalar to message", p3("int32 a = 1; message N { int32 x = 1; }"), p3("N a = 1; message N { int32 x = 1; }"),
     ["FIELD_KIND_CHANGED #/M/1"], False),
    ("message to scalar", p3("N a = 1; message N { int32 x = 1; }"), p3("string a = 1; message N { int32 x = 1; }"),
     ["FIELD_KIND_CHANGED #/M/1"], False),
    ("scalar to map", p3("int32 a = 1;"), p3("map<string, int32> a = 1;"), ["FIELD_KIND_CHANGED #/M/1"], False),
    ("map to message", p3("map<string, int32> a = 1; message N { int32 x = 1; }"),
     p3("N a = 1; message N { int32 x = 1; }"), ["FIELD_KIND_CHANGED #/M/1"], False),
    ("enum to message", p3("E a = 1; enum E { A = 0; } message N { int32 x = 1; }"),
     p3("N a = 1; enum E { A = 0; } message N { int32 x = 1; }"), ["FIELD_KIND_CHANGED #/M/1"], False),
    ("map key int32 to int64", p3("map<int32, string> a = 1;"), p3("map<int64, string> a = 1;"), [], True),
    ("map value kind changed", p3("map<string, int32> a = 1;"), p3("map<string, string> a = 1;"),
     ["FIELD_SCALAR_KIND_CHANGED #/M/1"], False),
    ("map value message changed", p3("map<string, N> a = 1; message N { int32 x = 1; } message O { int32 y = 1; }"),
     p3("map<string, O> a = 1; message N { int32 x = 1; } message O { int32 y = 1; }"),
     ["FIELD_NAMED_TYPE_CHANGED #/M/1"], False),
    # ---- named types
    ("message type changed", p3("N a = 1; message N { int32 x = 1; } message O { int32 x = 1; }"),
     p3("O a = 1; message N { int32 x = 1; } message O { int32 x = 1; }"), ["FIELD_NAMED_TYPE_CHANGED #/M/1"], False),
    ("well-known type changed", p3("google.protobuf.Timestamp a = 1;", extra='import "google/protobuf/timestamp.proto";'
                                   '\nimport "google/protobuf/duration.proto";'),
     p3("google.protobuf.Duration a = 1;", extra='import "google/protobuf/timestamp.proto";'
        '\nimport "google/protobuf/duration.proto";'), ["FIELD_NAMED_TYPE_CHANGED #/M/1"], False),
    ("same well-known type", p3("google.protobuf.Timestamp a = 1;", extra='import "google/protobuf/timestamp.proto";'),
     p3("google.protobuf.Timestamp b = 1;", extra='import "google/protobuf/timestamp.proto";'),
     ["FIELD_NAME_CHANGED #/M/1"], True),
    ("nested message field kind changed", p3("N n = 1; message N { int32 x = 1; }"),
     p3("N n = 1; message N { string x = 1; }"), ["FIELD_SCALAR_KIND_CHANGED #/M/N/1"], False),
    # ---- labels
    ("numeric optional to repeated (proto2)", p2("optional int32 a = 1;"), p2("repeated int32 a = 1;"),
     ["FIELD_NUMERIC_LABEL_CHANGED #/M/1"], False),
    ("numeric repeated to optional (proto3)", p3("repeated int64 a = 1;"), p3("optional int64 a = 1;"),
     ["FIELD_NUMERIC_LABEL_CHANGED #/M/1"], False),
    ("numeric optional to required", p2("optional double a = 1;"), p2("required double a = 1;"),
     ["FIELD_NUMERIC_LABEL_CHANGED #/M/1"], False),
    ("enum optional to repeated", p2("optional E a = 1; enum E { A = 0; }"), p2("repeated E a = 1; enum E { A = 0; }"),
     ["FIELD_NUMERIC_LABEL_CHANGED #/M/1"], False),
    ("string optional to repeated", p2("optional string a = 1;"), p2("repeated string a = 1;"),
     ["FIELD_STRING_OR_BYTES_LABEL_CHANGED #/M/1"], True),
    ("bytes repeated to optional", p3("repeated bytes a = 1;"), p3("optional bytes a = 1;"),
     ["FIELD_STRING_OR_BYTES_LABEL_CHANGED #/M/1"], True),
    ("proto3 implicit to repeated", p3("int32 a = 1;"), p3("repeated int32 a = 1;"), [], True),
    ("proto3 implicit to optional", p3("int32 a = 1;"), p3("optional int32 a = 1;"), [], True),
    ("message label change not compared", p2("optional N a = 1; message N {}"), p2("repeated N a = 1; message N {}"),
     [], True),
    # ---- oneofs
    ("oneof added with new fields", p3("int32 a = 1;"), p3("int32 a = 1; oneof o { string b = 2; int32 c = 3; }"),
     ["ONEOF_ADDED #/M/o", "ONEOF_FIELD_ADDED #/M/o/2", "ONEOF_FIELD_ADDED #/M/o/3"], True),
    ("oneof removed entirely", p3("int32 a = 1; oneof o { string b = 2; int32 c = 3; }"), p3("int32 a = 1;"),
     ["ONEOF_REMOVED #/M/o"], True),
    ("field added to oneof", p3("oneof o { string b = 2; }"), p3("oneof o { string b = 2; int32 c = 3; }"),
     ["ONEOF_FIELD_ADDED #/M/o/3"], True),
    ("field removed from oneof", p3("oneof o { string b = 2; int32 c = 3; }"), p3("oneof o { string b = 2; }"),
     ["ONEOF_FIELD_REMOVED #/M/o/3"], False),
    ("single field moved into a new oneof", p3("int32 a = 1; string b = 2;"),
     p3("string b = 2; oneof o { int32 a = 1; }"),
     ["ONEOF_ADDED #/M/o"], True),
    ("several fields moved into a new oneof", p3("int32 a = 1; string b = 2;"),
     p3("oneof o { int32 a = 1; string b = 2; }"), ["MULTIPLE_FIELDS_MOVED_TO_ONEOF #/M/o", "ONEOF_ADDED #/M/o"],
     False),
    ("field moved into an existing oneof", p3("int32 a = 1; oneof o { string b = 2; }"),
     p3("oneof o { string b = 2; int32 a = 1; }"), ["FIELD_MOVED_TO_EXISTING_ONEOF #/M/o"], False),
    ("field moved out of a oneof", p3("oneof o { string b = 2; int32 a = 1; }"),
     p3("int32 a = 1; oneof o { string b = 2; }"), ["ONEOF_FIELD_MOVED_TO_TOP_LEVEL #/M/1"], True),
    ("last field moved out of a oneof", p3("oneof o { int32 a = 1; }"), p3("int32 a = 1;"),
     ["ONEOF_FIELD_MOVED_TO_TOP_LEVEL #/M/1", "ONEOF_REMOVED #/M/o"], True),
    ("oneof renamed", p3("oneof o { int32 a = 1; string b = 2; }"), p3("oneof q { int32 a = 1; string b = 2; }"),
     ["ONEOF_ADDED #/M/q", "ONEOF_REMOVED #/M/o"], True),
    ("two oneofs merged", p3("oneof o { int32 a = 1; } oneof q { string b = 2; }"),
     p3("oneof o { int32 a = 1; string b = 2; }"), ["FIELD_MOVED_TO_EXISTING_ONEOF #/M/o", "ONEOF_REMOVED #/M/q"],
     False),
    ("oneof field type changed", p3("oneof o { int32 a = 1; }"), p3("oneof o { string a = 1; }"),
     ["FIELD_SCALAR_KIND_CHANGED #/M/o/1"], False),
    ("oneof field renamed", p3("oneof o { int32 a = 1; }"), p3("oneof o { int32 z = 1; }"),
     ["FIELD_NAME_CHANGED #/M/o/1"], True),
    ("proto3 optional is no oneof", p3("optional int32 a = 1;"), p3("optional int32 a = 1; optional int32 b = 2;"),
     ["FIELD_ADDED #/M/2"], True),
]


def _parse(text: str):
    return PROVIDER.parse(text)


@pytest.mark.parametrize("name,original,update,expected,compatible", CASES, ids=[c[0] for c in CASES])
def test_difference_table(name, original, update, expected, compatible):
    found = differences(_parse(original), _parse(update))
    assert sorted(repr(d) for d in found) == sorted(expected)
    assert all(d.kind in COMPATIBLE_CHANGES for d in found) is compatible


def test_the_table_is_big_and_covers_every_difference_type():
    assert len(CASES) >= 60
    produced = {change.split()[0] for case in CASES for change in case[3]}
    assert produced == set(DIFFERENCE_TYPES)


def test_reader_incompatibilities_render_confluent_messages():
    old = _parse(p3("int32 a = 1; string b = 2;"))
    new = _parse(p3("repeated string b = 2;"))
    messages = [d.render("new", "old") for d in new.reader_incompatibilities(old)]
    assert messages == []  # removing a field and a string label change are both compatible
    new = _parse(p3("string a = 1;"))
    assert [d.render("new", "old") for d in new.reader_incompatibilities(old)] == [
        "{errorType:\"FIELD_SCALAR_KIND_CHANGED\", description:\"The kind of a SCALAR field at path '#/M/1' in "
        "the new schema does not match its kind in the old schema\"}"]


def test_levels_use_both_directions():
    v1 = _parse(p2("optional int32 a = 1;"))
    v2 = _parse(p2("optional int32 a = 1; required int32 b = 2;"))
    assert compatibility.check("BACKWARD", v2, [(1, v1)])  # the new reader needs b, old data lacks it
    assert compatibility.check("FORWARD", v2, [(1, v1)])   # the old reader misses b: REQUIRED_FIELD_REMOVED
    v3 = _parse(p2("optional int32 a = 1; optional string c = 3;"))
    assert compatibility.check("FULL_TRANSITIVE", v3, [(1, v1)]) == []
    assert compatibility.check("NONE", v2, [(1, v1)]) == []


def test_different_schema_types_are_incompatible():
    from formats.json_schema import JsonSchemaProvider
    proto = _parse(p3("int32 a = 1;"))
    json_schema = JsonSchemaProvider().parse('{"type": "object"}')
    assert [d.render("new", "old") for d in proto.reader_incompatibilities(json_schema)] == [
        "Incompatible because of different schema type"]


DEP_V1 = 'syntax = "proto3";\npackage dep;\nmessage D {\n  int32 x = 1;\n}\n'
DEP_V2 = 'syntax = "proto3";\npackage dep;\nmessage D {\n  string x = 1;\n}\n'
MAIN = 'syntax = "proto3";\npackage p;\nimport "dep.proto";\nmessage M {\n  dep.D d = 1;\n}\n'


def test_types_from_references_are_compared_through():
    old = PROVIDER.parse(MAIN, [SchemaReference("dep.proto", "dep", 1)], {"dep.proto": DEP_V1})
    same_version = PROVIDER.parse(MAIN, [SchemaReference("dep.proto", "dep", 1)], {"dep.proto": DEP_V1})
    assert differences(old, same_version) == []
    new = PROVIDER.parse(MAIN, [SchemaReference("dep.proto", "dep", 2)], {"dep.proto": DEP_V2})
    assert sorted(repr(d) for d in differences(old, new)) == [
        "FIELD_NAMED_TYPE_CHANGED #/M/1", "FIELD_SCALAR_KIND_CHANGED #/D/1"]
    assert len(new.reader_incompatibilities(old)) == 2


def test_recursive_messages_terminate():
    text = p3("M child = 1; repeated M children = 2; int32 v = 3;")
    assert differences(_parse(text), _parse(text.replace("int32 v", "int64 v"))) == []
