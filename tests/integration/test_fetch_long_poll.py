"""A fetch's long poll on the wire, against our broker and Apache Kafka 4.1 (any_broker): what
ends the wait of a fetch with min_bytes > 0 and a long max_wait."""

from __future__ import annotations

import struct
import uuid

import pytest

from broker.protocol.codec import decode, message_spec
from broker.protocol.errors import code
from tests.integration.test_fetch_sessions import VERSION, answered, create_topic, produce
from tests.kafka_wire import RawClient, read_frame, request_frame

PARTITIONS = 2


def fetch_body(partitions: dict, max_wait: int) -> dict:
    """A fetch without a session; `partitions`: {topic id: {partition: fetch offset}}."""
    return {"replica_id": -1, "max_wait": max_wait, "min_bytes": 1, "max_bytes": 50_000_000, "isolation_level": 0,
            "session_id": 0, "session_epoch": -1, "rack_id": "", "forgotten_topics_data": [],
            "topics": [{"topic_id": t, "partitions": [
                {"partition": p, "current_leader_epoch": -1, "fetch_offset": offset, "last_fetched_epoch": -1,
                 "log_start_offset": -1, "partition_max_bytes": 1_000_000} for p, offset in parts.items()]}
                for t, parts in partitions.items()]}


def read_fetch_response(client: RawClient) -> dict:
    frame = read_frame(client.sock)
    return decode(message_spec(1, VERSION, "response"), frame, 4 + 1)[0]  # correlation id, tagged fields


@pytest.fixture
def topic(any_broker):
    return create_topic(any_broker.bootstrap, PARTITIONS)


def test_a_partition_that_cannot_be_looked_up_does_not_end_the_wait(any_broker, topic):
    """An unknown partition or topic id is answered with its error, while the fetch keeps
    waiting on the partitions it can read: the record produced while it waits is in the answer
    (Kafka sets such partitions aside before the read; they never complete a delayed fetch)."""
    name, topic_id = topic
    stranger = uuid.uuid4().bytes
    client = RawClient(any_broker.bootstrap, timeout=60)
    try:
        client.send_raw(request_frame(1, VERSION, fetch_body({topic_id: {0: 0, 1: 0, 7: 0}, stranger: {0: 0}},
                                                              max_wait=45_000)))
        produce(any_broker.bootstrap, name, [1])
        response = read_fetch_response(client)
    finally:
        client.close()
    assert response["error_code"] == 0
    # The partitions that could not be looked up come last, unknown topic ids first (Kafka's
    # order: it sets them aside in two passes), so this topic comes twice.
    assert [(t["topic_id"], [(p["partition_index"], p["error_code"], bool(p["records"])) for p in t["partitions"]])
            for t in response["responses"]] == [
        (topic_id, [(0, 0, False), (1, 0, True)]), (stranger, [(0, code("UNKNOWN_TOPIC_ID"), False)]),
        (topic_id, [(7, code("UNKNOWN_TOPIC_OR_PARTITION"), False)])]


def test_an_offset_out_of_range_ends_the_wait_at_once(any_broker, topic):
    """A read that fails (an offset past the log end) answers the fetch at once, with the other
    partitions as they are: the answer comes long before max_wait (two minutes) is up."""
    _, topic_id = topic
    client = RawClient(any_broker.bootstrap, timeout=60)
    try:
        response = client.call(1, VERSION, fetch_body({topic_id: {0: 0, 1: 100}}, max_wait=120_000))
    finally:
        client.close()
    assert {i: (p["error_code"], len(p["records"] or b"")) for i, p in answered(response).items()} == {
        0: (0, 0), 1: (code("OFFSET_OUT_OF_RANGE"), 0)}


def test_a_fetch_of_only_unknown_partitions_is_answered_at_once(any_broker, topic):
    _, topic_id = topic
    client = RawClient(any_broker.bootstrap, timeout=60)
    try:
        response = client.call(1, VERSION, fetch_body({topic_id: {5: 0}}, max_wait=120_000))
    finally:
        client.close()
    assert [(i, p["error_code"]) for i, p in answered(response).items()] == [(5, code("UNKNOWN_TOPIC_OR_PARTITION"))]


def test_a_topic_deleted_while_the_fetch_waits_ends_the_wait(any_broker, topic):
    """A partition the fetch waits on goes away: the fetch is answered then, not at max_wait
    (Kafka completes a delayed fetch whose partition it no longer knows)."""
    name, topic_id = topic
    client = RawClient(any_broker.bootstrap, timeout=60)
    admin = RawClient(any_broker.bootstrap)
    try:
        client.send_raw(request_frame(1, VERSION, fetch_body({topic_id: {0: 0, 1: 0}}, max_wait=120_000)))
        deleted = admin.call(20, 6, {"timeout": 30_000, "topics": [{"name": name, "topic_id": bytes(16)}]})
        assert deleted["responses"][0]["error_code"] == 0, deleted
        response = read_fetch_response(client)
    finally:
        client.close()
        admin.close()
    # Kafka reads the partitions again when it completes the fetch: those already gone answer
    # an error (which one depends on the broker: UNKNOWN_TOPIC_OR_PARTITION on Kafka, the topic
    # id on ours), any not yet gone what it had.
    errors = {i: (p["error_code"], len(p["records"] or b"")) for i, p in answered(response).items()}
    assert sorted(errors) == [0, 1] and any(e for e, _ in errors.values()), response
    assert set(errors.values()) <= {(0, 0), (code("UNKNOWN_TOPIC_OR_PARTITION"), 0), (code("UNKNOWN_TOPIC_ID"), 0)}
