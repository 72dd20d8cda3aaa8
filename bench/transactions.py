"""Transactional produce throughput (commit every 100 and every 10,000 records) versus
idempotent produce, schemabus and Apache Kafka through bench/harness.py (A B B A runs).

    python bench/transactions.py [--records 200000] [--repeats 3] [--no-kafka]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from confluent_kafka import Producer  # noqa: E402

from bench.harness import Comparison, KafkaBroker, Run, SchemabusBroker  # noqa: E402

VALUE = b"x" * 1024


def _send(producer: Producer, topic: str, i: int) -> None:
    while True:
        try:
            producer.produce(topic, VALUE, partition=i % 6)
            return
        except BufferError:
            producer.poll(0.001)


def idempotent(run: Run, records: int) -> float:
    topic = run.new_topic(6, "txn-bench")
    producer = Producer({"bootstrap.servers": run.bootstrap, "enable.idempotence": True, "linger.ms": 5})
    start = time.perf_counter()
    for i in range(records):
        _send(producer, topic, i)
    producer.flush(120)
    return records / (time.perf_counter() - start)


def transactional(run: Run, records: int, per_txn: int) -> float:
    topic = run.new_topic(6, "txn-bench")
    producer = Producer({"bootstrap.servers": run.bootstrap, "transactional.id": f"bench-{uuid.uuid4().hex}",
                         "linger.ms": 5})
    producer.init_transactions(60)
    start = time.perf_counter()
    for first in range(0, records, per_txn):
        producer.begin_transaction()
        for i in range(first, min(first + per_txn, records)):
            _send(producer, topic, i)
        producer.commit_transaction(60)
    return records / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs per broker (A B B A ...)")
    parser.add_argument("--no-kafka", action="store_true")
    args = parser.parse_args()
    brokers = [SchemabusBroker()] + ([] if args.no_kafka else [KafkaBroker()])
    with Comparison(brokers, args.repeats) as cmp:
        cmp.run("idempotent", lambda run: {"records/s": idempotent(run, args.records)})
        cmp.run("txn, commit every 10000", lambda run: {"records/s": transactional(run, args.records, 10_000)})
        cmp.run("txn, commit every 100", lambda run: {"records/s": transactional(run, args.records // 10, 100)})
        cmp.print_markdown(f"1 KiB records/s, 6 partitions, linger.ms=5 ({args.records} records; commit-every-100 "
                           f"runs a tenth), {args.repeats} runs per broker")


if __name__ == "__main__":
    main()
