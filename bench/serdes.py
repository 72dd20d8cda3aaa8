"""Serdes throughput: ours vs confluent-kafka's serdes vs the raw codec, same run.

Records/s to serialize and to deserialize a 10-field record and a 50-field nested record,
for Avro, Protobuf and JSON Schema. The raw codecs: fastavro schemaless writer/reader with
the same buffer handling as the serializers (a fresh BytesIO per record, the 5-byte header
written first); protobuf SerializeToString/ParseFromString; json dumps/loads + validation
with the compiled validator our JSON serdes use (fastjsonschema), so ours/raw is the cost of
our wrapper. JSON runs fewer records (it is the slowest). Each figure is timed --rounds times
in alternating order (ours, confluent, raw, then reversed, ...) after a warm-up; the table
gives the median and the spread, and the ratios as median (min-max) of the paired timings.
Starts a schemabus broker and registry for the schema ids.

    python bench/serdes.py [--records 50000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from confluent_kafka.schema_registry import SchemaRegistryClient as CClient  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroDeserializer as CAvroDeserializer  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroSerializer as CAvroSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField as CField  # noqa: E402
from confluent_kafka.serialization import SerializationContext as CContext  # noqa: E402
from fastavro import parse_schema, schemaless_reader, schemaless_writer  # noqa: E402

from bench.harness import spread, alternating, summarize  # noqa: E402
from serdes import MessageField, SchemaRegistryClient, SerializationContext  # noqa: E402
from serdes.avro import AvroDeserializer, AvroSerializer  # noqa: E402

FLAT_FIELDS = [("id", "long", 12345678), ("name", "string", "some name"), ("score", "double", 3.25),
               ("active", "boolean", True), ("count", "int", 42), ("city", "string", "Lisbon"),
               ("ratio", "float", 0.5), ("code", "string", "XK-12"), ("ts", "long", 1_700_000_000_000),
               ("blob", "bytes", b"\x00\x01\x02\x03")]


def flat_case() -> tuple[dict, dict]:
    schema = {"type": "record", "name": "Flat", "namespace": "bench",
              "fields": [{"name": n, "type": t} for n, t, _ in FLAT_FIELDS]}
    return schema, {n: v for n, _, v in FLAT_FIELDS}


def nested_case() -> tuple[dict, dict]:
    """50 leaf fields: 5 nested records of 10 fields each."""
    inner = []
    value = {}
    for k in range(5):
        fields = [{"name": f"{n}{k}", "type": t} for n, t, _ in FLAT_FIELDS]
        inner.append({"name": f"part{k}", "type": {"type": "record", "name": f"Part{k}", "fields": fields}})
        value[f"part{k}"] = {f"{n}{k}": v for n, _, v in FLAT_FIELDS}
    return {"type": "record", "name": "Nested", "namespace": "bench", "fields": inner}, value


def rates(fns: dict[str, object], n: int, rounds: int) -> dict[str, list[float]]:
    """Records/s of each callable, `rounds` times, in alternating order (A B C, C B A, ...)."""
    for fn in fns.values():
        for _ in range(min(n, 1000)):  # warm-up: caches filled, schema registered / fetched
            fn()
    out: dict[str, list[float]] = {name: [] for name in fns}
    for name in alternating(list(fns), rounds):
        fn = fns[name]
        start = time.perf_counter()
        for _ in range(n):
            fn()
        out[name].append(n / (time.perf_counter() - start))
    return out


def bench_avro(url: str, name: str, schema: dict, value: dict) -> dict:
    topic = f"bench-{name}"
    ours_client, their_client = SchemaRegistryClient({"url": url}), CClient({"url": url})
    ctx, cctx = SerializationContext(topic, MessageField.VALUE), CContext(topic, CField.VALUE)
    ours_ser, their_ser = AvroSerializer(ours_client, json.dumps(schema)), CAvroSerializer(their_client,
                                                                                             json.dumps(schema))
    ours_de, their_de = AvroDeserializer(ours_client), CAvroDeserializer(their_client)
    parsed = parse_schema(schema)
    header = ours_ser(value, ctx)[:5]
    data = ours_ser(value, ctx)

    # Called like the serializers, (value, ctx) through a lambda, so call overhead is equal.
    def raw_write(obj, _ctx):
        buf = io.BytesIO()
        buf.write(header)
        schemaless_writer(buf, parsed, obj)
        return buf.getvalue()

    def raw_read(raw, _ctx):
        buf = io.BytesIO(raw)
        buf.seek(5)
        return schemaless_reader(buf, parsed, None)

    return {
        "serialize": {"ours": (lambda: ours_ser(value, ctx)), "confluent": (lambda: their_ser(value, cctx)),
                      "raw": (lambda: raw_write(value, ctx))},
        "deserialize": {"ours": (lambda: ours_de(data, ctx)), "confluent": (lambda: their_de(data, cctx)),
                        "raw": (lambda: raw_read(data, ctx))},
    }


def _proto_source() -> str:
    scalar = {"long": "int64", "string": "string", "double": "double", "boolean": "bool", "int": "int32",
              "float": "float", "bytes": "bytes"}
    fields = "".join(f"  {scalar[t]} {n} = {i};\n" for i, (n, t, _) in enumerate(FLAT_FIELDS, start=1))
    parts = "".join(f"  Flat part{k} = {k + 1};\n" for k in range(5))
    return f'syntax = "proto3";\npackage bench;\nmessage Flat {{\n{fields}}}\nmessage Nested {{\n{parts}}}\n'


def generated_classes(tmp: Path):
    """protoc-generated Flat and Nested classes (what applications use)."""
    import importlib

    import grpc_tools
    from grpc_tools import protoc

    (tmp / "bench_serdes.proto").write_text(_proto_source())
    include = str(importlib.resources.files(grpc_tools) / "_proto")
    if protoc.main(["protoc", f"-I{tmp}", f"-I{include}", f"--python_out={tmp}", str(tmp / "bench_serdes.proto")]):
        raise RuntimeError("protoc failed")
    sys.path.insert(0, str(tmp))
    module = importlib.import_module("bench_serdes_pb2")
    return module.Flat, module.Nested


def bench_protobuf(url: str, name: str, msg_type, message) -> dict:
    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer as CDeserializer
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer as CSerializer

    from serdes.protobuf import ProtobufDeserializer, ProtobufSerializer

    topic = f"bench-pb-{name}"
    ctx, cctx = SerializationContext(topic, MessageField.VALUE), CContext(topic, CField.VALUE)
    ours_ser = ProtobufSerializer(msg_type, SchemaRegistryClient({"url": url}))
    their_ser = CSerializer(msg_type, CClient({"url": url}), {"use.deprecated.format": False})
    ours_de = ProtobufDeserializer(msg_type)
    their_de = CDeserializer(msg_type, {"use.deprecated.format": False})
    data = ours_ser(message, ctx)
    payload = message.SerializeToString()

    def raw_read():
        m = msg_type()
        m.ParseFromString(payload)
        return m

    return {
        "serialize": {"ours": (lambda: ours_ser(message, ctx)),
                      "confluent": (lambda: their_ser(message, cctx)),
                      "raw": (lambda: message.SerializeToString())},
        "deserialize": {"ours": (lambda: ours_de(data, ctx)),
                        "confluent": (lambda: their_de(data, cctx)),
                        "raw": (lambda: raw_read())},
    }


def json_case(nested: bool) -> tuple[dict, dict]:
    kinds = {"long": "integer", "int": "integer", "string": "string", "double": "number", "float": "number",
             "boolean": "boolean", "bytes": "string"}
    flat_schema = {"type": "object", "properties": {n: {"type": kinds[t]} for n, t, _ in FLAT_FIELDS},
                   "required": [n for n, _, _ in FLAT_FIELDS]}
    flat_value = {n: (v.hex() if isinstance(v, bytes) else v) for n, _, v in FLAT_FIELDS}
    if not nested:
        return {"$schema": "http://json-schema.org/draft-07/schema#", "title": "Flat", **flat_schema}, flat_value
    return ({"$schema": "http://json-schema.org/draft-07/schema#", "title": "Nested", "type": "object",
             "properties": {f"part{k}": flat_schema for k in range(5)}},
            {f"part{k}": flat_value for k in range(5)})


def bench_json(url: str, name: str, schema: dict, value: dict) -> dict:
    import fastjsonschema
    from confluent_kafka.schema_registry.json_schema import JSONDeserializer as CDeserializer
    from confluent_kafka.schema_registry.json_schema import JSONSerializer as CSerializer

    from serdes.json_schema import JSONDeserializer, JSONSerializer

    topic = f"bench-json-{name}"
    text = json.dumps(schema)
    ctx, cctx = SerializationContext(topic, MessageField.VALUE), CContext(topic, CField.VALUE)
    ours_ser = JSONSerializer(text, SchemaRegistryClient({"url": url}))
    their_client = CClient({"url": url})
    their_ser = CSerializer(text, their_client)
    ours_de = JSONDeserializer(text)
    their_de = CDeserializer(text, schema_registry_client=their_client)
    data = ours_ser(value, ctx)
    # The same compiled validator our serdes use (fastjsonschema), so ours/raw is our wrapper's
    # cost, not a validator choice.
    validate = fastjsonschema.compile(schema)

    def raw_write():
        validate(value)
        return json.dumps(value).encode()

    def raw_read():
        doc = json.loads(data[5:])
        validate(doc)
        return doc

    return {
        "serialize": {"ours": (lambda: ours_ser(value, ctx)),
                      "confluent": (lambda: their_ser(value, cctx)), "raw": (lambda: raw_write())},
        "deserialize": {"ours": (lambda: ours_de(data, ctx)),
                        "confluent": (lambda: their_de(data, cctx)), "raw": (lambda: raw_read())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3, help="timings per figure, in alternating order")
    args = parser.parse_args()

    from tests.conftest import BrokerProcess
    from tests.registry.conftest import RegistryProcess

    with tempfile.TemporaryDirectory(prefix="schemabus-serdes-bench-") as tmp:
        broker = BrokerProcess(Path(tmp) / "broker").start()
        registry = RegistryProcess(broker.bootstrap, Path(tmp)).start()
        try:
            cases = {f"avro {name}": (bench_avro(registry.url, name, *case()), args.records)
                     for name, case in (("10-field", flat_case), ("50-field nested", nested_case))}
            flat_cls, nested_cls = generated_classes(Path(tmp))
            flat_msg = flat_cls(**{n: v for n, _, v in FLAT_FIELDS})
            nested_msg = nested_cls(**{f"part{k}": flat_msg for k in range(5)})
            cases["protobuf 10-field"] = (bench_protobuf(registry.url, "flat", flat_cls, flat_msg), args.records)
            cases["protobuf 50-field nested"] = (bench_protobuf(registry.url, "nested", nested_cls, nested_msg),
                                                 args.records)
            cases["json 10-field"] = (bench_json(registry.url, "flat", *json_case(False)), args.records // 5)
            cases["json 50-field nested"] = (bench_json(registry.url, "nested", *json_case(True)), args.records // 10)
            results = {case: {op: rates(fns, n, args.rounds) for op, fns in ops.items()}
                       for case, (ops, n) in cases.items()}
        finally:
            registry.stop()
            broker.stop()

    print(f"records/s, median (min-max) of {args.rounds} timings in alternating order; "
          f"{args.records} records per timing (JSON: a fifth, nested a tenth)\n")
    print("| case | op | ours | confluent-kafka | raw codec | ours/confluent | ours/raw |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for case, ops in results.items():
        for op, r in ops.items():
            ratios = [summarize([a / b for a, b in zip(r["ours"], r[peer])]) for peer in ("confluent", "raw")]
            cells = [spread(summarize(r[k])) for k in ("ours", "confluent", "raw")]
            cells += [spread(x, ratio=True) for x in ratios]
            print(f"| {case} | {op} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
