"""Topics for the streams tests: made with partitions, and read whole (every partition to its end)."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


# The tests pin windows and stream time with record timestamps from 1970: time retention (7 days
# by default) would delete such records at the broker's next retention check, mid-test (Apache
# Kafka did once in the suite), so the tests' topics keep their records whatever their age.
KEEP_ALL = {"retention.ms": "-1"}


def create_topics(bootstrap: str, *topics: str, partitions: int = 3) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept: a dropped client fails its futures
    for future in admin.create_topics([NewTopic(t, partitions, 1, config=KEEP_ALL) for t in topics]).values():
        future.result(30)


def read_messages(bootstrap: str, topic: str, read_committed: bool = False, timeout: float = 10.0) -> list:
    """Every message of the topic as it is now (each partition read to its end)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{time.monotonic_ns()}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": "read_committed" if read_committed else "read_uncommitted"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    messages, at_end = [], set()
    deadline = time.monotonic() + timeout
    try:
        while len(at_end) < len(partitions) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
                continue
            at_end.discard(msg.partition())
            messages.append(msg)
    finally:
        consumer.close()
    return messages
