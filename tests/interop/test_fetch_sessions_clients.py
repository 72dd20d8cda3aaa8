"""Real consumers assigned a thousand partitions of which only a few receive records, on our
broker and on Apache Kafka: every record arrives once, in order per partition. The Java client
fetches with sessions (KIP-227, Fetch v18: incremental fetches); librdkafka 2.16 with topic ids
(Fetch v16), without sessions (epoch -1: every fetch a full one)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.integration.test_fetch_sessions import create_topic
from tests.interop.apache_kafka import compile_java

PARTITIONS = 1000
BUSY = [7, 500, 999]
ROUNDS, PER_ROUND = 5, 20
SOURCE = Path(__file__).parent / "java" / "FetchSessionScenario.java"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory) -> str:
    return compile_java(SOURCE, tmp_path_factory.mktemp("fetch-session-java"))


def test_java_consumer_with_fetch_sessions(java_classes, any_broker):
    topic, _ = create_topic(any_broker.bootstrap, PARTITIONS)
    proc = subprocess.run(["java", "-cp", java_classes, "FetchSessionScenario", any_broker.bootstrap,
                           topic, str(PARTITIONS), ",".join(map(str, BUSY))],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = dict(line[len("RESULT "):].split("=", 1) for line in proc.stdout.splitlines()
                   if line.startswith("RESULT "))
    expected = str(ROUNDS * PER_ROUND * len(BUSY))
    assert results == {"produced": expected, "received": expected, "duplicates": "0", "out_of_order": "0"}


def test_librdkafka_consumer_of_a_thousand_partitions(any_broker):
    topic, _ = create_topic(any_broker.bootstrap, PARTITIONS)
    consumer = Consumer({"bootstrap.servers": any_broker.bootstrap, "group.id": topic,
                         "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    producer = Producer({"bootstrap.servers": any_broker.bootstrap, "linger.ms": 0})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    seen: dict[int, list[int]] = {p: [] for p in BUSY}
    try:
        for round_ in range(ROUNDS):
            for p in BUSY:
                for i in range(PER_ROUND):
                    producer.produce(topic, value=str(round_ * PER_ROUND + i).encode(), partition=p)
            assert producer.flush(30) == 0, "records not delivered"
            wanted = (round_ + 1) * PER_ROUND * len(BUSY)
            deadline = time.monotonic() + 30
            while sum(map(len, seen.values())) < wanted:
                assert time.monotonic() < deadline, f"round {round_}: {sum(map(len, seen.values()))} of {wanted}"
                message = consumer.poll(0.5)
                if message is None:
                    continue
                assert message.error() is None, message.error()
                seen[message.partition()].append(int(message.value()))
        assert consumer.poll(0.5) is None  # nothing more
    finally:
        consumer.close()
    assert seen == {p: list(range(ROUNDS * PER_ROUND)) for p in BUSY}
