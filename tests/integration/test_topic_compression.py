"""A topic's compression.type other than `producer`: the broker stores every batch in that codec,
recompressing what producers send in another (and compression.<codec>.level sets the level), as
Kafka does; `producer` keeps each batch as it came. Checked on the stored batches themselves, on
our broker and on Apache Kafka."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from broker import records
from tests.conftest import unique_topic
from tests.kafka_wire import RawClient

VALUES = [b"value-%04d " % i * 20 for i in range(200)]


def _stored_codecs(bootstrap: str, topic: str) -> set[str]:
    """The codecs of the batches the broker hands a fetch of the whole partition."""
    client = RawClient(bootstrap)
    try:
        answer = client.call(1, 12, {
            "replica_id": -1, "max_wait": 100, "min_bytes": 1, "max_bytes": 1 << 24, "isolation_level": 0,
            "session_id": 0, "session_epoch": -1, "forgotten_topics_data": [], "rack_id": "",
            "topics": [{"topic": topic, "partitions": [{"partition": 0, "current_leader_epoch": -1, "fetch_offset": 0,
                                                        "last_fetched_epoch": -1, "log_start_offset": -1,
                                                        "partition_max_bytes": 1 << 24}]}]})
    finally:
        client.close()
    data = answer["responses"][0]["partitions"][0]["records"]
    return {records.CODEC_NAMES[header.compression] for _, header in records.iter_batches(data)}


@pytest.mark.parametrize("topic_codec,producer_codec,stored", [
    ("gzip", "none", {"gzip"}),
    ("zstd", "lz4", {"zstd"}),
    ("uncompressed", "snappy", {"none"}),
    ("producer", "lz4", {"lz4"}),
])
def test_batches_are_stored_in_the_topics_codec(any_broker, topic_codec, producer_codec, stored):
    topic = unique_topic("codec")
    configs = {"compression.type": topic_codec}
    if topic_codec == "zstd":
        configs["compression.zstd.level"] = "10"
    admin = AdminClient({"bootstrap.servers": any_broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config=configs)])[topic].result(15)
    producer = Producer({"bootstrap.servers": any_broker.bootstrap, "compression.codec": producer_codec,
                         "linger.ms": 20, "enable.idempotence": True})
    for i, value in enumerate(VALUES):
        producer.produce(topic, value, key=b"%d" % i, headers=[("n", b"%d" % i)])
    assert producer.flush(30) == 0

    assert _stored_codecs(any_broker.bootstrap, topic) == stored
    consumer = Consumer({"bootstrap.servers": any_broker.bootstrap, "group.id": topic,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got = []
    try:
        while len(got) < len(VALUES):
            batch = consumer.consume(100, timeout=10)
            assert batch, f"only {len(got)} of {len(VALUES)} records came back"
            got += [m for m in batch if m.error() is None]
    finally:
        consumer.close()
    assert [(m.offset(), m.key(), m.value(), m.headers()) for m in got] == [
        (i, b"%d" % i, v, [("n", b"%d" % i)]) for i, v in enumerate(VALUES)]
