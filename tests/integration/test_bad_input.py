"""Bad input closes one connection or gets Kafka's error code; the broker keeps serving.

Includes a hypothesis fuzz: random and mutated frames thrown at a running broker, after
which a real client still produces and consumes.
"""

from __future__ import annotations

import socket
import struct
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker import records
from broker.protocol.errors import code
from tests.conftest import unique_topic, wait_until
from tests.kafka_wire import RawClient, request_frame


def _create(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])
    fs[name].result(10)

    def led():  # Apache Kafka answers CreateTopics before its metadata cache has the leaders
        topic = admin.list_topics(name, timeout=10).topics.get(name)
        return topic is not None and topic.error is None and len(topic.partitions) == partitions and \
            all(p.leader >= 0 for p in topic.partitions.values())
    wait_until(led, 30, f"{name}'s partitions have a leader")


def _produce_raw(client: RawClient, topic: str, partition: int, batch: bytes, version: int = 9) -> dict:
    resp = client.call(0, version, {
        "transactional_id": None, "acks": -1, "timeout": 5000,
        "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": batch}]}],
    })
    return resp["responses"][0]["partition_responses"][0]


def _batch(n: int = 3, value: bytes = b"v", key: bytes | None = b"k") -> bytes:
    return bytes(records.encode_batch([records.Record(i, 1_700_000_000_000 + i, key, value) for i in range(n)],
                                      base_offset=0))


def _round_trip(bootstrap: str) -> None:
    """A normal client still produces and consumes."""
    topic = unique_topic("alive")
    _create(bootstrap, topic)
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(10):
        p.produce(topic, value=b"still-alive-%d" % i)
    assert p.flush(10) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    for _ in range(50):
        msgs = c.consume(20, 0.2)
        got += [m.value() for m in msgs if not m.error()]
        if len(got) == 10:
            break
    c.close()
    assert got == [b"still-alive-%d" % i for i in range(10)]


@pytest.mark.parametrize("frame, why", [
    (b"\x00\x00\x00\x05garbage-after-size", "garbage header"),
    (struct.pack(">i", -5), "negative size"),
    (struct.pack(">i", 200 * 1024 * 1024), "size above socket.request.max.bytes"),
    (struct.pack(">ihhi", 8, 9999, 0, 1), "unknown api key"),
    (struct.pack(">ihhih", 10, 0, 99, 1, 0), "unsupported produce version"),
    (struct.pack(">ihhih", 10, 3, 12, 1, 0) + b"", "truncated metadata body"),
])
def test_malformed_frames_close_only_that_connection(shared_broker, frame, why):
    bystander = RawClient(shared_broker.bootstrap)
    bystander.call(18, 2, {})
    bad = RawClient(shared_broker.bootstrap)
    bad.send_raw(frame)
    assert bad.closed_by_peer(), f"broker kept the connection open after {why}"
    # The other connection is still served, and so are new ones.
    assert bystander.call(18, 2, {})["error_code"] == 0
    assert shared_broker.alive()
    bystander.close()


def test_truncated_frame_then_disconnect(shared_broker):
    bad = RawClient(shared_broker.bootstrap)
    bad.send_raw(struct.pack(">i", 100) + b"\x00\x03")  # promises 100 bytes, sends 2
    bad.close()
    assert RawClient(shared_broker.bootstrap).call(18, 0, {})["error_code"] == 0


def test_api_versions_newer_than_ours_answers_unsupported_in_v0_layout(shared_broker):
    client = RawClient(shared_broker.bootstrap)
    client.sock.sendall(struct.pack(">ihhih", 10, 18, 99, 7, 0))
    frame = client.sock.recv(65536)
    size, cid, err, count = struct.unpack_from(">iihi", frame)
    assert cid == 7 and err == code("UNSUPPORTED_VERSION") and count > 0
    keys = [struct.unpack_from(">hhh", frame, 14 + 6 * i) for i in range(count)]
    assert (18, 0, 4) in keys


def test_invalid_topic_names_get_invalid_topic_exception(any_broker):
    client = RawClient(any_broker.bootstrap)
    resp = client.call(19, 7, {"topics": [
        {"name": bad, "num_partitions": 1, "replication_factor": 1, "assignments": [], "configs": []}
        for bad in ("has space", "a" * 250, "..", "bad/slash")
    ], "timeout": 5000, "validate_only": False})
    assert [t["error_code"] for t in resp["topics"]] == [code("INVALID_TOPIC_EXCEPTION")] * 4


def test_produce_errors_match_kafka(any_broker):
    topic = unique_topic("errs")
    _create(any_broker.bootstrap, topic, 1, {"max.message.bytes": "2000"})
    client = RawClient(any_broker.bootstrap)

    assert _produce_raw(client, "no-such-topic-xyz", 0, _batch())["error_code"] == code("UNKNOWN_TOPIC_OR_PARTITION")
    assert _produce_raw(client, topic, 7, _batch())["error_code"] == code("UNKNOWN_TOPIC_OR_PARTITION")

    corrupt = bytearray(_batch())
    corrupt[-1] ^= 0xFF
    assert _produce_raw(client, topic, 0, bytes(corrupt))["error_code"] == code("CORRUPT_MESSAGE")

    big = _batch(1, value=b"x" * 5000)
    assert _produce_raw(client, topic, 0, big)["error_code"] == code("MESSAGE_TOO_LARGE")

    ok = _produce_raw(client, topic, 0, _batch())
    assert ok["error_code"] == 0 and ok["base_offset"] == 0
    # Nothing of the refused batches was appended.
    assert _produce_raw(client, topic, 0, _batch())["base_offset"] == 3


def test_keyless_record_on_compacted_topic_is_refused(any_broker):
    topic = unique_topic("compact-keys")
    _create(any_broker.bootstrap, topic, 1, {"cleanup.policy": "compact"})
    client = RawClient(any_broker.bootstrap)
    resp = _produce_raw(client, topic, 0, _batch(key=None))
    assert resp["error_code"] == code("INVALID_RECORD")
    assert [e["batch_index"] for e in resp["record_errors"]] == [0, 1, 2]
    assert _produce_raw(client, topic, 0, _batch())["error_code"] == 0


# -- fuzz ------------------------------------------------------------------------------

_VALID_FRAMES = [
    request_frame(18, 3, {"client_software_name": "fuzz", "client_software_version": "1"}),
    request_frame(3, 12, {"topics": None, "allow_auto_topic_creation": False,
                          "include_topic_authorized_operations": False}),
    request_frame(0, 9, {"transactional_id": None, "acks": 1, "timeout": 1000, "topic_data": [
        {"name": "fuzz-topic", "partition_data": [{"index": 0, "records": _batch()}]}]}),
    request_frame(1, 12, {"replica_id": -1, "max_wait": 0, "min_bytes": 0, "max_bytes": 1 << 20,
                          "isolation_level": 0, "session_id": 0, "session_epoch": -1,
                          "topics": [{"topic": "fuzz-topic", "partitions": [
                              {"partition": 0, "current_leader_epoch": -1, "fetch_offset": 0,
                               "last_fetched_epoch": -1, "log_start_offset": -1,
                               "partition_max_bytes": 1 << 20}]}],
                          "forgotten_topics_data": [], "rack_id": ""}),
]


def _mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    buf = bytearray(data)
    for pos, val in flips:
        if buf:
            buf[pos % len(buf)] = val
    if cut is not None and buf:
        buf = buf[: cut % len(buf)]
    return bytes(buf)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    choice=st.integers(0, len(_VALID_FRAMES) - 1),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
    cut=st.none() | st.integers(0, 10_000),
    noise=st.binary(max_size=64),
    raw=st.booleans(),
)
def test_fuzzed_frames_never_take_the_broker_down(shared_broker, choice, flips, cut, noise, raw):
    data = noise if raw else _mutate(_VALID_FRAMES[choice], flips, cut) + noise
    host, port = shared_broker.bootstrap.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(2)
            while s.recv(65536):
                pass
        except (ConnectionError, socket.timeout):
            pass
    assert shared_broker.alive()


def test_broker_serves_normally_after_fuzzing(shared_broker):
    _create(shared_broker.bootstrap, unique_topic("post-fuzz"))
    _round_trip(shared_broker.bootstrap)


def _frame(api_key: int, version: int, body: bytes, client_id: bytes = b"raw-test") -> bytes:
    payload = struct.pack(">hhih", api_key, version, 7, len(client_id)) + client_id + body
    return struct.pack(">i", len(payload)) + payload


def test_null_where_the_spec_forbids_it_closes_the_connection_with_one_log_line(broker_factory):
    broker = broker_factory()
    bad = RawClient(broker.bootstrap)
    # CreateTopics v2 whose (non-nullable) topics array is null, then a timeout and validate_only.
    bad.send_raw(_frame(19, 2, b"\xff\xff\xff\xff" + b"\x00\x00\x00\x00\x00"))
    assert bad.closed_by_peer()
    _round_trip(broker.bootstrap)
    lines = [line for line in broker.log_text().splitlines() if "closing connection" in line]
    assert len(lines) == 1 and "create_topics v2" in lines[0] and "non-nullable field topics" in lines[0], lines
    assert "Traceback" not in broker.log_text()


def test_a_request_over_the_array_entry_limit_is_refused_before_decoding(broker_factory):
    broker = broker_factory({"schemabus.request.max.array.entries": "1000"})
    bad = RawClient(broker.bootstrap)
    bad.send_raw(_frame(3, 1, struct.pack(">i", 1001) + b"\x00\x01x" * 1001))
    assert bad.closed_by_peer()
    assert "schemabus.request.max.array.entries" in broker.log_text()
    ok = RawClient(broker.bootstrap).call(3, 1, {"topics": [{"name": "x"}] * 1000})
    assert len(ok["topics"]) == 1  # within the limit: answered, each topic once
    assert "Traceback" not in broker.log_text()


def test_metadata_answers_each_topic_once_however_often_it_is_named(any_broker):
    # 9,000 empty names: Kafka reads them into a set and answers one INVALID_TOPIC_EXCEPTION.
    response = RawClient(any_broker.bootstrap, timeout=60).call(3, 1, {"topics": [{"name": ""}] * 9_000})
    assert [(t["name"], t["error_code"]) for t in response["topics"]] == [("", code("INVALID_TOPIC_EXCEPTION"))]


def test_metadata_auto_creates_a_bounded_number_of_topics_per_request(broker_factory):
    from broker.handlers.metadata import AUTO_CREATE_PER_REQUEST

    broker = broker_factory()
    names = [unique_topic("auto") for _ in range(AUTO_CREATE_PER_REQUEST + 20)]
    client = RawClient(broker.bootstrap, timeout=60)
    first = {t["name"]: t["error_code"] for t in client.call(3, 4, {
        "topics": [{"name": n} for n in names], "allow_auto_topic_creation": True})["topics"]}
    assert sum(1 for e in first.values() if e == 0) == AUTO_CREATE_PER_REQUEST
    assert sum(1 for e in first.values() if e == code("LEADER_NOT_AVAILABLE")) == 20
    again = client.call(3, 4, {"topics": [{"name": n} for n in names], "allow_auto_topic_creation": True})
    assert all(t["error_code"] == 0 for t in again["topics"])  # the retry creates the rest


def test_record_timestamps_outside_the_topics_bounds_are_refused(any_broker):
    """message.timestamp.before.max.ms / after.max.ms (KIP-937): a batch with a record too old
    and one too far ahead is refused whole with INVALID_TIMESTAMP, naming those records."""
    topic = unique_topic("ts-bounds")
    _create(any_broker.bootstrap, topic, 1, {"message.timestamp.before.max.ms": "3600000",
                                             "message.timestamp.after.max.ms": "3600000"})
    client = RawClient(any_broker.bootstrap)
    now = int(time.time() * 1000)
    stamps = [now, now - 2 * 3600_000, now + 2 * 3600_000, now + 60_000]
    batch = bytes(records.encode_batch([records.Record(i, ts, b"k", b"v") for i, ts in enumerate(stamps)],
                                       base_offset=0))
    resp = _produce_raw(client, topic, 0, batch)
    assert resp["error_code"] == code("INVALID_TIMESTAMP"), resp
    assert [e["batch_index"] for e in resp["record_errors"]] == [1, 2]
    assert "out of range" in resp["record_errors"][0]["batch_index_error_message"]
    on_time = bytes(records.encode_batch([records.Record(0, now, b"k", b"v")], base_offset=0))
    assert _produce_raw(client, topic, 0, on_time)["error_code"] == 0


def test_a_record_count_that_disagrees_with_the_offsets_is_refused(any_broker):
    topic = unique_topic("count")
    _create(any_broker.bootstrap, topic, 1)
    batch = bytearray(_batch(n=3))
    struct.pack_into(">i", batch, 57, 2)  # record_count 2 in a batch of offsets 0..2
    struct.pack_into(">I", batch, 17, records.compute_crc(batch))
    resp = _produce_raw(RawClient(any_broker.bootstrap), topic, 0, bytes(batch))
    assert resp["error_code"] == code("INVALID_RECORD"), resp
