"""Fetch sessions (KIP-227) and topic ids in Fetch (v13+), on the wire: the same raw requests
against our broker and Apache Kafka 4.1 (any_broker), answered alike."""

from __future__ import annotations

import struct
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from broker.fetch_session import SHARDS
from broker.protocol.errors import code
from tests.conftest import BrokerProcess, unique_topic, wait_until
from tests.kafka_wire import RawClient, request_frame

VERSION = 18  # what the Java client 4.1 sends (librdkafka 2.16 sends v16, without sessions)
PARTITIONS = 12
NONE, FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH, UNKNOWN_TOPIC_ID, FETCH_SESSION_TOPIC_ID_ERROR = (
    0, code("FETCH_SESSION_ID_NOT_FOUND"), code("INVALID_FETCH_SESSION_EPOCH"), code("UNKNOWN_TOPIC_ID"),
    code("FETCH_SESSION_TOPIC_ID_ERROR"))


def create_topic(bootstrap: str, partitions: int) -> tuple[str, bytes]:
    """A new topic and its id (from Metadata)."""
    name = unique_topic("fetch-session")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1, config={"retention.ms": "-1"})])
    futures[name].result(30)
    client = RawClient(bootstrap)
    try:
        def topic_id():
            topics = client.call(3, 12, {"topics": [{"name": name, "topic_id": bytes(16)}],
                                         "allow_auto_topic_creation": False})["topics"]
            ready = topics[0]["error_code"] == 0 and len(topics[0]["partitions"]) == partitions
            return ready and topics[0]["topic_id"]
        found = wait_until(topic_id, 30, f"topic {name} with {partitions} partitions in Metadata")

        def fetchable():  # Kafka answers NOT_LEADER_OR_FOLLOWER until its partitions are led
            response = fetch(client, 0, -1, {found: dict.fromkeys(range(partitions), 0)})
            return all(p["error_code"] == NONE for p in answered(response).values())
        wait_until(fetchable, 30, f"every partition of {name} fetchable")
        return name, found
    finally:
        client.close()


def produce(bootstrap: str, topic: str, partitions: list[int], tag: str = "v") -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for p in partitions:
        producer.produce(topic, value=f"{tag}-{p}".encode(), partition=p)
    assert producer.flush(30) == 0, "records not delivered"


def fetch(client: RawClient, session_id: int, epoch: int, partitions: dict, forgotten: dict | None = None,
          max_wait: int = 0, version: int = VERSION, topic_name: str | None = None) -> dict:
    """`partitions`: {topic id: {partition: fetch offset}} ({name: ...} before v13)."""
    key = "topic_id" if version >= 13 else "topic"
    return client.call(1, version, {
        "replica_id": -1, "max_wait": max_wait, "min_bytes": 1, "max_bytes": 50_000_000, "isolation_level": 0,
        "session_id": session_id, "session_epoch": epoch, "rack_id": "",
        "topics": [{key: t, "partitions": [
            {"partition": p, "current_leader_epoch": -1, "fetch_offset": offset, "last_fetched_epoch": -1,
             "log_start_offset": -1, "partition_max_bytes": 1_000_000} for p, offset in parts.items()]}
            for t, parts in partitions.items()],
        "forgotten_topics_data": [{key: t, "partitions": list(ps)} for t, ps in (forgotten or {}).items()],
    })


def answered(response: dict) -> dict[int, dict]:
    """Partition index -> its entry (one topic in these tests)."""
    return {p["partition_index"]: p for t in response["responses"] for p in t["partitions"]}


@pytest.fixture
def topic(any_broker):
    return create_topic(any_broker.bootstrap, PARTITIONS)


@pytest.fixture
def client(any_broker):
    c = RawClient(any_broker.bootstrap)
    yield c
    c.close()


def open_session(client, topic_id: bytes, offsets: dict[int, int]) -> dict:
    response = fetch(client, 0, 0, {topic_id: offsets})
    assert response["error_code"] == NONE and response["session_id"] != 0, response
    assert sorted(answered(response)) == sorted(offsets)  # a full response: every partition
    return response


def high_watermarks(client, topic_id: bytes) -> dict[int, int]:
    response = fetch(client, 0, -1, {topic_id: dict.fromkeys(range(PARTITIONS), 0)})
    return {i: p["high_watermark"] for i, p in answered(response).items()}


def test_an_incremental_fetch_answers_only_the_partitions_with_news(any_broker, topic, client):
    name, topic_id = topic
    start = high_watermarks(client, topic_id)
    session = open_session(client, topic_id, start)["session_id"]

    nothing = fetch(client, session, 1, {}, max_wait=10)
    assert nothing["error_code"] == NONE and nothing["session_id"] == session
    assert answered(nothing) == {}

    produce(any_broker.bootstrap, name, [3, 7])
    news = fetch(client, session, 2, {}, max_wait=5000)
    got = answered(news)
    assert sorted(got) == [3, 7], news
    assert news["responses"][0]["topic_id"] == topic_id
    for p in (3, 7):
        assert got[p]["error_code"] == NONE and got[p]["high_watermark"] == start[p] + 1 and got[p]["records"]

    # The client moves its offsets on (only those two partitions are named): nothing new after.
    moved = fetch(client, session, 3, {topic_id: {3: start[3] + 1, 7: start[7] + 1}}, max_wait=10)
    assert answered(moved) == {}, moved


def test_forgotten_partitions_are_no_longer_fetched(any_broker, topic, client):
    name, topic_id = topic
    start = high_watermarks(client, topic_id)
    session = open_session(client, topic_id, start)["session_id"]
    assert answered(fetch(client, session, 1, {}, forgotten={topic_id: [5]}, max_wait=10)) == {}
    produce(any_broker.bootstrap, name, [5, 6])
    got = answered(fetch(client, session, 2, {}, max_wait=5000))
    assert sorted(got) == [6]
    # Named again, a forgotten partition is back in the session (from the offset given).
    back = answered(fetch(client, session, 3, {topic_id: {5: start[5], 6: start[6] + 1}}, max_wait=10))
    assert sorted(back) == [5] and back[5]["records"]


def test_session_errors(any_broker, topic, client):
    _, topic_id = topic
    start = high_watermarks(client, topic_id)
    session = open_session(client, topic_id, start)["session_id"]

    wrong_epoch = fetch(client, session, 5, {})
    assert (wrong_epoch["error_code"], wrong_epoch["session_id"], wrong_epoch["responses"]) == (
        INVALID_FETCH_SESSION_EPOCH, 0, [])
    unknown = fetch(client, session ^ 0x5A5A5A5, 1, {})
    assert (unknown["error_code"], unknown["session_id"], unknown["responses"]) == (
        FETCH_SESSION_ID_NOT_FOUND, 0, [])
    # Names where the session has ids: refused as Kafka refuses it.
    by_name = fetch(client, session, 1, {}, version=12)
    assert by_name["error_code"] == FETCH_SESSION_TOPIC_ID_ERROR
    # The errors left the session as it was: epoch 1 is still the next one.
    assert fetch(client, session, 1, {}, max_wait=10)["error_code"] == NONE


def test_a_session_outlives_its_connection_until_closed(any_broker, topic, client):
    _, topic_id = topic
    session = open_session(client, topic_id, high_watermarks(client, topic_id))["session_id"]
    client.close()
    other = RawClient(any_broker.bootstrap)
    try:
        assert fetch(other, session, 1, {}, max_wait=10)["error_code"] == NONE
        closed = fetch(other, session, -1, {topic_id: {0: 0}})  # epoch -1: close, fetch without a session
        assert closed["error_code"] == NONE and closed["session_id"] == 0 and sorted(answered(closed)) == [0]
        assert fetch(other, session, 2, {})["error_code"] == FETCH_SESSION_ID_NOT_FOUND
    finally:
        other.close()


def test_an_unknown_topic_id_is_answered_unknown_topic_id(topic, client):
    _, topic_id = topic
    stranger = uuid.uuid4().bytes
    response = fetch(client, 0, -1, {stranger: {0: 0}, topic_id: {0: 0}})
    assert response["error_code"] == NONE
    by_topic = {t["topic_id"]: t["partitions"] for t in response["responses"]}
    assert [(p["partition_index"], p["error_code"], p["high_watermark"]) for p in by_topic[stranger]] == [
        (0, UNKNOWN_TOPIC_ID, -1)]
    assert by_topic[topic_id][0]["error_code"] == NONE


def test_a_full_fetch_by_name_opens_a_session_too(any_broker, topic, client):
    """Fetch v7-v12 sessions, partitions named by topic name."""
    name, topic_id = topic
    start = high_watermarks(client, topic_id)
    response = fetch(client, 0, 0, {name: start}, version=12)
    session = response["session_id"]
    assert session != 0 and response["responses"][0]["topic"] == name
    produce(any_broker.bootstrap, name, [1], tag="by-name")
    got = fetch(client, session, 1, {}, max_wait=5000, version=12)
    assert sorted(answered(got)) == [1] and got["responses"][0]["topic"] == name


# -- our broker only: a cache of bounded size, and bad input ------------------------------------


@pytest.fixture(scope="module")
def small_cache_broker(tmp_path_factory):
    """8 slots: as in Kafka, one in each of the cache's 8 shards."""
    broker = BrokerProcess(tmp_path_factory.mktemp("small-cache") / "data",
                           {"max.incremental.fetch.session.cache.slots": str(SHARDS)}).start()
    yield broker
    broker.stop()


def test_no_session_when_the_cache_is_full(small_cache_broker):
    _, topic_id = create_topic(small_cache_broker.bootstrap, 2)
    first, second = RawClient(small_cache_broker.bootstrap), RawClient(small_cache_broker.bootstrap)
    try:
        kept = [fetch(first, 0, 0, {topic_id: {0: 0, 1: 0}})["session_id"] for _ in range(SHARDS)]
        assert 0 not in kept and len(set(kept)) == SHARDS
        # As Kafka: a young session is not evicted for a newcomer; the newcomer is answered in
        # full without a session (id 0), and the sessions carry on.
        refused = fetch(second, 0, 0, {topic_id: {0: 0, 1: 0}})
        assert refused["error_code"] == NONE and refused["session_id"] == 0 and len(answered(refused)) == 2
        for session in kept:
            assert fetch(first, session, 1, {}, max_wait=10)["error_code"] == NONE
            fetch(first, session, -1, {})  # closed: the slots are free for the next test
    finally:
        first.close()
        second.close()


def test_malformed_incremental_fetches_close_one_connection_or_get_an_error(small_cache_broker):
    _, topic_id = create_topic(small_cache_broker.bootstrap, 1)
    client = RawClient(small_cache_broker.bootstrap)
    try:
        session = fetch(client, 0, 0, {topic_id: {0: 0}})["session_id"]
        frame = request_frame(1, VERSION, {
            "max_wait": 0, "min_bytes": 1, "session_id": session, "session_epoch": 1, "rack_id": "",
            "topics": [], "forgotten_topics_data": [{"topic_id": topic_id, "partitions": [0]}]})
        # The forgotten partitions' array claims a million entries the frame does not hold.
        count_at = frame.index(topic_id) + 16
        broken = frame[:count_at] + bytes([0x80, 0x89, 0x7A]) + frame[count_at + 1:]
        broken = struct.pack(">i", len(broken) - 4) + broken[4:]
        client.send_raw(broken)
        assert client.closed_by_peer(), "a malformed fetch must close its connection"
    finally:
        client.close()
    other = RawClient(small_cache_broker.bootstrap)
    try:
        # Odd but well-formed: forgetting what the session never had, a negative partition.
        odd = fetch(other, session, 1, {topic_id: {-1: 0}}, forgotten={uuid.uuid4().bytes: [7]})
        assert odd["error_code"] == NONE
        assert [p["error_code"] for p in odd["responses"][0]["partitions"]] == [code("UNKNOWN_TOPIC_OR_PARTITION")]
    finally:
        other.close()
    assert small_cache_broker.alive()


# -- topic ids elsewhere ---------------------------------------------------------------------


def test_metadata_v13_names_a_topic_by_id(any_broker, topic, client):
    name, topic_id = topic
    metadata = client.call(3, 13, {"topics": [{"name": None, "topic_id": topic_id}],
                                   "allow_auto_topic_creation": False})
    assert metadata["error_code"] == NONE
    assert [(t["error_code"], t["name"], t["topic_id"]) for t in metadata["topics"]] == [(NONE, name, topic_id)]


def test_delete_topics_v6_by_id(any_broker, topic, client):
    name, topic_id = topic
    stranger = uuid.uuid4().bytes
    deleted = client.call(20, 6, {"topics": [{"name": None, "topic_id": stranger},
                                             {"name": None, "topic_id": topic_id}], "timeout": 30000})
    by_id = {r["topic_id"]: r for r in deleted["responses"]}
    assert by_id[stranger]["error_code"] == UNKNOWN_TOPIC_ID
    assert (by_id[topic_id]["error_code"], by_id[topic_id]["name"]) == (NONE, name)

    def gone():
        return answered(fetch(client, 0, -1, {topic_id: {0: 0}}))[0]["error_code"] == UNKNOWN_TOPIC_ID
    wait_until(gone, 30, "a deleted topic's id answered UNKNOWN_TOPIC_ID by Fetch")


def test_topic_ids_survive_a_restart(broker_factory):
    broker = broker_factory()
    name, topic_id = create_topic(broker.bootstrap, 2)
    produce(broker.bootstrap, name, [1])
    broker.restart()
    client = RawClient(broker.bootstrap)
    try:
        metadata = client.call(3, 13, {"topics": [{"name": name, "topic_id": bytes(16)}],
                                       "allow_auto_topic_creation": False})
        assert metadata["topics"][0]["topic_id"] == topic_id
        response = answered(fetch(client, 0, 0, {topic_id: {0: 0, 1: 0}}))
        assert response[1]["error_code"] == NONE and response[1]["high_watermark"] == 1
    finally:
        client.close()


def _consumer_byte_rate(client: RawClient, client_id: str, rate: float | None) -> None:
    """Set (or remove, with None) a consumer_byte_rate quota on one client id."""
    answer = client.call(49, 1, {"validate_only": False, "entries": [{
        "entity": [{"entity_type": "client-id", "entity_name": client_id}],
        "ops": [{"key": "consumer_byte_rate", "value": rate or 0.0, "remove": rate is None}]}]})
    assert answer["entries"][0]["error_code"] == NONE, answer


def test_a_throttled_fetch_opens_no_session_and_tells_its_session_nothing(any_broker, topic):
    """Over its consumer_byte_rate a fetch is answered empty: a full fetch then opens no session
    (session id 0), as Kafka answers it; an incremental one answers its session's id, and the
    session's epoch has moved on."""
    name, topic_id = topic
    producer = Producer({"bootstrap.servers": any_broker.bootstrap, "linger.ms": 0})
    for _ in range(50):
        producer.produce(name, value=b"x" * 1000, partition=0)
    assert producer.flush(30) == 0
    quota_id = unique_topic("fetch-quota")
    admin, client = RawClient(any_broker.bootstrap), RawClient(any_broker.bootstrap, client_id=quota_id)
    # ~50 kB a fetch; both brokers measure a rate over at least 10 s: one fetch is ~5 kB/s, under
    # the quota, and a second right after it ~10 kB/s, over it.
    _consumer_byte_rate(admin, quota_id, 8000.0)
    try:
        def quota_applies() -> bool:  # Kafka applies a quota change through its metadata log
            answer = admin.call(48, 1, {"strict": True, "components": [
                {"entity_type": "client-id", "match_type": 0, "match": quota_id}]})
            return bool(answer["entries"])
        wait_until(quota_applies, 30, "the quota is in place")
        first = fetch(client, 0, 0, {topic_id: {0: 0}})
        session = first["session_id"]
        assert first["throttle_time"] == 0 and session != 0, first
        assert len(answered(first)[0]["records"]) >= 50_000

        throttled = fetch(client, 0, 0, {topic_id: {0: 0}})
        assert throttled["throttle_time"] > 0, throttled
        assert (throttled["error_code"], throttled["session_id"], throttled["responses"]) == (NONE, 0, [])

        incremental = fetch(client, session, 1, {})
        assert incremental["throttle_time"] > 0, incremental
        assert (incremental["error_code"], incremental["session_id"], incremental["responses"]) == (NONE, session, [])
        assert fetch(client, session, 2, {})["error_code"] == NONE
    finally:
        _consumer_byte_rate(admin, quota_id, None)
        admin.close()
        client.close()
