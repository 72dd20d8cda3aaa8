"""Transactional produce throughput (commit every 100 and every 10,000 records) versus
idempotent produce, on schemabus and on Apache Kafka in the same run.

    python bench/transactions.py [--records 200000] [--no-kafka]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from bench.broker_throughput import free_port, start_schemabus  # noqa: E402

VALUE = b"x" * 1024


def _topic(bootstrap: str) -> str:
    name = f"txn-bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 6, 1)])[name].result(30)
    return name


def _send(producer: Producer, topic: str, i: int) -> None:
    while True:
        try:
            producer.produce(topic, VALUE, partition=i % 6)
            return
        except BufferError:
            producer.poll(0.001)


def idempotent(bootstrap: str, records: int) -> float:
    topic = _topic(bootstrap)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    start = time.perf_counter()
    for i in range(records):
        _send(producer, topic, i)
    producer.flush(120)
    return records / (time.perf_counter() - start)


def transactional(bootstrap: str, records: int, per_txn: int) -> float:
    topic = _topic(bootstrap)
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"bench-{uuid.uuid4().hex}",
                         "linger.ms": 5})
    producer.init_transactions(60)
    start = time.perf_counter()
    for first in range(0, records, per_txn):
        producer.begin_transaction()
        for i in range(first, min(first + per_txn, records)):
            _send(producer, topic, i)
        producer.commit_transaction(60)
    return records / (time.perf_counter() - start)


def run(bootstrap: str, records: int) -> dict[str, float]:
    return {
        "idempotent": idempotent(bootstrap, records),
        "txn, commit every 10000": transactional(bootstrap, records, 10_000),
        "txn, commit every 100": transactional(bootstrap, records // 10, 100),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--no-kafka", action="store_true")
    args = parser.parse_args()
    results = {}
    tmp = tempfile.mkdtemp(prefix="schemabus-txn-bench-")
    try:
        port = free_port()
        proc = start_schemabus(f"{tmp}/schemabus", port)
        try:
            results["schemabus"] = run(f"127.0.0.1:{port}", args.records)
        finally:
            proc.terminate()
            proc.wait(60)
        if not args.no_kafka:
            from tests.interop.apache_kafka import ApacheKafka

            kafka = ApacheKafka(Path(tmp) / "kafka").start()
            try:
                results["kafka"] = run(kafka.bootstrap, args.records)
            finally:
                kafka.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    names = list(results)
    print(f"1 KiB records/s, 6 partitions, linger.ms=5 ({args.records} records; commit-every-100 runs a tenth)")
    print(f"{'mode':<26}" + "".join(f"{n:>12}" for n in names) + (f"{'ratio':>8}" if len(names) == 2 else ""))
    for mode in results[names[0]]:
        values = [results[n][mode] for n in names]
        print(f"{mode:<26}" + "".join(f"{v:>12.0f}" for v in values)
              + (f"{values[0] / values[1]:>8.2f}" if len(values) == 2 else ""))


if __name__ == "__main__":
    main()
