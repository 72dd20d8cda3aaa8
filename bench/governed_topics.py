"""Produce throughput on a schema-governed topic (`id` and `payload` modes) next to an
ungoverned topic, same broker, same run; 1 KiB Avro values, uncompressed and lz4.

    python bench/governed_topics.py [--mib 512] [--rounds 3]

Each case runs --rounds times, the order of the three topic kinds reversed every round;
the table gives medians with the spread (min-max), and "vs ungoverned" as the median of
each round's ratio to the ungoverned run of the same round.

Values are serialized once (Confluent wire format) and sent many times, so the figures
show the broker's validation cost, not the client's serializer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from bench.harness import cpu_seconds, free_port, spread, summarize  # noqa: E402
from serdes import MessageField, SchemaRegistryClient, SerializationContext  # noqa: E402
from serdes.avro import AvroSerializer  # noqa: E402

MODES = ("ungoverned", "id", "payload")
SCHEMA = {"type": "record", "name": "Event", "namespace": "bench",
          "fields": [{"name": "id", "type": "long"}, {"name": "payload", "type": "string"}]}


def produce(bootstrap: str, topic: str, value: bytes, count: int, codec: str) -> float:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "batch.size": 1_000_000,
                         "compression.type": codec, "queue.buffering.max.kbytes": 1_048_576})
    start = time.perf_counter()
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value, partition=i % 6)
                break
            except BufferError:
                producer.poll(0.001)
    if producer.flush(300):
        raise RuntimeError("records not delivered")
    return time.perf_counter() - start


def measure(admin, client, broker, codec: str, mode: str, value_template: dict, mib: int):
    """(records/s, MB/s, broker CPU s/GB) for one case. The topic is deleted afterwards, so
    the page cache's dirty data (and its writeback) does not pile up across cases."""
    topic = f"gov-{mode}-{codec}-{uuid.uuid4().hex[:6]}"
    configs = {} if mode == "ungoverned" else {
        "confluent.value.schema.validation": "true", "schemabus.schema.validation.mode": mode}
    admin.create_topics([NewTopic(topic, 6, 1, config=configs)])[topic].result(30)
    value = AvroSerializer(client, json.dumps(SCHEMA))(value_template, SerializationContext(topic, MessageField.VALUE))
    count = mib * 1024 * 1024 // len(value)
    produce(broker.bootstrap, topic, value, 1000, codec)  # warm the broker's caches
    cpu0 = cpu_seconds(broker.proc.pid)
    elapsed = produce(broker.bootstrap, topic, value, count, codec)
    cpu = cpu_seconds(broker.proc.pid) - cpu0
    admin.delete_topics([topic])[topic].result(30)
    mb = count * len(value) / 1e6
    return count / elapsed, mb / elapsed, cpu / (mb / 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=512, help="data per case")
    parser.add_argument("--rounds", type=int, default=3, help="runs per case (medians and spreads)")
    args = parser.parse_args()

    from tests.conftest import BrokerProcess
    from tests.registry.conftest import RegistryProcess

    with tempfile.TemporaryDirectory(prefix="schemabus-governed-bench-") as tmp:
        registry_port = free_port()
        broker = BrokerProcess(Path(tmp) / "broker", {
            "confluent.schema.registry.url": f"http://127.0.0.1:{registry_port}"}).start()
        registry = RegistryProcess(broker.bootstrap, Path(tmp), port=registry_port).start()
        try:
            admin = AdminClient({"bootstrap.servers": broker.bootstrap})
            client = SchemaRegistryClient({"url": registry.url})
            # Hex of random bytes: compresses about as well as real payloads do (not 100x).
            value_template = {"id": 1, "payload": os.urandom(500).hex()}
            runs: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
            for round_ in range(args.rounds):
                for codec in ("none", "lz4"):
                    for mode in MODES if round_ % 2 == 0 else MODES[::-1]:
                        figures = measure(admin, client, broker, codec, mode, value_template, args.mib)
                        runs.setdefault((codec, mode), []).append(figures)
        finally:
            registry.stop()
            broker.stop()
    print(f"Produce, ~1 KiB Avro values, acks=all, 6 partitions, {args.mib} MiB per case, "
          f"{args.rounds} rounds: median (min-max)\n")
    print("| codec | topic | records/s | MB/s | broker CPU s/GB | vs ungoverned |")
    print("|---|---|---:|---:|---:|---:|")
    for codec in ("none", "lz4"):
        for mode in MODES:
            figures = runs[(codec, mode)]
            ratios = [f[0] / u[0] for f, u in zip(figures, runs[(codec, "ungoverned")])]
            cells = [spread(summarize([f[i] for f in figures])) for i in range(3)]
            print(f"| {codec} | {mode} | " + " | ".join(cells) + f" | {spread(summarize(ratios), ratio=True)} |")


if __name__ == "__main__":
    main()
