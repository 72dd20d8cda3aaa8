"""A broker serving more partitions than it may keep files open for
(`schemabus.log.max.open.files`), through real clients, across restarts and kill -9."""

from __future__ import annotations

import os

from confluent_kafka import Producer

from tests.conftest import unique_topic, wait_until
from tests.integration.test_broker_clients import consume_all_confluent
from tests.integration.test_broker_durability import _create
from tests.kafka_wire import RawClient

OPEN_FILES = 16  # the cache's budget; the internal topics alone have 100 partitions
CONFIGS = {
    "schemabus.log.max.open.files": str(OPEN_FILES),
    "log.retention.check.interval.ms": "300",
    "log.cleaner.backoff.ms": "300",
}
TOPICS, PARTITIONS, PER_PARTITION = 4, 20, 30
PAD = b"x" * 200  # a few records fill a 1 KiB segment


def descriptors(broker) -> int:
    return len(os.listdir(f"/proc/{broker.proc.pid}/fd"))


def produce_round_robin(bootstrap: str, topics: list[str], start: int, count: int) -> None:
    """`count` records to every partition, one partition after the other, so that
    every append finds its segment's file closed by the others."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "enable.idempotence": True})
    for i in range(start, start + count):
        for topic in topics:
            for partition in range(PARTITIONS):
                p.produce(topic, key=b"k%d" % (i % 5), value=b"%s-%d-%d" % (topic.encode(), partition, i),
                          partition=partition)
        assert p.flush(30) == 0  # a batch per record: segments roll, indexes get entries


def expected(topics: list[str], upto: int) -> list[bytes]:
    return sorted(b"%s-%d-%d" % (t.encode(), p, i) for t in topics for p in range(PARTITIONS) for i in range(upto))


def read_everything(bootstrap: str, topics: list[str], total: int) -> list[bytes]:
    got = []
    for topic in topics:
        got += [m.value() for m in consume_all_confluent(bootstrap, topic, total // len(topics), partitions=PARTITIONS)]
    return sorted(got)


def test_more_partitions_than_open_files_survive_restarts_and_kill_9(broker_factory):
    broker = broker_factory(CONFIGS)
    topics = [unique_topic(f"many{i}") for i in range(TOPICS)]
    for topic in topics:
        _create(broker.bootstrap, topic, PARTITIONS, {"segment.bytes": "1024", "index.interval.bytes": "128"})
    produce_round_robin(broker.bootstrap, topics, 0, PER_PARTITION)
    total = TOPICS * PARTITIONS * PER_PARTITION
    assert read_everything(broker.bootstrap, topics, total) == expected(topics, PER_PARTITION)
    # 180 partitions with several segments each, yet the files held open stay near the budget
    # (the rest: sockets, the cleaner worker's pipes, the interpreter's own)
    assert descriptors(broker) < OPEN_FILES + 60

    broker.restart()
    produce_round_robin(broker.bootstrap, topics, PER_PARTITION, 5)
    assert read_everything(broker.bootstrap, topics, total + TOPICS * PARTITIONS * 5) == \
        expected(topics, PER_PARTITION + 5)

    broker.kill()
    broker.start()
    produce_round_robin(broker.bootstrap, topics, PER_PARTITION + 5, 5)
    assert read_everything(broker.bootstrap, topics, total + TOPICS * PARTITIONS * 10) == \
        expected(topics, PER_PARTITION + 10)
    assert descriptors(broker) < OPEN_FILES + 60


def test_large_fetches_retention_and_compaction_across_evictions(broker_factory):
    broker = broker_factory(CONFIGS)
    big = unique_topic("big")
    retained = unique_topic("retained")
    compacted = unique_topic("compacted")
    _create(broker.bootstrap, big, 1, {"segment.bytes": "1048576"})
    _create(broker.bootstrap, retained, PARTITIONS, {"segment.bytes": "1024", "retention.bytes": "2048"})
    _create(broker.bootstrap, compacted, PARTITIONS, {"segment.bytes": "1024", "cleanup.policy": "compact",
                                                      "min.cleanable.dirty.ratio": "0.01"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    values = [os.urandom(1000) for _ in range(600)]  # ~600 KB: fetched with sendfile
    for v in values:
        p.produce(big, value=v, partition=0)
    for i in range(60):
        for partition in range(PARTITIONS):
            p.produce(retained, value=b"r%d-" % i + PAD, partition=partition)
            p.produce(compacted, key=b"key%d" % (i % 3), value=b"c%d-" % i + PAD, partition=partition)
        assert p.flush(30) == 0  # a batch per record: the segments roll every few records

    def retention_and_compaction_done() -> bool:
        raw = RawClient(broker.bootstrap)
        try:
            offsets = raw.call(2, 5, {"replica_id": -1, "isolation_level": 0, "topics": [
                {"name": retained, "partitions": [{"partition_index": q, "timestamp": -2, "current_leader_epoch": -1}
                                                  for q in range(PARTITIONS)]}]})
        finally:
            raw.close()
        starts = [q["offset"] for q in offsets["topics"][0]["partitions"]]
        kept = consume_all_confluent(broker.bootstrap, compacted, 10_000, partitions=PARTITIONS, idle_polls=3)
        return all(s > 0 for s in starts) and len(kept) < PARTITIONS * 20

    wait_until(retention_and_compaction_done, 60, "retention and compaction of every partition", interval=1)
    got = consume_all_confluent(broker.bootstrap, big, len(values), partitions=1,
                                extra={"fetch.max.bytes": 4 << 20, "max.partition.fetch.bytes": 4 << 20})
    assert [m.value() for m in got] == values
    latest = {}
    for m in consume_all_confluent(broker.bootstrap, compacted, 10_000, partitions=PARTITIONS, idle_polls=3):
        latest[(m.partition(), m.key())] = m.value()
    assert latest == {(q, b"key%d" % k): b"c%d-" % (57 + k) + PAD for q in range(PARTITIONS) for k in range(3)}
    assert descriptors(broker) < OPEN_FILES + 60
