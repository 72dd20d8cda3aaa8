"""Schema formats: time to parse and canonicalize a 200-field .proto and a 200-property JSON
Schema, and to check compatibility between two versions of each.

Each figure is read next to the raw library doing the part of the job it can do alone, in the
same run: protoc compiling the .proto (grpcio-tools, in-process), jsonschema meta-validating
the JSON Schema. The ratio shows what parsing into the registry's model, rendering the canonical
string and checking references cost on top.

    python bench/formats_parse.py [--rounds 7] [--iterations 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


from formats.json_schema import JsonSchemaProvider  # noqa: E402
from formats.protobuf import ProtobufProvider  # noqa: E402
from formats.protobuf.compiler import compile_files  # noqa: E402

FIELDS = 200
SCALARS = ["int32", "int64", "string", "bool", "double", "bytes", "uint64", "sint32", "fixed64", "float"]
JSON_TYPES = [{"type": "integer", "minimum": 0}, {"type": "string", "maxLength": 64}, {"type": "boolean"},
              {"type": "number"}, {"type": "array", "items": {"type": "string"}},
              {"type": ["string", "null"]}, {"enum": ["a", "b", "c"]},
              {"type": "object", "properties": {"x": {"type": "integer"}}, "additionalProperties": False}]


def proto_text(version: int) -> str:
    """200 fields over a message, a nested message, an enum, a map and a oneof; v2 adds 10 fields."""
    lines = ['syntax = "proto3";', "package bench.v1;", 'import "google/protobuf/timestamp.proto";', "",
             "message Wide {"]
    for n in range(1, FIELDS - 4):
        kind = SCALARS[n % len(SCALARS)]
        label = "repeated " if n % 17 == 0 else ""
        lines.append(f"  {label}{kind} f{n} = {n};")
    lines += [f"  Nested nested = {FIELDS - 4};", f"  Kind kind = {FIELDS - 3};",
              f"  map<string, Nested> by_name = {FIELDS - 2};",
              f"  google.protobuf.Timestamp at = {FIELDS - 1};",
              f"  oneof choice {{ string left = {FIELDS}; int64 right = {FIELDS + 1}; }}"]
    if version == 2:
        lines += [f"  string extra{n} = {FIELDS + 10 + n};" for n in range(10)]
    lines += ["  message Nested { string a = 1; int32 b = 2; }",
              "  enum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; KIND_B = 2; }", "}"]
    return "\n".join(lines) + "\n"


def json_text(version: int) -> str:
    """200 properties of assorted types, a local $ref; v2 widens limits and adds 10 to a closed model."""
    count = FIELDS + (10 if version == 2 else 0)
    props = {}
    for n in range(count):
        spec = dict(JSON_TYPES[n % len(JSON_TYPES)])
        if version == 2 and "maxLength" in spec:
            spec["maxLength"] = 128
        props[f"p{n}"] = spec
    props["p0"] = {"$ref": "#/definitions/id"}
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "title": "Wide", "type": "object",
              "properties": props, "required": [f"p{n}" for n in range(0, FIELDS, 10)],
              "additionalProperties": False, "definitions": {"id": {"type": "integer", "minimum": 1}}}
    return json.dumps(schema, indent=2)


def timed(fn, rounds: int, iterations: int) -> float:
    """Median over `rounds` of the mean time per call (ms) of `iterations` calls."""
    fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        samples.append((time.perf_counter() - start) * 1000 / iterations)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=50)
    args = parser.parse_args()
    proto, json_schema = ProtobufProvider(), JsonSchemaProvider()
    p1, p2 = proto_text(1), proto_text(2)
    j1, j2 = json_text(1), json_text(2)
    proto_v1, proto_v2 = proto.parse(p1), proto.parse(p2)
    json_v1, json_v2 = json_schema.parse(j1), json_schema.parse(j2)
    assert not proto_v2.reader_incompatibilities(proto_v1) and not json_v2.reader_incompatibilities(json_v1)
    validator = json_schema.parse(j1).validator().__class__
    document = json.loads(j1)

    def protoc_only():
        compile_files(p1, {})

    def proto_parse():
        proto.parse(p1).canonical_string()

    def json_check_only():
        validator.check_schema(json.loads(j1))

    def json_parse():
        json_schema.parse(j1).canonical_string()

    rows = [
        ("protobuf", "parse + canonical text (200 fields)", timed(proto_parse, args.rounds, args.iterations),
         "protoc compile (in-process) alone", timed(protoc_only, args.rounds, args.iterations)),
        ("protobuf", "normalized text", timed(lambda: proto_v1.normalize().canonical_string(), args.rounds,
                                              args.iterations), "", None),
        ("protobuf", "compatibility v2 vs v1 (both directions)",
         timed(lambda: (proto_v2.reader_incompatibilities(proto_v1), proto_v1.reader_incompatibilities(proto_v2)),
               args.rounds, args.iterations), "", None),
        ("json", "parse + canonical string (200 properties)", timed(json_parse, args.rounds, args.iterations),
         "jsonschema meta-validation alone", timed(json_check_only, args.rounds, args.iterations)),
        ("json", "normalized string", timed(lambda: json_v1.normalize().canonical_string(), args.rounds,
                                            args.iterations), "", None),
        ("json", "compatibility v2 vs v1 (both directions)",
         timed(lambda: (json_v2.reader_incompatibilities(json_v1), json_v1.reader_incompatibilities(json_v2)),
               args.rounds, args.iterations), "", None),
    ]
    print(f".proto: {len(p1)} bytes, {FIELDS} fields; JSON Schema: {len(j1)} bytes, {len(document['properties'])} "
          f"properties; median of {args.rounds} rounds x {args.iterations} calls")
    print(f"{'format':<9} {'operation':<44} {'ms/call':>8}   {'peer':<34} {'ms/call':>8} {'ratio':>6}")
    for fmt, operation, ours, peer, theirs in rows:
        peer_cols = f"{peer:<34} {theirs:8.2f} {ours / theirs:6.2f}" if theirs else ""
        print(f"{fmt:<9} {operation:<44} {ours:8.2f}   {peer_cols}")


if __name__ == "__main__":
    main()
