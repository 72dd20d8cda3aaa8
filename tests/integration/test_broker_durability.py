"""Restarts, crashes (kill -9), retention and compaction, seen through real clients."""

from __future__ import annotations

import os
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from broker.protocol.errors import code
from tests.conftest import unique_topic, wait_until
from tests.integration.test_broker_clients import consume_all_confluent
from tests.kafka_wire import RawClient


def _admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def _create(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None) -> None:
    admin = _admin(bootstrap)  # keep the client alive until the future resolves
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(10)


def _topic_configs(bootstrap: str, name: str) -> dict:
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    admin = _admin(bootstrap)
    return {k: v.value for k, v in admin.describe_configs([res])[res].result(10).items()}


def test_restart_keeps_data_topics_and_configs(broker_factory):
    broker = broker_factory()
    topic = unique_topic("restart")
    _create(broker.bootstrap, topic, 2, {"retention.ms": "123456789", "cleanup.policy": "compact,delete"})
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(1000):
        p.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=i % 2)
    assert p.flush(10) == 0

    broker.restart()

    assert _topic_configs(broker.bootstrap, topic)["retention.ms"] == "123456789"
    assert _topic_configs(broker.bootstrap, topic)["cleanup.policy"] == "compact,delete"
    got = consume_all_confluent(broker.bootstrap, topic, 1000, partitions=2)
    assert sorted(m.value() for m in got) == sorted(b"v%d" % i for i in range(1000))
    # Appends continue at the right offsets after the restart.
    p = Producer({"bootstrap.servers": broker.bootstrap})
    p.produce(topic, key=b"after", value=b"restart", partition=0)
    p.flush(10)
    got = consume_all_confluent(broker.bootstrap, topic, 1001, partitions=2)
    last = [m for m in got if m.value() == b"restart"][0]
    assert last.offset() == 500


def test_kill_9_loses_no_acknowledged_record(broker_factory):
    broker = broker_factory()
    topic = unique_topic("crash")
    _create(broker.bootstrap, topic, 3)
    acked: list[bytes] = []
    lock = threading.Lock()
    stop = threading.Event()

    def on_delivery(err, msg):
        if err is None:
            with lock:
                acked.append(msg.value())

    def produce_loop():
        p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 2,
                      "message.timeout.ms": 5000, "retries": 0})
        i = 0
        while not stop.is_set():
            try:
                p.produce(topic, value=b"rec-%08d" % i, on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            p.poll(0)
        p.flush(15)

    t = threading.Thread(target=produce_loop)
    t.start()
    wait_until(lambda: len(acked) > 20_000, 60, "producer made progress before the crash")
    broker.kill()
    time.sleep(0.5)
    stop.set()
    t.join(30)
    with lock:
        acknowledged = set(acked)
    assert len(acknowledged) > 20_000

    broker.start()
    got = consume_all_confluent(broker.bootstrap, topic, len(acknowledged))
    present = {m.value() for m in got}
    missing = acknowledged - present
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:5]}"


def test_torn_tail_is_truncated_on_start(broker_factory):
    broker = broker_factory()
    topic = unique_topic("torn")
    _create(broker.bootstrap, topic)
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(100):
        p.produce(topic, value=b"v%d" % i)
        p.flush(10)
    broker.kill()
    segment = broker.data_dir / f"{topic}-0" / f"{0:020d}.log"
    with open(segment, "ab") as f:
        f.write(os.urandom(37))  # a half-written batch
    broker.start()
    got = consume_all_confluent(broker.bootstrap, topic, 100, partitions=1)
    assert [m.value() for m in got] == [b"v%d" % i for i in range(100)]
    assert "trunc" in broker.log_text().lower()


def test_retention_by_size_is_observable(broker_factory):
    broker = broker_factory({"log.retention.check.interval.ms": "200"})
    topic = unique_topic("retention")
    _create(broker.bootstrap, topic, 1, {"segment.bytes": "10000", "retention.bytes": "20000"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(300):
        p.produce(topic, value=b"x" * 400)
        if i % 10 == 0:
            p.flush(10)
    p.flush(10)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "w", "auto.offset.reset": "earliest"})
    tp = TopicPartition(topic, 0)

    def low_watermark():
        low, high = c.get_watermark_offsets(tp, timeout=5)
        return low if low > 0 else None

    low = wait_until(low_watermark, 20, "retention deleted old segments")
    assert 0 < low < 300
    # Reading below the log start offset is OFFSET_OUT_OF_RANGE; auto.offset.reset moves on.
    c.assign([TopicPartition(topic, 0, 0)])
    msg = None
    for _ in range(50):
        msg = c.poll(0.2)
        if msg is not None and not msg.error():
            break
    c.close()
    assert msg is not None and msg.offset() >= low


def test_compaction_keeps_latest_value_per_key(broker_factory):
    broker = broker_factory({"log.cleaner.backoff.ms": "200"})
    topic = unique_topic("compacted")
    _create(broker.bootstrap, topic, 1, {"cleanup.policy": "compact", "segment.bytes": "4096",
                                         "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "0"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "compression.type": "lz4"})
    for round_ in range(20):
        for k in range(10):
            p.produce(topic, key=b"key-%d" % k, value=b"round-%d" % round_)
        p.flush(10)
    p.produce(topic, key=b"key-0", value=None)  # tombstone
    for k in range(5):
        # Incompressible, so the segment surely rolls past the tombstone whatever the batching.
        p.produce(topic, key=b"filler-%d" % k, value=os.urandom(2000))
        p.flush(10)

    def compacted():
        got = consume_all_confluent(broker.bootstrap, topic, 10**9, partitions=1, idle_polls=5)
        return got if len(got) < 100 else None

    got = wait_until(compacted, 30, "the cleaner compacted the topic", interval=0.5)
    latest = {}
    for m in got:
        latest[m.key()] = m.value()
    assert all(latest.get(b"key-%d" % k) == b"round-19" for k in range(1, 10))
    offsets = [m.offset() for m in got]
    assert offsets == sorted(offsets)


def test_delete_records_moves_log_start(shared_broker):
    topic = unique_topic("delrec")
    _create(shared_broker.bootstrap, topic)
    p = Producer({"bootstrap.servers": shared_broker.bootstrap})
    for i in range(100):
        p.produce(topic, value=b"%d" % i)
    p.flush(10)
    admin = _admin(shared_broker.bootstrap)
    result = admin.delete_records([TopicPartition(topic, 0, 40)])[TopicPartition(topic, 0, 40)].result(10)
    assert result.low_watermark == 40
    got = consume_all_confluent(shared_broker.bootstrap, topic, 60, partitions=1,
                                extra={"auto.offset.reset": "earliest"})
    assert [int(m.value()) for m in got] == list(range(40, 100))


def test_fetch_and_list_offsets_of_unknown_partition(shared_broker):
    topic = unique_topic("oneparts")
    _create(shared_broker.bootstrap, topic)
    client = RawClient(shared_broker.bootstrap)
    resp = client.call(1, 12, {
        "replica_id": -1, "max_wait": 100, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
        "session_id": 0, "session_epoch": -1, "forgotten_topics_data": [], "rack_id": "",
        "topics": [{"topic": topic, "partitions": [
            {"partition": p, "current_leader_epoch": -1, "fetch_offset": off, "last_fetched_epoch": -1,
             "log_start_offset": -1, "partition_max_bytes": 1 << 20} for p, off in ((5, 0), (0, 99))]}],
    })
    # By partition: Kafka answers the partitions it could not look up after the others.
    errors = {p["partition_index"]: p["error_code"] for t in resp["responses"] for p in t["partitions"]}
    assert errors == {5: code("UNKNOWN_TOPIC_OR_PARTITION"), 0: code("OFFSET_OUT_OF_RANGE")}
    resp = client.call(2, 7, {"replica_id": -1, "isolation_level": 0, "topics": [
        {"name": topic, "partitions": [{"partition_index": 5, "current_leader_epoch": -1, "timestamp": -1}]}]})
    assert resp["topics"][0]["partitions"][0]["error_code"] == code("UNKNOWN_TOPIC_OR_PARTITION")
