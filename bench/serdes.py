"""Serdes throughput: ours vs confluent-kafka's serdes vs the raw codec, same run.

Records/s to serialize and to deserialize a 10-field record and a 50-field nested record.
The raw codec runs with the same buffer handling as the serializers (a fresh BytesIO per
record, the 5-byte header written first), so the ratio shows the serializer's own cost.
Starts a schemabus broker and registry for the schema ids.

    python bench/serdes.py [--records 50000]
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


def rate(fn, n: int, rounds: int = 3) -> float:
    """Best of `rounds` timings: the machine is shared, the best run is the least disturbed."""
    fn()  # warm the caches (first call registers / fetches the schema)
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n / (time.perf_counter() - start))
    return best


def bench_avro(url: str, name: str, schema: dict, value: dict, n: int) -> dict:
    topic = f"bench-{name}"
    ours_client, their_client = SchemaRegistryClient({"url": url}), CClient({"url": url})
    ctx, cctx = SerializationContext(topic, MessageField.VALUE), CContext(topic, CField.VALUE)
    ours_ser, their_ser = AvroSerializer(ours_client, json.dumps(schema)), CAvroSerializer(their_client,
                                                                                             json.dumps(schema))
    ours_de, their_de = AvroDeserializer(ours_client), CAvroDeserializer(their_client)
    parsed = parse_schema(schema)
    header = ours_ser(value, ctx)[:5]
    data = ours_ser(value, ctx)

    def raw_write():
        buf = io.BytesIO()
        buf.write(header)
        schemaless_writer(buf, parsed, value)
        return buf.getvalue()

    def raw_read():
        buf = io.BytesIO(data)
        buf.seek(5)
        return schemaless_reader(buf, parsed, None)

    return {
        "serialize": {"ours": rate(lambda: ours_ser(value, ctx), n), "confluent": rate(lambda: their_ser(value, cctx), n),
                      "raw": rate(raw_write, n)},
        "deserialize": {"ours": rate(lambda: ours_de(data, ctx), n), "confluent": rate(lambda: their_de(data, cctx), n),
                        "raw": rate(raw_read, n)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args()

    from tests.conftest import BrokerProcess
    from tests.registry.conftest import RegistryProcess

    with tempfile.TemporaryDirectory(prefix="schemabus-serdes-bench-") as tmp:
        broker = BrokerProcess(Path(tmp) / "broker").start()
        registry = RegistryProcess(broker.bootstrap, Path(tmp)).start()
        try:
            results = {f"avro {name}": bench_avro(registry.url, name, *case(), args.records)
                       for name, case in (("10-field", flat_case), ("50-field nested", nested_case))}
        finally:
            registry.stop()
            broker.stop()

    print(f"records/s, {args.records} records per figure")
    print(f"{'case':<24}{'op':<13}{'ours':>10}{'confluent':>11}{'raw':>10}{'ours/conf':>11}{'ours/raw':>10}")
    for case, ops in results.items():
        for op, r in ops.items():
            print(f"{case:<24}{op:<13}{r['ours']:>10.0f}{r['confluent']:>11.0f}{r['raw']:>10.0f}"
                  f"{r['ours'] / r['confluent']:>11.2f}{r['ours'] / r['raw']:>10.2f}")


if __name__ == "__main__":
    main()
