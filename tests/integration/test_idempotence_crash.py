"""An idempotent librdkafka producer while the broker is killed (-9) and restarted: afterwards
every record is present exactly once, in order per partition."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import unique_topic, wait_until
from tests.integration.test_broker_clients import consume_all_confluent

TOTAL = 200_000
PARTITIONS = 3


@pytest.mark.slow
def test_idempotent_producer_survives_repeated_kill_9(broker_factory):
    broker = broker_factory()
    topic = unique_topic("idem-crash")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(10)

    delivered = [0]
    failed: list = []
    lock = threading.Lock()

    def on_delivery(err, msg):
        with lock:
            if err is None:
                delivered[0] += 1
            else:
                failed.append((msg.value(), err))

    producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 5,
                         "message.timeout.ms": 180_000, "reconnect.backoff.max.ms": 500,
                         "retry.backoff.max.ms": 500})
    done = threading.Event()

    def produce_all():
        for i in range(TOTAL):
            while True:
                try:
                    producer.produce(topic, b"%08d" % i, partition=i % PARTITIONS, on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
            if i % 5000 == 4999:
                time.sleep(0.2)  # paced, so the crashes land in the middle of the stream
        producer.flush(240)
        done.set()

    thread = threading.Thread(target=produce_all)
    thread.start()
    for crash in range(3):
        target = (crash + 1) * TOTAL // 5
        wait_until(lambda: delivered[0] >= target or done.is_set(), 120, f"progress before crash {crash}")
        assert not done.is_set(), "the crash must come while the producer is still sending"
        broker.kill()
        time.sleep(0.3)
        broker.start()
    thread.join(300)
    assert done.is_set(), "the producer did not finish"
    assert not failed, f"{len(failed)} deliveries failed, e.g. {failed[:3]}"
    assert delivered[0] == TOTAL

    got = consume_all_confluent(broker.bootstrap, topic, TOTAL, partitions=PARTITIONS)
    per_partition: dict[int, list[int]] = {p: [] for p in range(PARTITIONS)}
    for m in got:
        per_partition[m.partition()].append(int(m.value()))
    for p, values in per_partition.items():
        expected = list(range(p, TOTAL, PARTITIONS))
        assert len(values) == len(set(values)), f"partition {p} has duplicates"
        assert values == expected, f"partition {p}: {len(values)} records, missing or out of order"
