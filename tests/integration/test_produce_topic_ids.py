"""Produce v13 (Kafka 4.1): topics named by id, on our broker and on Apache Kafka."""

from __future__ import annotations

import uuid

from broker import records
from broker.protocol.errors import code
from tests.conftest import unique_topic, wait_until
from tests.integration.txn_wire import CREATE_TOPICS, PRODUCE, Txn, fetch_committed, settled
from tests.kafka_wire import RawClient

TOPIC_IDS = 13


def create(client: RawClient) -> tuple[str, bytes]:
    name = unique_topic("v13")
    answer = client.call(CREATE_TOPICS, 7, {"topics": [{"name": name, "num_partitions": 1, "replication_factor": 1,
                                                        "assignments": [], "configs": []}],
                                            "timeout": 10000, "validate_only": False})
    (created,) = answer["topics"]
    assert created["error_code"] == 0, created
    return name, bytes(created["topic_id"])


def produce(client: RawClient, topic_id: bytes, values: list[bytes]) -> dict:
    batch = records.encode_batch([records.Record(i, 1000 + i, None, v) for i, v in enumerate(values)])
    answer = client.call(PRODUCE, TOPIC_IDS, {"transactional_id": None, "acks": -1, "timeout": 5000, "topic_data": [
        {"topic_id": topic_id, "partition_data": [{"index": 0, "records": bytes(batch)}]}]})
    (topic,) = answer["responses"]
    assert bytes(topic["topic_id"]) == topic_id  # the answer names the topic as the request did
    return topic["partition_responses"][0]


def test_produce_by_topic_id(any_broker):
    client = RawClient(any_broker.bootstrap)
    name, topic_id = create(client)
    first = wait_until(lambda: (lambda r: r if r["error_code"] != code("NOT_LEADER_OR_FOLLOWER") else None)(
        produce(client, topic_id, [b"a", b"b"])), 30, "the new topic's leader is up")
    assert (first["error_code"], first["base_offset"]) == (0, 0), first
    assert produce(client, topic_id, [b"c"])["base_offset"] == 2
    assert produce(client, uuid.uuid4().bytes, [b"lost"])["error_code"] == code("UNKNOWN_TOPIC_ID")
    assert fetch_committed(client, name)[1] == [b"a", b"b", b"c"]


def test_transactional_produce_by_topic_id_adds_the_partition(any_broker):
    """A TV2 producer on Produce v13: the partition joins the transaction as with v12."""
    client = RawClient(any_broker.bootstrap)
    name, topic_id = create(client)
    wait_until(lambda: produce(client, topic_id, [b"plain"])["error_code"] == 0, 30, "the new topic's leader is up")
    txn = Txn(client)
    txn.init()
    batch = records.encode_batch([records.Record(0, 1000, None, b"txn")], attributes=records.TRANSACTIONAL_BIT,
                                 producer_id=txn.pid, producer_epoch=txn.epoch, base_sequence=0)
    answer = client.call(PRODUCE, TOPIC_IDS, {"transactional_id": txn.id, "acks": -1, "timeout": 5000, "topic_data": [
        {"topic_id": topic_id, "partition_data": [{"index": 0, "records": bytes(batch)}]}]})
    assert answer["responses"][0]["partition_responses"][0]["error_code"] == 0, answer
    assert txn.end_v2(commit=True)["error_code"] == 0
    settled(client, name)
    assert fetch_committed(client, name)[1] == [b"plain", b"txn"]
